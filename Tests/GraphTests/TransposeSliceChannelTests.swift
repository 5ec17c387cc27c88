import SwiftPSGraph
import SwiftPSTensor
import Testing

/// `transpose` and `SliceChannel` (`split`, MXNet's multi-output operator): values by hand,
/// gradients against finite differences, MXNet's errors, and multi-output symbols.
@Suite struct TransposeSliceChannelTests {
    @Test func transposeByHand() throws {
        let m = NDArray([0, 1, 2, 3, 4, 5], shape: [2, 3])
        let t = try OpFixture(Transpose(), shapes: [nil], given: [0: m])
        let y = try t.forward()[0]
        #expect(y.shape == [3, 2] && y.toArray() == [0, 3, 1, 4, 2, 5])
        // (2, 2, 2) with axes (1, 0, 2): x[i][j][k] lands at y[j][i][k].
        let cube = NDArray((0..<8).map(Float.init), shape: [2, 2, 2])
        let swapped = try OpFixture(Transpose(axes: [1, 0, 2]), shapes: [nil], given: [0: cube]).forward()[0]
        #expect(swapped.toArray() == [0, 1, 4, 5, 2, 3, 6, 7])
        // Default: all axes reversed, x[i][j][k] at y[k][j][i].
        let reversed = try OpFixture(Transpose(), shapes: [nil], given: [0: cube]).forward()[0]
        #expect(reversed.toArray() == [0, 4, 2, 6, 1, 5, 3, 7])
        #expect(try Transpose(axes: [0, 2, 3, 1]).inferShape([[2, 3, 4, 5]]).outputs == [[2, 4, 5, 3]])
    }

