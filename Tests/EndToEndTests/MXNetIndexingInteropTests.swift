import Foundation
import SwiftPSGraph
import SwiftPSModule
import Testing

@testable import SwiftPSTensor

/// Interoperability of `slice_axis`, `slice` (and `crop`), `reverse` (and `flip`), `tile`, `repeat`
/// (along an axis and flattened), `stack`, `take`, `pick` and `one_hot` with the real MXNet 1.9.1: a
/// checkpoint MXNet writes of a network of all of them (with `tile`, `repeat` and `take` also of
/// parameters, and indices computed from the data) predicts the same here, and every parameter's
/// gradient of one batch is MXNet's. Skipped when MXNet could not be installed.
@Suite(
    .serialized, .enabled(if: MXNetPython.path != nil, "MXNet 1.9.1 is not installed (.build-mxnet; see scripts/test)"),
    .enabled(if: CLIRunner.available, "needs the release swiftps binary (scripts/test builds it)"))
struct MXNetIndexingInteropTests {
    /// MXNet's side: builds the network with random parameters, saves it as PREFIX-0001, its
    /// predictions for the input .npy, and the gradient of the outputs' sum for every parameter.
    /// Every term is squared, so each operator's backward gets a head gradient that differs from
    /// element to element.
    static let script = """
        import os, sys
        # MXNet 1.9.1 sums the gradients of a value with many consumers wrongly unless this cap is
        # raised (this net's first version, with h feeding 8 operators and f 5, got other gain, shift
        # and m gradients with the default 8); values here also have few consumers.
        os.environ["MXNET_EXEC_INPLACE_GRAD_SUM_CAP"] = "100"
        import numpy as np, mxnet as mx
        prefix, inp, out, grads = sys.argv[1:5]
        x = np.load(inp).astype(np.float32)
        data = mx.sym.Variable("data")
        m = mx.sym.repeat(mx.sym.Variable("m", shape=(1, 3, 1)), repeats=5, axis=2, name="rep_m")
        h = mx.sym.broadcast_mul(data, mx.sym.Variable("gain", shape=(1, 3, 5)), name="scale")
        h = mx.sym.broadcast_add(mx.sym.broadcast_mul(h, m, name="mul_m"), mx.sym.Variable("shift", shape=(3, 1)),
                                 name="shift_op")
        tv = mx.sym.tile(mx.sym.Variable("v", shape=(3, 1)), reps=(1, 4), name="tile_v")
        a = mx.sym.broadcast_mul(mx.sym.slice_axis(h, axis=2, begin=1, end=None, name="sa1"), tv, name="mul_v")
        b = mx.sym.slice(h, begin=(None, 2, -1), end=(None, None, 0), step=(None, -1, -2), name="sl")
        c = mx.sym.crop(h, begin=(None, 1), end=(None, 3), name="crop")
        r = mx.sym.reverse(h, axis=(1, 2), name="rev")
        f = mx.sym.flip(r, axis=2, name="flip")
        d = mx.sym.slice_axis(f, axis=-1, begin=-3, end=-1, name="sa2")
        t = mx.sym.tile(h, reps=(1, 1, 2), name="tile")
        t2 = mx.sym.tile(c, reps=(2,), name="tile2")
        p = mx.sym.repeat(h, repeats=2, axis=-1, name="rep")
        q = mx.sym.reshape(mx.sym.repeat(r, repeats=3, name="rep_flat"), shape=(4, -1), name="q")
        s = mx.sym.stack(r, f, axis=1, name="st")
        s2 = mx.sym.stack(b, d, axis=-1, name="st2")
        # Indices from the data, in [-6, 6): out of range for every axis, so clip and wrap both matter.
        idx = mx.sym.floor(mx.sym.slice_axis(data, axis=2, begin=0, end=1) * 3, name="idx")
        idx2 = mx.sym.floor(mx.sym.slice_axis(data, axis=1, begin=0, end=1) * 3, name="idx2")
        k1 = mx.sym.take(r, idx, axis=1, mode="wrap", name="take_r")
        k2 = mx.sym.take(mx.sym.Variable("table", shape=(5, 3)), idx, name="take_table")
        k3 = mx.sym.pick(f, idx, axis=-1, name="pick_f")
        k4 = mx.sym.pick(f, idx2, axis=1, keepdims=True, mode="wrap", name="pick_f2")
        k5 = mx.sym.one_hot(idx, depth=5, on_value=2, off_value=-0.5, name="hot")
        k6 = mx.sym.broadcast_mul(mx.sym.reshape(k5, shape=(0, 0, -1)), f, name="hot_f")
        terms = [a, b, c, d, r, f, t, t2, p, q, s, s2, k1, k2, k3, k4, k5, k6]
        sym = mx.sym.Concat(*[mx.sym.Flatten(mx.sym.square(u)) for u in terms], dim=1, name="out")
        ranges = {k: (-1.5, 1.5) for k in ("gain", "shift", "v", "m", "table")}
        \(MXNetInteropTests.savingCheckpointPredictionsAndGradients)
        """

    @Test func mxnetsIndexingOperatorsPredictAndDifferentiateTheSameHere() throws {
        var rng = RandomGenerator(seed: 5)
        let input = NDArray(shape: [4, 3, 5])
        rng.fillUniform(input, low: -2, high: 2)
        // One batch of the 4 samples, as MXNet's: the network reshapes to (4, -1). Relative to the
        // largest prediction.
        try MXNetInteropTests().expectNetAsMXNet(
            "indexing", script: Self.script, input: input, batchSize: 4, relative: true)
    }
}
