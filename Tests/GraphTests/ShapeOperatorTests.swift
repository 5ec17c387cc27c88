import SwiftPSGraph
import SwiftPSTensor
import Testing

@Suite struct FlattenReshapeTests {
    @Test func flattenByHand() throws {
        let x = NDArray((0..<24).map(Float.init), shape: [2, 3, 4])
        let f = try OpFixture(Flatten(), shapes: [nil], given: [0: x])
        let y = try f.forward()[0]
        #expect(y.shape == [2, 12] && y.toArray() == x.toArray())
        #expect(try Flatten().inferShape([[5]]).outputs == [[5, 1]])
        expectShapeError { _ = try Flatten().inferShape([[]]) }
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    @Test(arguments: [
        ("(0, -1)", [2, 12]), ("(-1, 4)", [6, 4]), ("(4, 0, 2)", [4, 3, 2]), ("(2, 3, 2, 2)", [2, 3, 2, 2]),
        ("(0, 0, -1)", [2, 3, 4]), ("(24,)", [24]),
    ])
    func reshapeShapes(spec: String, expected: [Int]) throws {
        let op = try Reshape(attributes: ["shape": spec])
        #expect(try op.inferShape([[2, 3, 4]]).outputs == [expected])
    }

    /// MXNet 1.9.1's shapes for its special values (printed by its infer_shape), both directions.
    @Test(arguments: [
        ([2, 3, 4], [4, 0, 2], false, [4, 3, 2]), ([2, 3, 4], [6, 1, -1], false, [6, 1, 4]),
        ([2, 3, 4], [3, -1, 8], false, [3, 1, 8]), ([2, 3, 4], [-2], false, [2, 3, 4]),
        ([2, 3, 4], [-2, 1, 1], false, [2, 3, 4, 1, 1]), ([2, 3, 4, 5], [-3, 4, 5], false, [6, 4, 5]),
        ([2, 3, 4, 5], [-3, -2], false, [6, 4, 5]), ([2, 3, 4], [-4, 1, 2, -2], false, [1, 2, 3, 4]),
        ([2, 3, 4], [2, -4, -1, 3, -2], false, [2, 1, 3, 4]), ([10, 5, 4], [-1, 0], false, [40, 5]),
        ([10, 5, 4], [-1, 0], true, [50, 4]), ([2, 3, 4, 5], [0, -3, -1], false, [2, 12, 5]),
        ([2, 3, 4, 5], [0, -3, -1], true, [2, 12, 5]), ([2, 3, 4], [-3, -1], true, [6, 4]),
        ([2, 3, 4], [4, 0, 2], true, [4, 3, 2]),
    ])
    func reshapeSpecialValuesAsMXNet(data: [Int], shape: [Int], reverse: Bool, expected: [Int]) throws {
        let op = try Reshape(attributes: [
            "shape": AttributeReader.format(shape), "reverse": AttributeReader.format(reverse),
        ])
        #expect(try op.inferShape([data]).outputs == [expected])
        #expect(try Reshape(attributes: op.attributes).inferShape([data]).outputs == [expected])
    }

    @Test func reshapeValuesAndGradient() throws {
        let x = NDArray((0..<6).map(Float.init), shape: [2, 3])
        let f = try OpFixture(Reshape(shape: [3, -1]), shapes: [nil], given: [0: x])
        let y = try f.forward()[0]
        #expect(y.shape == [3, 2] && y.toArray() == [0, 1, 2, 3, 4, 5])
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    @Test func reshapeErrors() {
        expectShapeError { _ = try Reshape(shape: [5, -1]).inferShape([[2, 3, 4]]) }
        expectShapeError { _ = try Reshape(shape: [5, 5]).inferShape([[2, 3, 4]]) }
        expectShapeError { _ = try Reshape(shape: [0, 0, 0, 0]).inferShape([[2, 3, 4]]) }
        expectBadAttribute("shape") { _ = try Reshape(attributes: [:]) }
        expectBadAttribute("shape") { _ = try Reshape(attributes: ["shape": "(-5, 4)"]) }
        expectBadAttribute("shape") { _ = try Reshape(attributes: ["shape": "(-1, -1)"]) }
        expectBadAttribute("shape") { _ = try Reshape(attributes: ["shape": "(a, b)"]) }
        expectBadAttribute("reverse") { _ = try Reshape(attributes: ["shape": "(0, -1)", "reverse": "sometimes"]) }
        // MXNet's refusals: -3 or 0 past the last axis, -4 without its two sizes or not splitting
        // evenly, and (stricter than MXNet's shape inference with reverse) a size that differs.
        expectShapeError { _ = try Reshape(shape: [-3, -2], reverse: true).inferShape([[2, 3, 4, 5]]) }
        expectShapeError { _ = try Reshape(shape: [-4, 1, 2, -2], reverse: true).inferShape([[2, 3, 4]]) }
        expectShapeError { _ = try Reshape(shape: [-4, 5, -1, -2]).inferShape([[2, 3, 4]]) }
        expectShapeError { _ = try Reshape(shape: [-4, -1, -1, -2]).inferShape([[2, 3, 4]]) }
        expectShapeError { _ = try Reshape(shape: [-4, 99_999_999_999, 99_999_999_999]).inferShape([[2, 3, 4]]) }
        expectShapeError { _ = try Reshape(shape: [-2, 1, 1], reverse: true).inferShape([[2, 3, 4]]) }
        expectShapeError { _ = try Reshape(shape: [2, 3, 4, -3]).inferShape([[2, 3, 4]]) }
    }
}

@Suite struct ElemwiseAddTests {
    @Test func byHand() throws {
        let f = try OpFixture(
            ElemwiseAdd(), shapes: [nil, nil], given: [0: NDArray([1, 2, 3]), 1: NDArray([10, 20, 30])])
        expectClose(try f.forward()[0].toArray(), [11, 22, 33], "sum")
        let g = try f.gradients()
        #expect(g[0]!.toArray() == f.heads[0].toArray() && g[1]!.toArray() == f.heads[0].toArray())
        #expect(ElemwiseAdd().listArguments() == ["lhs", "rhs"])
    }

    @Test func shapesAndGradient() throws {
        #expect(try ElemwiseAdd().inferShape([[2, 3], nil]).inputs == [[2, 3], [2, 3]])
        expectShapeError { _ = try ElemwiseAdd().inferShape([[2, 3], [1, 3]]) }
        let f = try OpFixture(ElemwiseAdd(), shapes: [[2, 3], nil])
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }
}

@Suite struct ConcatTests {
    @Test func alongAxisOneByHand() throws {
        let a = NDArray([1, 2], shape: [2, 1])
        let b = NDArray([3, 4, 5, 6], shape: [2, 2])
        let f = try OpFixture(Concat(numArgs: 2), shapes: [nil, nil], given: [0: a, 1: b])
        let y = try f.forward()[0]
        #expect(y.shape == [2, 3] && y.toArray() == [1, 3, 4, 2, 5, 6])
        f.heads[0].withUnsafeMutableBufferPointer { for i in 0..<6 { $0[i] = Float(i) } }
        let g = try f.gradients()
        #expect(g[0]!.toArray() == [0, 3] && g[1]!.toArray() == [1, 2, 4, 5])
    }

    @Test func alongAxisZeroAndNegative() throws {
        let a = NDArray([1, 2], shape: [1, 2])
        let b = NDArray([3, 4, 5, 6], shape: [2, 2])
        let f = try OpFixture(Concat(numArgs: 2, dim: 0), shapes: [nil, nil], given: [0: a, 1: b])
        #expect(try f.forward()[0].toArray() == [1, 2, 3, 4, 5, 6])
        let s = try Concat(numArgs: 3, dim: -1).inferShape([[2, 3, 1], [2, 3, 2], [2, 3, 4]])
        #expect(s.outputs == [[2, 3, 7]])
    }

    @Test func shapesAttributesAndGradient() throws {
        let op = try Concat(attributes: ["num_args": "3", "dim": "1"])
        #expect(op.listArguments() == ["arg0", "arg1", "arg2"])
        #expect(try op.inferShape([[2, 1, 3], [2, 2, 3], [2, 4, 3]]).outputs == [[2, 7, 3]])
        expectShapeError { _ = try op.inferShape([[2, 1, 3], [3, 2, 3], [2, 4, 3]]) }
        expectShapeError { _ = try op.inferShape([[2, 1, 3], nil, [2, 4, 3]]) }
        expectShapeError { _ = try op.inferShape([[2, 1, 3], [2, 1]]) }
        expectShapeError { _ = try Concat(numArgs: 1, dim: 3).inferShape([[2, 3]]) }
        expectBadAttribute("num_args") { _ = try Concat(attributes: [:]) }
        expectBadAttribute("num_args") { _ = try Concat(attributes: ["num_args": "0"]) }
        expectBadAttribute("dim") { _ = try Concat(attributes: ["num_args": "2", "dim": "x"]) }
        let f = try OpFixture(op, shapes: [[2, 1, 3], [2, 2, 3], [2, 4, 3]])
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }
}
