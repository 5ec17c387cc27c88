import SwiftPSGraph
import SwiftPSTensor
import Testing

/// Pooling's conventions and kinds beyond 2-D max/avg/sum: windows wholly in the padding, `same`,
/// Lp pooling, 1-D and 3-D data. Every figure marked "MXNet 1.9.1" was printed by MXNet 1.9.1's
/// own CPU kernels (`MXNET_MKLDNN_ENABLED=0`; where oneDNN runs the case it gives the same) with the
/// head gradient 1, 2, 3, … over the output.
@Suite struct PoolingModesTests {
    static let lowest = -Float.greatestFiniteMagnitude

    /// The output and the input gradient of `attributes` on `x` for heads 1, 2, 3, ….
    func run(_ attributes: [String: String], _ x: NDArray) throws -> (y: NDArray, dx: [Float]) {
        let f = try OpFixture(try Pooling(attributes: attributes), shapes: [nil], given: [0: x])
        for j in 0..<f.heads[0].count { f.heads[0].data[j] = Float(j + 1) }
        let dx = try f.gradients()[0]!.toArray()
        return (f.outputs[0], dx)
    }

    /// 1, 2, … in `shape`.
    static func ramp(_ shape: [Int]) -> NDArray {
        NDArray((1...shape.reduce(1, *)).map(Float.init), shape: shape)
    }

    /// MXNet 1.9.1: a 3×3 input, kernel 2, stride 2, pad 1, `full`: the last row and column of
    /// windows lie wholly past the input. Max gives the lowest Float there and no gradient; avg and
    /// sum give 0.
    @Test func windowsPastTheInputAsMXNet() throws {
        let x = Self.ramp([1, 1, 3, 3])
        let k = ["kernel": "(2, 2)", "stride": "(2, 2)", "pad": "(1, 1)", "pooling_convention": "full"]
        let max = try run(k, x)
        #expect(max.y.shape == [1, 1, 3, 3])
        let l = Self.lowest
        #expect(max.y.toArray() == [1, 3, l, 7, 9, l, l, l, l])
        #expect(max.dx == [1, 0, 2, 0, 0, 0, 4, 0, 5])
        let avg = try run(k.merging(["pool_type": "avg"]) { $1 }, x)
        expectClose(avg.y.toArray(), [0.25, 1.25, 0, 2.75, 7, 0, 0, 0, 0], "avg")
        expectClose(avg.dx, [0.25, 0.5, 0.5, 1, 1.25, 1.25, 1, 1.25, 1.25], "avg gradient")
        let sum = try run(k.merging(["pool_type": "sum"]) { $1 }, x)
        expectClose(sum.y.toArray(), [1, 5, 0, 11, 28, 0, 0, 0, 0], "sum")
        // A padding of at least the kernel puts whole windows before the input too (MXNet's own
        // kernels; oneDNN refuses pad ≥ kernel).
        let wide = try run(["kernel": "(2,)", "pad": "(3,)"], Self.ramp([1, 1, 5]))
        #expect(wide.y.toArray() == [l, l, 1, 2, 3, 4, 5, 5, l, l])
        #expect(wide.dx == [3, 4, 5, 6, 15])
    }

    @Test func emptyWindowGradients() throws {
        for kind in Pooling.Kind.allCases {
            let op = Pooling(
                kind: kind, kernel: [2, 3], stride: [3, 2], pad: [2, 1], convention: .full,
                pValue: kind == .lp ? 2 : nil)
            let f = try OpFixture(op, shapes: [[2, 2, 4, 5]], fill: .distinct(spacing: 0.05))
            #expect(try f.forward()[0].toArray().contains(kind == .max ? Self.lowest : 0))
            try GradientCheck.check(f, loss: .projectionSkippingEmptyMax(f))
            try GradientCheck.checkAccumulation(f)
        }
    }

