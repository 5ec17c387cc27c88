import Foundation
import SwiftPSTensor
import Testing

@testable import SwiftPSGraph

/// Runs `body`, expecting a `GraphError`, and returns it (nil, with a recorded issue, otherwise).
func symbolTestError(_ body: () throws -> Void) -> GraphError? {
    do {
        try body()
        Issue.record("expected a GraphError, nothing was thrown")
    } catch let error as GraphError {
        return error
    } catch {
        Issue.record("expected a GraphError, got \(error)")
    }
    return nil
}

/// A two-layer FullyConnected graph: data → fc1 (num_hidden 5) → fc2 (num_hidden 2).
func symbolTestTwoLayerFC() throws -> Symbol {
    let fc1 = try Symbol.fullyConnected(.variable("data"), numHidden: 5, name: "fc1")
    return try Symbol.fullyConnected(fc1, numHidden: 2, name: "fc2")
}

@Suite("Symbol: naming and composition (FullyConnected only)")
struct SymbolTests {
    @Test func argumentsFollowMXNetNamingAndOrder() throws {
        let net = try symbolTestTwoLayerFC()
        #expect(net.listArguments() == ["data", "fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"])
        #expect(net.listOutputs() == ["fc2_output"])
        #expect(net.listAuxiliaryStates() == [])
        #expect(net.name == "fc2")
    }

    /// A network far too large for the machine (a symbol file's num_hidden of 10^12) is a bind error
    /// naming its largest array, not an allocation that kills the process. Gradient arrays count too.
    @Test func bindingMoreThanPhysicalMemoryIsAnErrorNamingTheLargestArray() throws {
        let (physical, limit) = MachineMemory.limit
        let hidden = Int(physical / 4 / 1000) + 1  // fc1_weight (hidden, 1000) alone is just too big
        let net = try Symbol.fullyConnected(.variable("data"), numHidden: hidden, name: "fc1")
        let error = symbolTestError { _ = try net.simpleBind(shapes: ["data": [1, 1000]], gradReq: .null) }
        guard case .bindError(let text)? = error else {
            Issue.record("expected a bind error, got \(String(describing: error))")
            return
        }
        #expect(text.contains("'fc1_weight' of shape (\(hidden), 1000)"), "\(text)")
        #expect(text.contains("more than \(limit)"), "\(text)")

        // Three fifths of the memory: fits alone, not with its gradient (only the check runs here).
        let count = Int(physical / 4 / 5 * 3)
        try net.checkFitsInMemory([("w", [count], false)])
        #expect(throws: GraphError.self) { try net.checkFitsInMemory([("w", [count], true)]) }
        // Counts that fit an Int but not as bytes saturate instead of trapping.
        #expect(throws: GraphError.self) { try net.checkFitsInMemory([("huge", [1 << 62], true), ("b", [1], false)]) }
    }

    /// A batch far too large for the machine, whose parameters are small, is a bind error naming the
    /// largest activation before any is allocated; without the check the process was killed while
    /// allocating them (lenet at a batch of 300,000 needs 85 GB).
    @Test func activationsMoreThanPhysicalMemoryAreAnErrorNamingTheLargestOutput() throws {
        let (physical, limit) = MachineMemory.limit
        let batch = Int(physical / 4 / 1000) + 1  // the output (batch, 1000) alone is just too big
        let fc = try Symbol.fullyConnected(.variable("data"), numHidden: 1000, name: "fc1")
        let net = try Symbol.activation(fc, actType: "relu", name: "relu1")
        for req in [GradReq.null, .write] {
            let error = symbolTestError { _ = try net.simpleBind(shapes: ["data": [batch, 1]], gradReq: req) }
            guard case .bindError(let text)? = error else {
                Issue.record("expected a bind error, got \(String(describing: error))")
                return
            }
            #expect(text.contains("output of 'fc1' of shape (\(batch), 1000)"), "\(text)")
            #expect(text.contains("more than \(limit)"), "\(text)")
            #expect(text.contains("lower the batch size"), "\(text)")
        }
        let exec = try net.simpleBind(shapes: ["data": [4, 1]], gradReq: .write)
        #expect(exec.outputs[0].shape == [4, 1000])
    }

