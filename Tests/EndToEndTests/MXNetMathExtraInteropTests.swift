import Foundation
import SwiftPSGraph
import SwiftPSModule
import Testing

@testable import SwiftPSTensor

/// Interoperability of the further unary math operators (`tan` … `logical_not`), `hard_sigmoid`,
/// `smooth_l1`, `softmin`, `where` (a condition of x's shape and one per row) and
/// `softmax_cross_entropy` with the real MXNet 1.9.1: a checkpoint MXNet writes of a network of all
/// of them predicts the same here, and every parameter's gradient of one batch is MXNet's. Skipped
/// when MXNet could not be installed.
@Suite(
    .serialized, .enabled(if: MXNetPython.path != nil, "MXNet 1.9.1 is not installed (.build-mxnet; see scripts/test)"),
    .enabled(if: CLIRunner.available, "needs the release swiftps binary (scripts/test builds it)"))
struct MXNetMathExtraInteropTests {
    /// MXNet's side: builds the network with random parameters, saves it as PREFIX-0001, its
    /// predictions for the input .npy, and the gradient of the outputs' sum for every parameter.
    /// `p = sigmoid − 0.5` in (−0.5, 0.5) feeds the functions defined on (−1, 1) (and tan, away from
    /// its poles); `q = sigmoid + 1.5` in (1.5, 2.5) those defined above 1 or 0.
    static let script = """
        import sys, numpy as np, mxnet as mx
        prefix, inp, out, grads = sys.argv[1:5]
        x = np.load(inp).astype(np.float32)
        data = mx.sym.Variable("data")
        h = mx.sym.broadcast_mul(data, mx.sym.Variable("gain", shape=(1, 3, 5)), name="scale")
        h = mx.sym.broadcast_add(h, mx.sym.Variable("shift", shape=(3, 1)), name="shift_op")
        s = mx.sym.sigmoid(h, name="sig")
        p = s - 0.5
        q = s + 1.5
        terms = [mx.sym.arcsin(p, name="asin"), mx.sym.arccos(p, name="acos"), mx.sym.arctanh(p, name="atanh"),
                 mx.sym.erfinv(p, name="erfinv"), mx.sym.tan(p, name="tan"),
                 mx.sym.arccosh(q, name="acosh"), mx.sym.log2(q, name="log2"), mx.sym.log10(q, name="log10"),
                 mx.sym.gamma(q, name="gamma"), mx.sym.gammaln(q, name="gammaln"), mx.sym.cbrt(q, name="cbrt"),
                 mx.sym.rcbrt(q, name="rcbrt")]
        v = mx.sym.add_n(*terms, name="terms_p")
        g = [mx.sym.arctan(h, name="atan"), mx.sym.sinh(h * 0.5, name="sinh"), mx.sym.cosh(h * 0.5, name="cosh"),
             mx.sym.arcsinh(h, name="asinh"), mx.sym.degrees(h, name="deg") * 0.01, mx.sym.radians(h, name="rad"),
             mx.sym.erf(h, name="erf"), mx.sym.hard_sigmoid(h, alpha=0.3, beta=0.4, name="hsig")]
        w = mx.sym.add_n(*g, name="terms_h")
        k = [mx.sym.trunc(h, name="trunc"), mx.sym.fix(h, name="fix"), mx.sym.rint(h, name="rint"),
             mx.sym.logical_not(mx.sym.round(h, name="rnd"), name="not"), mx.sym.smooth_l1(h, scalar=1.5, name="sl1"),
             mx.sym.softmin(h, axis=1, temperature=2, name="smin")]
        z = mx.sym.add_n(*k, name="terms_k")
        u = mx.sym.add_n(v, w, z, name="u")
        e1 = mx.sym.where(mx.sym.relu(h, name="cond"), v, w, name="where")
        c1 = mx.sym.relu(mx.sym.sum(h, axis=(1, 2), name="hsum"), name="cond1")
        e2 = mx.sym.where(c1, z, u, name="where_rows")
        logits = mx.sym.Reshape(e2, shape=(0, -1), name="logits")
        # A label of each sample from its data, in [0, 15): BlockGrad, as MXNet takes no label gradient.
        label = mx.sym.BlockGrad(mx.sym.floor(mx.sym.sigmoid(mx.sym.sum(data, axis=(1, 2), name="dsum")) * 14.99,
                                              name="lab"), name="label")
        ce = mx.sym.softmax_cross_entropy(logits, label, name="ce")
        loss = mx.sym.Reshape(ce, shape=(1, 1), name="loss")
        total = mx.sym.Reshape(mx.sym.sum(u, axis=(1, 2), name="usum"), shape=(-1, 1), name="total")
        sym = mx.sym.Concat(mx.sym.Flatten(e1), logits, mx.sym.broadcast_add(total, loss, name="with_loss"), dim=1,
                            name="out")
        ranges = {"gain": (-1.5, 1.5), "shift": (-1.5, 1.5)}
        \(MXNetInteropTests.savingCheckpointPredictionsAndGradients)
        """

    @Test func mxnetsFurtherMathOperatorsPredictAndDifferentiateTheSameHere() throws {
        var rng = RandomGenerator(seed: 5)
        let input = NDArray(shape: [4, 3, 5])
        rng.fillUniform(input, low: -2, high: 2)
        // One batch of the 4 samples, as MXNet's: softmax_cross_entropy sums over the samples.
        try MXNetInteropTests().expectNetAsMXNet(
            "mathx", script: Self.script, input: input, batchSize: 4, relative: true)
    }
}
