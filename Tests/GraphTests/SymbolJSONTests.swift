import Foundation
import Testing

@testable import SwiftPSGraph

/// A fresh empty directory for one test.
func symbolTestDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "swiftps-symbol-\(UInt64.random(in: 0...UInt64.max))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Checks that two symbols agree on arguments, outputs, aux states, attributes and inferred shapes.
func expectSameSymbol(_ a: Symbol, _ b: Symbol, shapes: [String: [Int]]) throws {
    #expect(a.listArguments() == b.listArguments())
    #expect(a.listOutputs() == b.listOutputs())
    #expect(a.listAuxiliaryStates() == b.listAuxiliaryStates())
    #expect(a.attributeDictionary() == b.attributeDictionary())
    let sa = try a.inferShape(shapes)
    let sb = try b.inferShape(shapes)
    #expect(sa.args == sb.args && sa.outputs == sb.outputs && sa.aux == sb.aux)
}

@Suite("Symbol JSON (FullyConnected only)")
struct SymbolJSONTests {
    @Test func roundTripKeepsEverything() throws {
        let fc1 = try Symbol.fullyConnected(
            .variable("data", attributes: ["__lr_mult__": "0.5"]), numHidden: 5, name: "fc1")
        let net = try Symbol.fullyConnected(fc1, numHidden: 2, noBias: true, name: "fc2")
        let text = net.toJSON()
        let loaded = try Symbol.fromJSON(text)
        try expectSameSymbol(net, loaded, shapes: ["data": [4, 3]])
        #expect(loaded.toJSON() == text)
        #expect(loaded.attributeDictionary()["data"] == ["__lr_mult__": "0.5"])
    }

