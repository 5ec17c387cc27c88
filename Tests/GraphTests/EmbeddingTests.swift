import SwiftPSGraph
import SwiftPSTensor
import Testing

/// `Embedding`: rows looked up by float indices, clipped as MXNet 1.9.1 clips them, the weight's
/// gradient scattered back into the rows, and MXNet's attributes.
@Suite struct EmbeddingTests {
    /// MXNet 1.9.1's figures: weight `arange(8).reshape(4, 2)`, these indices, and the head gradient
    /// `arange(24)`: every index is truncated toward zero, then clipped to rows 0…3.
    @Test func rowsAndWeightGradientAsMXNet() throws {
        let indices: [Float] = [-3, -0.6, 0.4, 0.5, 0.6, 1.5, 2.5, 3.49, 3.5, 3.99, 4, 100]
        let f = try OpFixture(
            Embedding(inputDim: 4, outputDim: 2), shapes: [nil, nil],
            given: [0: NDArray(indices, shape: [3, 4]), 1: NDArray((0..<8).map(Float.init), shape: [4, 2])])
        let y = try f.forward()[0]
        #expect(y.shape == [3, 4, 2])
        let rows: [Float] = [0, 0, 0, 0, 0, 1, 2, 3, 3, 3, 3, 3]
        #expect(y.toArray() == rows.flatMap { [2 * $0, 2 * $0 + 1] })
        for j in 0..<24 { f.heads[0].data[j] = Float(j) }
        let g = try f.gradients()
        #expect(g[1]?.toArray() == [20, 25, 10, 11, 12, 13, 90, 95])
        #expect(g[0]?.toArray() == [Float](repeating: 0, count: 12), "the data's gradient is zero")
    }

    /// Values without a 64-bit integer read row 0, as MXNet's conversion leaves them; 1e10 is clipped
    /// to the last row.
    @Test func nonFiniteAndHugeIndices() throws {
        let f = try OpFixture(
            Embedding(inputDim: 4, outputDim: 1), shapes: [nil, nil],
            given: [
                0: NDArray([.nan, .infinity, -.infinity, 1e10, -1e10, 1e19]), 1: NDArray([5, 6, 7, 8], shape: [4, 1]),
            ])
        #expect(try f.forward()[0].toArray() == [5, 5, 5, 8, 5, 5])
    }

    /// Finite differences: indices kept off integer boundaries (the output is flat in them there),
    /// repeated so that rows collect several gradients.
    @Test func gradientsMatchFiniteDifferences() throws {
        let data = NDArray([0.5, 2.3, 1.7, 3.2, 0.4, 2.5, -1.5, 9.5], shape: [2, 4])
        let f = try OpFixture(Embedding(inputDim: 4, outputDim: 3), shapes: [nil, nil], given: [0: data])
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
        let flat = try OpFixture(
            Embedding(inputDim: 5, outputDim: 2), shapes: [nil, nil], given: [0: NDArray([4.5, 0.5, 0.5])])
        try GradientCheck.check(flat)
    }

    @Test func shapesAndAttributes() throws {
        let op = try Embedding(attributes: [
            "input_dim": "10", "output_dim": "3", "dtype": "float32", "sparse_grad": "False",
        ])
        let s = try op.inferShape([[2, 5], nil])
        #expect(s.inputs == [[2, 5], [10, 3]] && s.outputs == [[2, 5, 3]])
        #expect(op.attributes == ["input_dim": "10", "output_dim": "3"])
        expectShapeError { _ = try op.inferShape([[2, 5], [11, 3]]) }
        expectShapeError { _ = try op.inferShape([nil, [10, 3]]) }
        expectBadAttribute("input_dim") { _ = try Embedding(attributes: ["output_dim": "3"]) }
        expectBadAttribute("output_dim") { _ = try Embedding(attributes: ["input_dim": "3"]) }
        expectBadAttribute("input_dim") { _ = try Embedding(attributes: ["input_dim": "0", "output_dim": "3"]) }
        expectBadAttribute("dtype") {
            _ = try Embedding(attributes: ["input_dim": "3", "output_dim": "3", "dtype": "float16"])
        }
        expectBadAttribute("dtype") {
            _ = try Embedding(attributes: ["input_dim": "3", "output_dim": "3", "dtype": "half"])
        }
        expectBadAttribute("sparse_grad") {
            _ = try Embedding(attributes: ["input_dim": "3", "output_dim": "3", "sparse_grad": "True"])
        }
        do {
            _ = try Embedding(attributes: ["input_dim": "3", "output_dim": "3", "dtype": "float64"])
        } catch let error as GraphError {
            #expect("\(error)".contains("float32"), "\(error)")
        }
    }

    /// As a user builds it: the variable `<name>_weight` is created with its shape inferred, a batch's
    /// repeated word trains its row twice, and the data (here a label-like input) takes no gradient.
    @Test func boundAsAModuleWouldBindIt() throws {
        let net = try Symbol.embedding(.variable("data"), inputDim: 3, outputDim: 2, name: "embed")
        #expect(net.listArguments() == ["data", "embed_weight"])
        let exec = try Symbol.fromJSON(net.toJSON()).simpleBind(
            shapes: ["data": [2, 2]], gradReqs: ["embed_weight": .write])
        try exec.argDict["data"]!.copy(from: NDArray([2, 0, 2, 1], shape: [2, 2]))
        try exec.argDict["embed_weight"]!.copy(from: NDArray([1, 2, 3, 4, 5, 6], shape: [3, 2]))
        exec.forward(isTrain: true)
        #expect(exec.outputs[0].toArray() == [5, 6, 1, 2, 5, 6, 3, 4])
        try exec.backward()
        #expect(exec.gradDict["embed_weight"]!.toArray() == [1, 1, 1, 1, 2, 2])
    }
}
