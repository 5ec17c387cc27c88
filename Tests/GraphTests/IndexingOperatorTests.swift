import SwiftPSGraph
import SwiftPSTensor
import Testing

/// `slice_axis`, `slice` (`crop`), `reverse` (`flip`), `tile`, `repeat` and `stack`: values and
/// gradients MXNet 1.9.1 printed, its shapes and refusals, finite differences, symbol JSON.
@Suite struct IndexingOperatorTests {
    static func make(_ name: String, _ attributes: [String: String] = [:]) throws -> any Operator {
        try OperatorRegistry.make(name, attributes: attributes)
    }

    static func shape(_ name: String, _ attributes: [String: String], _ data: [Int] = [2, 3, 4]) throws -> [Int] {
        try make(name, attributes).inferShape([data]).outputs[0]
    }

    /// Output shape, output and data gradient for data `arange(24).reshape(2, 3, 4)` and head
    /// gradient `1, 2, 3, …` (in output order), as MXNet 1.9.1 printed them (`mx.nd.<op>` under
    /// `autograd.record`, `backward(head)`).
    static let printedByMXNet: [(String, [String: String], [Int], [Float], [Float])] = [
        (
            "slice_axis", ["axis": "1", "begin": "1", "end": "None"], [2, 2, 4],
            [4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23],
            [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 9, 10, 11, 12, 13, 14, 15, 16]
        ),
        (
            "slice_axis", ["axis": "-1", "begin": "-3", "end": "-1"], [2, 3, 2],
            [1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22],
            [0, 1, 2, 0, 0, 3, 4, 0, 0, 5, 6, 0, 0, 7, 8, 0, 0, 9, 10, 0, 0, 11, 12, 0]
        ),
        (
            "slice_axis", ["axis": "0", "begin": "0", "end": "1"], [1, 3, 4], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        ),
        (
            "slice", ["begin": "(None, 1)", "end": "(None, None)"], [2, 2, 4],
            [4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23],
            [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 9, 10, 11, 12, 13, 14, 15, 16]
        ),
        (
            "slice", ["begin": "(1,)", "end": "(2,)"], [1, 3, 4], [12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
        ),
        (
            "slice", ["begin": "(None, None, None)", "end": "(None, None, None)", "step": "(1, -1, -2)"], [2, 3, 2],
            [11, 9, 7, 5, 3, 1, 23, 21, 19, 17, 15, 13],
            [0, 6, 0, 5, 0, 4, 0, 3, 0, 2, 0, 1, 0, 12, 0, 11, 0, 10, 0, 9, 0, 8, 0, 7]
        ),
        (
            "slice", ["begin": "(None, -1)", "end": "(None, -4)", "step": "(None, -1)"], [2, 3, 4],
            [8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3, 20, 21, 22, 23, 16, 17, 18, 19, 12, 13, 14, 15],
            [9, 10, 11, 12, 5, 6, 7, 8, 1, 2, 3, 4, 21, 22, 23, 24, 17, 18, 19, 20, 13, 14, 15, 16]
        ),
        (
            "slice", ["begin": "(0, 0, 9)", "end": "(2, 5, -9)", "step": "(1, 2, -1)"], [2, 2, 4],
            [3, 2, 1, 0, 11, 10, 9, 8, 15, 14, 13, 12, 23, 22, 21, 20],
            [4, 3, 2, 1, 0, 0, 0, 0, 8, 7, 6, 5, 12, 11, 10, 9, 0, 0, 0, 0, 16, 15, 14, 13]
        ),
        (
            "slice", ["begin": "(-5, 2, -9)", "end": "(7, 0, 3)", "step": "(None, -2, 2)"], [2, 1, 2], [8, 10, 20, 22],
            [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 4, 0]
        ),
        (
            "crop", ["begin": "(0, 1)", "end": "(1, 2)"], [1, 1, 4], [4, 5, 6, 7],
            [0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        ),
        (
            "reverse", ["axis": "(0, 2)"], [2, 3, 4],
            [15, 14, 13, 12, 19, 18, 17, 16, 23, 22, 21, 20, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8],
            [16, 15, 14, 13, 20, 19, 18, 17, 24, 23, 22, 21, 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9]
        ),
        (
            "flip", ["axis": "1"], [2, 3, 4],
            [8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3, 20, 21, 22, 23, 16, 17, 18, 19, 12, 13, 14, 15],
            [9, 10, 11, 12, 5, 6, 7, 8, 1, 2, 3, 4, 21, 22, 23, 24, 17, 18, 19, 20, 13, 14, 15, 16]
        ),
        (
            "reverse", ["axis": "(1, 1)"], [2, 3, 4],
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23],
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24]
        ),
        (
            "tile", ["reps": "(2,)"], [2, 3, 8],
            [
                0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7, 8, 9, 10, 11, 8, 9, 10, 11, 12, 13, 14, 15, 12, 13, 14,
                15, 16, 17, 18, 19, 16, 17, 18, 19, 20, 21, 22, 23, 20, 21, 22, 23,
            ], [6, 8, 10, 12, 22, 24, 26, 28, 38, 40, 42, 44, 54, 56, 58, 60, 70, 72, 74, 76, 86, 88, 90, 92]
        ),
        (
            "tile", ["reps": "(2, 1, 1, 2)"], [2, 2, 3, 8],
            [
                0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7, 8, 9, 10, 11, 8, 9, 10, 11, 12, 13, 14, 15, 12, 13, 14,
                15, 16, 17, 18, 19, 16, 17, 18, 19, 20, 21, 22, 23, 20, 21, 22, 23, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7,
                4, 5, 6, 7, 8, 9, 10, 11, 8, 9, 10, 11, 12, 13, 14, 15, 12, 13, 14, 15, 16, 17, 18, 19, 16, 17, 18, 19,
                20, 21, 22, 23, 20, 21, 22, 23,
            ],
            [
                108, 112, 116, 120, 140, 144, 148, 152, 172, 176, 180, 184, 204, 208, 212, 216, 236, 240, 244, 248, 268,
                272, 276, 280,
            ]
        ),
        (
            "tile", ["reps": "(1, 2, 1)"], [2, 6, 4],
            [
                0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
                19, 20, 21, 22, 23, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
            ], [14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 62, 64, 66, 68, 70, 72, 74, 76, 78, 80, 82, 84]
        ),
        (
            "repeat", ["repeats": "2"], [48],
            [
                0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15,
                15, 16, 16, 17, 17, 18, 18, 19, 19, 20, 20, 21, 21, 22, 22, 23, 23,
            ], [3, 7, 11, 15, 19, 23, 27, 31, 35, 39, 43, 47, 51, 55, 59, 63, 67, 71, 75, 79, 83, 87, 91, 95]
        ),
        (
            "repeat", ["repeats": "2", "axis": "1"], [2, 6, 4],
            [
                0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7, 8, 9, 10, 11, 8, 9, 10, 11, 12, 13, 14, 15, 12, 13, 14,
                15, 16, 17, 18, 19, 16, 17, 18, 19, 20, 21, 22, 23, 20, 21, 22, 23,
            ], [6, 8, 10, 12, 22, 24, 26, 28, 38, 40, 42, 44, 54, 56, 58, 60, 70, 72, 74, 76, 86, 88, 90, 92]
        ),
        (
            "repeat", ["repeats": "3", "axis": "-1"], [2, 3, 12],
            [
                0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 7, 7, 7, 8, 8, 8, 9, 9, 9, 10, 10, 10,
                11, 11, 11, 12, 12, 12, 13, 13, 13, 14, 14, 14, 15, 15, 15, 16, 16, 16, 17, 17, 17, 18, 18, 18, 19, 19,
                19, 20, 20, 20, 21, 21, 21, 22, 22, 22, 23, 23, 23,
            ],
            [
                6, 15, 24, 33, 42, 51, 60, 69, 78, 87, 96, 105, 114, 123, 132, 141, 150, 159, 168, 177, 186, 195, 204,
                213,
            ]
        ),
        (
            "repeat", ["repeats": "2", "axis": "0"], [4, 3, 4],
            [
                0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
                19, 20, 21, 22, 23, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
            ], [14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 62, 64, 66, 68, 70, 72, 74, 76, 78, 80, 82, 84]
        ),
    ]

