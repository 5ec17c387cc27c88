import SwiftPSGraph
import SwiftPSTensor
import Testing

/// `take`, `pick` and `one_hot`: values and gradients MXNet 1.9.1 printed, its shapes and refusals,
/// finite differences, symbol JSON.
@Suite struct TakePickOneHotTests {
    static func make(_ name: String, _ attributes: [String: String] = [:]) throws -> any Operator {
        try OperatorRegistry.make(name, attributes: attributes)
    }

    /// Operator, attributes, indices, their shape, output shape, output and the gradient of the data
    /// `arange(24).reshape(2, 3, 4)` for head gradient `1, 2, 3, …`, as MXNet 1.9.1 printed them (the
    /// indices' gradient was 0 in every case).
    static let printedByMXNet: [(String, [String: String], [Float], [Int], [Int], [Float], [Float])] = [
        (
            "take", [:], [0, 1.7, -1, 5], [2, 2], [2, 2, 3, 4],
            [
                0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 0, 1, 2, 3, 4, 5,
                6,
                7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
            ],
            [
                26, 28, 30, 32, 34, 36, 38, 40, 42, 44, 46, 48, 50, 52, 54, 56, 58, 60, 62, 64, 66, 68, 70, 72,
            ]
        ),
        (
            "take", ["axis": "1", "mode": "wrap"], [0, 2, -1, 5, 2.5, -4], [3, 2], [2, 3, 2, 4],
            [
                0, 1, 2, 3, 8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11, 12, 13, 14, 15, 20,
                21,
                22, 23, 20, 21, 22, 23, 20, 21, 22, 23, 20, 21, 22, 23, 20, 21, 22, 23,
            ],
            [1, 2, 3, 4, 0, 0, 0, 0, 65, 70, 75, 80, 25, 26, 27, 28, 0, 0, 0, 0, 185, 190, 195, 200]
        ),
        (
            "take", ["axis": "-1"], [3, 0, 3, -0.5, 9], [5], [2, 3, 5],
            [
                3, 0, 3, 0, 3, 7, 4, 7, 4, 7, 11, 8, 11, 8, 11, 15, 12, 15, 12, 15, 19, 16, 19, 16, 19, 23, 20, 23, 20,
                23,
            ],
            [6, 0, 0, 9, 16, 0, 0, 24, 26, 0, 0, 39, 36, 0, 0, 54, 46, 0, 0, 69, 56, 0, 0, 84]
        ),
        (
            "take", ["axis": "2", "mode": "wrap"], [-5], [1, 1], [2, 3, 1, 1], [3, 7, 11, 15, 19, 23],
            [0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6]
        ),
        (
            "pick", [:], [0, 3, 5, -1, 2.6, 1], [2, 3], [2, 3], [0, 7, 11, 12, 18, 21],
            [1, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 4, 0, 0, 0, 0, 0, 5, 0, 0, 6, 0, 0]
        ),
        (
            "pick", ["axis": "1", "keepdims": "True", "mode": "wrap"], [0, 4, -1, 2, 5, 1, 1, -2], [2, 1, 4],
            [2, 1, 4],
            [0, 5, 10, 11, 20, 17, 18, 19], [1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 3, 4, 0, 0, 0, 0, 0, 6, 7, 8, 5, 0, 0, 0]
        ),
        (
            "pick", ["axis": "-3"], [0, 1, 1, 0, 1, 1, 0, 9, -3, 0, 1, 1], [3, 4], [3, 4],
            [0, 13, 14, 3, 16, 17, 6, 19, 8, 9, 22, 23],
            [1, 0, 0, 4, 0, 0, 7, 0, 9, 10, 0, 0, 0, 2, 3, 0, 5, 6, 0, 8, 0, 0, 11, 12]
        ),
    ]

    @Test func takeAndPickMatchMXNet() throws {
        let x = NDArray((0..<24).map(Float.init), shape: [2, 3, 4])
        for (name, attributes, indices, indexShape, shape, values, gradient) in Self.printedByMXNet {
            let f = try OpFixture(
                try Self.make(name, attributes), shapes: [nil, nil],
                given: [0: x, 1: NDArray(indices, shape: indexShape)])
            for i in 0..<f.heads[0].count { f.heads[0].data[i] = Float(i + 1) }
            let g = try f.gradients()
            #expect(f.outputShapes == [shape], "\(name) \(attributes)")
            #expect(f.outputs[0].toArray() == values, "\(name) \(attributes)")
            #expect(g[0]?.toArray() == gradient, "\(name) \(attributes)")
            #expect(g[1]?.toArray() == [Float](repeating: 0, count: indices.count), "no gradient to the indices")
            try GradientCheck.checkAccumulation(f)
        }
    }

