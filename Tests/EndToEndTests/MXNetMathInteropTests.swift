import Foundation
import SwiftPSGraph
import SwiftPSModule
import Testing

@testable import SwiftPSTensor

/// Interoperability of the unary math operators (`exp` … `cos`) and the reductions (`sum`, `mean`,
/// `max`, `min`, `prod`, `norm`, and the `*_axis` aliases), `expand_dims`, `squeeze`,
/// `broadcast_axis`, `broadcast_to`, `ones_like` and `zeros_like` with the real MXNet 1.9.1: a checkpoint
/// MXNet writes of a network of all of them predicts the same here, and every parameter's gradient
/// of one batch is MXNet's. Skipped when MXNet could not be installed.
@Suite(
    .serialized, .enabled(if: MXNetPython.path != nil, "MXNet 1.9.1 is not installed (.build-mxnet; see scripts/test)"),
    .enabled(if: CLIRunner.available, "needs the release swiftps binary (scripts/test builds it)"))
struct MXNetMathInteropTests {
    /// MXNet's side: builds the network with random parameters, saves it as PREFIX-0001, its
    /// predictions for the input .npy, and the gradient of the outputs' sum for every parameter.
    /// `log`, `sqrt`, `rsqrt`, `reciprocal`, `log1p` and `prod` read `sigmoid + 0.5`, within
    /// (0.5, 1.5): inside their domains, and no product is 0 (where MXNet's gradient is NaN).
    static let script = """
        import sys, numpy as np, mxnet as mx
        prefix, inp, out, grads = sys.argv[1:5]
        x = np.load(inp).astype(np.float32)
        data = mx.sym.Variable("data")
        h = mx.sym.broadcast_mul(data, mx.sym.Variable("gain", shape=(1, 3, 5)), name="scale")
        h = mx.sym.broadcast_add(h, mx.sym.Variable("shift", shape=(3, 1)), name="shift_op")
        p = mx.sym.sigmoid(h, name="sig") + 0.5
        terms = [mx.sym.log(p, name="log"), mx.sym.sqrt(p, name="sqrt"), mx.sym.rsqrt(p, name="rsqrt"),
                 mx.sym.reciprocal(p, name="rec"), mx.sym.log1p(p, name="log1p"),
                 mx.sym.exp(h * 0.5, name="exp"), mx.sym.square(h, name="sq"), mx.sym.abs(h, name="abs"),
                 mx.sym.negative(h, name="neg"), mx.sym.tanh(h, name="tanh"), mx.sym.relu(h, name="relu"),
                 mx.sym.softsign(h, name="softsign"), mx.sym.expm1(h * 0.5, name="expm1"),
                 mx.sym.sign(h, name="sign"), mx.sym.floor(h, name="floor"), mx.sym.ceil(h, name="ceil"),
                 mx.sym.round(h, name="round"), mx.sym.sin(h, name="sin"), mx.sym.cos(h, name="cos")]
        u = mx.sym.add_n(*terms, name="terms")
        a = mx.sym.sum_axis(u, axis=1, name="sum1")
        b = mx.sym.broadcast_add(mx.sym.max_axis(u, axis=-1, name="max"),
                                 mx.sym.min(u, axis=1, exclude=True, name="min"), name="maxmin")
        c = mx.sym.sum(mx.sym.broadcast_mul(h, mx.sym.mean(u, axis=(0, 2), keepdims=True, name="mean")),
                       axis=2, name="sum2")
        d = mx.sym.prod(p, axis=2, name="prod")
        e = mx.sym.norm(u, axis=1, name="l2")
        f = mx.sym.norm(u, ord=1, axis=(1, 2), keepdims=True, name="l1")
        g = mx.sym.min_axis(mx.sym.sum(u, axis=(), keepdims=True, name="all"), axis=0, name="min0")
        # Not a ninth consumer of u: MXNet 1.9.1's gradient of a value with more than
        # MXNET_EXEC_INPLACE_GRAD_SUM_CAP (8) consumers is wrong (finite differences agree with SwiftPS).
        kept = mx.sym.broadcast_axis(mx.sym.expand_dims(a, axis=1, name="exa"), axis=1, size=2, name="bax")
        s = mx.sym.squeeze(mx.sym.expand_dims(kept, axis=0, name="ex0"), axis=0, name="sq0")
        t = mx.sym.broadcast_to(mx.sym.expand_dims(a, axis=2, name="ex2"), shape=(0, 0, 2), name="bto")
        z = mx.sym.ones_like(a, name="ones") + mx.sym.zeros_like(e, name="zeros")
        sym = mx.sym.Concat(a, b, c, d, e, mx.sym.Flatten(f), mx.sym.broadcast_add(a, g, name="plus_all"),
                            mx.sym.Flatten(s), mx.sym.Flatten(t), z, dim=1, name="out")
        ranges = {"gain": (-1.5, 1.5), "shift": (-1.5, 1.5)}
        \(MXNetInteropTests.savingCheckpointPredictionsAndGradients)
        """

    @Test func mxnetsMathOperatorsPredictAndDifferentiateTheSameHere() throws {
        var rng = RandomGenerator(seed: 5)
        let input = NDArray(shape: [4, 3, 5])
        rng.fillUniform(input, low: -2, high: 2)
        // One batch of the 4 samples, as MXNet's: the reductions over axis 0 mix the samples, so a
        // batch padded to predict's default size would change every prediction. Relative to the
        // largest prediction: the sums reach the hundreds.
        try MXNetInteropTests().expectNetAsMXNet(
            "math", script: Self.script, input: input, batchSize: 4, relative: true)
    }
}
