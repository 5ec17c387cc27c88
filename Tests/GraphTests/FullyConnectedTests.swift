import SwiftPSGraph
import SwiftPSTensor
import Testing

@Suite struct FullyConnectedTests {
    @Test func forwardAndBackwardByHand() throws {
        let x = NDArray([1, 2, 3, 4], shape: [2, 2])
        let w = NDArray([1, 0, 0.5, -1, 2, 1], shape: [3, 2])
        let bias = NDArray([0.1, 0.2, 0.3])
        let f = try OpFixture(FullyConnected(numHidden: 3), shapes: [nil, nil, nil], given: [0: x, 1: w, 2: bias])
        f.heads[0].fill(1)
        let grads = try f.gradients()
        // y = x·Wᵀ + b
        expectClose(f.outputs[0].toArray(), [1.1, -1.3, 4.3, 3.1, -2.3, 10.3], "y")
        // dx = 1·W summed over outputs; dW = 1ᵀ·x; db = rows
        expectClose(grads[0]!.toArray(), [3.5, 0, 3.5, 0], "dx")
        expectClose(grads[1]!.toArray(), [4, 6, 4, 6, 4, 6], "dW")
        expectClose(grads[2]!.toArray(), [2, 2, 2], "db")
    }

    @Test func shapeInference() throws {
        let s = try FullyConnected(numHidden: 5).inferShape([[2, 3, 4], nil, nil])
        #expect(s.inputs == [[2, 3, 4], [5, 12], [5]])
        #expect(s.outputs == [[2, 5]])
        let t = try FullyConnected(numHidden: 5, noBias: true, flatten: false).inferShape([[2, 3, 4], nil])
        #expect(t.inputs == [[2, 3, 4], [5, 4]])
        #expect(t.outputs == [[2, 3, 5]])
        expectShapeError { _ = try FullyConnected(numHidden: 5).inferShape([[2, 3], [5, 4], nil]) }
    }

    @Test func attributes() throws {
        let op = try FullyConnected(attributes: ["num_hidden": "7", "no_bias": "True"])
        #expect(op.numHidden == 7 && op.noBias && op.listArguments() == ["data", "weight"])
        expectBadAttribute("num_hidden") { _ = try FullyConnected(attributes: [:]) }
        expectBadAttribute("num_hidden") { _ = try FullyConnected(attributes: ["num_hidden": "0"]) }
        expectBadAttribute("no_bias") { _ = try FullyConnected(attributes: ["num_hidden": "2", "no_bias": "maybe"]) }
    }

    @Test(arguments: [(false, true), (true, true), (false, false)])
    func gradient(noBias: Bool, flatten: Bool) throws {
        let op = FullyConnected(numHidden: 3, noBias: noBias, flatten: flatten)
        try GradientCheck.check(OpFixture(op, shapes: [[2, 2, 3]] + Array(repeating: nil, count: noBias ? 1 : 2)))
    }

    @Test func gradReq() throws {
        try GradientCheck.checkAccumulation(OpFixture(FullyConnected(numHidden: 3), shapes: [[2, 4], nil, nil]))
    }
}