    /// Operators' own buffers whose size follows the batch (a Dropout mask, max-pooling indices) are
    /// checked as they are made: too large for the machine is a bind error naming the buffer.
    @Test func operatorBuffersTooLargeForMemoryAreBindErrors() throws {
        let tooMany = Int(MachineMemory.limit.bytes / 4) + 1
        for make in [
            { _ = try Dropout(p: 0.5).makeInstance(OpCreationContext(inputShapes: [[tooMany]])) },
            { _ = try IndexBuffer(count: tooMany, for: "a max-pooling index buffer") },
        ] as [() throws -> Void] {
            let error = symbolTestError(make)
            guard case .bindError(let text)? = error else {
                Issue.record("expected a bind error, got \(String(describing: error))")
                continue
            }
            #expect(
                text.contains("more than \(MachineMemory.limit.description)") && text.hasSuffix("lower the batch size"),
                "\(text)")
        }
        let small = try IndexBuffer(count: 5, for: "indices")
        #expect((0..<5).allSatisfy { small.base[$0] == 0 })
        _ = try Dropout(p: 0.5).makeInstance(OpCreationContext(inputShapes: [[4, 3]]))
    }

    @Test func noBiasDropsTheBiasArgument() throws {
        let fc = try Symbol.fullyConnected(.variable("x"), numHidden: 3, noBias: true, name: "proj")
        #expect(fc.listArguments() == ["x", "proj_weight"])
        #expect(fc.attributeDictionary()["proj"]?["no_bias"] == "True")
    }

    @Test func unnamedNodesGetCountedLowercaseNames() throws {
        let names = try NameManager.withScope { () throws -> [String] in
            let a = try Symbol.fullyConnected(.variable("data"), numHidden: 4)
            let b = try Symbol.fullyConnected(a, numHidden: 2)
            return b.listArguments() + b.listOutputs()
        }
        #expect(
            names == [
                "data", "fullyconnected0_weight", "fullyconnected0_bias", "fullyconnected1_weight",
                "fullyconnected1_bias", "fullyconnected1_output",
            ])
        // A fresh scope starts counting again, so builds are reproducible.
        let again = try NameManager.withScope { try Symbol.fullyConnected(.variable("data"), numHidden: 1).name }
        #expect(again == "fullyconnected0")
    }

    @Test func givenInputsAreUsedAndSharedWeightsListedOnce() throws {
        let w = Symbol.variable("shared_w")
        let data = Symbol.variable("data")
        let a = try Symbol.operation(
            "FullyConnected", name: "a", inputs: [("data", data), ("weight", w)],
            attributes: ["num_hidden": "3", "no_bias": "True"])
        let b = try Symbol.operation(
            "FullyConnected", name: "b", inputs: ["weight": w, "data": a],
            attributes: ["num_hidden": "3", "no_bias": "True"])
        #expect(b.listArguments() == ["data", "shared_w"])
        let positional = try Symbol.operation(
            "FullyConnected", name: "c", arguments: [data, w], attributes: ["num_hidden": "2"])
        #expect(positional.listArguments() == ["data", "shared_w", "c_bias"])
    }

    @Test func badOperatorNamesAndInputsAreTypedErrors() throws {
        let unknown = symbolTestError { _ = try Symbol.operation("Conv3D", inputs: [("data", .variable("x"))]) }
        #expect(unknown == .unknownOperator("Conv3D"))
        let badInput = symbolTestError {
            _ = try Symbol.operation(
                "FullyConnected", name: "fc", inputs: [("gamma", .variable("x"))], attributes: ["num_hidden": "2"])
        }
        guard case .badAttribute(let op, let name, _, let reason) = badInput else {
            Issue.record("expected badAttribute, got \(String(describing: badInput))")
            return
        }
        #expect(op == "FullyConnected" && name == "gamma" && reason.contains("not an input"))
        let missingParam = symbolTestError { _ = try Symbol.operation("FullyConnected", inputs: []) }
        guard case .badAttribute(_, "num_hidden", _, _) = missingParam else {
            Issue.record("expected a num_hidden error, got \(String(describing: missingParam))")
            return
        }
        let twoOutputs = Symbol.group([.variable("a"), .variable("b")])
        let grouped = symbolTestError { _ = try Symbol.fullyConnected(twoOutputs, numHidden: 2) }
        #expect(grouped != nil)
    }

    @Test func groupInternalsAndOutputLookup() throws {
        let net = try symbolTestTwoLayerFC()
        let internals = net.internals
        #expect(
            internals.listOutputs() == [
                "data", "fc1_weight", "fc1_bias", "fc1_output", "fc2_weight", "fc2_bias", "fc2_output",
            ])
        let fc1 = try #require(internals.output(named: "fc1_output"))
        #expect(fc1.listArguments() == ["data", "fc1_weight", "fc1_bias"])
        let both = Symbol.group([fc1, net])
        #expect(both.listOutputs() == ["fc1_output", "fc2_output"])
        #expect(both.listArguments() == net.listArguments())
        #expect(internals.output(named: "nope") == nil)
    }
}

@Suite("Symbol: shape inference (FullyConnected only)")
struct SymbolInferShapeTests {
    @Test func shapesFlowThroughTwoLayers() throws {
        let net = try symbolTestTwoLayerFC()
        let (args, outputs, aux) = try net.inferShape(["data": [4, 3]])
        #expect(args == [[4, 3], [5, 3], [5], [2, 5], [2]])
        #expect(outputs == [[4, 2]])
        #expect(aux.isEmpty)
        let dict = try net.inferShapeDictionary(["data": [4, 3]])
        #expect(dict.args["fc2_weight"] == [2, 5])
        #expect(dict.outputs["fc2_output"] == [4, 2])
    }

    @Test func flattenFoldsTrailingAxes() throws {
        let fc = try Symbol.fullyConnected(.variable("data"), numHidden: 7, name: "fc")
        let (args, outputs, _) = try fc.inferShape(["data": [2, 1, 3, 4]])
        #expect(args[1] == [7, 12])
        #expect(outputs == [[2, 7]])
    }

    @Test func conflictingShapesNameTheNode() throws {
        let net = try symbolTestTwoLayerFC()
        let error = symbolTestError { _ = try net.inferShape(["data": [4, 3], "fc2_weight": [2, 4]]) }
        guard case .shapeError(let message) = error else {
            Issue.record("expected shapeError, got \(String(describing: error))")
            return
        }
        #expect(message.contains("fc2"))
    }

    @Test func missingDataShapeNamesTheNode() throws {
        let net = try symbolTestTwoLayerFC()
        let error = symbolTestError { _ = try net.inferShape([:]) }
        guard case .shapeError(let message) = error else {
            Issue.record("expected shapeError, got \(String(describing: error))")
            return
        }
        #expect(message.contains("fc1") && message.contains("data"))
    }

    @Test func variableShapeHintIsUsed() throws {
        let fc = try Symbol.fullyConnected(.variable("data", shape: [3, 8]), numHidden: 2, name: "fc")
        let (args, outputs, _) = try fc.inferShape([:])
        #expect(args == [[3, 8], [2, 8], [2]])
        #expect(outputs == [[3, 2]])
        #expect(try fc.inferShape(["data": [5, 8]]).outputs == [[5, 2]])
    }
}
