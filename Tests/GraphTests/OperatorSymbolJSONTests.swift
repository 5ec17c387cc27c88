import SwiftPSGraph
import SwiftPSTensor
import Testing

/// The operators added with broadcasting (broadcast_*, transpose, SliceChannel, Embedding, LRN,
/// Cast, UpSampling) through symbol JSON: what SwiftPS writes loads back as the same network,
/// and MXNet's alias names load.
@Suite struct OperatorSymbolJSONTests {
    /// A network of every one of them, built with the Swift builders.
    static func network() throws -> Symbol {
        let data = Symbol.variable("data")
        var h = try Symbol.lrn(try Symbol.cast(data, name: "cast"), nsize: 3, alpha: 0.5, knorm: 1, name: "lrn")
        h = try Symbol.upSampling(h, scale: 2, name: "up")
        let parts = try Symbol.sliceChannel(h, numOutputs: 2, axis: 1, name: "slice")
        let t = try Symbol.transpose(parts[0], axes: [0, 1, 3, 2], name: "t")
        let scaled = try Symbol.broadcastMul(t, .variable("scale", shape: [1, 4, 1]), name: "mul")
        let shifted = try Symbol.broadcastSub(
            try Symbol.broadcastAdd(scaled, parts[1], name: "add"), .variable("shift"))
        let divided = try Symbol.broadcastDiv(shifted, .variable("div", shape: [4]), name: "div")
        let rows = try Symbol.sliceChannel(divided, numOutputs: 1, axis: 0, squeezeAxis: true, name: "rows")
        let embedded = try Symbol.embedding(data, inputDim: 3, outputDim: 2, name: "emb")
        return Symbol.group([rows, try Symbol.transpose(embedded, name: "embt")])
    }

    @Test func everyNewOperatorRoundTrips() throws {
        let net = try Self.network()
        let json = net.toJSON()
        let loaded = try Symbol.fromJSON(json)
        let shapes = ["data": [1, 2, 2, 2], "shift": [1]]
        try expectSameSymbol(net, loaded, shapes: shapes)
        #expect(loaded.toJSON() == json)
        #expect(loaded.listOutputs() == ["rows_output0", "embt_output"])
        #expect(try loaded.inferShape(shapes).outputs == [[1, 4, 4], [2, 2, 2, 2, 1]])

        // Bound to the same values, both give the same outputs.
        var rng = RandomGenerator(seed: 3)
        let values = try net.inferShape(shapes).args.map { shape in
            let a = NDArray(shape: shape)
            rng.fillUniform(a, low: 1, high: 2)
            return a
        }
        let outputs = try [net, loaded].map { symbol in
            let exec = try symbol.bind(args: values)
            exec.forward()
            return exec.outputs.map { $0.toArray() }
        }
        #expect(outputs[0] == outputs[1])
    }

    /// MXNet's own spelling of a file using the aliases: `broadcast_plus`, `broadcast_minus`,
    /// `split` (its outputs referred to by index) and `cast`.
    @Test func mxnetAliasesLoad() throws {
        let json = """
            {"nodes": [
              {"op": "null", "name": "a", "inputs": []},
              {"op": "null", "name": "b", "inputs": []},
              {"op": "split", "name": "s", "attrs": {"num_outputs": "2", "axis": "0"}, "inputs": [[0, 0, 0]]},
              {"op": "broadcast_plus", "name": "p", "inputs": [[2, 1, 0], [1, 0, 0]]},
              {"op": "broadcast_minus", "name": "m", "inputs": [[3, 0, 0], [2, 0, 0]]},
              {"op": "cast", "name": "c", "attrs": {"dtype": "float32"}, "inputs": [[4, 0, 0]]}
            ], "arg_nodes": [0, 1], "node_row_ptr": [0, 1, 2, 4, 5, 6, 7], "heads": [[5, 0, 0]],
            "attrs": {"mxnet_version": ["int", 10901]}}
            """
        let symbol = try Symbol.fromJSON(json)
        let exec = try symbol.bind(args: [NDArray([1, 2, 3, 4], shape: [2, 2]), NDArray([10, 20], shape: [2])])
        exec.forward()
        // (second row + b) − first row.
        #expect(exec.outputs[0].toArray() == [12, 22])
        // An output index the node does not have is refused.
        let bad = json.replacingOccurrences(of: "[[2, 1, 0], [1, 0, 0]]", with: "[[2, 2, 0], [1, 0, 0]]")
        #expect(throws: GraphError.self) { try Symbol.fromJSON(bad) }
    }
}
