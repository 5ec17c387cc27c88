import SwiftPSTensor
import Testing

@testable import SwiftPSGraph

/// FullyConnected without bias, named, on `data`, with an explicit weight variable `<name>_weight`.
private func linear(_ data: Symbol, _ hidden: Int, _ name: String, weight: Symbol? = nil) throws -> Symbol {
    var inputs = [("data", data)]
    if let weight { inputs.append(("weight", weight)) }
    return try Symbol.operation(
        "FullyConnected", name: name, inputs: inputs, attributes: ["num_hidden": String(hidden), "no_bias": "True"])
}

/// x (1×2) feeds `a` (2 hidden) and `d` (1 hidden); `a`'s output feeds `b` and `c` (1 hidden each).
/// Outputs are [b, c, d]; see `fanOutGradientsAreSummed` for the values.
private func fanOutGraph() throws -> (Symbol, args: [String: NDArray]) {
    let x = Symbol.variable("x")
    let a = try linear(x, 2, "a")
    let net = Symbol.group([try linear(a, 1, "b"), try linear(a, 1, "c"), try linear(x, 1, "d")])
    let args: [String: NDArray] = [
        "x": NDArray([1, 2], shape: [1, 2]),
        "a_weight": NDArray([1, 0, 1, 1], shape: [2, 2]),
        "b_weight": NDArray([2, 1], shape: [1, 2]),
        "c_weight": NDArray([-1, 3], shape: [1, 2]),
        "d_weight": NDArray([1, 1], shape: [1, 2]),
    ]
    return (net, args)
}

private func zerosLike(_ args: [String: NDArray]) -> [String: NDArray] {
    args.mapValues { NDArray(shape: $0.shape) }
}

@Suite("Executor (FullyConnected only)")
struct ExecutorTests {
    @Test func forwardMatchesHandValues() throws {
        let fc1 = try Symbol.fullyConnected(.variable("data"), numHidden: 3, name: "fc1")
        let net = try Symbol.fullyConnected(fc1, numHidden: 1, noBias: true, name: "fc2")
        let exec = try net.bind(args: [
            "data": NDArray([1, 2, 3, 4], shape: [2, 2]),
            "fc1_weight": NDArray([1, 2, 3, 4, 5, 6], shape: [3, 2]),
            "fc1_bias": NDArray([0.5, -1, 2]),
            "fc2_weight": NDArray([1, -1, 0.5], shape: [1, 3]),
        ])
        exec.forward()
        // fc1: [1,2]·Wᵀ + b = [5.5, 10, 19]; [3,4]·Wᵀ + b = [11.5, 24, 41]; fc2 = 5.5 - 10 + 9.5 etc.
        #expect(exec.outputs.count == 1)
        #expect(exec.outputs[0].shape == [2, 1])
        #expect(exec.outputs[0].toArray() == [5, 8])
        #expect(exec.outputDict["fc2_output"] === exec.outputs[0])
        // New data written into the bound array is used by the next forward.
        exec.argDict["data"]!.fill(0)
        exec.forward()
        #expect(exec.outputs[0].toArray() == [2.5, 2.5] as [Float])  // bias only: 0.5 + 1 + 1
    }

    @Test func fanOutGradientsAreSummed() throws {
        let (net, args) = try fanOutGraph()
        let exec = try net.bind(args: args, argGrads: zerosLike(args))
        exec.forward(isTrain: true)
        // h = a(x) = [1, 3]; b = 2·1 + 1·3 = 5; c = -1 + 9 = 8; d = 1 + 2 = 3.
        #expect(exec.outputs.map { $0.toArray() } == [[5], [8], [3]])
        let heads = [NDArray([1], shape: [1, 1]), NDArray([2], shape: [1, 1]), NDArray([4], shape: [1, 1])]
        for _ in 0..<2 {  // Twice: write requests must not accumulate across steps.
            try exec.backward(outGrads: heads)
            // dh = 1·[2, 1] + 2·[-1, 3] = [0, 7]; dWa = dhᵀ·x; dx = Waᵀ·dh + 4·[1, 1] = [11, 11].
            #expect(exec.gradDict["a_weight"]!.toArray() == [0, 0, 7, 14])
            #expect(exec.gradDict["b_weight"]!.toArray() == [1, 3])
            #expect(exec.gradDict["c_weight"]!.toArray() == [2, 6])
            #expect(exec.gradDict["d_weight"]!.toArray() == [4, 8])
            #expect(exec.gradDict["x"]!.toArray() == [11, 11])
        }
    }

