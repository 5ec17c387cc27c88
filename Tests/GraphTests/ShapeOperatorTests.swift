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
        expectBadAttribute("shape") { _ = try Reshape(attributes: ["shape": "(-2,)"]) }
        expectBadAttribute("shape") { _ = try Reshape(attributes: ["shape": "(-3, 4)"]) }
        expectBadAttribute("shape") { _ = try Reshape(attributes: ["shape": "(-1, -1)"]) }
        expectBadAttribute("shape") { _ = try Reshape(attributes: ["shape": "(a, b)"]) }
        expectBadAttribute("reverse") { _ = try Reshape(attributes: ["shape": "(0, -1)", "reverse": "True"]) }
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