    @Test func valuesAndGradientsMatchMXNet() throws {
        let x = NDArray((0..<24).map(Float.init), shape: [2, 3, 4])
        for (name, attributes, shape, values, gradient) in Self.printedByMXNet {
            let f = try OpFixture(try Self.make(name, attributes), shapes: [nil], given: [0: x])
            for i in 0..<f.heads[0].count { f.heads[0].data[i] = Float(i + 1) }
            let g = try f.gradients()
            #expect(f.outputShapes == [shape], "\(name) \(attributes)")
            #expect(f.outputs[0].toArray() == values, "\(name) \(attributes)")
            #expect(g[0]?.toArray() == gradient, "\(name) \(attributes)")
            try GradientCheck.checkAccumulation(f)
        }
    }

    /// `stack` of `arange(6).reshape(2, 3)`, it + 100 and it + 200, head gradient `1, 2, 3, …`, as
    /// MXNet 1.9.1 printed.
    @Test(
        arguments: [
            (
                "0", [3, 2, 3], [0, 1, 2, 3, 4, 5, 100, 101, 102, 103, 104, 105, 200, 201, 202, 203, 204, 205],
                [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12], [13, 14, 15, 16, 17, 18]]
            ),
            (
                "1", [2, 3, 3], [0, 1, 2, 100, 101, 102, 200, 201, 202, 3, 4, 5, 103, 104, 105, 203, 204, 205],
                [[1, 2, 3, 10, 11, 12], [4, 5, 6, 13, 14, 15], [7, 8, 9, 16, 17, 18]]
            ),
            (
                "-1", [2, 3, 3], [0, 100, 200, 1, 101, 201, 2, 102, 202, 3, 103, 203, 4, 104, 204, 5, 105, 205],
                [[1, 4, 7, 10, 13, 16], [2, 5, 8, 11, 14, 17], [3, 6, 9, 12, 15, 18]]
            ),
        ] as [(String, [Int], [Float], [[Float]])])
    func stackMatchesMXNet(axis: String, shape: [Int], values: [Float], gradients: [[Float]]) throws {
        let inputs = [0, 100, 200].map { base in NDArray((0..<6).map { Float(base + $0) }, shape: [2, 3]) }
        let op = try Self.make("stack", ["num_args": "3", "axis": axis])
        let f = try OpFixture(op, shapes: [nil, nil, nil], given: [0: inputs[0], 1: inputs[1], 2: inputs[2]])
        for i in 0..<f.heads[0].count { f.heads[0].data[i] = Float(i + 1) }
        let g = try f.gradients()
        #expect(f.outputShapes == [shape] && f.outputs[0].toArray() == values)
        #expect(g.map { $0?.toArray() ?? [] } == gradients)
        try GradientCheck.checkAccumulation(f)
    }

    @Test func shapesFollowMXNet() throws {
        // MXNet 1.9.1's infer_shape for data of shape (2, 3, 4).
        #expect(try Self.shape("slice_axis", ["axis": "1", "begin": "-1", "end": "None"]) == [2, 1, 4])
        #expect(try Self.shape("slice", ["begin": "()", "end": "()"]) == [2, 3, 4])
        #expect(try Self.shape("slice", ["begin": "(-9,)", "end": "(9,)"]) == [2, 3, 4])
        #expect(
            try Self.shape("slice", ["begin": "(None, None, 9)", "end": "(None, None, -9)", "step": "(1, 1, -1)"]) == [
                2, 3, 4,
            ])
        #expect(try Self.shape("slice", ["begin": "[1]", "end": "[None]", "step": "[]"]) == [1, 3, 4])
        #expect(
            try Self.shape("slice", ["begin": "(None, 0, 0)", "end": "(None, 3, 4)", "step": "(None, 2, 3)"]) == [
                2, 2, 2,
            ])
        #expect(try Self.shape("slice", ["begin": "(None,)", "end": "(-3,)", "step": "(-1,)"]) == [2, 3, 4])
        #expect(try Self.shape("tile", ["reps": "()"]) == [2, 3, 4])
        #expect(try Self.shape("tile", ["reps": "2"]) == [2, 3, 8])
        #expect(try Self.shape("reverse", ["axis": "()"]) == [2, 3, 4])
        #expect(try Self.shape("repeat", ["repeats": "1"]) == [24])
        #expect(try Self.shape("repeat", ["repeats": "2", "axis": "-3"]) == [4, 3, 4])
        #expect(try Self.shape("repeat", ["repeats": "2", "axis": "None"]) == [48])
        let stack = try Self.make("stack", ["num_args": "2", "axis": "-4"])
        #expect(try stack.inferShape([nil, [2, 3, 4]]).inputs == [[2, 3, 4], [2, 3, 4]])
        #expect(try stack.inferShape([nil, [2, 3, 4]]).outputs == [[2, 2, 3, 4]])
        #expect(try Self.shape("stack", ["num_args": "1", "axis": "3"]) == [2, 3, 4, 1])
    }

    @Test func shapeErrorsAndBadAttributesFollowMXNet() throws {
        // slice_axis: "Transformed axis must be smaller than the source ndim", "Invalid begin, end",
        // "Invalid end for end=5 as axis_size is 3", "Invalid begin for begin=-5".
        for (axis, begin, end) in [
            ("3", "0", "1"), ("-4", "0", "1"), ("1", "2", "1"), ("1", "1", "1"), ("1", "0", "5"), ("1", "-5", "2"),
            ("1", "3", "None"), ("1", "0", "-4"),
        ] {
            expectShapeError { _ = try Self.shape("slice_axis", ["axis": axis, "begin": begin, "end": end]) }
        }
        expectBadAttribute("end") { _ = try Self.make("slice_axis", ["axis": "1", "begin": "0"]) }
        expectBadAttribute("begin") { _ = try Self.make("slice_axis", ["axis": "1", "end": "1"]) }
        expectBadAttribute("axis") { _ = try Self.make("slice_axis", ["begin": "0", "end": "1"]) }
        expectBadAttribute("end") { _ = try Self.make("slice_axis", ["axis": "1", "begin": "0", "end": "x"]) }
        // slice: "Slicing axis exceeds data dimensions"; MXNet makes an empty array where SwiftPS refuses.
        expectShapeError { _ = try Self.shape("slice", ["begin": "(0, 0, 0, 0)", "end": "(1, 1, 1, 1)"]) }
        for (begin, end) in [("(1,)", "(1,)"), ("(1,)", "(0,)"), ("(None, None, 7)", "(None, None, 9)")] {
            expectShapeError { _ = try Self.shape("slice", ["begin": begin, "end": end]) }
        }
        expectShapeError {
            _ = try Self.shape(
                "slice", ["begin": "(None, None, -9)", "end": "(None, None, None)", "step": "(1, 1, -1)"])
        }
        // "begin and end must have the same length", "step and begin must have the same length",
        // "slice op step[0] cannot be 0", "Required parameter end".
        expectBadAttribute("end") { _ = try Self.make("slice", ["begin": "(0, 0)", "end": "(1,)"]) }
        expectBadAttribute("step") { _ = try Self.make("slice", ["begin": "(0, 0)", "end": "(1, 1)", "step": "(1,)"]) }
        expectBadAttribute("step") { _ = try Self.make("slice", ["begin": "(0,)", "end": "(1,)", "step": "(0,)"]) }
        expectBadAttribute("end") { _ = try Self.make("slice", ["begin": "(0,)"]) }
        expectBadAttribute("begin") { _ = try Self.make("crop", ["begin": "(x,)", "end": "(1,)"]) }
        // reverse: "index = -1 must be in range [0, 3)", "axis < ishape.ndim()".
        expectBadAttribute("axis") { _ = try Self.make("reverse", ["axis": "-1"]) }
        expectBadAttribute("axis") { _ = try Self.make("flip") }
        expectShapeError { _ = try Self.shape("reverse", ["axis": "(0, 3)"]) }
        // tile: 0 makes "inferring shapes failed", -1 "shape dim size must be >= -1".
        for reps in ["(0, 1)", "(-1, 1)"] { expectBadAttribute("reps") { _ = try Self.make("tile", ["reps": reps]) } }
        expectBadAttribute("reps") { _ = try Self.make("tile") }
        // repeat: "repeats cannot be a negative number", "axis = 3 out of bounds"; 0 makes an empty array.
        for repeats in ["-1", "0"] {
            expectBadAttribute("repeats") { _ = try Self.make("repeat", ["repeats": repeats]) }
        }
        expectBadAttribute("axis") { _ = try Self.make("repeat", ["repeats": "2", "axis": "x"]) }
        for axis in ["3", "-4"] { expectShapeError { _ = try Self.shape("repeat", ["repeats": "2", "axis": axis]) } }
        // stack: "axis 4 exceeds the input dimension of 4"; MXNet 1.9.1 does not check that the shapes
        // agree (it stacks (2, 3) with (3, 2)): SwiftPS refuses.
        for axis in ["4", "-5"] { expectShapeError { _ = try Self.shape("stack", ["num_args": "1", "axis": axis]) } }
        let stack = try Self.make("stack", ["num_args": "2"])
        expectShapeError { _ = try stack.inferShape([[2, 3], [3, 2]]) }
        expectShapeError { _ = try stack.inferShape([nil, nil]) }
        expectShapeError { _ = try stack.inferShape([[2, 3]]) }
        expectBadAttribute("num_args") { _ = try Self.make("stack") }
        expectBadAttribute("num_args") { _ = try Self.make("stack", ["num_args": "0"]) }
    }

    @Test(arguments: [
        ("slice_axis", ["axis": "2", "begin": "1", "end": "-1"]),
        ("slice", ["begin": "(1, None, -1)", "end": "(None, 0, None)", "step": "(1, -2, -2)"]),
        ("crop", ["begin": "(0, 1)", "end": "(1, 3)"]),
        ("reverse", ["axis": "(0, 2)"]), ("flip", ["axis": "1"]),
        ("tile", ["reps": "(2, 1, 1, 3)"]), ("tile", ["reps": "(2,)"]),
        ("repeat", ["repeats": "3"]), ("repeat", ["repeats": "2", "axis": "1"]),
        ("repeat", ["repeats": "2", "axis": "-1"]),
        ("stack", ["num_args": "2", "axis": "1"]),
    ])
    func gradientsMatchFiniteDifferences(name: String, attributes: [String: String]) throws {
        let op = try Self.make(name, attributes)
        let f = try OpFixture(op, shapes: op.listArguments().map { _ in [2, 3, 4] })
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    /// Strided rows, repeats within a row and long rows, on data large enough that rows merge.
    @Test func largerArraysMatchAnIndexWalk() throws {
        let x = NDArray((0..<(3 * 5 * 7)).map(Float.init), shape: [3, 5, 7])
        func at(_ i: Int, _ j: Int, _ k: Int) -> Float { Float(i * 35 + j * 7 + k) }
        let slice = try OpFixture(
            try Self.make("slice", ["begin": "(None, 4, 1)", "end": "(None, None, None)", "step": "(-1, -3, 2)"]),
            shapes: [nil], given: [0: x])
        var expected: [Float] = []
        for i in [2, 1, 0] { for j in [4, 1] { for k in [1, 3, 5] { expected.append(at(i, j, k)) } } }
        #expect(try slice.forward()[0].toArray() == expected)
        let repeated = try OpFixture(
            try Self.make("repeat", ["repeats": "2", "axis": "2"]), shapes: [nil], given: [0: x])
        #expect(try repeated.forward()[0].toArray() == x.toArray().flatMap { [$0, $0] })
        let tiled = try OpFixture(try Self.make("tile", ["reps": "(2, 1, 1)"]), shapes: [nil], given: [0: x])
        #expect(try tiled.forward()[0].toArray() == x.toArray() + x.toArray())
    }

    @Test func buildersRoundTripThroughJSON() throws {
        let a = Symbol.variable("a")
        let b = Symbol.variable("b")
        var h = try Symbol.stack([a, b], axis: 1, name: "st")
        h = try Symbol.sliceAxis(h, axis: -1, begin: 1, end: nil, name: "sa")
        h = try Symbol.slice(h, begin: [nil, 1], end: [nil, nil], step: [nil, -1], name: "sl")
        h = try Symbol.reverse(h, axis: [0], name: "rv")
        h = try Symbol.tile(h, reps: [2, 1], name: "ti")
        h = try Symbol.repeatElements(h, repeats: 2, axis: 0, name: "rp")
        h = try Symbol.repeatElements(h, repeats: 3, name: "flat")
        #expect(h.listArguments() == ["a", "b"])
        let again = try Symbol.fromJSON(h.toJSON())
        #expect(again.toJSON() == h.toJSON())
        let exec = try again.simpleBind(shapes: ["a": [3, 4]])
        // stack (3, 2, 4) → slice_axis (3, 2, 3) → slice (3, 2, 3) → tile (3, 4, 3) → repeat (6, 4, 3) → 216.
        #expect(exec.outputs[0].shape == [216])
        let json = h.toJSON()
        for attribute in [
            #""begin": "(None, 1)""#, #""step": "(None, -1)""#, #""end": "None""#, #""num_args": "2""#,
            #""reps": "(2, 1)""#,
        ] {
            #expect(json.contains(attribute), "\(attribute)")
        }
    }
}
