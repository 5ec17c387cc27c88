import SwiftPSGraph
import SwiftPSTensor
import Testing

/// `hard_sigmoid`, `softmin`, `smooth_l1`, `where` and `softmax_cross_entropy`: values and gradients
/// MXNet 1.9.1 printed (autograd, `mx.nd.<op>`), finite differences with gradReq write and add,
/// attributes, shapes and symbol JSON.
@Suite struct MathExtraOperatorTests {
    static func make(_ name: String, _ attributes: [String: String] = [:]) throws -> any Operator {
        try OperatorRegistry.make(name, attributes: attributes)
    }

    /// Forward and backward of `op` on `inputs` with the head gradient `head` (ones when nil).
    static func run(
        _ op: any Operator, _ inputs: [NDArray], head: [Float]? = nil
    ) throws -> (output: [Float], grads: [[Float]?]) {
        let f = try OpFixture(
            op, shapes: inputs.map { _ in nil },
            given: Dictionary(uniqueKeysWithValues: inputs.enumerated().map { ($0, $1) }))
        if let head {
            for (i, v) in head.enumerated() { f.heads[0].data[i] = v }
        } else {
            f.heads[0].fill(1)
        }
        let g = try f.gradients()
        return (f.outputs[0].toArray(), g.map { $0?.toArray() })
    }

    @Test func hardSigmoidMatchesMXNet() throws {
        let x = NDArray([-1.5, -0.5, 0, 0.5, 1.5, 2.5], shape: [6])
        // MXNet 1.9.1: hard_sigmoid(x) and its gradient; at αx + β = 1 exactly (x = 2.5) the slope is 0.
        var r = try Self.run(try Self.make("hard_sigmoid"), [x])
        expectClose(r.output, [0.2, 0.4, 0.5, 0.6, 0.8, 1.0], "hard_sigmoid")
        expectClose(r.grads[0] ?? [], [0.2, 0.2, 0.2, 0.2, 0.2, 0], "dhard_sigmoid")
        r = try Self.run(try Self.make("hard_sigmoid"), [NDArray([-2.5, 2.5, -2.4999, 2.4999], shape: [4])])
        expectClose(r.output, [0, 1, 1.9967556e-05, 0.99998003], "hard_sigmoid edges")
        expectClose(r.grads[0] ?? [], [0, 0, 0.2, 0.2], "dhard_sigmoid edges")
        // A negative slope (MXNet accepts it).
        r = try Self.run(try Self.make("hard_sigmoid", ["alpha": "-0.2"]), [NDArray([-2.5, 2.5, 0], shape: [3])])
        expectClose(r.output, [1, 0, 0.5], "hard_sigmoid alpha -0.2")
        expectClose(r.grads[0] ?? [], [0, 0, -0.2], "dhard_sigmoid alpha -0.2")
        // Data in [−1, 1), inside the unclipped range (−4/3, 2) of α = 0.3, β = 0.4; then α = 2, where
        // the data (|x| ≥ 0.3) lies clipped beyond ±0.25 and no gradient passes.
        let f = try OpFixture(
            try Self.make("hard_sigmoid", ["alpha": "0.3", "beta": "0.4"]), shapes: [[3, 4]], fill: .uniform)
        try GradientCheck.check(f, step: 1e-3)
        try GradientCheck.checkAccumulation(f)
        let wide = try OpFixture(
            try Self.make("hard_sigmoid", ["alpha": "2"]), shapes: [[3, 4]], fill: .awayFromZero(0.3))
        try GradientCheck.check(wide, step: 1e-3)
        expectBadAttribute("alpha") { _ = try Self.make("hard_sigmoid", ["alpha": "nan"]) }
        expectBadAttribute("beta") { _ = try Self.make("hard_sigmoid", ["beta": "x"]) }
    }

