import Foundation
import SwiftPSGraph
import SwiftPSTensor
import Testing

/// `_copy`, `BlockGrad`, `MakeLoss`, `clip`, `add_n`, `softmax`, `log_softmax` and
/// `SoftmaxActivation`: values by hand, gradients against finite differences.
@Suite struct UtilityOperatorTests {
    @Test func identityPassesValuesAndGradients() throws {
        let f = try OpFixture(Identity(), shapes: [[2, 3]])
        #expect(try f.forward()[0].toArray() == f.inputs[0].toArray())
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    @Test func blockGradStopsTheGradient() throws {
        let f = try OpFixture(BlockGrad(), shapes: [[2, 3]])
        let g = try f.gradients()
        #expect(f.outputs[0].toArray() == f.inputs[0].toArray())
        #expect(g[0]?.toArray() == [Float](repeating: 0, count: 6))
        // Accumulating: what was there stays.
        let (grads, reqs) = f.makeGrads(.add, initial: 0.5)
        let inst = try f.instance()
        let b = f.binding(grads: grads, reqs: reqs)
        inst.forward(b, isTrain: true)
        inst.backward(b)
        #expect(grads[0]?.toArray() == [Float](repeating: 0.5, count: 6))
    }

    /// MakeLoss ignores the head gradient: grad_scale, over nothing, the batch, or the outputs above
    /// valid_thresh.
    @Test(arguments: [
        ([String: String](), Float(2)), (["normalization": "batch"], Float(2) / 4),
        (["normalization": "valid", "valid_thresh": "0.5"], Float(2) / 3),
    ])
    func makeLossGradientByHand(extra: [String: String], expected: Float) throws {
        let data = NDArray([0.1, 0.6, 0.7, 0.9, 0.2, 0.3, 0.4, 0.0], shape: [4, 2])
        let op = try MakeLoss(attributes: ["grad_scale": "2"].merging(extra) { $1 })
        let f = try OpFixture(op, shapes: [nil], given: [0: data])
        let g = try #require(try f.gradients()[0])
        #expect(f.outputs[0].toArray() == data.toArray())
        expectClose(g.toArray(), [Float](repeating: expected, count: 8), "MakeLoss \(extra)")
        // The loss is Σ grad_scale · y / norm: its finite differences agree.
        let norm = Double(2 / expected)
        try GradientCheck.check(
            f, loss: .custom { outputs, _ in outputs[0].toArray().reduce(0) { $0 + Double($1) } * 2 / norm })
    }

    @Test func clipLimitsValuesAndGradients() throws {
        let op = try Clip(attributes: ["a_min": "-0.5", "a_max": "0.5"])
        let f = try OpFixture(op, shapes: [nil], given: [0: NDArray([-2, -0.5, 0.2, 0.5, 3])])
        f.heads[0].fill(1)
        let g = try f.gradients()
        #expect(f.outputs[0].toArray() == [-0.5, -0.5, 0.2, 0.5, 0.5])
        #expect(g[0]?.toArray() == [0, 1, 1, 1, 0], "the bounds themselves pass the gradient, as MXNet's")
        try GradientCheck.check(try OpFixture(op, shapes: [[3, 4]], fill: .awayFromZero(0.6)))
        #expect(throws: GraphError.self) { try Clip(attributes: ["a_min": "1"]) }
        #expect(throws: GraphError.self) { try Clip(attributes: ["a_min": "1", "a_max": "0"]) }
    }

    @Test func addNSumsAndSpreadsTheGradient() throws {
        let op = try AddN(attributes: ["num_args": "3"])
        let f = try OpFixture(op, shapes: [[2, 2], nil, nil])
        let y = try f.forward()[0].toArray()
        let sum = (0..<4).map { i in f.inputs.reduce(Float(0)) { $0 + $1.toArray()[i] } }
        expectClose(y, sum, "add_n")
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
        #expect(throws: GraphError.self) { try op.inferShape([[2, 2], [2, 3], nil]) }
    }

    @Test func softmaxAlongAnAxisByHand() throws {
        // Axis 0 of a (2, 2): columns (1, 3) and (2, 2).
        let f = try OpFixture(SoftmaxOp(axis: 0), shapes: [nil], given: [0: NDArray([1, 2, 3, 2], shape: [2, 2])])
        let e = Float(1 / (1 + exp(2.0)))
        expectClose(try f.forward()[0].toArray(), [e, 0.5, 1 - e, 0.5], "softmax axis 0")
        let log = try OpFixture(LogSoftmax(), shapes: [nil], given: [0: NDArray([0, 0], shape: [1, 2])])
        expectClose(try log.forward()[0].toArray(), [-logf(2), -logf(2)], "log_softmax")
        // Temperature divides the input.
        let hot = try OpFixture(
            SoftmaxOp(attributes: ["temperature": "2"]), shapes: [nil], given: [0: NDArray([0, 2], shape: [1, 2])])
        let t = Float(1 / (1 + exp(1.0)))
        expectClose(try hot.forward()[0].toArray(), [t, 1 - t], "temperature 2")
    }

    @Test(arguments: [
        (SoftmaxOp() as any Operator, [3, 4]), (SoftmaxOp(axis: 1), [2, 3, 4]), (SoftmaxOp(axis: 0), [3, 2]),
        (SoftmaxOp(temperature: 3), [2, 5]), (LogSoftmax(), [3, 4]), (LogSoftmax(axis: 1), [2, 3, 2]),
        (SoftmaxActivation(), [2, 2, 3]), (SoftmaxActivation(channel: true), [2, 3, 2, 2]),
    ])
    func softmaxGradientsMatchFiniteDifferences(op: any Operator, shape: [Int]) throws {
        let f = try OpFixture(op, shapes: [shape])
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    @Test func softmaxActivationModes() throws {
        let data = NDArray([1, 2, 3, 4], shape: [1, 2, 2])
        // instance: one softmax over all four values; channel: over axis 1, per position.
        let instance = try OpFixture(SoftmaxActivation(), shapes: [nil], given: [0: data]).forward()[0].toArray()
        let z = (1...4).map { exp(Float($0)) }.reduce(0, +)
        expectClose(instance, (1...4).map { exp(Float($0)) / z }, "instance")
        let channel = try OpFixture(SoftmaxActivation(channel: true), shapes: [nil], given: [0: data]).forward()[0]
            .toArray()
        let a = Float(1 / (1 + exp(2.0)))
        expectClose(channel, [a, a, 1 - a, 1 - a], "channel")
        #expect(throws: GraphError.self) { try SoftmaxOp(attributes: ["use_length": "True"]) }
        #expect(throws: GraphError.self) { try SoftmaxOp(attributes: ["dtype": "float16"]) }
        #expect(throws: GraphError.self) { try SoftmaxOp(axis: 2).inferShape([[2, 2]]) }
    }

    /// MXNet's names and aliases load from symbol JSON: ResNet's `_copy` after the data, the 2015
    /// `Softmax` for SoftmaxOutput, `identity`, `stop_gradient`, `make_loss`, `ElementWiseSum`.
    @Test func mxnetNamesLoadFromJSON() throws {
        func node(_ op: String, _ name: String, _ inputs: [Int], _ attrs: String = "") -> String {
            "{\"op\": \"\(op)\", \"name\": \"\(name)\"\(attrs.isEmpty ? "" : ", \"attrs\": {\(attrs)}"), \"inputs\": [\(inputs.map { "[\($0), 0, 0]" }.joined(separator: ", "))]}"
        }
        let nodes = [
            node("null", "data", []), node("_copy", "id", [0]), node("identity", "id2", [1]),
            node("stop_gradient", "sg", [2]), node("null", "fc_weight", []), node("null", "fc_bias", []),
            node("FullyConnected", "fc", [3, 4, 5], "\"num_hidden\": \"3\""),
            node("ElementWiseSum", "sum", [6, 6], "\"num_args\": \"2\""), node("null", "softmax_label", []),
            node("Softmax", "softmax", [7, 8]),
        ]
        let json =
            "{\"nodes\": [\(nodes.joined(separator: ", "))], \"arg_nodes\": [0, 4, 5, 8], \"heads\": [[9, 0, 0]]}"
        let symbol = try Symbol.fromJSON(json)
        #expect(symbol.listArguments() == ["data", "fc_weight", "fc_bias", "softmax_label"])
        let shapes = try symbol.inferShape(["data": [2, 4]])
        #expect(shapes.outputs == [[2, 3]])
        // Saved again (under the names the file used, which MXNet knows too), it loads back the same.
        let again = try Symbol.fromJSON(symbol.toJSON())
        #expect(again.toJSON() == symbol.toJSON())
    }

    /// Files older than MXNet 1.9.1 wrote hidden keys plainly: `lr_mult` on a variable, or
    /// `weight_lr_mult` on its operator, become the variable's `__lr_mult__` as MXNet's loader makes
    /// them (a frozen layer would otherwise train); `ctx_group` on an operator becomes a hint. A
    /// 1.9.1 file is read as written.
    @Test func olderFilesHiddenKeysAreUpgraded() throws {
        func file(version: String) -> String {
            """
            {"nodes": [
              {"op": "null", "name": "data", "inputs": []},
              {"op": "null", "name": "fc1_weight", "attr": {"lr_mult": "0"}, "inputs": []},
              {"op": "null", "name": "fc1_bias", "inputs": []},
              {"op": "FullyConnected", "name": "fc1",
               "param": {"num_hidden": "4"}, "attr": {"bias_wd_mult": "0", "ctx_group": "dev1"},
               "inputs": [[0, 0], [1, 0], [2, 0]]}
            ], "arg_nodes": [0, 1, 2], "heads": [[3, 0]]\(version)}
            """
        }
        let old = try Symbol.fromJSON(file(version: ""))
        let attributes = old.attributeDictionary()
        #expect(attributes["fc1_weight"]?["__lr_mult__"] == "0", "\(attributes)")
        #expect(attributes["fc1_bias"]?["__wd_mult__"] == "0", "\(attributes)")
        #expect(attributes["fc1"]?["__ctx_group__"] == "dev1", "\(attributes)")
        #expect(attributes["fc1_weight"]?["lr_mult"] == nil && attributes["fc1"]?["bias_wd_mult"] == nil)
        // Written by 1.9.1: nothing is renamed, and an operator's unknown key is refused as before.
        #expect(throws: GraphError.self) {
            try Symbol.fromJSON(file(version: ", \"attrs\": {\"mxnet_version\": [\"int\", 10901]}"))
        }
    }