    /// MXNet 1.9.1's `same` (1-D only, pad (0, 0, 0)): ⌈W / s⌉ windows from 0, the last clipped;
    /// an average divides by the clipped window.
    @Test func sameConventionAsMXNet() throws {
        let same = ["pooling_convention": "same", "pad": "(0, 0, 0)", "kernel": "(3,)", "stride": "(2,)"]
        let max = try run(same, Self.ramp([1, 1, 5]))
        #expect(max.y.shape == [1, 1, 3])
        #expect(max.y.toArray() == [3, 5, 5] && max.dx == [0, 0, 1, 0, 5])
        let avg = try run(same.merging(["pool_type": "avg"]) { $1 }, Self.ramp([1, 1, 5]))
        expectClose(avg.y.toArray(), [2, 4, 5], "avg")
        expectClose(avg.dx, [1.0 / 3, 1.0 / 3, 1, 2.0 / 3, 11.0 / 3], "avg gradient")
        let sum = try run(same.merging(["pool_type": "sum"]) { $1 }, Self.ramp([1, 1, 7]))
        #expect(sum.y.toArray() == [6, 12, 18, 7] && sum.dx == [1, 1, 3, 2, 5, 3, 7])
        let lp = try run(
            same.merging(["pool_type": "lp", "p_value": "2"]) { $1 }, NDArray([1, -2, 3, -4, 5], shape: [1, 1, 5]))
        expectClose(lp.y.toArray(), [3.7416575, 7.0710678, 5], "lp")
        expectClose(lp.dx, [0.26726124, -0.5345225, 1.6503118, -1.1313709, 4.4142137], "lp gradient")
        // A stride past the kernel skips inputs; a kernel as long as the input still gives ⌈W / s⌉.
        let skip = try run(["pooling_convention": "same", "kernel": "(2,)", "stride": "(3,)"], Self.ramp([1, 1, 5]))
        #expect(skip.y.toArray() == [2, 5] && skip.dx == [0, 1, 0, 0, 2])
        let long = try run(["pooling_convention": "same", "kernel": "(5,)", "stride": "(2,)"], Self.ramp([1, 1, 5]))
        #expect(long.y.toArray() == [5, 5, 5] && long.dx == [0, 0, 0, 0, 6])
        for kind in Pooling.Kind.allCases {
            let op = Pooling(kind: kind, kernel: [3], stride: [2], convention: .same, pValue: kind == .lp ? 2 : nil)
            let f = try OpFixture(op, shapes: [[2, 3, 8]], fill: .distinct(spacing: 0.05))
            #expect(f.outputShapes == [[2, 3, 4]])
            try GradientCheck.check(f)
            try GradientCheck.checkAccumulation(f)
        }
    }

    @Test func sameConventionRefusals() throws {
        let same = ["pooling_convention": "same", "kernel": "(3,)"]
        // MXNet takes only pad (0, 0, 0) there; any zeros are taken here, and written as MXNet needs.
        for pad in ["(0, 0, 0)", "(0,)", "()"] {
            let op = try Pooling(attributes: same.merging(["pad": pad]) { $1 })
            #expect(op.attributes["pad"] == "(0, 0, 0)" && op.pad == [0])
            #expect(try Pooling(attributes: op.attributes).attributes == op.attributes)
        }
        expectBadAttribute("pad") { _ = try Pooling(attributes: same.merging(["pad": "(1,)"]) { $1 }) }
        expectBadAttribute("pad") { _ = try Pooling(attributes: same.merging(["pad": "(0, 1, 0)"]) { $1 }) }
        expectBadAttribute("pooling_convention") {
            _ = try Pooling(attributes: ["pooling_convention": "same", "kernel": "(2, 2)"])
        }
        let op = try Pooling(attributes: same)
        expectShapeError { _ = try op.inferShape([[1, 1, 2]]) }  // a kernel longer than the input
        expectShapeError { _ = try op.inferShape([[1, 1, 4, 4]]) }
        let global = try Pooling(attributes: ["pooling_convention": "same", "global_pool": "True"])
        #expect(try global.inferShape([[2, 3, 7]]).outputs == [[2, 3, 1]])
        expectShapeError { _ = try global.inferShape([[2, 3, 7, 7]]) }
    }