    /// Indices past what a 64-bit integer holds read as MXNet 1.9.1 printed: clip 0, wrap as −2^63.
    @Test func valuesWithoutAnIntegerReadAsMXNet() throws {
        let odd: [Float] = [.nan, .infinity, -.infinity, 1e30]
        let data = NDArray([0, 1, 2], shape: [3])
        for (mode, expected) in [("clip", [Float](repeating: 0, count: 4)), ("wrap", [1, 1, 1, 1])] {
            let f = try OpFixture(
                try Self.make("take", ["mode": mode]), shapes: [nil, nil],
                given: [0: data, 1: NDArray(odd, shape: [4])])
            #expect(try f.forward()[0].toArray() == expected, "\(mode)")
        }
        let oneHot = try OpFixture(
            try Self.make("one_hot", ["depth": "3"]), shapes: [nil], given: [0: NDArray(odd + [2.9], shape: [5])])
        #expect(try oneHot.forward()[0].toArray() == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    }

    /// MXNet 1.9.1's `one_hot` output for the same indices.
    @Test func oneHotMatchesMXNet() throws {
        let f = try OpFixture(
            try Self.make("one_hot", ["depth": "3"]), shapes: [nil],
            given: [0: NDArray([0, 2.9, -1, 3, -0.5, 1], shape: [2, 3])])
        let g = try f.gradients()
        #expect(f.outputShapes == [[2, 3, 3]])
        #expect(f.outputs[0].toArray() == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0])
        #expect(g[0]?.toArray() == [Float](repeating: 0, count: 6))
        try GradientCheck.checkAccumulation(f)
        let valued = try OpFixture(
            try Self.make("one_hot", ["depth": "4", "on_value": "2.5", "off_value": "-1"]), shapes: [nil],
            given: [0: NDArray([1, 7, 3], shape: [3])])
        #expect(try valued.forward()[0].toArray() == [-1, 2.5, -1, -1, -1, -1, -1, -1, -1, -1, -1, 2.5])
        #expect(!valued.op.readsOutputGradient)
    }

    @Test func shapesAndErrorsFollowMXNet() throws {
        let take = try Self.make("take", ["axis": "1"])
        #expect(try take.inferShape([[3, 4], [2, 5]]).outputs == [[3, 2, 5]])
        expectShapeError { _ = try take.inferShape([[3, 4], nil]) }
        // "Axis should be in the range of [-r, r-1]".
        for axis in ["2", "-3"] {
            expectShapeError { _ = try Self.make("take", ["axis": axis]).inferShape([[3, 4], [2]]) }
        }
        expectBadAttribute("mode") { _ = try Self.make("take", ["mode": "raise"]) }
        expectBadAttribute("mode") { _ = try Self.make("take", ["mode": "nearest"]) }
        // pick's index shape is inferred, and may be given with the axis kept as 1.
        let pick = try Self.make("pick", ["axis": "0"])
        #expect(try pick.inferShape([[3, 4], nil]).inputs == [[3, 4], [4]])
        #expect(try pick.inferShape([[3, 4], [1, 4]]).outputs == [[4]])
        #expect(try Self.make("pick", ["keepdims": "True"]).inferShape([[3, 4], nil]).outputs == [[3, 1]])
        // "Shape inconsistent, Provided = [2], inferred shape=[3]", "axis -3 exceeds the input dimension of 2".
        expectShapeError { _ = try Self.make("pick").inferShape([[3, 4], [2]]) }
        expectShapeError { _ = try Self.make("pick", ["axis": "-3"]).inferShape([[3, 4], nil]) }
        // "axis=None is not supported by pick yet. Must specify an axis."; pick has no raise mode.
        expectBadAttribute("axis") { _ = try Self.make("pick", ["axis": "None"]) }
        expectBadAttribute("mode") { _ = try Self.make("pick", ["mode": "raise"]) }
        // "depth must be a non-negative integer"; depth 0 gives MXNet an empty array.
        for depth in ["-1", "0"] { expectBadAttribute("depth") { _ = try Self.make("one_hot", ["depth": depth]) } }
        expectBadAttribute("depth") { _ = try Self.make("one_hot") }
        expectBadAttribute("dtype") { _ = try Self.make("one_hot", ["depth": "3", "dtype": "int32"]) }
        #expect(
            try Self.make("one_hot", ["depth": "3", "dtype": "float32"]).inferShape([[2, 5]]).outputs == [[2, 5, 3]])
    }

    @Test(arguments: [
        ("take", ["axis": "1", "mode": "wrap"]), ("take", [:]), ("take", ["axis": "-1"]),
        ("pick", ["axis": "1", "mode": "wrap"]), ("pick", ["keepdims": "True"]),
    ])
    func gradientsMatchFiniteDifferences(name: String, attributes: [String: String]) throws {
        // Repeated and out-of-range indices, so that some slices get several gradients and some none;
        // halfway between integers, so the finite differences of the indices see the same slices (0).
        let indices = name == "take" ? NDArray([1.5, 1.5, -1.5, 7.5, 0.5, 2.5], shape: [3, 2]) : nil
        let op = try Self.make(name, attributes)
        let data = [2, 3, 4]
        var shapes: [[Int]?] = [data, nil]
        var given: [Int: NDArray] = [:]
        if let indices {
            given[1] = indices
        } else {
            let indexShape = try op.inferShape([data, nil]).inputs[1]
            given[1] = NDArray(
                (0..<NDArray.elementCount(indexShape)).map { Float($0 % 5) - 0.5 }, shape: indexShape)
            shapes[1] = indexShape
        }
        let f = try OpFixture(op, shapes: shapes, given: given)
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    @Test func buildersRoundTripThroughJSON() throws {
        let a = Symbol.variable("a")
        let i = Symbol.variable("i")
        let taken = try Symbol.take(a, i, axis: 1, mode: "wrap", name: "tk")
        let picked = try Symbol.pick(taken, i, axis: 0, keepdims: true, name: "pk")
        let hot = try Symbol.pick(Symbol.oneHot(i, depth: 3, onValue: 2, name: "oh"), i, axis: 1, name: "pk2")
        let h = try Symbol.broadcastMul(picked, hot, name: "mul")
        #expect(h.listArguments() == ["a", "i"])
        let again = try Symbol.fromJSON(h.toJSON())
        #expect(again.toJSON() == h.toJSON())
        // take (3, 2) → pick with keepdims (1, 2); one_hot (2, 3) → pick (2,); their product (1, 2).
        let exec = try again.simpleBind(shapes: ["a": [3, 4], "i": [2]])
        #expect(exec.outputs[0].shape == [1, 2])
    }
}
