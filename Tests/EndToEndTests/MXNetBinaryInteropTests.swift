import Foundation
import SwiftPSGraph
import SwiftPSModule
import Testing

@testable import SwiftPSTensor

/// Interoperability of `elemwise_div`, `_maximum`, `_minimum`, `_power`, the comparisons (`_equal` …
/// `_lesser_equal`), their `broadcast_*` and `_…_scalar` forms with the real MXNet 1.9.1, written as
/// MXNet users write them (`a / b`, `maximum(a, b)`, `a ** 2`, `2 ** a`, `a > 0`): a checkpoint MXNet
/// writes of a network of all of them predicts the same here, and every parameter's gradient of one
/// batch is MXNet's. Skipped when MXNet could not be installed.
@Suite(
    .serialized, .enabled(if: MXNetPython.path != nil, "MXNet 1.9.1 is not installed (.build-mxnet; see scripts/test)"),
    .enabled(if: CLIRunner.available, "needs the release swiftps binary (scripts/test builds it)"))
struct MXNetBinaryInteropTests {
    /// MXNet's side: builds the network with random parameters, saves it as PREFIX-0001, its
    /// predictions for the input .npy, and the gradient of the outputs' sum for every parameter.
    /// The powers' bases are `sigmoid + 0.5`, within (0.5, 1.5), where every gradient is finite; the
    /// comparisons gate the output (and pass no gradient); `thr` reaches broadcast maximum and
    /// minimum and, through `round`, only comparisons.
    static let script = """
        import sys, numpy as np, mxnet as mx
        prefix, inp, out, grads = sys.argv[1:5]
        x = np.load(inp).astype(np.float32)
        data = mx.sym.Variable("data")
        thr = mx.sym.Variable("thr", shape=(3, 1))
        h = mx.sym.broadcast_mul(data, mx.sym.Variable("gain", shape=(1, 3, 5)), name="scale")
        h = mx.sym.broadcast_add(h, mx.sym.Variable("shift", shape=(3, 1)), name="shift_op")
        # Copies of h, so that no value has more than 8 consumers (MXNet 1.9.1's gradient of one that
        # has is wrong: MXNET_EXEC_INPLACE_GRAD_SUM_CAP).
        ha, hb, hc = (mx.sym.identity(h, name=n) for n in ("ha", "hb", "hc"))
        p = mx.sym.sigmoid(h, name="sig") + 0.5
        cos = mx.sym.cos(ha, name="cos")
        r, f, c = mx.sym.round(hc, name="r"), mx.sym.floor(hc, name="f"), mx.sym.ceil(hc, name="c")
        t = mx.sym.round(thr * 3, name="t")
        flags = [r == f, r != c, r > f, r >= c, r < c, r <= f, r == 0, r != 1, hc > 0, hc >= 0.1, hc < 0.4,
                 hc <= -0.3, mx.sym.broadcast_equal(f, t), mx.sym.broadcast_not_equal(c, t),
                 mx.sym.broadcast_greater(f, t), mx.sym.broadcast_greater_equal(c, t),
                 mx.sym.broadcast_lesser(f, t), mx.sym.broadcast_lesser_equal(c, t)]
        terms = [ha / p, mx.sym.maximum(ha, cos), mx.sym.minimum(ha, cos), p ** mx.sym.tanh(ha),
                 mx.sym.maximum(ha, 0.3), mx.sym.minimum(ha, -0.2), 1.5 ** ha, p ** 2.5,
                 mx.sym.broadcast_maximum(hb, thr), mx.sym.broadcast_minimum(hb, thr),
                 mx.sym.broadcast_power(p, mx.sym.Variable("ex", shape=(1, 1, 5))), hb * (hb > 0),
                 hb * mx.sym.add_n(*flags, name="flags")]
        sym = mx.sym.Flatten(mx.sym.add_n(*terms, name="terms"), name="out")
        ops = {n["op"] for n in __import__("json").loads(sym.tojson())["nodes"]}
        wanted = {"elemwise_div", "_maximum", "_minimum", "_power", "_maximum_scalar", "_minimum_scalar",
                  "_power_scalar", "_rpower_scalar", "broadcast_maximum", "broadcast_minimum", "broadcast_power",
                  "_equal", "_not_equal", "_greater", "_greater_equal", "_lesser", "_lesser_equal",
                  "_equal_scalar", "_not_equal_scalar", "_greater_scalar", "_greater_equal_scalar",
                  "_lesser_scalar", "_lesser_equal_scalar", "broadcast_equal", "broadcast_not_equal",
                  "broadcast_greater", "broadcast_greater_equal", "broadcast_lesser", "broadcast_lesser_equal"}
        assert wanted <= ops, wanted - ops
        ranges = {"gain": (-1.5, 1.5), "shift": (-1.5, 1.5), "thr": (-1.5, 1.5), "ex": (-1.5, 1.5)}
        \(MXNetInteropTests.savingCheckpointPredictionsAndGradients)
        """

    @Test func mxnetsBinaryOperatorsPredictAndDifferentiateTheSameHere() throws {
        var rng = RandomGenerator(seed: 5)
        let input = NDArray(shape: [4, 3, 5])
        rng.fillUniform(input, low: -2, high: 2)
        // Relative to the largest prediction: the sums of 13 terms reach the tens.
        try MXNetInteropTests().expectNetAsMXNet("binary", script: Self.script, input: input, relative: true)
    }
}