    /// MXNet 1.9.1's Lp pooling of a 3×3 input with mixed signs: `(Σ xᵖ)^(1/p)` without absolute
    /// values (p = 1 is the sum, p = 3 a signed cube root), gradient `dy · (x / y)^(p − 1)`.
    @Test(arguments: [
        (
            1, [Float](arrayLiteral: 0, 0, 0, -9), [Float](arrayLiteral: 1, 3, 2, 4, 10, 6, 3, 7, 4),
            [Float](arrayLiteral: 1, 1, 3, -9), [Float](arrayLiteral: 1, 2, 2, 3, 4, 4, 3, 4, 4)
        ),
        (
            2, [6.78233, 8.6023254, 12.409674, 11.18034],
            [0.14744195, -0.75987446, 0.6974858, -1.5567554, 4.897275, -3.5415969, 1.6922282, -4.7961426, 0],
            [1, 3.6055512, 8.0622578, 11.18034],
            [1, -1.1094004, 1.6641006, -1.4884168, 1.7888544, -2.1466253, 2.6047294, -2.8621671, 0]
        ),
        (
            3, [3.7797632, -4.1601677, -4.7622032, -8.4483604],
            [0.069995612, 0.74222326, 1.0400418, 3.2364645, 9.3470345, 6.1776862, 6.4818878, 12.052839, 0],
            [1, 2.6684017, 6.5343351, -8.4483604],
            [1, 1.1235374, 2.5279593, 1.1241866, 1.4010547, 2.017519, 3.4428215, 3.5867002, 0]
        ),
    ])
    func lpAsMXNet(p: Int, y: [Float], dx: [Float], paddedY: [Float], paddedDx: [Float]) throws {
        let x = NDArray([1, -2, 3, -4, 5, -6, 7, -8, 0], shape: [1, 1, 3, 3])
        let lp = ["pool_type": "lp", "p_value": String(p), "kernel": "(2, 2)"]
        let plain = try run(lp, x)
        expectClose(plain.y.toArray(), y, "p = \(p)")
        expectClose(plain.dx, dx, "p = \(p) gradient")
        let padded = try run(lp.merging(["stride": "(2, 2)", "pad": "(1, 1)"]) { $1 }, x)
        expectClose(padded.y.toArray(), paddedY, "p = \(p) padded")
        expectClose(padded.dx, paddedDx, "p = \(p) padded gradient")
        // An all-zero window: output 0, and (MXNet's guard) gradient 0 for p > 1, the head for p = 1.
        let zeros = try run(lp, NDArray(shape: [1, 1, 2, 2]))
        #expect(zeros.y.toArray() == [0] && zeros.dx == Array(repeating: p == 1 ? 1 : 0, count: 4))
    }

    @Test(arguments: [1, 2, 3])
    func lpGradient(p: Int) throws {
        // Positive inputs keep p = 3's cube root away from its infinite slope at 0.
        var rng = RandomGenerator(seed: 5)
        let x = NDArray(shape: [2, 2, 5, 6])
        rng.fillUniform(x, low: p == 3 ? 0.5 : -1, high: 1.5)
        let settings: [([Int], [Int], Pooling.Convention)] = [
            ([1, 1], [0, 0], .valid), ([2, 2], [1, 1], .valid), ([2, 3], [1, 2], .full),
        ]
        for (stride, pad, convention) in settings {
            let op = Pooling(kind: .lp, kernel: [3, 2], stride: stride, pad: pad, convention: convention, pValue: p)
            let f = try OpFixture(op, shapes: [nil], given: [0: x])
            try GradientCheck.check(f)
            try GradientCheck.checkAccumulation(f)
        }
    }

