import Testing

@testable import SwiftPSGraph
@testable import SwiftPSTensor

/// The hooks the Module uses to overlap communication: wait for a weight right before its first
/// use in forward; push a gradient as soon as it is final in backward.
@Suite struct ExecutorHookTests {
    func bound() throws -> Executor {
        let data = Symbol.variable("data")
        let fc1 = try Symbol.fullyConnected(data, numHidden: 4, name: "fc1")
        let act = try Symbol.activation(fc1, actType: "tanh", name: "t1")
        let fc2 = try Symbol.fullyConnected(act, numHidden: 3, name: "fc2")
        let net = try Symbol.softmaxOutput(fc2, name: "softmax")
        let exec = try net.simpleBind(shapes: ["data": [5, 6], "softmax_label": [5]], gradReq: .write)
        var rng = RandomGenerator(seed: 4)
        for (name, a) in exec.argDict where name != "softmax_label" { rng.fillUniform(a, low: -1, high: 1) }
        for i in 0..<5 { exec.argDict["softmax_label"]![flat: i] = Float(i % 3) }
        return exec
    }

    @Test func forwardAnnouncesEachArgumentBeforeItsFirstUse() throws {
        let exec = try bound()
        var order: [String] = []
        var fc2OutputAtFc2Weight: [Float] = []
        exec.forward(isTrain: true) { name in
            order.append(name)
            if name == "fc2_weight" { fc2OutputAtFc2Weight = exec.outputs[0].toArray() }
        }
        #expect(order == ["data", "fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias", "softmax_label"])
        // When fc2_weight is announced, the softmax output of this pass is not computed yet.
        #expect(fc2OutputAtFc2Weight.allSatisfy { $0 == 0 })
    }

    @Test func backwardAnnouncesEachGradientWhenFinalLastLayerFirst() throws {
        let exec = try bound()
        exec.forward(isTrain: true)
        var order: [String] = []
        var snapshots: [String: [Float]] = [:]
        try exec.backward(outGrads: nil) { name in
            order.append(name)
            snapshots[name] = exec.gradDict[name]!.toArray()
        }
        // simpleBind(.write) also gives the data a gradient; labels never get one.
        #expect(order == ["fc2_weight", "fc2_bias", "data", "fc1_weight", "fc1_bias"])
        for (name, values) in snapshots {
            #expect(values == exec.gradDict[name]!.toArray(), "\(name) changed after it was announced")
        }
    }
}
