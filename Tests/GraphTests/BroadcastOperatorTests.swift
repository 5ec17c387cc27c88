import SwiftPSGraph
import SwiftPSTensor
import Testing

/// `broadcast_add`, `broadcast_sub`, `broadcast_mul`, `broadcast_div`: MXNet 1.x's (numpy's)
/// broadcasting, values by hand (the figures MXNet 1.9.1 gives), gradients summed over the
/// broadcast axes checked against finite differences.
@Suite struct BroadcastOperatorTests {
    static let operators: [any Operator] = [BroadcastAdd(), BroadcastSub(), BroadcastMul(), BroadcastDiv()]

    @Test(arguments: [
        ([2, 3], [3], [2, 3]), ([2, 1, 3], [4, 1], [2, 4, 3]), ([3], [2, 3], [2, 3]), ([1, 3], [2, 1], [2, 3]),
        ([2, 3], [1, 1, 1, 3], [1, 1, 2, 3]), ([2, 3], [1], [2, 3]), ([4, 5], [4, 5], [4, 5]),
    ])
    func shapesFollowMXNet(lhs: [Int], rhs: [Int], out: [Int]) throws {
        for op in Self.operators {
            let s = try op.inferShape([lhs, rhs])
            #expect(s.inputs == [lhs, rhs] && s.outputs == [out], "\(type(of: op).typeName)")
        }
    }

    /// An axis that differs where neither size is 1 is an error naming both shapes, as MXNet's
    /// "operands could not be broadcast together with shapes [2,3] [2,4]".
    @Test func incompatibleShapesNameBoth() throws {
        do {
            _ = try BroadcastMul().inferShape([[2, 3], [2, 4]])
            Issue.record("(2, 3) and (2, 4) broadcast")
        } catch GraphError.shapeError(let message) {
            #expect(message.contains("[2, 3]") && message.contains("[2, 4]"), "\(message)")
        }
        expectShapeError { _ = try BroadcastAdd().inferShape([[3], [4]]) }
        expectShapeError { _ = try BroadcastAdd().inferShape([[2, 3, 4], [2, 1]]) }
        // Neither shape follows from the other, as in MXNet.
        expectShapeError { _ = try BroadcastAdd().inferShape([[2, 3], nil]) }
        // elemwise_add still wants equal shapes.
        expectShapeError { _ = try ElemwiseAdd().inferShape([[2, 3], [3]]) }
    }

    @Test func valuesByHand() throws {
        let x = NDArray([0, 1, 2, 3, 4, 5], shape: [2, 3])
        let column = NDArray([10, 20], shape: [2, 1])
        let row = NDArray([1, 2, 4], shape: [3])
        func run(_ op: any Operator, _ lhs: NDArray, _ rhs: NDArray) throws -> [Float] {
            try OpFixture(op, shapes: [nil, nil], given: [0: lhs, 1: rhs]).forward()[0].toArray()
        }
        expectClose(try run(BroadcastAdd(), x, row), [1, 3, 6, 4, 6, 9], "x + row")
        expectClose(try run(BroadcastSub(), row, x), [1, 1, 2, -2, -2, -1], "row − x")
        expectClose(try run(BroadcastMul(), x, column), [0, 10, 20, 60, 80, 100], "x ⊙ column")
        // MXNet 1.9.1: broadcast_div(arange(6).reshape(2, 3), [[10], [20]]).
        expectClose(try run(BroadcastDiv(), x, column), [0, 0.1, 0.2, 0.15, 0.2, 0.25], "x / column")
        // Both sides broadcast: (1, 3) with (2, 1).
        let r13 = NDArray([1, 2, 3], shape: [1, 3])
        expectClose(try run(BroadcastAdd(), r13, column), [11, 12, 13, 21, 22, 23], "(1, 3) + (2, 1)")
    }

