import Foundation
import SwiftPSGraph
import SwiftPSModule
import Testing

@testable import SwiftPSTensor

/// Interoperability of broadcast_add/sub/mul/div (and their aliases), transpose, SliceChannel
/// (split, squeeze_axis), Embedding, LRN, Cast and UpSampling with the real MXNet 1.9.1: a checkpoint
/// MXNet writes of a network of all of them predicts the same here, and every parameter's gradient
/// of one batch is MXNet's. Skipped when MXNet could not be installed.
@Suite(
    .serialized, .enabled(if: MXNetPython.path != nil, "MXNet 1.9.1 is not installed (.build-mxnet; see scripts/test)"),
    .enabled(if: CLIRunner.available, "needs the release swiftps binary (scripts/test builds it)"))
struct MXNetOperatorInteropTests {
    /// MXNet's side: builds the network with random parameters (ranges that keep broadcast_div's
    /// divisor at least 2), saves it as PREFIX-0001, its predictions for the input .npy, and the
    /// gradient of the outputs' sum for every parameter (the data takes none: MXNet's Embedding
    /// refuses one).
    static let script = """
        import sys, numpy as np, mxnet as mx
        prefix, inp, out, grads = sys.argv[1:5]
        x = np.load(inp).astype(np.float32)
        data = mx.sym.Variable("data")
        gain = mx.sym.Variable("gain", shape=(1, 4, 1, 1))
        h = mx.sym.broadcast_mul(mx.sym.Cast(data, dtype="float32", name="cast"), gain, name="scale_in")
        h = mx.sym.LRN(h, nsize=3, alpha=0.5, beta=0.75, knorm=1.5, name="lrn")
        h = mx.sym.UpSampling(h, scale=2, sample_type="nearest", num_args=1, name="up")
        parts = mx.sym.SliceChannel(h, num_outputs=2, axis=1, name="slice")
        t0 = mx.sym.transpose(parts[0], axes=(0, 1, 3, 2), name="t0")
        t1 = mx.sym.transpose(mx.sym.transpose(parts[1], name="rev"), axes=(3, 2, 0, 1), name="t1")
        a = mx.sym.broadcast_mul(t0, mx.sym.Variable("bscale", shape=(2, 8, 1)), name="bmul")
        b = mx.sym.broadcast_sub(a, mx.sym.Variable("bsub", shape=(6,)), name="bsub_op")
        c = mx.sym.broadcast_plus(b, t1, name="badd")
        both = mx.sym.broadcast_minus(mx.sym.Variable("bcol", shape=(8, 1)), mx.sym.Variable("brow", shape=(1, 6)), name="both")
        d = mx.sym.broadcast_div(c, both, name="bdiv")
        rows = mx.sym.split(mx.sym.Reshape(d, shape=(0, 2, -1)), num_outputs=2, axis=1, squeeze_axis=True, name="rows")
        e = mx.sym.Embedding(data, input_dim=5, output_dim=3, name="emb")
        sym = mx.sym.Concat(rows[0], rows[1], mx.sym.Flatten(e), dim=1, name="out")
        ranges = {"gain": (0.5, 1.5), "bscale": (-1, 1), "bsub": (-1, 1), "bcol": (2, 3), "brow": (-0.5, 0), "emb_weight": (-1, 1)}
        \(MXNetInteropTests.savingCheckpointPredictionsAndGradients)
        """

    @Test func mxnetsNewOperatorsPredictAndDifferentiateTheSameHere() throws {
        // Indices from -1 to 6 for an Embedding of 5 rows: some are clipped at either end.
        var rng = RandomGenerator(seed: 11)
        let input = NDArray(shape: [3, 4, 3, 4])
        rng.fillUniform(input, low: -1.5, high: 6.5)
        try MXNetInteropTests().expectNetAsMXNet("ops", script: Self.script, input: input)
    }
}
