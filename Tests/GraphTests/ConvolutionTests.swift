import SwiftPSTensor
import Testing

@testable import SwiftPSGraph

@Suite struct ConvolutionTests {
    static let image = NDArray((1...9).map(Float.init), shape: [1, 1, 3, 3])

    @Test func forwardByHand() throws {
        let w = NDArray([1, 2, 3, 4], shape: [1, 1, 2, 2])
        let op = Convolution(kernel: [2, 2], numFilter: 1)
        let f = try OpFixture(op, shapes: [nil, nil, nil], given: [0: Self.image, 1: w, 2: NDArray([0.5])])
        // y[i,j] = 1·x[i,j] + 2·x[i,j+1] + 3·x[i+1,j] + 4·x[i+1,j+1] + 0.5
        expectClose(try f.forward()[0].toArray(), [37.5, 47.5, 67.5, 77.5], "y")
        #expect(f.outputs[0].shape == [1, 1, 2, 2])
    }

    @Test func forwardWithPadAndStrideByHand() throws {
        let w = NDArray([1, 2, 3, 4], shape: [1, 1, 2, 2])
        let op = Convolution(kernel: [2, 2], numFilter: 1, stride: [2, 2], pad: [1, 1], noBias: true)
        let f = try OpFixture(op, shapes: [nil, nil], given: [0: Self.image, 1: w])
        // Windows on the zero-padded 5×5 image at rows/cols {0,1} and {2,3}:
        // (0,0) sees only x00·4; (0,1) x01·3 + x02·4; (1,0) x10·2 + x20·4; (1,1) the full 1,2,3,4 taps.
        expectClose(try f.forward()[0].toArray(), [4, 18, 36, 77], "y")
    }

    @Test func channelsAndFiltersByHand() throws {
        // Channel 0: 1…9; channel 1: all ones. Filter 0: taps 1,2,3,4 on channel 0 and all-ones on
        // channel 1 (adds 4). Filter 1: only tap (0,0) of channel 1 (adds 1), bias −1.
        var x = (1...9).map(Float.init)
        x += Array(repeating: 1, count: 9)
        let w = NDArray([1, 2, 3, 4, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0], shape: [2, 2, 2, 2])
        let f = try OpFixture(
            Convolution(kernel: [2, 2], numFilter: 2), shapes: [nil, nil, nil],
            given: [0: NDArray(x, shape: [1, 2, 3, 3]), 1: w, 2: NDArray([0.5, -1])])
        expectClose(try f.forward()[0].toArray(), [41.5, 51.5, 71.5, 81.5, 0, 0, 0, 0], "y")
    }

    @Test func backwardByHand() throws {
        let w = NDArray(shape: [1, 1, 2, 2], repeating: 1)
        let f = try OpFixture(
            Convolution(kernel: [2, 2], numFilter: 1), shapes: [nil, nil, nil], given: [0: Self.image, 1: w])
        f.heads[0].fill(1)
        let g = try f.gradients()
        // dx counts the windows covering each pixel; dW sums the pixels under each tap; db counts outputs.
        expectClose(g[0]!.toArray(), [1, 2, 1, 2, 4, 2, 1, 2, 1], "dx")
        expectClose(g[1]!.toArray(), [12, 16, 24, 28], "dW")
        expectClose(g[2]!.toArray(), [4], "db")
    }

    @Test func shapeInference() throws {
        let op = try Convolution(attributes: ["kernel": "(5, 5)", "num_filter": "20"])
        let s = try op.inferShape([[2, 3, 28, 28], nil, nil])
        #expect(s.inputs == [[2, 3, 28, 28], [20, 3, 5, 5], [20]])
        #expect(s.outputs == [[2, 20, 24, 24]])
        let strided = try Convolution(attributes: [
            "kernel": "(5,5)", "num_filter": "4", "stride": "(2,2)", "pad": "(2,2)", "no_bias": "True",
        ])
        #expect(strided.listArguments() == ["data", "weight"])
        #expect(try strided.inferShape([[1, 3, 28, 28], nil]).outputs == [[1, 4, 14, 14]])
        expectShapeError { _ = try op.inferShape([[2, 3, 28], nil, nil]) }
        expectShapeError { _ = try op.inferShape([[2, 3, 4, 4], nil, nil]) }
        expectShapeError { _ = try op.inferShape([[2, 3, 28, 28], [20, 2, 5, 5], nil]) }
    }

