import Foundation
import SwiftPSGraph
import SwiftPSModule
import Testing

@testable import SwiftPSTensor

/// Interoperability of `dot` (vectors aside: N-D with each transpose), `batch_dot`, `linalg_gemm2`
/// (rows along the default and another axis, `alpha`), `GroupNorm` (with its mean and σ outputs)
/// and FullyConnected's `flatten=False` with the real MXNet 1.9.1: a checkpoint MXNet writes of an
/// attention-like network of all of them predicts the same here, through `swiftps predict` and a
/// bound executor, and the data's and every parameter's gradient of one batch is MXNet's. Skipped
/// when MXNet could not be installed.
@Suite(
    .serialized, .enabled(if: MXNetPython.path != nil, "MXNet 1.9.1 is not installed (.build-mxnet; see scripts/test)"),
    .enabled(if: CLIRunner.available, "needs the release swiftps binary (scripts/test builds it)"))
struct MXNetLinalgInteropTests {
    /// MXNet's side: builds the network with random parameters, saves it as PREFIX-0001, its
    /// predictions for the input .npy, and the gradient of the outputs' sum for the data and every
    /// parameter. `r`, `s` and `g2` read the normalized data with its channels transposed to the
    /// front: their sums run over the channels, each sample on its own.
    static let script = """
        import sys, numpy as np, mxnet as mx
        prefix, inp, out, grads = sys.argv[1:5]
        x = np.load(inp).astype(np.float32)
        data = mx.sym.Variable("data")
        gn = mx.sym.GroupNorm(data, num_groups=3, eps=1e-3, name="gn")
        q = mx.sym.FullyConnected(gn, num_hidden=4, flatten=False, name="q")
        k = mx.sym.dot(gn, mx.sym.Variable("wk", shape=(5, 4)), name="k")
        v = mx.sym.dot(gn, mx.sym.Variable("wv", shape=(4, 5)), transpose_b=True, name="v")
        att = mx.sym.tanh(mx.sym.batch_dot(q, k, transpose_b=True, name="att"))
        o = mx.sym.batch_dot(att, v, name="o")
        qo = mx.sym.batch_dot(q, o, transpose_a=True, name="qo")
        gt = mx.sym.transpose(gn, axes=(1, 0, 2), name="gt")
        r = mx.sym.transpose(mx.sym.dot(mx.sym.Variable("wr", shape=(6, 3)), gt, transpose_a=True, name="r"),
                             axes=(1, 0, 2), name="rt")
        s = mx.sym.dot(gt, mx.sym.Variable("ws", shape=(6, 2)), transpose_a=True, name="s")
        g1 = mx.sym.linalg.gemm2(q, v, transpose_b=True, alpha=0.5, name="g1")
        kt = mx.sym.transpose(k, axes=(1, 0, 2), name="kt")
        g2 = mx.sym.transpose(mx.sym.linalg.gemm2(gt, kt, transpose_a=True, axis=0, name="g2"),
                              axes=(1, 0, 2), name="g2t")
        m = mx.sym.GroupNorm(o, num_groups=2, output_mean_var=True, name="gn2")
        parts = [o, qo, r, s, g1, g2, m[0], m[1], m[2]]
        sym = mx.sym.Concat(*[mx.sym.Flatten(p) for p in parts], dim=1, name="out")
        """ + "\ndata_grad = True\n" + MXNetInteropTests.savingCheckpointPredictionsAndGradients

    @Test func mxnetsLinalgOperatorsPredictAndDifferentiateTheSameHere() throws {
        var rng = RandomGenerator(seed: 11)
        let input = NDArray(shape: [4, 6, 5])
        rng.fillUniform(input, low: -2, high: 2)
        let (exec, theirs) = try MXNetInteropTests().expectNetAsMXNet(
            "linalg", script: Self.script, input: input, withData: true)
        #expect(theirs.shape == [4, 149])
        let bound = exec.outputs[0].maxAbsDifference(theirs)
        #expect(bound < 1e-5, "the bound executor differs from MXNet by \(bound)")
        #expect(exec.argDict["gn_gamma"]?.shape == [3], "GroupNorm's gamma is per group in MXNet 1.9.1")
    }
}