    /// MXNet 1.9.1's 1-D pooling (NCW, kernel of one entry): average with and without the padding.
    @Test func oneDimensionalAsMXNet() throws {
        let k = ["kernel": "(2,)", "stride": "(2,)", "pad": "(1,)", "pool_type": "avg", "layout": "NCW"]
        let include = try run(k, Self.ramp([1, 1, 5]))
        #expect(include.y.shape == [1, 1, 3])
        expectClose(include.y.toArray(), [0.5, 2.5, 4.5], "include pad")
        expectClose(include.dx, [0.5, 1, 1, 1.5, 1.5], "include pad gradient")
        let exclude = try run(k.merging(["count_include_pad": "False"]) { $1 }, Self.ramp([1, 1, 5]))
        expectClose(exclude.y.toArray(), [1, 2.5, 4.5], "exclude pad")
        expectClose(exclude.dx, [1, 1, 1, 1.5, 1.5], "exclude pad gradient")
        let full = try run(
            ["kernel": "(3,)", "stride": "(2,)", "pad": "(1,)", "pooling_convention": "full"], Self.ramp([1, 1, 5]))
        #expect(full.y.toArray() == [2, 4, 5] && full.dx == [0, 1, 0, 2, 3])
        let global = try run(["global_pool": "True", "pool_type": "avg"], Self.ramp([1, 2, 5]))
        #expect(global.y.shape == [1, 2, 1] && global.y.toArray() == [3, 8])
    }