    @Test func attributes() {
        let base = ["kernel": "(3, 3)", "num_filter": "8"]
        func with(_ k: String, _ v: String) -> [String: String] { base.merging([k: v]) { $1 } }
        expectBadAttribute("kernel") { _ = try Convolution(attributes: ["num_filter": "8"]) }
        expectBadAttribute("kernel") { _ = try Convolution(attributes: with("kernel", "(3)")) }
        expectBadAttribute("kernel") { _ = try Convolution(attributes: with("kernel", "(3, 3, 3)")) }
        expectBadAttribute("num_filter") { _ = try Convolution(attributes: ["kernel": "(3, 3)"]) }
        expectBadAttribute("num_filter") { _ = try Convolution(attributes: with("num_filter", "many")) }
        expectBadAttribute("dilate") { _ = try Convolution(attributes: with("dilate", "(0, 1)")) }
        expectBadAttribute("dilate") { _ = try Convolution(attributes: with("dilate", "(2, 2, 2)")) }
        expectBadAttribute("num_group") { _ = try Convolution(attributes: with("num_group", "0")) }
        expectBadAttribute("num_group") { _ = try Convolution(attributes: with("num_group", "3")) }
        expectBadAttribute("layout") { _ = try Convolution(attributes: with("layout", "NHWC")) }
        expectBadAttribute("stride") { _ = try Convolution(attributes: with("stride", "(0, 1)")) }
        expectBadAttribute("pad") { _ = try Convolution(attributes: with("pad", "(-1, 0)")) }
        #expect((try? Convolution(attributes: with("dilate", "(1, 1)"))) != nil)
        // MXNet writes its defaults as empty tuples.
        let defaults = try? Convolution(attributes: with("dilate", "()").merging(["stride": "()", "pad": "()"]) { $1 })
        #expect(defaults?.dilate == [1, 1] && defaults?.stride == [1, 1] && defaults?.pad == [0, 0])
        let grouped = try? Convolution(attributes: with("num_group", "4").merging(["dilate": "(2, 3)"]) { $1 })
        #expect(grouped?.numGroup == 4 && grouped?.dilate == [2, 3])
        #expect(grouped?.attributes["num_group"] == "4" && grouped?.attributes["dilate"] == "(2, 3)")
    }

    /// Dilation spaces the taps: a 2×2 kernel dilated by 2 on a 4×4 image reads pixels two apart.
    @Test func dilationByHand() throws {
        let x = NDArray((0..<16).map(Float.init), shape: [1, 1, 4, 4])
        let w = NDArray([1, 10, 100, 1000], shape: [1, 1, 2, 2])
        let f = try OpFixture(
            Convolution(kernel: [2, 2], numFilter: 1, dilate: [2, 2], noBias: true), shapes: [nil, nil],
            given: [0: x, 1: w])
        // y[i,j] = x[i,j] + 10·x[i,j+2] + 100·x[i+2,j] + 1000·x[i+2,j+2]
        func y(_ i: Int, _ j: Int) -> Float {
            Float(4 * i + j) + 10 * Float(4 * i + j + 2) + 100 * Float(4 * (i + 2) + j) + 1000
                * Float(4 * (i + 2) + j + 2)
        }
        expectClose(try f.forward()[0].toArray(), [y(0, 0), y(0, 1), y(1, 0), y(1, 1)], "y")
        // With pad 1, dilation (1, 2) and stride (1, 2): output 4×2 from the padded 6×6 (extent 2×3).
        let padded = Convolution(kernel: [2, 2], numFilter: 1, stride: [1, 2], pad: [1, 1], dilate: [1, 2])
        #expect(try padded.inferShape([[1, 1, 4, 4], nil, nil]).outputs == [[1, 1, 5, 2]])
        expectShapeError {
            _ = try Convolution(kernel: [3, 3], numFilter: 1, dilate: [2, 2]).inferShape([[1, 1, 4, 4]])
        }
    }