    @Test(arguments: [
        ([Int](), [2, 3, 4]), ([1, 0], [3, 4]), ([0, 2, 1], [2, 3, 4]), ([2, 0, 3, 1], [2, 3, 1, 4]),
        ([0, 1, 2], [2, 3, 2]),
    ])
    func transposeGradients(axes: [Int], shape: [Int]) throws {
        let f = try OpFixture(Transpose(axes: axes), shapes: [shape])
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    @Test func transposeErrors() throws {
        expectBadAttribute("axes") { _ = try Transpose(attributes: ["axes": "(0, -1, 1)"]) }
        expectBadAttribute("axes") { _ = try Transpose(attributes: ["axes": "(0, 0, 1)"]) }
        expectBadAttribute("axes") { _ = try Transpose(attributes: ["axes": "(a, b)"]) }
        expectBadAttribute("axis") { _ = try OperatorRegistry.make("transpose", attributes: ["axis": "1"]) }
        expectShapeError { _ = try Transpose(axes: [1, 0]).inferShape([[2, 3, 4]]) }
        expectShapeError { _ = try Transpose(axes: [0, 1, 3]).inferShape([[2, 3, 4]]) }
        expectShapeError { _ = try Transpose().inferShape([nil]) }
        let op = try Transpose(attributes: ["axes": "(1, 0)"])
        #expect(op.attributes == ["axes": "(1, 0)"] && Transpose().attributes.isEmpty)
    }

    @Test func sliceChannelByHand() throws {
        let x = NDArray((0..<12).map(Float.init), shape: [2, 6])
        let f = try OpFixture(SliceChannel(numOutputs: 3), shapes: [nil], given: [0: x])
        let parts = try f.forward().map { $0.toArray() }
        #expect(parts == [[0, 1, 6, 7], [2, 3, 8, 9], [4, 5, 10, 11]])
        #expect(f.outputs.allSatisfy { $0.shape == [2, 2] })
        // The gradient of each part goes back to where the part came from.
        for (k, head) in f.heads.enumerated() { head.fill(Float(k + 1)) }
        #expect(try f.gradients()[0]?.toArray() == [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3])
        // Along axis 0 with squeeze_axis: the rows, as 1-D arrays.
        let rows = try OpFixture(SliceChannel(numOutputs: 2, axis: 0, squeezeAxis: true), shapes: [nil], given: [0: x])
        let out = try rows.forward()
        #expect(out.map(\.shape) == [[6], [6]] && out[1].toArray() == (6..<12).map(Float.init))
    }

    @Test(arguments: [
        (SliceChannel(numOutputs: 2), [2, 4, 3]), (SliceChannel(numOutputs: 3, axis: -1), [2, 2, 6]),
        (SliceChannel(numOutputs: 2, axis: 0), [4, 3]),
        (SliceChannel(numOutputs: 3, axis: 1, squeezeAxis: true), [2, 3, 2]),
        (SliceChannel(numOutputs: 1), [2, 3]),
    ])
    func sliceChannelGradients(op: SliceChannel, shape: [Int]) throws {
        let f = try OpFixture(op, shapes: [shape])
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    @Test func sliceChannelShapesAndErrors() throws {
        let s = try SliceChannel(attributes: ["num_outputs": "6", "squeeze_axis": "True"]).inferShape([[2, 6, 4]])
        #expect(s.outputs == Array(repeating: [2, 4], count: 6))
        #expect(try SliceChannel(numOutputs: 2, axis: -1).inferShape([[2, 6, 4]]).outputs == [[2, 6, 2], [2, 6, 2]])
        #expect(SliceChannel(numOutputs: 3).listOutputs() == ["output0", "output1", "output2"])
        expectBadAttribute("num_outputs") { _ = try SliceChannel(attributes: [:]) }
        expectBadAttribute("num_outputs") { _ = try SliceChannel(attributes: ["num_outputs": "0"]) }
        expectBadAttribute("squeeze_axis") {
            _ = try SliceChannel(attributes: ["num_outputs": "2", "squeeze_axis": "x"])
        }
        expectBadAttribute("dim") {
            _ = try OperatorRegistry.make("split", attributes: ["num_outputs": "2", "dim": "1"])
        }
        expectShapeError { _ = try SliceChannel(numOutputs: 4).inferShape([[2, 6, 4]]) }
        expectShapeError { _ = try SliceChannel(numOutputs: 2, axis: 3).inferShape([[2, 6, 4]]) }
        expectShapeError { _ = try SliceChannel(numOutputs: 2, axis: -4).inferShape([[2, 6, 4]]) }
        expectShapeError { _ = try SliceChannel(numOutputs: 3, squeezeAxis: true).inferShape([[2, 6, 4]]) }
        expectShapeError { _ = try SliceChannel(numOutputs: 2, axis: 0, squeezeAxis: true).inferShape([[2]]) }
    }

    /// As a user builds it: the parts of a split feed different operators (one part unused), the
    /// symbol lists MXNet's output names, survives symbol JSON (inputs naming outputs 1 and 2), and
    /// runs forward and backward bound.
    @Test func multiOutputSymbolsBindAndRoundTrip() throws {
        let parts = try Symbol.sliceChannel(.variable("data"), numOutputs: 3, name: "sl")
        #expect(parts.listOutputs() == ["sl_output0", "sl_output1", "sl_output2"])
        let net = try Symbol.elemwiseAdd(
            try Symbol.transpose(parts[1], axes: [1, 0], name: "t"), try Symbol.transpose(parts[2], name: "t2"),
            name: "sum")
        let json = net.toJSON()
        #expect(json.contains("[[1, 1, 0]]") && json.contains("[[1, 2, 0]]"), "\(json)")
        #expect(json.contains("\"node_row_ptr\": [0, 1, 4, 5, 6, 7]"), "\(json)")
        let loaded = try Symbol.fromJSON(json)
        #expect(loaded.toJSON() == json)
        let grouped = try Symbol.fromJSON(parts.toJSON())
        #expect(grouped.listOutputs() == parts.listOutputs())
        #expect(try grouped.inferShape(["data": [2, 6]]).outputs == [[2, 2], [2, 2], [2, 2]])

        let exec = try loaded.simpleBind(shapes: ["data": [2, 6]])
        try exec.argDict["data"]!.copy(from: NDArray((0..<12).map(Float.init), shape: [2, 6]))
        exec.forward(isTrain: true)
        // Parts 1 and 2 are [[2, 3], [8, 9]] and [[4, 5], [10, 11]], each transposed.
        #expect(exec.outputs[0].toArray() == [6, 18, 8, 20])
        try exec.backward()
        // Part 0 feeds nothing: its gradient is zero.
        #expect(exec.gradDict["data"]!.toArray() == [0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1])
    }
}
