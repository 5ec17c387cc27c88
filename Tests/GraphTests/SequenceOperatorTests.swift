import SwiftPSGraph
import SwiftPSTensor
import Testing

@Suite struct SequenceOperatorTests {
    /// MXNet 1.9.1's example data: arange(24) of shape (4, 3, 2) (time first) or (3, 4, 2) (batch
    /// first), lengths [1, 4, 2.7] (2.7 reads as 2).
    static let lengths = NDArray([1, 4, 2.7])
    static func data(_ shape: [Int]) -> NDArray { NDArray((0..<24).map(Float.init), shape: shape) }

    func run(_ op: any Operator, _ shape: [Int], lengths: Bool = true) throws -> [Float] {
        let given: [Int: NDArray] = lengths ? [0: Self.data(shape), 1: Self.lengths] : [0: Self.data(shape)]
        let f = try OpFixture(op, shapes: lengths ? [shape, nil] : [shape], given: given)
        return try f.forward()[0].toArray()
    }

    /// Values printed by MXNet 1.9.1 (`mx.nd.SequenceMask(x, L, use_sequence_length=True, value=-1)`, …).
    @Test func forwardMatchesMXNet() throws {
        let mask = try SequenceMask(attributes: ["use_sequence_length": "True", "value": "-1"])
        let masked = try run(mask, [4, 3, 2])
        #expect(stride(from: 0, to: 24, by: 2).map { masked[$0] } == [0, 2, 4, -1, 8, 10, -1, 14, -1, -1, 20, -1])
        let maskBatchFirst = try SequenceMask(attributes: ["use_sequence_length": "True", "value": "-1", "axis": "1"])
        let second = try run(maskBatchFirst, [3, 4, 2])
        #expect(
            stride(from: 1, to: 24, by: 2).map { second[$0] } == [1, -1, -1, -1, 9, 11, 13, 15, 17, 19, -1, -1])
        let last = try SequenceLast(attributes: ["use_sequence_length": "True"])
        #expect(try run(last, [4, 3, 2]) == [0, 1, 20, 21, 10, 11])
        let lastBatchFirst = try SequenceLast(attributes: ["use_sequence_length": "True", "axis": "1"])
        #expect(try run(lastBatchFirst, [3, 4, 2]) == [0, 1, 14, 15, 18, 19])
        #expect(try run(SequenceLast(attributes: ["axis": "1"]), [3, 4, 2], lengths: false) == [6, 7, 14, 15, 22, 23])
        let reverse = try SequenceReverse(attributes: ["use_sequence_length": "True"])
        let reversed = try run(reverse, [4, 3, 2])
        #expect(stride(from: 0, to: 24, by: 2).map { reversed[$0] } == [0, 20, 10, 6, 14, 4, 12, 8, 16, 18, 2, 22])
        #expect(try run(SequenceMask(attributes: [:]), [4, 3, 2], lengths: false) == Self.data([24]).toArray())
    }

    /// Lengths 2.5 and 1.5: a finite-difference step never changes the step they select, so the
    /// lengths' numeric gradient is 0, as the operators (and MXNet) give it.
    @Test(arguments: [
        ("SequenceMask", ["use_sequence_length": "True", "value": "0.5"]),
        ("SequenceMask", ["use_sequence_length": "True", "axis": "1"]),
        ("SequenceLast", ["use_sequence_length": "True"]),
        ("SequenceLast", ["use_sequence_length": "True", "axis": "1"]),
        ("SequenceReverse", ["use_sequence_length": "True"]), ("SequenceReverse", [:]), ("SequenceLast", [:]),
    ])
    func gradients(name: String, attributes: [String: String]) throws {
        let op = try OperatorRegistry.make(name, attributes: attributes)
        let useLength = attributes["use_sequence_length"] == "True"
        let given: [Int: NDArray] = useLength ? [1: NDArray([2.5, 1.5])] : [:]
        let shape = attributes["axis"] == "1" ? [2, 3, 2] : [3, 2, 2]
        let f = try OpFixture(op, shapes: useLength ? [shape, nil] : [shape], given: given)
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    @Test func shapesAndRefusals() throws {
        let last = try SequenceLast(attributes: ["use_sequence_length": "True", "axis": "1"])
        let s = try last.inferShape([[3, 4, 2, 5], nil])
        #expect(s.inputs == [[3, 4, 2, 5], [3]] && s.outputs == [[3, 2, 5]])
        #expect(last.listArguments() == ["data", "sequence_length"])
        #expect(throws: GraphError.self) { try last.inferShape([[3, 4, 2], [4]]) }
        #expect(throws: GraphError.self) { try last.inferShape([[3]]) }
        expectBadAttribute("axis") { _ = try SequenceReverse(attributes: ["axis": "1"]) }
        expectBadAttribute("axis") { _ = try SequenceMask(attributes: ["axis": "2"]) }
        let symbol = try Symbol.sequenceMask(
            Symbol.variable("data"), sequenceLength: Symbol.variable("len"), value: -1, name: "m")
        #expect(symbol.listArguments() == ["data", "len"])
        let loaded = try Symbol.fromJSON(symbol.toJSON())
        #expect(loaded.toJSON() == symbol.toJSON())
    }
}
