import Foundation
import SwiftPSGraph
import SwiftPSModule
import Testing

@testable import SwiftPSTensor

/// Interoperability of Pooling's newer modes (`same`, lp with p 1 to 3, 1-D and 3-D, avg without the
/// padding, max windows wholly in the padding) and bilinear UpSampling with the real MXNet 1.9.1: a
/// checkpoint MXNet writes of a network of all of them predicts the same here, through `swiftps
/// predict` and a bound executor, and the data's and every parameter's gradient of one batch is
/// MXNet's. MXNet runs its own kernels (`MXNET_MKLDNN_ENABLED=0`): oneDNN refuses clipped `same`
/// windows and pads of the kernel or more. Skipped when MXNet could not be installed.
@Suite(
    .serialized, .enabled(if: MXNetPython.path != nil, "MXNet 1.9.1 is not installed (.build-mxnet; see scripts/test)"),
    .enabled(if: CLIRunner.available, "needs the release swiftps binary (scripts/test builds it)"))
struct MXNetPoolingInteropTests {
    /// MXNet's side: builds the network with random parameters, saves it as PREFIX-0001, its
    /// predictions for the input .npy, and the gradient of the outputs' sum for the data and every
    /// parameter.
    static let script = """
        import os, sys
        # MXNet's own kernels: oneDNN runs neither `same` windows that are clipped nor a pad of the kernel or more.
        os.environ["MXNET_MKLDNN_ENABLED"] = "0"
        import numpy as np, mxnet as mx
        prefix, inp, out, grads = sys.argv[1:5]
        x = np.load(inp).astype(np.float32)
        P = mx.sym.Pooling
        data = mx.sym.Variable("data")
        h = mx.sym.Convolution(data, kernel=(1, 1), num_filter=4, name="mix")
        up = mx.sym.UpSampling(h, scale=2, sample_type="bilinear", num_filter=4, name="up")
        up3 = mx.sym.UpSampling(data, scale=3, sample_type="bilinear", num_filter=4, name="up3")
        seq = mx.sym.Reshape(up, shape=(0, 0, -1), name="seq")
        vol = mx.sym.Reshape(up, shape=(0, 1, 4, 12, 10), name="vol")
        pools = [
            P(up, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="avg", count_include_pad=False, pooling_convention="full", name="avg_full"),
            P(up, kernel=(2, 3), stride=(2, 2), pad=(1, 1), pool_type="lp", p_value=2, name="lp2"),
            # p = 3 of positive values: a signed cube root of cancelling cubes would magnify rounding.
            P(mx.sym.Activation(up3, act_type="sigmoid"), kernel=(3, 3), stride=(3, 3), pad=(1, 1), pool_type="lp", p_value=3, name="lp3"),
            P(up3, kernel=(2, 2), stride=(2, 2), pool_type="lp", p_value=1, name="lp1"),
            P(up, kernel=(2, 2), stride=(3, 3), pad=(2, 2), pool_type="max", pooling_convention="full", name="max_empty"),
            P(seq, kernel=(5,), stride=(4,), pad=(0, 0, 0), pooling_convention="same", name="same_max"),
            P(seq, kernel=(4,), stride=(3,), pad=(0, 0, 0), pooling_convention="same", pool_type="avg", name="same_avg"),
            P(seq, kernel=(2,), stride=(2,), pad=(3,), name="max1d_wide_pad"),
            P(vol, kernel=(2, 3, 3), stride=(2, 2, 2), pad=(1, 1, 1), pool_type="avg", pooling_convention="full", name="avg3d"),
            P(vol, kernel=(2, 2, 2), stride=(1, 2, 2), name="max3d"),
        ]
        sym = mx.sym.Concat(*[mx.sym.Flatten(p) for p in pools], dim=1, name="out")
        """ + "\ndata_grad = True\n" + MXNetInteropTests.savingCheckpointPredictionsAndGradients

    @Test func mxnetsPoolingModesAndBilinearUpSamplingPredictAndDifferentiateTheSameHere() throws {
        var rng = RandomGenerator(seed: 12)
        let input = NDArray(shape: [2, 4, 6, 5])
        rng.fillUniform(input, low: -1, high: 1)
        let (exec, theirs) = try MXNetInteropTests().expectNetAsMXNet(
            "pools", script: Self.script, input: input, withData: true)
        let bound = exec.outputs[0].maxAbsDifference(theirs)
        #expect(bound < 1e-5, "the bound executor differs from MXNet by \(bound)")
    }
}