    @Test func subtractionAndProductByHandAndByFiniteDifferences() throws {
        let lhs = NDArray([1, 2, 3])
        let rhs = NDArray([4, -1, 0.5])
        let sub = try OpFixture(ElemwiseSub(), shapes: [nil, nil], given: [0: lhs, 1: rhs])
        sub.heads[0].fill(1)
        let g = try sub.gradients()
        #expect(sub.outputs[0].toArray() == [-3, 3, 2.5])
        #expect(g[0]?.toArray() == [1, 1, 1] && g[1]?.toArray() == [-1, -1, -1])
        let mul = try OpFixture(ElemwiseMul(), shapes: [nil, nil], given: [0: lhs, 1: rhs])
        mul.heads[0].fill(1)
        let m = try mul.gradients()
        #expect(mul.outputs[0].toArray() == [4, -2, 1.5])
        #expect(m[0]?.toArray() == rhs.toArray() && m[1]?.toArray() == lhs.toArray())
        for op in [ElemwiseSub() as any Operator, ElemwiseMul()] {
            let f = try OpFixture(op, shapes: [[2, 3], nil])
            try GradientCheck.check(f)
            try GradientCheck.checkAccumulation(f)
        }
        #expect(throws: GraphError.self) { try ElemwiseMul().inferShape([[2, 3], [3, 2]]) }
    }