    /// MXNet 1.9.1's 3-D pooling (NCDHW) of 1…48 in a 3×4×4 volume.
    @Test func threeDimensionalAsMXNet() throws {
        let x = Self.ramp([1, 1, 3, 4, 4])
        let max = try run(["kernel": "(2, 2, 2)", "stride": "(1, 2, 2)"], x)
        #expect(max.y.shape == [1, 1, 2, 2, 2] && max.y.toArray() == [22, 24, 30, 32, 38, 40, 46, 48])
        var expected = [Float](repeating: 0, count: 48)
        for (i, at) in [21, 23, 29, 31, 37, 39, 45, 47].enumerated() { expected[at] = Float(i + 1) }
        #expect(max.dx == expected)
        let window = ["kernel": "(2, 3, 2)", "stride": "(2, 2, 2)", "pad": "(1, 1, 0)"]
        let full = window.merging(["pooling_convention": "full"]) { $1 }
        let avg = try run(full.merging(["pool_type": "avg"]) { $1 }, x)
        #expect(avg.y.shape == [1, 1, 3, 3, 2])
        expectClose(
            avg.y.toArray(),
            [1.1666666, 1.8333335, 4.75, 5.7500005, 3.375, 3.875, 18.333332, 19.666666, 33.5, 35.5, 18.75, 19.75]
                + Array(repeating: 0, count: 6), "avg full")
        let repeated: [Float] = [
            0.58333331, 0.58333331, 0.66666669, 0.66666669, 1.3333333, 1.3333333, 1.5, 1.5, 0.75, 0.75, 0.83333331,
            0.83333331, 2.125, 2.125, 2.3333333, 2.3333333,
        ]
        expectClose(
            avg.dx,
            [
                0.083333336, 0.083333336, 0.16666667, 0.16666667, 0.33333334, 0.33333334, 0.5, 0.5, 0.25, 0.25,
                0.33333334, 0.33333334, 0.875, 0.875, 1.0833334, 1.0833334,
            ] + repeated + repeated, "avg full gradient")
        let maxFull = try run(full, x)
        #expect(
            maxFull.y.toArray() == [6, 8, 14, 16, 14, 16, 38, 40, 46, 48, 46, 48]
                + Array(repeating: Self.lowest, count: 6))
        var maxFullDx = [Float](repeating: 0, count: 48)
        for (at, g) in [(5, 1), (7, 2), (13, 8), (15, 10), (37, 7), (39, 8), (45, 20), (47, 22)] {
            maxFullDx[at] = Float(g)
        }
        #expect(maxFull.dx == maxFullDx)
        let exclude = try run(window.merging(["pool_type": "avg", "count_include_pad": "False"]) { $1 }, x)
        expectClose(exclude.y.toArray(), [3.5, 5.5, 9.5, 11.5, 27.5, 29.5, 33.5, 35.5], "avg exclude pad")
    }

    @Test(arguments: Pooling.Kind.allCases)
    func oneAndThreeDimensionalGradients(kind: Pooling.Kind) throws {
        let p = kind == .lp ? 2 : nil
        let cases: [(Pooling, [Int])] = [
            (Pooling(kind: kind, kernel: [3], stride: [2], pad: [1], convention: .full, pValue: p), [2, 3, 8]),
            (Pooling(kind: kind, kernel: [2], pad: [1], countIncludePad: false, pValue: p), [1, 2, 5]),
            (Pooling(kind: kind, kernel: [2, 3, 2], stride: [1, 2, 2], pad: [1, 1, 0], pValue: p), [2, 2, 3, 4, 5]),
            (
                Pooling(
                    kind: kind, kernel: [2, 2, 3], stride: [2, 2, 2], pad: [0, 1, 1], convention: .full,
                    countIncludePad: false, pValue: p), [1, 2, 3, 4, 4]
            ),
            (Pooling(kind: kind, kernel: [], globalPool: true, pValue: p), [2, 2, 2, 3, 2]),
        ]
        for (op, shape) in cases {
            let f = try OpFixture(op, shapes: [shape], fill: .distinct(spacing: 0.05))
            try GradientCheck.check(f)
            try GradientCheck.checkAccumulation(f)
        }
    }

    @Test func shapesAndAttributes() throws {
        func shape(_ a: [String: String], _ data: [Int]) throws -> [Int] {
            try Pooling(attributes: a).inferShape([data]).outputs[0]
        }
        #expect(try shape(["kernel": "(3,)", "stride": "(2,)"], [2, 3, 9]) == [2, 3, 4])
        #expect(try shape(["kernel": "(2, 2, 2)", "stride": "(2, 2, 2)"], [2, 3, 4, 5, 6]) == [2, 3, 2, 2, 3])
        #expect(try shape(["global_pool": "True"], [2, 3, 4, 5, 6]) == [2, 3, 1, 1, 1])
        #expect(try shape(["global_pool": "True", "kernel": "(1, 1)"], [2, 3, 4, 5]) == [2, 3, 1, 1])
        expectShapeError { _ = try shape(["kernel": "(2,)"], [2, 3, 4, 4]) }
        expectShapeError { _ = try shape(["kernel": "(2, 2)"], [2, 3, 4]) }
        expectShapeError { _ = try shape(["global_pool": "True", "kernel": "(2,)"], [2, 3, 4, 4]) }
        expectShapeError { _ = try shape(["global_pool": "True"], [2, 3]) }
        expectShapeError { _ = try shape(["global_pool": "True"], [1, 2, 3, 4, 5, 6]) }
        expectBadAttribute("kernel") { _ = try Pooling(attributes: ["kernel": "(2, 2, 2, 2)"]) }
        expectBadAttribute("stride") { _ = try Pooling(attributes: ["kernel": "(2,)", "stride": "(2, 2)"]) }
        expectBadAttribute("pad") { _ = try Pooling(attributes: ["kernel": "(2, 2, 2)", "pad": "(1, 1)"]) }
        expectBadAttribute("layout") { _ = try Pooling(attributes: ["kernel": "(2,)", "layout": "NWC"]) }
        expectBadAttribute("layout") { _ = try Pooling(attributes: ["kernel": "(2,)", "layout": "NCHW"]) }
        _ = try Pooling(attributes: ["kernel": "(2, 2, 2)", "layout": "NCDHW"])
        // Lp needs p_value 1 to 3 (MXNet: "p value of 4 is not supported yet"); other kinds ignore it.
        expectBadAttribute("p_value") { _ = try Pooling(attributes: ["kernel": "(2,)", "pool_type": "lp"]) }
        expectBadAttribute("p_value") {
            _ = try Pooling(attributes: ["kernel": "(2,)", "pool_type": "lp", "p_value": "4"])
        }
        expectBadAttribute("p_value") {
            _ = try Pooling(attributes: ["kernel": "(2,)", "pool_type": "lp", "p_value": "0.5"])
        }
        let max = try Pooling(attributes: ["kernel": "(2,)", "p_value": "None"])
        #expect(max.pValue == nil && max.attributes["p_value"] == nil)
        let lp = try Pooling(attributes: ["kernel": "(2, 2)", "pool_type": "lp", "p_value": "3"])
        #expect(lp.attributes["p_value"] == "3" && lp.attributes["pool_type"] == "lp")
        #expect(try Pooling(attributes: lp.attributes).attributes == lp.attributes)
    }
}