    /// Groups: filter group g sees only channel group g; weights are (F, C/G, kh, kw).
    @Test func groupsByHand() throws {
        // Two channels: 1…9 and all ones. Depthwise (2 groups, 2 filters): filter 0 on channel 0 only
        // (taps 1,2,3,4), filter 1 on channel 1 only (taps all 1, bias −1).
        var x = (1...9).map(Float.init)
        x += Array(repeating: 1, count: 9)
        let w = NDArray([1, 2, 3, 4, 1, 1, 1, 1], shape: [2, 1, 2, 2])
        let op = Convolution(kernel: [2, 2], numFilter: 2, numGroup: 2)
        let f = try OpFixture(
            op, shapes: [nil, nil, nil], given: [0: NDArray(x, shape: [1, 2, 3, 3]), 1: w, 2: NDArray([0.5, -1])])
        expectClose(try f.forward()[0].toArray(), [37.5, 47.5, 67.5, 77.5, 3, 3, 3, 3], "y")
        #expect(try op.inferShape([[2, 6, 5, 5], nil, nil]).inputs == [[2, 6, 5, 5], [2, 3, 2, 2], [2]])
        expectShapeError { _ = try op.inferShape([[2, 3, 5, 5], nil, nil]) }
        expectShapeError { _ = try op.inferShape([[2, 4, 5, 5], [2, 4, 2, 2], nil]) }
        // Equal to two separate convolutions of the halves.
        let big = try OpFixture(
            Convolution(kernel: [3, 2], numFilter: 6, pad: [1, 0], numGroup: 3), shapes: [[2, 6, 5, 4], nil, nil])
        let out = try big.forward()[0]
        for group in 0..<3 {
            let xs = NDArray(shape: [2, 2, 5, 4])
            for n in 0..<2 { for k in 0..<40 { xs.data[n * 40 + k] = big.inputs[0].data[n * 120 + group * 40 + k] } }
            let ws = NDArray(Array(big.inputs[1].toArray()[group * 24..<(group + 1) * 24]), shape: [2, 2, 3, 2])
            let bs = NDArray(Array(big.inputs[2].toArray()[group * 2..<(group + 1) * 2]))
            let one = try OpFixture(
                Convolution(kernel: [3, 2], numFilter: 2, pad: [1, 0]), shapes: [nil, nil, nil],
                given: [0: xs, 1: ws, 2: bs])
            let part = try one.forward()[0].toArray()
            for n in 0..<2 {
                let mine = Array(out.toArray()[(n * 6 + group * 2) * 15..<(n * 6 + group * 2 + 2) * 15])
                expectClose(mine, Array(part[n * 30..<(n + 1) * 30]), "group \(group) image \(n)")
            }
        }
    }

    @Test(arguments: [
        ([1, 1], [0, 0], [2, 1], 1), ([2, 2], [1, 1], [2, 2], 2), ([1, 2], [2, 1], [1, 1], 4),
        ([1, 1], [0, 0], [1, 1], 2),
    ])
    func groupedAndDilatedGradient(stride: [Int], pad: [Int], dilate: [Int], groups: Int) throws {
        let op = Convolution(kernel: [3, 2], numFilter: 4, stride: stride, pad: pad, dilate: dilate, numGroup: groups)
        let f = try OpFixture(op, shapes: [[2, 4, 7, 6], nil, nil])
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
        // Several compute threads: the same to rounding.
        let serial = try ComputeThreads.withThreads(1) { try f.gradients().map { $0!.toArray() } }
        try ComputeThreads.withThreads(2) {
            for (a, b) in zip(try f.gradients(), serial) { expectClose(a!.toArray(), b, "\(op.attributes)") }
        }
    }