    @Test func gradReqAddAccumulates() throws {
        let (net, args) = try fanOutGraph()
        var grads = zerosLike(args)
        grads["b_weight"] = NDArray([10, 10], shape: [1, 2])
        let exec = try net.bind(
            args: args, argGrads: grads, gradReqs: ["b_weight": .add, "x": .add, "a_weight": .write])
        #expect(exec.gradReqs["c_weight"] == .write && exec.gradReqs["x"] == .add)
        let heads = [NDArray([1], shape: [1, 1]), NDArray([2], shape: [1, 1]), NDArray([4], shape: [1, 1])]
        exec.forward(isTrain: true)
        try exec.backward(outGrads: heads)
        #expect(exec.gradDict["b_weight"]!.toArray() == [11, 13])
        #expect(exec.gradDict["x"]!.toArray() == [11, 11])
        try exec.backward(outGrads: heads)
        #expect(exec.gradDict["b_weight"]!.toArray() == [12, 16])
        #expect(exec.gradDict["x"]!.toArray() == [22, 22])
        #expect(exec.gradDict["a_weight"]!.toArray() == [0, 0, 7, 14])
    }

    @Test func defaultHeadGradientIsOnes() throws {
        let (net, args) = try fanOutGraph()
        let exec = try net.bind(args: args, argGrads: zerosLike(args))
        exec.forward(isTrain: true)
        try exec.backward()
        // dh = [2, 1] + [-1, 3] = [1, 4]; dx = Waᵀ·dh + [1, 1] = [1 + 4, 4] + [1, 1].
        #expect(exec.gradDict["x"]!.toArray() == [6, 5])
        #expect(exec.gradDict["a_weight"]!.toArray() == [1, 2, 4, 8])
    }

    @Test func backwardMatchesFiniteDifferences() throws {
        // Two layers with a shared input (x feeds fc1 and fc3) and a weight shared by fc2 and fc4,
        // both of which read fc1's output.
        let x = Symbol.variable("x")
        let shared = Symbol.variable("shared")
        let a = try Symbol.fullyConnected(x, numHidden: 5, name: "fc1")
        let b = try Symbol.operation(
            "FullyConnected", name: "fc2", inputs: [("data", a), ("weight", shared)], attributes: ["num_hidden": "2"])
        let d = try linear(a, 2, "fc4", weight: shared)
        let c = try Symbol.fullyConnected(x, numHidden: 2, name: "fc3")
        let net = Symbol.group([b, c, d])
        #expect(
            net.listArguments() == ["x", "fc1_weight", "fc1_bias", "shared", "fc2_bias", "fc3_weight", "fc3_bias"])