    @Test func writesMXNetLayout() throws {
        let net = try symbolTestTwoLayerFC()
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(net.toJSON().utf8)) as? [String: Any])
        let nodes = try #require(object["nodes"] as? [[String: Any]])
        #expect(
            nodes.map { $0["name"] as? String } == [
                "data", "fc1_weight", "fc1_bias", "fc1", "fc2_weight", "fc2_bias", "fc2",
            ])
        #expect(nodes[0]["op"] as? String == "null")
        #expect(nodes[0]["attrs"] == nil)
        #expect(nodes[3]["op"] as? String == "FullyConnected")
        #expect(nodes[3]["attrs"] as? [String: String] == ["num_hidden": "5", "no_bias": "False", "flatten": "True"])
        #expect(nodes[3]["inputs"] as? [[Int]] == [[0, 0, 0], [1, 0, 0], [2, 0, 0]])
        #expect(object["arg_nodes"] as? [Int] == [0, 1, 2, 4, 5])
        #expect(object["node_row_ptr"] as? [Int] == [0, 1, 2, 3, 4, 5, 6, 7])
        #expect(object["heads"] as? [[Int]] == [[6, 0, 0]])
        let attrs = try #require(object["attrs"] as? [String: Any])
        let version = try #require(attrs["mxnet_version"] as? [Any])
        #expect(version.first as? String == "int" && version.last as? Int == 10901)
    }

    /// Written the way MXNet 1.x's `tojson()` prints an FC network, hint attributes included.
    static let mxnetStyle = """
        {
          "nodes": [
            {
              "op": "null", 
              "name": "data", 
              "attrs": {"__shape__": "(0, 784)"}, 
              "inputs": []
            }, 
            {
              "op": "null", 
              "name": "fc1_weight", 
              "attrs": {
                "__init__": "[\\"xavier\\", {\\"magnitude\\": 2}]", 
                "__lr_mult__": "2.0", 
                "num_hidden": "128"
              }, 
              "inputs": []
            }, 
            {
              "op": "null", 
              "name": "fc1_bias", 
              "attrs": {"num_hidden": "128"}, 
              "inputs": []
            }, 
            {
              "op": "FullyConnected", 
              "name": "fc1", 
              "attrs": {"num_hidden": "128", "flatten": "True"}, 
              "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]
            }, 
            {
              "op": "null", 
              "name": "fc2_weight", 
              "attrs": {"no_bias": "True", "num_hidden": "10"}, 
              "inputs": []
            }, 
            {
              "op": "FullyConnected", 
              "name": "fc2", 
              "attrs": {"no_bias": "True", "num_hidden": "10"}, 
              "inputs": [[3, 0, 0], [4, 0, 0]]
            }
          ], 
          "arg_nodes": [0, 1, 2, 4], 
          "node_row_ptr": [0, 1, 2, 3, 4, 5, 6], 
          "heads": [[5, 0, 0]], 
          "attrs": {"mxnet_version": ["int", 10901]}
        }
        """

    @Test func loadsMXNetStyleText() throws {
        let net = try Symbol.fromJSON(Self.mxnetStyle)
        #expect(net.listArguments() == ["data", "fc1_weight", "fc1_bias", "fc2_weight"])
        #expect(net.listOutputs() == ["fc2_output"])
        let (args, outputs, _) = try net.inferShape(["data": [32, 784]])
        #expect(args == [[32, 784], [128, 784], [128], [10, 128]])
        #expect(outputs == [[32, 10]])
        #expect(net.attributeDictionary()["fc1_weight"]?["__lr_mult__"] == "2.0")
        // "(0, 784)" has an unknown batch dimension: the hint alone cannot give the shape.
        #expect(symbolTestError { _ = try net.inferShape([:]) } != nil)
    }

    @Test func loadsLegacyKeysAndTwoElementInputs() throws {
        let text = """
            {"nodes": [
              {"op": "null", "name": "x", "attr": {"__shape__": "(2, 6)"}, "inputs": []},
              {"op": "null", "name": "fc_weight", "inputs": []},
              {"op": "null", "name": "fc_bias", "inputs": []},
              {"op": "FullyConnected", "name": "fc", "param": {"num_hidden": "3", "no_bias": "False"},
               "attr": {"__lr_mult__": "1"}, "inputs": [[0, 0], [1, 0], [2, 0]], "backward_source_id": -1}
            ], "arg_nodes": [0, 1, 2], "heads": [[3, 0]]}
            """
        let net = try Symbol.fromJSON(text)
        #expect(net.listArguments() == ["x", "fc_weight", "fc_bias"])
        #expect(net.attributeDictionary()["fc"] == ["num_hidden": "3", "no_bias": "False", "__lr_mult__": "1"])
        let (args, outputs, _) = try net.inferShape([:])
        #expect(args == [[2, 6], [3, 6], [3]])
        #expect(outputs == [[2, 3]])
    }

    @Test func malformedJSONIsBadJSON() throws {
        let cases = [
            "", "not json", "[1, 2]", "{\"heads\": [[0, 0, 0]]}",
            "{\"nodes\": [{\"op\": \"null\"}], \"heads\": [[0, 0, 0]]}",
            "{\"nodes\": [{\"op\": \"null\", \"name\": \"x\", \"inputs\": []}], \"heads\": [[3, 0, 0]]}",
            "{\"nodes\": [{\"op\": \"null\", \"name\": \"x\", \"inputs\": []}], \"heads\": [[0, 1, 0]]}",
            "{\"nodes\": [{\"op\": \"null\", \"name\": \"x\", \"inputs\": []}], \"heads\": [[0]]}",
            "{\"nodes\": [{\"op\": \"null\", \"name\": \"x\", \"inputs\": []}]}",
            "{\"nodes\": [{\"op\": \"null\", \"name\": \"x\", \"attrs\": {\"a\": [1]}, \"inputs\": []}], \"heads\": [[0, 0, 0]]}",
            "{\"nodes\": [{\"op\": \"null\", \"name\": \"x\", \"attrs\": {\"__shape__\": \"(a, b)\"}, \"inputs\": []}], \"heads\": [[0, 0, 0]]}",
            // An input pointing forward (not topologically sorted).
            "{\"nodes\": [{\"op\": \"FullyConnected\", \"name\": \"f\", \"attrs\": {\"num_hidden\": \"2\"}, "
                + "\"inputs\": [[1, 0, 0], [1, 0, 0], [1, 0, 0]]}, {\"op\": \"null\", \"name\": \"x\", \"inputs\": []}], "
                + "\"heads\": [[0, 0, 0]]}",
            // Wrong number of inputs for FullyConnected.
            "{\"nodes\": [{\"op\": \"null\", \"name\": \"x\", \"inputs\": []}, {\"op\": \"FullyConnected\", "
                + "\"name\": \"f\", \"attrs\": {\"num_hidden\": \"2\"}, \"inputs\": [[0, 0, 0]]}], \"heads\": [[1, 0, 0]]}",
        ]
        for text in cases {
            let error = symbolTestError { _ = try Symbol.fromJSON(text) }
            guard case .badJSON = error else {
                Issue.record("expected badJSON for \(text), got \(String(describing: error))")
                continue
            }
        }
    }

    @Test func unknownOperatorNamesOperatorAndNode() throws {
        let text = """
            {"nodes": [{"op": "null", "name": "x", "inputs": []},
                       {"op": "CTCLoss", "name": "ctc1", "attrs": {"blank_label": "first"}, "inputs": [[0, 0, 0]]}],
             "arg_nodes": [0], "node_row_ptr": [0, 1, 2], "heads": [[1, 0, 0]]}
            """
        let error = symbolTestError { _ = try Symbol.fromJSON(text) }
        guard case .unknownOperator(let message) = error else {
            Issue.record("expected unknownOperator, got \(String(describing: error))")
            return
        }
        #expect(message.contains("CTCLoss") && message.contains("ctc1"))
    }

    /// MXNet refuses an attribute its operator does not take ("Cannot find argument 'nobias'"), so a
    /// misspelt one never silently leaves a default in force; `__hint__` keys and the attributes MXNet
    /// takes that change nothing here (`workspace`, `cudnn_tune`) load.
    @Test func unknownAttributesAreRefusedNamingNodeAndTheKnownOnes() throws {
        func net(_ fcAttributes: String) -> String {
            """
            {"nodes": [{"op": "null", "name": "x", "inputs": []},
                       {"op": "null", "name": "fc1_weight", "inputs": []},
                       {"op": "null", "name": "fc1_bias", "inputs": []},
                       {"op": "FullyConnected", "name": "fc1", "attrs": {\(fcAttributes)},
                        "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]}],
             "arg_nodes": [0, 1, 2], "node_row_ptr": [0, 1, 2, 3, 4], "heads": [[3, 0, 0]]}
            """
        }
        let error = symbolTestError { _ = try Symbol.fromJSON(net(#""num_hidden": "4", "nobias": "True""#)) }
        guard case .badAttribute(let op, let name, let value, let reason) = error else {
            Issue.record("expected badAttribute, got \(String(describing: error))")
            return
        }
        #expect(op == "FullyConnected" && name == "nobias" && value == "True")
        #expect(
            reason.contains("num_hidden, no_bias, flatten") && reason.contains("did you mean no_bias?"), "\(reason)")
        #expect(reason.contains("node 'fc1'"), "\(reason)")
        let far = symbolTestError { _ = try Symbol.fromJSON(net(#""num_hidden": "4", "colour": "red""#)) }
        guard case .badAttribute(_, "colour", _, let farReason) = far else {
            Issue.record("expected badAttribute for colour, got \(String(describing: far))")
            return
        }
        #expect(!farReason.contains("did you mean"), "\(farReason)")
        let hinted = try Symbol.fromJSON(net(#""num_hidden": "4", "__ctx_group__": "dev1", "__lr_mult__": "2""#))
        #expect(try hinted.inferShape(["x": [2, 3]]).outputs == [[2, 4]])
        let conv = """
            {"nodes": [{"op": "null", "name": "x", "inputs": []}, {"op": "null", "name": "c_weight", "inputs": []},
                       {"op": "Convolution", "name": "c",
                        "attrs": {"kernel": "(3, 3)", "num_filter": "2", "workspace": "512", "cudnn_tune": "off",
                                  "cudnn_off": "True", "layout": "NCHW", "no_bias": "True"},
                        "inputs": [[0, 0, 0], [1, 0, 0]]}],
             "arg_nodes": [0, 1], "node_row_ptr": [0, 1, 2, 3], "heads": [[2, 0, 0]]}
            """
        #expect(try Symbol.fromJSON(conv).inferShape(["x": [1, 1, 5, 5]]).outputs == [[1, 2, 3, 3]])
        let composed = symbolTestError {
            _ = try Symbol.operation("Flatten", inputs: [("data", .variable("x"))], attributes: ["axis": "1"])
        }
        guard case .badAttribute("Flatten", "axis", _, let flattenReason) = composed else {
            Issue.record("expected badAttribute for Flatten's axis, got \(String(describing: composed))")
            return
        }
        #expect(flattenReason.contains("takes no attributes"), "\(flattenReason)")
    }

    /// What an operator writes into symbol JSON it must take back: every key of `attributes` is one of
    /// its `attributeNames` (else a saved model would not load).
    @Test func everyOperatorTakesTheAttributesItWrites() throws {
        let samples: [String: [String: String]] = [
            "FullyConnected": ["num_hidden": "3"], "Convolution": ["kernel": "(3, 3)", "num_filter": "2"],
            "Deconvolution": ["kernel": "(3, 3)", "num_filter": "2", "target_shape": "(8, 8)", "num_group": "2"],
            "Pooling": ["kernel": "(2, 2)"], "Activation": ["act_type": "relu"], "Concat": ["num_args": "2"],
            "Reshape": ["shape": "(-1, 4)", "reverse": "True"], "clip": ["a_min": "-1", "a_max": "1"],
            "add_n": ["num_args": "2"],
            "_plus_scalar": ["scalar": "1"], "_minus_scalar": ["scalar": "1"], "_rminus_scalar": ["scalar": "1"],
            "_mul_scalar": ["scalar": "1"], "_div_scalar": ["scalar": "1"], "_rdiv_scalar": ["scalar": "1"],
            "SliceChannel": ["num_outputs": "2"], "Embedding": ["input_dim": "3", "output_dim": "2"],
            "LRN": ["nsize": "3"], "Cast": ["dtype": "float32"],
            "UpSampling": ["scale": "2", "sample_type": "nearest", "num_args": "1"],
            "expand_dims": ["axis": "1"], "broadcast_axis": ["axis": "(1,)", "size": "(2,)"],
            "broadcast_to": ["shape": "(0, 2)"], "slice_axis": ["axis": "1", "begin": "0", "end": "None"],
            "slice": ["begin": "(None, 1)", "end": "(2, None)", "step": "(None, -1)"], "reverse": ["axis": "(0, 1)"],
            "tile": ["reps": "(2, 1)"], "repeat": ["repeats": "2", "axis": "-1"],
            "stack": ["num_args": "2", "axis": "1"],
            "one_hot": ["depth": "3", "on_value": "2.5", "off_value": "-1"], "take": ["axis": "-1", "mode": "wrap"],
            "pick": ["axis": "0", "keepdims": "True"],
            "RNN": [
                "state_size": "3", "num_layers": "2", "mode": "lstm", "bidirectional": "True", "p": "0.2",
                "state_outputs": "True",
            ],
        ]
        for (name, type) in OperatorRegistry.types {
            let op = try OperatorRegistry.make(name, attributes: samples[type.typeName] ?? [:])
            let written = Set(op.attributes.keys)
            #expect(written.isSubset(of: type.attributeNames), "\(name) writes \(written.sorted())")
            #expect(try OperatorRegistry.make(name, attributes: op.attributes).attributes == op.attributes)
        }
    }

    @Test func saveAndLoadFile() throws {
        let dir = try symbolTestDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let net = try symbolTestTwoLayerFC()
        let path = dir + "/model-symbol.json"
        try net.save(to: path)
        try net.save(to: path)  // Replacing an existing file works too.
        let loaded = try Symbol.load(from: path)
        try expectSameSymbol(net, loaded, shapes: ["data": [2, 3]])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["model-symbol.json"])
        #expect(throws: SymbolFileError.self) { try net.save(to: dir + "/missing/dir/x.json") }
        #expect(throws: SymbolFileError.self) { _ = try Symbol.load(from: dir + "/absent.json") }
    }

    /// A file that is not a symbol: the error names the file and what is wrong with its content.
    @Test func loadingAMalformedFileNamesIt() throws {
        let dir = try symbolTestDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/cut-symbol.json"
        try Data("{\"nodes\": [".utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try Symbol.load(from: path)
            Issue.record("a cut symbol file must not load")
        } catch let error as SymbolFileError {
            guard case .cannotRead(let named, let reason) = error else {
                Issue.record("expected cannotRead, got \(error)")
                return
            }
            #expect(named == path)
            #expect(reason.contains("not valid JSON") && reason.contains("end of file"), "\(reason)")
        }
    }
}