    /// A depthwise convolution (one channel and one filter per group: the direct loops) equals the
    /// dense convolution whose weight is zero outside the diagonal blocks (im2col and GEMM): output,
    /// data gradient, and the weight gradient's diagonal blocks. With a channel multiplier of 2 the
    /// grouped GEMM path is checked the same way.
    @Test(arguments: [
        ([1, 1], [1, 1], [1, 1], 1), ([2, 2], [1, 1], [1, 1], 1), ([1, 2], [0, 2], [2, 1], 1),
        ([3, 1], [2, 0], [1, 1], 1), ([2, 2], [1, 1], [1, 1], 2),
    ])
    func depthwiseEqualsBlockDiagonalDense(stride: [Int], pad: [Int], dilate: [Int], multiplier: Int) throws {
        let (c, kernel) = (3, [3, 3])
        let filters = c * multiplier
        let depthwise = try OpFixture(
            Convolution(kernel: kernel, numFilter: filters, stride: stride, pad: pad, dilate: dilate, numGroup: c),
            shapes: [[2, c, 7, 8], nil, nil])
        let taps = kernel[0] * kernel[1]
        let dense = NDArray(shape: [filters, c] + kernel)
        for f in 0..<filters {
            for t in 0..<taps {
                dense.data[(f * c + f / multiplier) * taps + t] = depthwise.inputs[1].data[f * taps + t]
            }
        }
        let full = try OpFixture(
            Convolution(kernel: kernel, numFilter: filters, stride: stride, pad: pad, dilate: dilate),
            shapes: [nil, nil, nil],
            given: [0: depthwise.inputs[0], 1: dense, 2: depthwise.inputs[2]])
        full.heads[0].data.update(from: depthwise.heads[0].data, count: full.heads[0].count)
        expectClose(try depthwise.forward()[0].toArray(), try full.forward()[0].toArray(), "output")
        let (dg, fg) = (try depthwise.gradients(), try full.gradients())
        expectClose(dg[0]!.toArray(), fg[0]!.toArray(), "data gradient")
        expectClose(dg[2]!.toArray(), fg[2]!.toArray(), "bias gradient")
        let diagonal = (0..<filters).flatMap { f in
            (0..<taps).map { fg[1]!.data[(f * c + f / multiplier) * taps + $0] }
        }
        expectClose(dg[1]!.toArray(), diagonal, "weight gradient")
        try GradientCheck.check(depthwise)
        try GradientCheck.checkAccumulation(depthwise)
    }

    /// Stride 1 with padding over rows wide enough runs im2col over whole padded rows (`WideRows`):
    /// the output equals the definition's sum (written out below), the gradients check against
    /// finite differences, accumulating too, and split over threads.
    @Test(arguments: [
        ([3, 3], [1, 1], [1, 1], 1, false), ([3, 2], [1, 2], [1, 2], 1, true), ([3, 3], [1, 1], [1, 1], 2, false),
        ([1, 5], [0, 2], [1, 1], 1, false),
    ])
    func wideRowsFollowTheDefinition(kernel: [Int], pad: [Int], dilate: [Int], groups: Int, noBias: Bool) throws {
        let op = Convolution(kernel: kernel, numFilter: 4, pad: pad, dilate: dilate, numGroup: groups, noBias: noBias)
        let (n, c, h, w) = (3, 4, 6, 17)
        let f = try OpFixture(op, shapes: [[n, c, h, w]] + Array(repeating: nil, count: noBias ? 1 : 2))
        let (x, wt) = (f.inputs[0], f.inputs[1])
        let out = f.outputShapes[0]
        #expect(out == [n, 4, h, w - (kernel[1] - 1) * dilate[1] + 2 * pad[1]])
        let y = try f.forward()[0]
        let perGroup = c / groups
        for img in 0..<n {
            for filter in 0..<4 {
                for oh in 0..<out[2] {
                    for ow in 0..<out[3] {
                        var sum: Double = noBias ? 0 : Double(f.inputs[2].data[filter])
                        for ci in 0..<perGroup {
                            let channel = filter / (4 / groups) * perGroup + ci
                            for i in 0..<kernel[0] {
                                for j in 0..<kernel[1] {
                                    let (ih, iw) = (oh - pad[0] + i * dilate[0], ow - pad[1] + j * dilate[1])
                                    guard ih >= 0, ih < h, iw >= 0, iw < w else { continue }
                                    sum +=
                                        Double(x.data[((img * c + channel) * h + ih) * w + iw])
                                        * Double(wt.data[((filter * perGroup + ci) * kernel[0] + i) * kernel[1] + j])
                                }
                            }
                        }
                        let got = y.data[((img * 4 + filter) * out[2] + oh) * out[3] + ow]
                        #expect(abs(Double(got) - sum) < 1e-4, "y[\(img), \(filter), \(oh), \(ow)]")
                    }
                }
            }
        }
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
        let serial = try ComputeThreads.withThreads(1) { try f.gradients().map { $0!.toArray() } }
        try ComputeThreads.withThreads(2) {
            for (a, b) in zip(try f.gradients(), serial) { expectClose(a!.toArray(), b, "two threads") }
        }
    }