        var rng = RandomGenerator(seed: 7)
        let exec = try net.simpleBind(shapes: ["x": [3, 4]], gradReq: .write)
        for array in exec.argArrays { rng.fillUniform(array, low: -1, high: 1) }
        let heads = exec.outputs.map { out -> NDArray in
            let g = NDArray(shape: out.shape)
            rng.fillUniform(g, low: -1, high: 1)
            return g
        }
        func loss() -> Double {
            exec.forward()
            var total = 0.0
            for (out, g) in zip(exec.outputs, heads) {
                for i in 0..<out.count { total += Double(out[flat: i]) * Double(g[flat: i]) }
            }
            return total
        }
        exec.forward(isTrain: true)
        try exec.backward(outGrads: heads)
        let analytic = exec.gradArrays.map { $0!.copy() }
        let eps: Float = 1e-2
        for (arg, (array, grad)) in zip(net.listArguments(), zip(exec.argArrays, analytic)) {
            for i in 0..<array.count {
                let saved = array[flat: i]
                array[flat: i] = saved + eps
                let up = loss()
                array[flat: i] = saved - eps
                let down = loss()
                array[flat: i] = saved
                let numeric = (up - down) / Double(2 * eps)
                let g = Double(grad[flat: i])
                #expect(abs(numeric - g) <= 2e-3 * max(1, abs(g)), "\(arg)[\(i)]: numeric \(numeric), analytic \(g)")
            }
        }
    }

    @Test func dataWithoutGradientGetsNone() throws {
        let net = try symbolTestTwoLayerFC()
        let exec = try net.simpleBind(
            shapes: ["data": [2, 3]], gradReqs: ["fc1_weight": .write, "fc1_bias": .write, "fc2_weight": .write])
        #expect(exec.gradArrays.map { $0 == nil } == [true, false, false, false, true])
        #expect(Set(exec.gradDict.keys) == ["fc1_weight", "fc1_bias", "fc2_weight"])
        #expect(exec.argArrays.map(\.shape) == [[2, 3], [5, 3], [5], [2, 5], [2]])
        exec.argDict["data"]!.fill(1)
        exec.argDict["fc1_weight"]!.fill(1)
        exec.argDict["fc2_weight"]!.fill(1)
        exec.forward(isTrain: true)
        try exec.backward()
        // d out / d fc1_bias = column sums of fc2_weight = 2 per row, 2 rows.
        #expect(exec.gradDict["fc1_bias"]!.toArray() == [4, 4, 4, 4, 4])
        // Nothing wants a gradient: backward still runs (and does nothing).
        let frozen = try net.simpleBind(shapes: ["data": [2, 3]], gradReqs: [:])
        #expect(frozen.gradArrays.allSatisfy { $0 == nil })
        frozen.forward(isTrain: true)
        try frozen.backward()
    }

    @Test func monitorSeesEveryNodeOutput() throws {
        let net = try symbolTestTwoLayerFC()
        let exec = try net.simpleBind(shapes: ["data": [2, 3]])
        final class Seen { var names: [String] = [] }
        let seen = Seen()
        exec.forward()
        #expect(seen.names.isEmpty)
        exec.setMonitorCallback { name, array in seen.names.append("\(name)\(array.shape)") }
        exec.forward()
        #expect(seen.names == ["fc1_output[2, 5]", "fc2_output[2, 2]"])
        exec.setMonitorCallback(nil)
        exec.forward()
        #expect(seen.names.count == 2)
    }

    @Test func bindRejectsBadArrays() throws {
        let net = try symbolTestTwoLayerFC()
        let good: [String: NDArray] = [
            "data": NDArray(shape: [2, 3]), "fc1_weight": NDArray(shape: [5, 3]), "fc1_bias": NDArray(shape: [5]),
            "fc2_weight": NDArray(shape: [2, 5]), "fc2_bias": NDArray(shape: [2]),
        ]
        _ = try net.bind(args: good)
        var missing = good
        missing["fc2_bias"] = nil
        guard case .bindError(let m) = symbolTestError({ _ = try net.bind(args: missing) }) else {
            Issue.record("missing argument must be a bindError")
            return
        }
        #expect(m.contains("fc2_bias"))
        var wrong = good
        wrong["fc1_bias"] = NDArray(shape: [4])
        #expect(symbolTestError { _ = try net.bind(args: wrong) } != nil)
        let badGrad = symbolTestError { _ = try net.bind(args: good, argGrads: ["fc1_bias": NDArray(shape: [3])]) }
        #expect(badGrad != nil)
        let noGrad = symbolTestError { _ = try net.bind(args: good, gradReqs: ["fc1_bias": .write]) }
        #expect(noGrad != nil)
        #expect(symbolTestError { _ = try net.bind(args: [NDArray(shape: [2, 3])]) } != nil)
        let exec = try net.bind(args: good)
        guard case .bindError = symbolTestError({ try exec.backward() }) else {
            Issue.record("backward before a training forward must be a bindError")
            return
        }
        exec.forward(isTrain: true)
        #expect(symbolTestError { try exec.backward(outGrads: []) } != nil)
    }

    @Test func listBindAndCopyParams() throws {
        let net = try symbolTestTwoLayerFC()
        let shapes = try net.inferShape(["data": [1, 3]]).args
        let args = shapes.map { NDArray(shape: $0) }
        let exec = try net.bind(args: args, argGrads: args.map { NDArray(shape: $0.shape) })
        #expect(zip(exec.argArrays, args).allSatisfy { $0 === $1 })
        try exec.copyParams(from: ["fc2_bias": NDArray([3, -3]), "other": NDArray([1])], allowExtraParams: true)
        #expect(args[4].toArray() == [3, -3])
        exec.forward()
        #expect(exec.outputs[0].toArray() == [3, -3])
        #expect(symbolTestError { try exec.copyParams(from: ["other": NDArray([1])]) } != nil)
        #expect(symbolTestError { try exec.copyParams(from: ["fc2_bias": NDArray([1])]) } != nil)
    }
}