    /// MXNet 1.9.1's gradients of `broadcast_mul(arange(6).reshape(2, 3), [[10], [20]])` with a head
    /// of ones: x gets the column repeated, the column gets its rows' sums.
    @Test func gradientsSumOverBroadcastAxesByHand() throws {
        let x = NDArray([0, 1, 2, 3, 4, 5], shape: [2, 3])
        let f = try OpFixture(
            BroadcastMul(), shapes: [nil, nil], given: [0: x, 1: NDArray([10, 20], shape: [2, 1])])
        f.heads[0].fill(1)
        let g = try f.gradients()
        #expect(g[0]?.toArray() == [10, 10, 10, 20, 20, 20])
        #expect(g[1]?.toArray() == [3, 12])
        let add = try OpFixture(BroadcastSub(), shapes: [[2, 3], [3]])
        add.heads[0].fill(1)
        let a = try add.gradients()
        #expect(a[0]?.toArray() == [1, 1, 1, 1, 1, 1] && a[1]?.toArray() == [-2, -2, -2])
    }

    /// Finite differences for each operator on shape pairs of different ranks, broadcasting on
    /// either side or both, on an inner axis, and equal shapes (the element-wise path).
    @Test(arguments: [
        ([2, 3], [3]), ([3], [2, 3]), ([2, 1, 3], [4, 1]), ([1, 3], [2, 1]), ([2, 3, 4], [2, 1, 4]),
        ([2, 3], [1]), ([4, 1, 3, 1], [5, 1, 1]), ([2, 3], [2, 3]),
    ])
    func gradientsMatchFiniteDifferences(lhs: [Int], rhs: [Int]) throws {
        for op in Self.operators {
            // Away from 0, so that division stays smooth within the step.
            let f = try OpFixture(op, shapes: [lhs, rhs], fill: .awayFromZero(0.5))
            try GradientCheck.check(f)
            try GradientCheck.checkAccumulation(f)
        }
    }

    @Test func attributesAndAliases() throws {
        expectBadAttribute("axis") { _ = try OperatorRegistry.make("broadcast_add", attributes: ["axis": "1"]) }
        #expect(type(of: try OperatorRegistry.make("broadcast_plus", attributes: [:])).typeName == "broadcast_add")
        #expect(type(of: try OperatorRegistry.make("broadcast_minus", attributes: [:])).typeName == "broadcast_sub")
        #expect(BroadcastDiv().listArguments() == ["lhs", "rhs"] && BroadcastDiv().attributes.isEmpty)
    }

    /// As a user builds it: a per-feature scale and shift of a batch, whose parameters' gradients sum
    /// over the batch; the symbol survives symbol JSON.
    @Test func aBoundGraphSumsParameterGradientsOverTheBatch() throws {
        let data = Symbol.variable("data")
        let scaled = try Symbol.broadcastMul(data, .variable("scale"), name: "mul")
        let net = try Symbol.broadcastDiv(
            try Symbol.broadcastSub(try Symbol.broadcastAdd(scaled, .variable("shift"), name: "add"), .variable("c")),
            .variable("d"), name: "div")
        let again = try Symbol.fromJSON(net.toJSON())
        #expect(again.toJSON() == net.toJSON())
        let shapes = ["data": [3, 2], "scale": [1, 2], "shift": [2], "c": [1], "d": [3, 1]]
        let exec = try again.simpleBind(shapes: shapes)
        #expect(exec.outputs[0].shape == [3, 2])
        try exec.argDict["data"]!.copy(from: NDArray([1, 2, 3, 4, 5, 6], shape: [3, 2]))
        try exec.argDict["scale"]!.copy(from: NDArray([2, 3], shape: [1, 2]))
        try exec.argDict["shift"]!.copy(from: NDArray([1, -1]))
        exec.argDict["c"]!.fill(1)
        try exec.argDict["d"]!.copy(from: NDArray([1, 2, 4], shape: [3, 1]))
        exec.forward(isTrain: true)
        // (data ⊙ scale + shift − 1) / d, row by row.
        expectClose(exec.outputs[0].toArray(), [2, 4, 3, 5, 2.5, 4], "output")
        try exec.backward()
        expectClose(exec.gradDict["scale"]!.toArray(), [1 + 3 * 0.5 + 5 * 0.25, 2 + 4 * 0.5 + 6 * 0.25], "dscale")
        expectClose(exec.gradDict["shift"]!.toArray(), [1.75, 1.75], "dshift")
        expectClose(exec.gradDict["c"]!.toArray(), [-3.5], "dc")
        // d(y)/dd = −y / d, summed over each row.
        expectClose(exec.gradDict["d"]!.toArray(), [-6, -4, -1.625], "dd")
        expectClose(exec.gradDict["data"]!.toArray(), [2, 3, 1, 1.5, 0.5, 0.75], "ddata")
    }
}