    /// The depthwise kernels are compiled for AVX-512, AVX2 + FMA and the baseline: every level the CPU
    /// has gives the baseline's results (to rounding: FMA rounds once) and checks against finite
    /// differences.
    @Test(arguments: [([1, 1], [1, 1], [1, 1]), ([2, 3], [0, 2], [2, 1])])
    func depthwiseKernelsAgreeAtEveryLevel(stride: [Int], pad: [Int], dilate: [Int]) throws {
        defer { DepthwiseKernels.limit(nil) }
        let f = try OpFixture(
            Convolution(kernel: [3, 2], numFilter: 2, stride: stride, pad: pad, dilate: dilate, numGroup: 2),
            shapes: [[1, 2, 9, 37], nil, nil])
        #expect(DepthwiseKernels.limit(0) == 0)
        let baseline = (try f.forward()[0].toArray(), try f.gradients().map { $0!.toArray() })
        for level in 1...2 where DepthwiseKernels.limit(level) == level {
            expectClose(try f.forward()[0].toArray(), baseline.0, "output at level \(level)")
            for (g, b) in zip(try f.gradients(), baseline.1) {
                expectClose(g!.toArray(), b, "gradient at level \(level)")
            }
            try GradientCheck.check(f)
        }
    }

    @Test(arguments: [
        ([1, 1], [0, 0], false), ([2, 2], [1, 1], false), ([1, 2], [1, 0], true), ([2, 1], [0, 2], false),
    ])
    func gradient(stride: [Int], pad: [Int], noBias: Bool) throws {
        let op = Convolution(kernel: [3, 2], numFilter: 3, stride: stride, pad: pad, noBias: noBias)
        let f = try OpFixture(op, shapes: [[2, 2, 5, 4]] + Array(repeating: nil, count: noBias ? 1 : 2))
        try GradientCheck.check(f)
    }

    @Test func gradReq() throws {
        let op = Convolution(kernel: [2, 2], numFilter: 2, stride: [1, 1], pad: [1, 1])
        try GradientCheck.checkAccumulation(OpFixture(op, shapes: [[3, 2, 3, 3], nil, nil]))
    }

    /// With several compute threads each takes a chunk of the batch (5 images: uneven chunks): the
    /// outputs and the data gradient are the same bits as on one thread, the weight and bias
    /// gradients (summed per chunk, then added up) the same to rounding; gradients still check
    /// against finite differences, accumulating too.
    @Test(arguments: [2, 3])
    func threadsSplitTheBatch(threads: Int) throws {
        let op = Convolution(kernel: [3, 3], numFilter: 4, stride: [1, 2], pad: [1, 0])
        let f = try OpFixture(op, shapes: [[5, 3, 7, 6], nil, nil])
        let serial = try ComputeThreads.withThreads(1) { (try f.forward().map { $0.toArray() }, try f.gradients()) }
        try ComputeThreads.withThreads(threads) {
            #expect(ComputeThreads.chunks(for: 5) == threads)
            #expect(try f.forward().map { $0.toArray() } == serial.0)
            let g = try f.gradients()
            #expect(g[0]!.toArray() == serial.1[0]!.toArray())
            expectClose(g[1]!.toArray(), serial.1[1]!.toArray(), "dW")
            expectClose(g[2]!.toArray(), serial.1[2]!.toArray(), "db")
            try GradientCheck.check(f)
            try GradientCheck.checkAccumulation(f)
        }
    }

    /// Only the weight wants a gradient: data's (bound, .null) is left alone and dW is still right.
    @Test func weightGradientOnly() throws {
        let f = try OpFixture(Convolution(kernel: [2, 2], numFilter: 2), shapes: [[2, 1, 3, 3], nil, nil])
        let full = try f.gradients()
        let dx = NDArray(shape: f.inputShapes[0], repeating: 9)
        let dw = NDArray(shape: f.inputShapes[1])
        let b = f.binding(grads: [dx, dw, nil], reqs: [.null, .write, .null])
        let inst = try f.instance()
        inst.forward(b, isTrain: true)
        inst.backward(b)
        #expect(dx.toArray().allSatisfy { $0 == 9 })
        expectClose(dw.toArray(), full[1]!.toArray(), "dW")
    }
}
