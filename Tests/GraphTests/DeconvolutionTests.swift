import SwiftPSGraph
import SwiftPSTensor
import Testing

@Suite struct DeconvolutionTests {
    /// Each input pixel stamps the kernel, scaled, into the output at stride spacing; overlaps add.
    @Test func forwardByHand() throws {
        let x = NDArray([1, 2, 3, 4], shape: [1, 1, 2, 2])
        let w = NDArray([1, 10, 100, 1000], shape: [1, 1, 2, 2])
        let strided = try OpFixture(
            Deconvolution(kernel: [2, 2], numFilter: 1, stride: [2, 2]), shapes: [nil, nil], given: [0: x, 1: w])
        // Stride 2, kernel 2: the stamps tile the 4×4 output without overlap.
        expectClose(
            try strided.forward()[0].toArray(),
            [1, 10, 2, 20, 100, 1000, 200, 2000, 3, 30, 4, 40, 300, 3000, 400, 4000], "stride 2")
        let overlapping = try OpFixture(
            Deconvolution(kernel: [2, 2], numFilter: 1, noBias: false), shapes: [nil, nil, nil],
            given: [0: x, 1: w, 2: NDArray([0.5])])
        // Stride 1: a 3×3 output where the stamps overlap, plus the bias.
        expectClose(
            try overlapping.forward()[0].toArray(),
            [1, 12, 20, 103, 1234, 2040, 300, 3400, 4000].map { $0 + 0.5 }, "stride 1")
        // pad 1 crops the 3×3 to its centre.
        let padded = try OpFixture(
            Deconvolution(kernel: [2, 2], numFilter: 1, pad: [1, 1]), shapes: [nil, nil], given: [0: x, 1: w])
        expectClose(try padded.forward()[0].toArray(), [1234], "pad 1")
    }

