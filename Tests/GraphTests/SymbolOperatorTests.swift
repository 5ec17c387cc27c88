import Foundation
import Testing

@testable import SwiftPSGraph

/// True when every named operator is registered (they arrive with the operators branch).
func symbolTestHasOperators(_ names: [String]) -> Bool {
    names.allSatisfy { OperatorRegistry.types[$0] != nil }
}

/// The operators the mlp, lenet and BatchNorm tests below need.
let symbolTestModelOperators = [
    "FullyConnected", "Activation", "Convolution", "Pooling", "Flatten", "SoftmaxOutput", "BatchNorm",
]

/// Needs Activation, Convolution, Pooling, Flatten, SoftmaxOutput and BatchNorm: skipped until the
/// operators branch is merged, then run as part of GraphTests.
@Suite(
    "Symbol with the other operators (after merge)",
    .enabled(if: symbolTestHasOperators(symbolTestModelOperators), "needs the operators branch"))
struct SymbolOperatorTests {
    @Test func mlpNamesMatchMXNet() throws {
        let mlp = try Models.mlp(numClasses: 10, hidden: [128, 64])
        #expect(
            mlp.listArguments() == [
                "data", "fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias", "fc3_weight", "fc3_bias", "softmax_label",
            ])
        #expect(mlp.listOutputs() == ["softmax_output"])
        #expect(mlp.listAuxiliaryStates() == [])
        let internals = mlp.internals.listOutputs()
        #expect(internals.contains("relu1_output") && internals.contains("relu2_output"))
    }

    @Test func mlpShapes() throws {
        let mlp = try Models.mlp()
        let (args, outputs, aux) = try mlp.inferShape(["data": [32, 784]])
        #expect(args == [[32, 784], [128, 784], [128], [64, 128], [64], [10, 64], [10], [32]])
        #expect(outputs == [[32, 10]])
        #expect(aux.isEmpty)
    }

    @Test func lenetShapesWorkedOutByHand() throws {
        let lenet = try Models.lenet(numClasses: 10)
        #expect(
            lenet.listArguments() == [
                "data", "conv1_weight", "conv1_bias", "conv2_weight", "conv2_bias", "fc1_weight", "fc1_bias",
                "fc2_weight", "fc2_bias", "softmax_label",
            ])
        let dict = try lenet.inferShapeDictionary(["data": [8, 1, 28, 28]])
        #expect(dict.args["conv1_weight"] == [20, 1, 5, 5])
        #expect(dict.args["conv2_weight"] == [50, 20, 5, 5])
        #expect(dict.args["fc1_weight"] == [500, 800])
        #expect(dict.args["fc2_weight"] == [10, 500])
        #expect(dict.args["softmax_label"] == [8])
        #expect(dict.outputs == ["softmax_output": [8, 10]])
        // (N,1,28,28) → conv (N,20,24,24) → pool (N,20,12,12) → conv (N,50,8,8) → pool (N,50,4,4) → 800.
        let inner = try lenet.internals.inferShapeDictionary(["data": [8, 1, 28, 28]]).outputs
        #expect(inner["conv1_output"] == [8, 20, 24, 24])
        #expect(inner["pool1_output"] == [8, 20, 12, 12])
        #expect(inner["conv2_output"] == [8, 50, 8, 8])
        #expect(inner["pool2_output"] == [8, 50, 4, 4])
        #expect(inner["flatten_output"] == [8, 800])
        #expect(inner["fc1_output"] == [8, 500])
        #expect(inner["fc2_output"] == [8, 10])
    }

    @Test func modelsRoundTripThroughJSON() throws {
        let dir = try symbolTestDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (model, shapes) in [
            (try Models.mlp(), ["data": [4, 784]]), (try Models.lenet(), ["data": [2, 1, 28, 28]]),
        ] {
            let path = dir + "/model-symbol.json"
            try model.save(to: path)
            let loaded = try Symbol.load(from: path)
            try expectSameSymbol(model, loaded, shapes: shapes)
            #expect(loaded.toJSON() == model.toJSON())
        }
    }

    @Test func batchNormNamesAuxStates() throws {
        let fc = try Symbol.fullyConnected(.variable("data"), numHidden: 4, name: "fc1")
        let bn = try Symbol.operation("BatchNorm", name: "bn1", inputs: [("data", fc)], attributes: ["eps": "0.001"])
        #expect(bn.listArguments() == ["data", "fc1_weight", "fc1_bias", "bn1_gamma", "bn1_beta"])
        #expect(bn.listAuxiliaryStates() == ["bn1_moving_mean", "bn1_moving_var"])
        let (_, _, aux) = try bn.inferShape(["data": [3, 6]])
        #expect(aux == [[4], [4]])
        let loaded = try Symbol.fromJSON(bn.toJSON())
        #expect(loaded.listAuxiliaryStates() == ["bn1_moving_mean", "bn1_moving_var"])
        #expect(loaded.listArguments() == bn.listArguments())
    }

    /// A small convolutional net written exactly as MXNet 1.x's `tojson()` prints it: `attrs`
    /// strings such as "(5, 5)" and "True", BatchNorm with its auxiliary inputs listed, and variables
    /// whose auxiliary role only shows in which slot they feed.
    static let mxnetConvJSON = """
        {
          "nodes": [
            {
              "op": "null", 
              "name": "data", 
              "inputs": []
            }, 
            {
              "op": "null", 
              "name": "conv1_weight", 
              "attrs": {
                "kernel": "(5, 5)", 
                "no_bias": "True", 
                "num_filter": "20"
              }, 
              "inputs": []
            }, 
            {
              "op": "Convolution", 
              "name": "conv1", 
              "attrs": {
                "kernel": "(5, 5)", 
                "no_bias": "True", 
                "num_filter": "20"
              }, 
              "inputs": [[0, 0, 0], [1, 0, 0]]
            }, 
            {
              "op": "null", 
              "name": "bn1_gamma", 
              "attrs": {"fix_gamma": "False"}, 
              "inputs": []
            }, 
            {
              "op": "null", 
              "name": "bn1_beta", 
              "attrs": {"fix_gamma": "False"}, 
              "inputs": []
            }, 
            {
              "op": "null", 
              "name": "bn1_moving_mean", 
              "attrs": {
                "__init__": "[\\"zero\\", {}]", 
                "fix_gamma": "False"
              }, 
              "inputs": []
            }, 
            {
              "op": "null", 
              "name": "bn1_moving_var", 
              "attrs": {
                "__init__": "[\\"one\\", {}]", 
                "fix_gamma": "False"
              }, 
              "inputs": []
            }, 
            {
              "op": "BatchNorm", 
              "name": "bn1", 
              "attrs": {"fix_gamma": "False"}, 
              "inputs": [[2, 0, 0], [3, 0, 0], [4, 0, 0], [5, 0, 0], [6, 0, 0]]
            }, 
            {
              "op": "Activation", 
              "name": "relu1", 
              "attrs": {"act_type": "relu"}, 
              "inputs": [[7, 0, 0]]
            }, 
            {
              "op": "Pooling", 
              "name": "pool1", 
              "attrs": {
                "global_pool": "True", 
                "kernel": "(1, 1)", 
                "pool_type": "avg"
              }, 
              "inputs": [[8, 0, 0]]
            }, 
            {
              "op": "Flatten", 
              "name": "flatten0", 
              "inputs": [[9, 0, 0]]
            }, 
            {
              "op": "null", 
              "name": "fc1_weight", 
              "attrs": {"num_hidden": "10"}, 
              "inputs": []
            }, 
            {
              "op": "null", 
              "name": "fc1_bias", 
              "attrs": {"num_hidden": "10"}, 
              "inputs": []
            }, 
            {
              "op": "FullyConnected", 
              "name": "fc1", 
              "attrs": {"num_hidden": "10"}, 
              "inputs": [[10, 0, 0], [11, 0, 0], [12, 0, 0]]
            }, 
            {
              "op": "null", 
              "name": "softmax_label", 
              "inputs": []
            }, 
            {
              "op": "SoftmaxOutput", 
              "name": "softmax", 
              "inputs": [[13, 0, 0], [14, 0, 0]]
            }
          ], 
          "arg_nodes": [0, 1, 3, 4, 5, 6, 11, 12, 14], 
          "node_row_ptr": [0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17, 18], 
          "heads": [[15, 0, 0]], 
          "attrs": {"mxnet_version": ["int", 10901]}
        }
        """

    @Test func loadsMXNetConvolutionalJSON() throws {
        let net = try Symbol.fromJSON(Self.mxnetConvJSON)
        #expect(
            net.listArguments() == [
                "data", "conv1_weight", "bn1_gamma", "bn1_beta", "fc1_weight", "fc1_bias", "softmax_label",
            ])
        #expect(net.listAuxiliaryStates() == ["bn1_moving_mean", "bn1_moving_var"])
        #expect(net.listOutputs() == ["softmax_output"])
        let dict = try net.inferShapeDictionary(["data": [2, 3, 12, 12]])
        #expect(dict.args["conv1_weight"] == [20, 3, 5, 5])
        #expect(dict.args["bn1_gamma"] == [20])
        #expect(dict.aux["bn1_moving_var"] == [20])
        #expect(dict.args["fc1_weight"] == [10, 20])
        #expect(dict.outputs["softmax_output"] == [2, 10])
    }
}