    @Test func smoothL1MatchesMXNet() throws {
        let d = NDArray([-2, -1, -0.5, -0.25, 0, 0.25, 0.5, 1, 2], shape: [9])
        // MXNet 1.9.1, scalar (σ) 1 (also its value when left out), 2 and 0.5.
        let cases: [(String?, [Float], [Float])] = [
            (nil, [1.5, 0.5, 0.125, 0.03125, 0, 0.03125, 0.125, 0.5, 1.5], [-1, -1, -0.5, -0.25, 0, 0.25, 0.5, 1, 1]),
            ("2", [1.875, 0.875, 0.375, 0.125, 0, 0.125, 0.375, 0.875, 1.875], [-1, -1, -1, -1, 0, 1, 1, 1, 1]),
            (
                "0.5", [0.5, 0.125, 0.03125, 0.0078125, 0, 0.0078125, 0.03125, 0.125, 0.5],
                [-0.5, -0.25, -0.125, -0.0625, 0, 0.0625, 0.125, 0.25, 0.5]
            ),
            // σ enters squared; σ = 0 leaves every element inside, giving 0 (MXNet 1.9.1 prints 0).
            ("-2", [1.875, 0.875, 0.375, 0.125, 0, 0.125, 0.375, 0.875, 1.875], [-1, -1, -1, -1, 0, 1, 1, 1, 1]),
            ("0", [0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ]
        for (scalar, values, grads) in cases {
            let r = try Self.run(try Self.make("smooth_l1", scalar.map { ["scalar": $0] } ?? [:]), [d])
            expectClose(r.output, values, "smooth_l1 \(scalar ?? "default")")
            expectClose(r.grads[0] ?? [], grads, "dsmooth_l1 \(scalar ?? "default")")
        }
        // Values on both sides of 1/σ² = 0.25 (σ = 2), off the kink.
        let data: [Float] = [-0.9, -0.6, -0.3, -0.2, -0.1, 0.05, 0.15, 0.22, 0.35, 0.7, 1.1, 1.6]
        let f = try OpFixture(
            try Self.make("smooth_l1", ["scalar": "2"]), shapes: [nil], given: [0: NDArray(data, shape: [3, 4])])
        try GradientCheck.check(f, step: 1e-3)
        try GradientCheck.checkAccumulation(f)
        expectBadAttribute("scalar") { _ = try Self.make("smooth_l1", ["scalar": "inf"]) }
    }

    @Test func softminMatchesMXNet() throws {
        let logits = NDArray([1, 2, 3, 0.5, -1, 2], shape: [2, 3])
        let head: [Float] = [1, 2, 3, -1, 0.5, 2]
        // MXNet 1.9.1: softmin(logits) and softmin(logits, axis=0, temperature=2) with that head.
        var r = try Self.run(try Self.make("softmin"), [logits], head: head)
        expectClose(r.output, [0.66524094, 0.24472848, 0.09003057, 0.1752904, 0.785597, 0.03911257], "softmin")
        expectClose(
            r.grads[0] ?? [], [0.28258747, -0.14077035, -0.14181709, 0.22712958, -0.16047134, -0.06665826], "dsoftmin")
        r = try Self.run(try Self.make("softmin", ["axis": "0", "temperature": "2"]), [logits], head: head)
        expectClose(r.output, [0.4378235, 0.18242551, 0.37754068, 0.5621765, 0.81757444, 0.6224594], "softmin T=2")
        expectClose(
            r.grads[0] ?? [], [-0.2461341, -0.11185984, -0.11750188, 0.24613407, 0.11185982, 0.11750183], "dsoftmin T=2"
        )
        let f = try OpFixture(try Self.make("softmin", ["axis": "1", "temperature": "0.7"]), shapes: [[2, 3, 4]])
        try GradientCheck.check(f, step: 1e-3)
        try GradientCheck.checkAccumulation(f)
        // MXNet: "axis 2 exceeds the input dimension of 2".
        expectShapeError { _ = try Self.make("softmin", ["axis": "2"]).inferShape([[2, 3]]) }
        expectBadAttribute("temperature") { _ = try Self.make("softmin", ["temperature": "0"]) }
    }

    @Test func whereMatchesMXNet() throws {
        let x = NDArray([0, 1, 2, 3, 4, 5], shape: [2, 3])
        let y = NDArray([-10, -11, -12, -13, -14, -15], shape: [2, 3])
        let head: [Float] = [1, 2, 3, 4, 5, 6]
        // MXNet 1.9.1: where(c, x, y) with c of x's shape, then c of shape (2,) picking rows.
        var r = try Self.run(Where(), [NDArray([1, 0, 2, 0, 0.5, -1], shape: [2, 3]), x, y], head: head)
        expectClose(r.output, [0, -11, 2, -13, 4, 5], "where")
        expectClose(r.grads[0] ?? [], [0, 0, 0, 0, 0, 0], "dcondition")
        expectClose(r.grads[1] ?? [], [1, 0, 3, 0, 5, 6], "dx")
        expectClose(r.grads[2] ?? [], [0, 2, 0, 4, 0, 0], "dy")
        r = try Self.run(Where(), [NDArray([0, 1], shape: [2]), x, y], head: head)
        expectClose(r.output, [-10, -11, -12, 3, 4, 5], "where by rows")
        expectClose(r.grads[0] ?? [], [0, 0], "dcondition by rows")
        expectClose(r.grads[1] ?? [], [0, 0, 0, 4, 5, 6], "dx by rows")
        expectClose(r.grads[2] ?? [], [1, 2, 3, 0, 0, 0], "dy by rows")
        for condition in [[0, 1, 2.5, 0, -1, 0, 0, 3, 0, 0, 1, 0], [1, 0, 0]] as [[Float]] {
            let c = NDArray(condition, shape: condition.count == 3 ? [3] : [3, 2, 2])
            let f = try OpFixture(Where(), shapes: [nil, [3, 2, 2], nil], given: [0: c])
            try GradientCheck.check(f, step: 1e-3)
            try GradientCheck.checkAccumulation(f)
        }
        // MXNet refuses these shapes ("Operator where inferring shapes failed").
        expectShapeError { _ = try Where().inferShape([[3], [2, 3], [2, 3]]) }
        expectShapeError { _ = try Where().inferShape([[2, 1], [2, 3], [2, 3]]) }
        expectShapeError { _ = try Where().inferShape([[2, 3], [2, 3], [3, 2]]) }
        expectShapeError { _ = try Where().inferShape([[2, 3], nil, nil]) }
        #expect(try Where().inferShape([nil, nil, [4, 2]]).inputs == [[4, 2], [4, 2], [4, 2]])
    }

    @Test func softmaxCrossEntropyMatchesMXNet() throws {
        let logits = NDArray([1, 2, 3, 0.5, -1, 2], shape: [2, 3])
        let op = try Self.make("softmax_cross_entropy")
        // MXNet 1.9.1: the loss and the data's gradient for labels (2, 0), with heads 1 and 3.
        var r = try Self.run(op, [logits, NDArray([2, 0], shape: [2])])
        expectClose(r.output, [2.1489172], "softmax_cross_entropy")
        let g: [Float] = [0.09003057, 0.24472848, -0.33475906, -0.8247096, 0.03911257, 0.785597]
        expectClose(r.grads[0] ?? [], g, "dsoftmax_cross_entropy")
        #expect(r.grads[1] == nil)
        r = try Self.run(op, [logits, NDArray([2, 0], shape: [2])], head: [3])
        expectClose(r.grads[0] ?? [], g.map { 3 * $0 }, "dsoftmax_cross_entropy head 3")
        // Labels truncated toward zero: 1.7 → 1, 0.2 → 0.
        r = try Self.run(op, [logits, NDArray([1.7, 0.2], shape: [2])])
        expectClose(r.output, [3.1489172], "softmax_cross_entropy 1.7, 0.2")
        expectClose(
            r.grads[0] ?? [], [0.0900306, -0.7552716, 0.6652409, -0.8247096, 0.0391126, 0.785597], "d 1.7, 0.2")
        // Out of range: MXNet's gradient is the softmax alone (its loss, 0.6489173, reads outside
        // the rows); here such a row adds nothing to the loss.
        r = try Self.run(op, [logits, NDArray([5, -1], shape: [2])])
        expectClose(r.output, [0], "softmax_cross_entropy out of range")
        expectClose(
            r.grads[0] ?? [], [0.0900306, 0.2447285, 0.6652409, 0.1752904, 0.0391126, 0.785597], "d out of range")
        // MXNet clips the probability at 1e-8: a row's loss is at most 18.420681; not its gradient.
        r = try Self.run(op, [NDArray([0, 30, 0, 17], shape: [2, 2]), NDArray([0, 0], shape: [2])])
        expectClose(r.output, [35.42068], "softmax_cross_entropy clipped")
        expectClose(r.grads[0] ?? [], [-1, 1, -0.99999994, 1], "d clipped")
        let f = try OpFixture(op, shapes: [[3, 4], nil], given: [1: NDArray([2, 0, 3], shape: [3])])
        try GradientCheck.check(f, step: 1e-3)
        try GradientCheck.checkAccumulation(f)
        // MXNet: "SoftmaxCrossEntropy only accept 2D data", "data label shape mismatch",
        // "SoftmaxCrossEntropy only accept 1D label".
        expectShapeError { _ = try op.inferShape([[2, 3, 4], nil]) }
        expectShapeError { _ = try op.inferShape([[2, 3], [3]]) }
        expectShapeError { _ = try op.inferShape([[2, 3], [2, 1]]) }
        expectShapeError { _ = try op.inferShape([[3], [3]]) }
        #expect(try op.inferShape([[5, 3], nil]).outputs == [[1]])
    }

    @Test func symbolJSONRoundTrip() throws {
        let data = Symbol.variable("data")
        let h = try Symbol.hardSigmoid(data, alpha: 0.3, name: "hs")
        let s = try Symbol.smoothL1(Symbol.softmin(h, axis: 1, temperature: 2, name: "smin"), scalar: 2, name: "sl1")
        let w = try Symbol.where(Symbol.variable("cond"), s, h, name: "w")
        let loss = try Symbol.softmaxCrossEntropy(w, label: Symbol.variable("label"), name: "ce")
        let json = loss.toJSON()
        for fragment in [
            "\"op\": \"hard_sigmoid\"", "\"alpha\": \"0.3\"", "\"op\": \"softmin\"", "\"temperature\": \"2.0\"",
            "\"op\": \"smooth_l1\"", "\"scalar\": \"2.0\"", "\"op\": \"where\"", "\"op\": \"softmax_cross_entropy\"",
        ] {
            #expect(json.contains(fragment), "\(fragment)")
        }
        let again = try Symbol.fromJSON(json)
        #expect(again.toJSON() == json)
        #expect(again.listArguments() == ["cond", "data", "label"])
        let exec = try again.simpleBind(shapes: ["data": [4, 3], "cond": [4]])
        #expect(exec.outputs[0].shape == [1])
        // MXNet's JSON, which leaves defaults out.
        let mxnet = """
            {"nodes": [{"op": "null", "name": "d", "inputs": []},
              {"op": "hard_sigmoid", "name": "h", "inputs": [[0, 0, 0]]},
              {"op": "smooth_l1", "name": "s", "inputs": [[1, 0, 0]]},
              {"op": "softmin", "name": "m", "inputs": [[2, 0, 0]]}],
             "arg_nodes": [0], "heads": [[3, 0, 0]], "attrs": {"mxnet_version": ["int", 10901]}}
            """
        let parsed = try Symbol.fromJSON(mxnet)
        #expect(try parsed.simpleBind(shapes: ["d": [2, 5]]).outputs[0].shape == [2, 5])
    }
}
