import SwiftPSGraph
import SwiftPSTensor
import Testing

@Suite struct PoolingTests {
    /// 1…16 in a 4×4 plane.
    static let plane = NDArray((1...16).map(Float.init), shape: [1, 1, 4, 4])

    func run(_ attrs: [String: String], _ x: NDArray = plane) throws -> NDArray {
        let f = try OpFixture(try Pooling(attributes: attrs), shapes: [nil], given: [0: x])
        return try f.forward()[0]
    }

    @Test func kindsByHand() throws {
        let k = ["kernel": "(2, 2)", "stride": "(2, 2)"]
        expectClose(try run(k.merging(["pool_type": "max"]) { $1 }).toArray(), [6, 8, 14, 16], "max")
        expectClose(try run(k.merging(["pool_type": "avg"]) { $1 }).toArray(), [3.5, 5.5, 11.5, 13.5], "avg")
        expectClose(try run(k.merging(["pool_type": "sum"]) { $1 }).toArray(), [14, 22, 46, 54], "sum")
    }

    @Test func defaultStrideIsOne() throws {
        let y = try run(["kernel": "(2, 2)"])
        #expect(y.shape == [1, 1, 3, 3])
        expectClose(y.toArray(), [6, 7, 8, 10, 11, 12, 14, 15, 16], "max stride 1")
    }

    @Test func averageWithPaddingByHand() throws {
        let a = ["kernel": "(3, 3)", "stride": "(2, 2)", "pad": "(1, 1)", "pool_type": "avg"]
        // Windows cover rows/cols {−1,0,1} and {1,2,3}: sums 14, 30, 57, 99.
        // count_include_pad (default): always divide by 9.
        expectClose(try run(a).toArray(), [14.0 / 9, 30.0 / 9, 57.0 / 9, 11], "include pad")
        // Without: divide by the in-image cells 4, 6, 6, 9.
        let b = a.merging(["count_include_pad": "False"]) { $1 }
        expectClose(try run(b).toArray(), [3.5, 5, 9.5, 11], "exclude pad")
    }

    @Test func fullConventionByHand() throws {
        let x = NDArray((1...9).map(Float.init), shape: [1, 1, 3, 3])
        let k = ["kernel": "(2, 2)", "stride": "(2, 2)"]
        #expect(try run(k, x).toArray() == [5])
        let full = k.merging(["pooling_convention": "full"]) { $1 }
        // Rounding up adds a clipped last row and column of windows.
        expectClose(try run(full, x).toArray(), [5, 6, 8, 9], "max full")
        // The clipped windows divide by their in-image size (2, 2, 1).
        expectClose(try run(full.merging(["pool_type": "avg"]) { $1 }, x).toArray(), [3, 4.5, 7.5, 9], "avg full")
    }

    @Test func globalPoolByHand() throws {
        let x = NDArray((1...8).map(Float.init), shape: [1, 2, 2, 2])
        let y = try run(["global_pool": "True", "pool_type": "avg"], x)
        #expect(y.shape == [1, 2, 1, 1])
        expectClose(y.toArray(), [2.5, 6.5], "global avg")
        expectClose(try run(["global_pool": "True", "kernel": "(1, 1)"], x).toArray(), [4, 8], "global max")
    }

    @Test func backwardByHand() throws {
        let k = ["kernel": "(2, 2)", "stride": "(2, 2)"]
        let fm = try OpFixture(try Pooling(attributes: k), shapes: [nil], given: [0: Self.plane])
        fm.heads[0].fill(1)
        var expected = [Float](repeating: 0, count: 16)
        for i in [5, 7, 13, 15] { expected[i] = 1 }
        expectClose(try fm.gradients()[0]!.toArray(), expected, "max routes to argmax")
        let fa = try OpFixture(
            try Pooling(attributes: k.merging(["pool_type": "avg"]) { $1 }), shapes: [nil], given: [0: Self.plane])
        fa.heads[0].fill(1)
        expectClose(try fa.gradients()[0]!.toArray(), Array(repeating: 0.25, count: 16), "avg spreads")
    }

    @Test func shapeInferenceAndAttributes() throws {
        let op = try Pooling(attributes: ["kernel": "(2, 2)", "stride": "(2, 2)"])
        #expect(try op.inferShape([[5, 3, 7, 7]]).outputs == [[5, 3, 3, 3]])
        let full = try Pooling(attributes: ["kernel": "(2, 2)", "stride": "(2, 2)", "pooling_convention": "full"])
        #expect(try full.inferShape([[5, 3, 7, 7]]).outputs == [[5, 3, 4, 4]])
        expectShapeError { _ = try op.inferShape([[5, 7, 7]]) }
        expectShapeError { _ = try op.inferShape([[1, 1, 1, 1]]) }
        expectBadAttribute("kernel") { _ = try Pooling(attributes: [:]) }
        expectBadAttribute("pool_type") { _ = try Pooling(attributes: ["kernel": "(2,2)", "pool_type": "l2"]) }
        expectBadAttribute("pooling_convention") {
            _ = try Pooling(attributes: ["kernel": "(2,2)", "pooling_convention": "same"])
        }
        expectBadAttribute("global_pool") { _ = try Pooling(attributes: ["kernel": "(2,2)", "global_pool": "yes"]) }
        expectBadAttribute("stride") { _ = try Pooling(attributes: ["kernel": "(2,2)", "stride": "(1,1,1)"]) }
    }

    @Test(arguments: Pooling.Kind.allCases)
    func gradient(kind: Pooling.Kind) throws {
        let settings: [(stride: [Int], pad: [Int], full: Bool, include: Bool)] = [
            ([1, 1], [0, 0], false, true), ([2, 2], [1, 1], false, true), ([2, 1], [1, 0], true, false),
            ([3, 3], [0, 1], true, true),
        ]
        for s in settings {
            let op = Pooling(
                kind: kind, kernel: [3, 2], stride: s.stride, pad: s.pad, convention: s.full ? .full : .valid,
                countIncludePad: s.include, pValue: kind == .lp ? 2 : nil)
            let f = try OpFixture(op, shapes: [[2, 2, 5, 5]], fill: .distinct(spacing: 0.05))
            try GradientCheck.check(f, loss: .projectionSkippingEmptyMax(f))
        }
        let global = Pooling(kind: kind, kernel: [1, 1], globalPool: true, pValue: kind == .lp ? 2 : nil)
        let f = try OpFixture(global, shapes: [[2, 3, 3, 2]], fill: .distinct(spacing: 0.05))
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }
}

extension CheckLoss {
    /// The projection on `fixture`'s heads without the outputs of max windows wholly in the padding
    /// (the lowest Float, as MXNet gives), which would swamp the finite differences in Double.
    static func projectionSkippingEmptyMax(_ fixture: OpFixture) -> CheckLoss {
        let heads = fixture.heads[0]
        return .custom { outputs, _ in
            var s = 0.0
            for (j, v) in outputs[0].toArray().enumerated() where v != -Float.greatestFiniteMagnitude {
                s += Double(v) * Double(heads.data[j])
            }
            return s
        }
    }
}