    /// MXNet 1.9.1's shapes (printed by its infer_shape): plain, strided with adj, groups and
    /// dilation, and target_shape.
    @Test func shapesAsMXNet() throws {
        func shapes(_ a: [String: String], _ data: [Int]) throws -> ([[Int]], [[Int]]) {
            let s = try Deconvolution(attributes: a).inferShape([data, nil, nil])
            return (s.inputs, s.outputs)
        }
        let base = ["kernel": "(3, 3)", "num_filter": "4"]
        #expect(try shapes(base, [2, 6, 5, 5]) == ([[2, 6, 5, 5], [6, 4, 3, 3]], [[2, 4, 7, 7]]))
        let grouped = base.merging([
            "stride": "(2, 2)", "pad": "(1, 1)", "adj": "(1, 1)", "num_group": "2", "dilate": "(2, 1)",
            "no_bias": "False",
        ]) { $1 }
        #expect(try shapes(grouped, [2, 6, 5, 5]) == ([[2, 6, 5, 5], [6, 2, 3, 3], [4]], [[2, 4, 12, 10]]))
        let target = base.merging(["stride": "(2, 2)", "pad": "(5, 5)", "target_shape": "(10, 9)"]) { $1 }
        #expect(try shapes(target, [2, 6, 5, 5]).1 == [[2, 4, 10, 9]])
        #expect(try shapes(base.merging(["target_shape": "(0, 0)"]) { $1 }, [2, 6, 5, 5]).1 == [[2, 4, 7, 7]])
        // MXNet's refusals: adj not below the stride, a target larger than the data can give, one
        // needing an adj the stride does not allow.
        expectShapeError { _ = try shapes(base.merging(["adj": "(1, 1)"]) { $1 }, [2, 6, 5, 5]) }
        expectShapeError {
            _ = try shapes(base.merging(["stride": "(2, 2)", "target_shape": "(12, 12)"]) { $1 }, [2, 6, 5, 5])
        }
        expectShapeError { _ = try shapes(base.merging(["target_shape": "(6, 6)"]) { $1 }, [2, 6, 5, 5]) }
        expectShapeError { _ = try shapes(base.merging(["num_group": "4"]) { $1 }, [2, 6, 5, 5]) }
        expectShapeError { _ = try shapes(base, [2, 6, 5]) }
        expectBadAttribute("adj") { _ = try Deconvolution(attributes: base.merging(["adj": "(1)"]) { $1 }) }
        expectBadAttribute("layout") { _ = try Deconvolution(attributes: base.merging(["layout": "NHWC"]) { $1 }) }
        #expect(throws: GraphError.self) {
            try Symbol.operation(
                "Deconvolution", inputs: [("data", .variable("data"))],
                attributes: base.merging(["nobias": "True"]) { $1 })
        }
        #expect(
            try Deconvolution(attributes: base).listArguments() == ["data", "weight"], "no_bias is MXNet's default")
    }

    /// MXNet 1.9.1's deconvolution with target_shape (9, 13) of a 4×6 image (kernel 4, stride 2,
    /// dilate (1, 2)) equals its own with pad (1, 2) and adj (1, 0) (found by trying them all there).
    @Test func targetShapeSetsPadAndAdjAsMXNet() throws {
        let target = Deconvolution(
            kernel: [4, 4], numFilter: 3, stride: [2, 2], targetShape: [9, 13], dilate: [1, 2])
        let f = try OpFixture(target, shapes: [[2, 4, 4, 6], nil])
        let explicit = Deconvolution(
            kernel: [4, 4], numFilter: 3, stride: [2, 2], pad: [1, 2], adj: [1, 0], dilate: [1, 2])
        let g = try OpFixture(explicit, shapes: [nil, nil], given: [0: f.inputs[0], 1: f.inputs[1]])
        #expect(try f.forward()[0].shape == [2, 3, 9, 13])
        #expect(try f.forward()[0].toArray() == g.forward()[0].toArray())
    }

    /// A deconvolution is the adjoint of the convolution with the same window and weight array:
    /// Σ conv(x)·y = Σ x·deconv(y), for strides, pads, dilation and groups.
    @Test(arguments: [
        ([1, 1], [0, 0], [1, 1], 1), ([2, 2], [1, 0], [1, 1], 1), ([2, 1], [1, 1], [2, 1], 2),
        ([3, 2], [0, 2], [1, 2], 3),
    ])
    func isTheConvolutionsAdjoint(stride: [Int], pad: [Int], dilate: [Int], groups: Int) throws {
        let conv = Convolution(
            kernel: [3, 2], numFilter: 6, stride: stride, pad: pad, dilate: dilate, numGroup: groups, noBias: true)
        let cf = try OpFixture(conv, shapes: [[2, 6, 9, 8], nil])
        let y = try cf.forward()[0]
        let probe = NDArray(shape: y.shape)
        var rng = RandomGenerator(seed: 3)
        rng.fillUniform(probe, low: -1, high: 1)
        // The deconvolution's own output shape may exceed the data's by a remainder of the stride:
        // adj brings it back.
        let kernel = [3, 2]
        let adj = (0..<2).map { (axis: Int) -> Int in
            let extent = dilate[axis] * (kernel[axis] - 1) + 1
            return (cf.inputShapes[0][2 + axis] + 2 * pad[axis] - extent) % stride[axis]
        }
        let deconv = Deconvolution(
            kernel: [3, 2], numFilter: 6, stride: stride, pad: pad, adj: adj, dilate: dilate, numGroup: groups)
        let df = try OpFixture(deconv, shapes: [nil, nil], given: [0: probe, 1: cf.inputs[1]])
        let back = try df.forward()[0]
        #expect(back.shape == cf.inputShapes[0])
        let lhs = zip(y.toArray(), probe.toArray()).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        let rhs = zip(cf.inputs[0].toArray(), back.toArray()).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        #expect(abs(lhs - rhs) < 1e-4 * max(1, abs(lhs)), "⟨conv x, y⟩ \(lhs) ≠ ⟨x, deconv y⟩ \(rhs)")
    }

    @Test(arguments: [
        ([1, 1], [0, 0], [0, 0], [1, 1], 1, false), ([2, 2], [1, 1], [1, 0], [1, 1], 2, true),
        ([2, 3], [0, 1], [1, 2], [2, 1], 1, false), ([1, 2], [1, 0], [0, 1], [1, 2], 4, true),
    ])
    func gradient(stride: [Int], pad: [Int], adj: [Int], dilate: [Int], groups: Int, noBias: Bool) throws {
        let op = Deconvolution(
            kernel: [3, 2], numFilter: 4, stride: stride, pad: pad, adj: adj, dilate: dilate, numGroup: groups,
            noBias: noBias)
        let f = try OpFixture(op, shapes: [[3, 4, 4, 5]] + Array(repeating: nil, count: noBias ? 1 : 2))
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
        let serial = try ComputeThreads.withThreads(1) { try f.gradients().map { $0!.toArray() } }
        try ComputeThreads.withThreads(2) {
            #expect(ComputeThreads.chunks(for: 3) == 2)
            for (a, b) in zip(try f.gradients(), serial) { expectClose(a!.toArray(), b, "\(op.attributes)") }
        }
    }

    @Test func attributesRoundTrip() throws {
        let op = Deconvolution(
            kernel: [4, 4], numFilter: 8, stride: [2, 2], pad: [1, 1], targetShape: [16, 16], numGroup: 2,
            noBias: false)
        let again = try Deconvolution(attributes: op.attributes)
        #expect(again.attributes == op.attributes)
        #expect(again.targetShape == [16, 16] && again.window == op.window)
        let data = Symbol.variable("data")
        let sym = try Symbol.deconvolution(
            data, kernel: [4, 4], numFilter: 8, stride: [2, 2], pad: [1, 1], name: "up")
        #expect(sym.listArguments() == ["data", "up_weight"])
        let loaded = try Symbol.fromJSON(sym.toJSON())
        #expect(try loaded.inferShape(["data": [1, 3, 8, 8]]).outputs == [[1, 8, 16, 16]])
    }
}