    /// The `_…_scalar` family (what `data / 255` or `1 - data` on a symbol writes), by hand and by
    /// finite differences, and loaded under MXNet's names.
    @Test func scalarArithmetic() throws {
        let x = NDArray([1, 2, -4])
        let cases: [(any Operator, [Float], [Float])] = [
            (PlusScalar(scalar: 2), [3, 4, -2], [1, 1, 1]), (MinusScalar(scalar: 2), [-1, 0, -6], [1, 1, 1]),
            (ReverseMinusScalar(scalar: 2), [1, 0, 6], [-1, -1, -1]), (MulScalar(scalar: 2), [2, 4, -8], [2, 2, 2]),
            (DivScalar(scalar: 2), [0.5, 1, -2], [0.5, 0.5, 0.5]),
            (ReverseDivScalar(scalar: 2), [2, 1, -0.5], [-2, -0.5, -0.125]),
        ]
        for (op, y, dy) in cases {
            let f = try OpFixture(op, shapes: [nil], given: [0: x])
            f.heads[0].fill(1)
            let g = try f.gradients()
            expectClose(f.outputs[0].toArray(), y, "\(type(of: op).typeName) y")
            expectClose(g[0]!.toArray(), dy, "\(type(of: op).typeName) dx")
            try GradientCheck.check(try OpFixture(op, shapes: [[2, 3]], fill: .awayFromZero(0.5)))
            let loaded = try OperatorRegistry.make(type(of: op).typeName, attributes: op.attributes)
            #expect(loaded.attributes == op.attributes)
        }
        #expect(try OperatorRegistry.make("_DivScalar", attributes: ["scalar": "255", "is_int": "False"]) is DivScalar)
        // MXNet 1.9.1 takes a missing scalar as 1 (`_plus_scalar(a)` on 3 gives 4).
        #expect((try OperatorRegistry.make("_mul_scalar", attributes: [:]) as? MulScalar)?.scalar == 1)
        expectBadAttribute("scalar") { _ = try OperatorRegistry.make("_mul_scalar", attributes: ["scalar": "x"]) }
    }
}
