import SwiftPSGraph
import SwiftPSTensor
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

@Suite struct SoftmaxOutputTests {
    static let data = NDArray([1, 2, 3, 0, 0, 0], shape: [2, 3])
    static let label = NDArray([2, 0])

    func run(_ attrs: [String: String], label: NDArray = label) throws -> (y: [Float], dx: [Float]) {
        let f = try OpFixture(
            try SoftmaxOutput(attributes: attrs), shapes: [nil, nil], given: [0: Self.data, 1: label])
        let g = try f.gradients()
        #expect(g[1] == nil, "the label gets no gradient")
        return (f.outputs[0].toArray(), g[0]!.toArray())
    }

    /// The label's shape is checked, not only its size: a transposed label of `preserve_shape` data
    /// would pair rows with the wrong labels. (N, 1) for (N,) is the same label.
    @Test func theLabelShapeMustMatch() throws {
        let op = SoftmaxOutput()
        #expect(try op.inferShape([[4, 3], [4, 1]]).inputs[1] == [4, 1])
        #expect(throws: GraphError.self) { try op.inferShape([[4, 3], [2, 2]]) }
        let preserve = try SoftmaxOutput(attributes: ["preserve_shape": "True"])
        #expect(try preserve.inferShape([[32, 35, 10], nil]).inputs[1] == [32, 35])
        #expect(throws: GraphError.self) { try preserve.inferShape([[32, 35, 10], [35, 32]]) }
    }

    @Test func forwardByHand() throws {
        // softmax(1, 2, 3) = e^k / (e + e² + e³); softmax(0, 0, 0) = 1/3.
        let y = try run([:]).y
        expectClose(y, [0.09003057, 0.24472847, 0.66524096, 1.0 / 3, 1.0 / 3, 1.0 / 3], "softmax")
        let f = try OpFixture(SoftmaxOutput(), shapes: [nil, nil], given: [0: NDArray([1000, 1000], shape: [1, 2])])
        expectClose(try f.forward()[0].toArray(), [0.5, 0.5], "no overflow")
    }

    @Test func normalizationsByHand() throws {
        // softmax − onehot(label), summed over the batch for null (MXNet's default).
        let raw: [Float] = [0.09003057, 0.24472847, -0.33475904, -2.0 / 3, 1.0 / 3, 1.0 / 3]
        expectClose(try run([:]).dx, raw, "null")
        expectClose(try run(["normalization": "batch"]).dx, raw.map { $0 / 2 }, "batch: / N")
        expectClose(try run(["grad_scale": "3"]).dx, raw.map { $0 * 3 }, "grad_scale")
        // valid with ignore_label 0: one of the two labels counts, so / 1; use_ignore zeroes row 1.
        expectClose(try run(["normalization": "valid", "ignore_label": "0"]).dx, raw, "valid")
        expectClose(
            try run(["normalization": "valid", "ignore_label": "5"]).dx, raw.map { $0 / 2 }, "valid, none ignored")
        let ignored = try run(["use_ignore": "True", "ignore_label": "0", "normalization": "valid"]).dx
        expectClose(ignored, Array(raw[0..<3]) + [0, 0, 0], "use_ignore")
    }

    @Test func smoothingOutGradAndBadLabelByHand() throws {
        // smooth_alpha 0.3: target 0.7 on the label, 0.15 on each other class.
        let s = try run(["smooth_alpha": "0.3"]).dx
        expectClose(Array(s[0..<3]), [0.09003057 - 0.15, 0.24472847 - 0.15, 0.66524096 - 0.7], "smoothed")
        // out_grad multiplies by the head gradient.
        let f = try OpFixture(
            SoftmaxOutput(outGrad: true), shapes: [nil, nil], given: [0: Self.data, 1: Self.label])
        f.heads[0].fill(2)
        let g = try f.gradients()[0]!.toArray()
        expectClose(Array(g[0..<3]), [0.18006114, 0.48945694, -0.66951808], "out_grad")
        // A label out of range gets no one-hot term (MXNet's behaviour), and nothing crashes.
        let bad = try run([:], label: NDArray([7, -3])).dx
        expectClose(bad, try run([:]).y, "out-of-range labels")
        // Nor do labels no class index can hold (NaN, infinite, huge), where Int(_:) would trap.
        let unrepresentable = try run([:], label: NDArray([.nan, .infinity])).dx
        expectClose(unrepresentable, try run([:]).y, "NaN and infinite labels")
        expectClose(try run([:], label: NDArray([3e10, -3e10])).dx, try run([:]).y, "huge labels")
        // A label truncates toward zero, as MXNet's static_cast<int>: −0.5 names class 0.
        expectClose(try run([:], label: NDArray([2, -0.5])).dx, try run([:]).dx, "−0.5 is class 0")
        #expect(throws: GraphError.self) { try SoftmaxOutput(attributes: ["ignore_label": "nan"]) }
        #expect(throws: GraphError.self) { try SoftmaxOutput(attributes: ["ignore_label": "1e30"]) }
    }

    /// Cross-entropy `−Σ_rows Σ_k target_k · log softmax_k · grad_scale / norm`, whose gradient
    /// with respect to the data SoftmaxOutput's backward writes.
    static func crossEntropy(_ op: SoftmaxOutput) -> CheckLoss {
        .custom { outs, inputs in
            let y = outs[0]
            let label = inputs[1]
            let rows = label.count
            let k = y.count / rows
            var counted = 0
            var total = 0.0
            for r in 0..<rows {
                let l = Int(label.data[r])
                if l != Int(op.ignoreLabel) { counted += 1 }
                if op.useIgnore && l == Int(op.ignoreLabel) { continue }
                for j in 0..<k {
                    let t = Double(j == l ? 1 - op.smoothAlpha : op.smoothAlpha / Float(k - 1))
                    total -= t * log(Double(y.data[r * k + j]))
                }
            }
            let norm: Double
            switch op.normalization {
            case .null: norm = 1
            case .batch: norm = Double(rows)
            case .valid: norm = Double(max(counted, 1))
            }
            return total * Double(op.gradScale) / norm
        }
    }

    @Test(arguments: [
        SoftmaxOutput(), SoftmaxOutput(gradScale: 2.5, normalization: .batch),
        SoftmaxOutput(ignoreLabel: 1, normalization: .valid), SoftmaxOutput(ignoreLabel: 1, useIgnore: true),
        SoftmaxOutput(ignoreLabel: 1, useIgnore: true, normalization: .valid), SoftmaxOutput(smoothAlpha: 0.2),
    ])
    func gradient(op: SoftmaxOutput) throws {
        let label = NDArray([0, 1, 3, 1, 2])
        let f = try OpFixture(op, shapes: [[5, 4], nil], given: [1: label])
        try GradientCheck.check(f, loss: Self.crossEntropy(op))
        try GradientCheck.checkAccumulation(f)
    }

    @Test func higherRankData() throws {
        // Without preserve_shape, (2, 2, 3) is softmaxed as (2, 6) with labels (2,).
        let op = SoftmaxOutput()
        #expect(try op.inferShape([[2, 2, 3], nil]).inputs[1] == [2])
        let f = try OpFixture(op, shapes: [[2, 2, 3], nil], given: [1: NDArray([5, 0])])
        try GradientCheck.check(f, loss: Self.crossEntropy(op))
        // preserve_shape: softmax along the last axis, labels (2, 2).
        let p = SoftmaxOutput(preserveShape: true)
        #expect(try p.inferShape([[2, 2, 3], nil]).inputs[1] == [2, 2])
        let fp = try OpFixture(p, shapes: [[2, 2, 3], nil], given: [1: NDArray([0, 1, 2, 1], shape: [2, 2])])
        let y = try fp.forward()[0].toArray()
        for r in 0..<4 { #expect(abs(y[(r * 3)..<(r * 3 + 3)].reduce(0, +) - 1) < 1e-5) }
        try GradientCheck.check(fp, loss: Self.crossEntropy(p))
    }

    @Test func shapesAndAttributes() throws {
        #expect(SoftmaxOutput().listArguments() == ["data", "label"] && SoftmaxOutput().labelInputs == [1])
        expectShapeError { _ = try SoftmaxOutput().inferShape([[4, 3], [3]]) }
        expectBadAttribute("normalization") { _ = try SoftmaxOutput(attributes: ["normalization": "mean"]) }
        expectBadAttribute("multi_output") { _ = try SoftmaxOutput(attributes: ["multi_output": "True"]) }
        expectBadAttribute("grad_scale") { _ = try SoftmaxOutput(attributes: ["grad_scale": "big"]) }
        expectBadAttribute("use_ignore") { _ = try SoftmaxOutput(attributes: ["use_ignore": "2"]) }
        let d = try SoftmaxOutput(attributes: [:])
        #expect(d.gradScale == 1 && d.ignoreLabel == -1 && !d.useIgnore && d.normalization == .null)
    }
}

@Suite struct RegressionOutputTests {
    @Test func linearByHand() throws {
        // data (3, 1), label (3,): one output per sample, so the gradient is out − label.
        let f = try OpFixture(
            LinearRegressionOutput(), shapes: [nil, nil],
            given: [0: NDArray([1, 2, 3], shape: [3, 1]), 1: NDArray([0.5, 2, 4])])
        let g = try f.gradients()
        #expect(f.outputs[0].toArray() == [1, 2, 3])
        expectClose(g[0]!.toArray(), [0.5, 0, -1], "dx")
        #expect(g[1] == nil)
        // (2, 2) data: two outputs per sample, gradient (out − label)·grad_scale/2.
        let f2 = try OpFixture(
            try LinearRegressionOutput(attributes: ["grad_scale": "3"]), shapes: [nil, nil],
            given: [0: NDArray([1, 2, 3, 4], shape: [2, 2]), 1: NDArray([0, 0, 5, 5], shape: [2, 2])])
        expectClose(try f2.gradients()[0]!.toArray(), [1.5, 3, -3, -1.5], "scaled by 3/2")
    }

    @Test func logisticByHand() throws {
        let f = try OpFixture(
            LogisticRegressionOutput(), shapes: [nil, nil],
            given: [0: NDArray([0, log(3)], shape: [2, 1]), 1: NDArray([1, 0], shape: [2, 1])])
        let g = try f.gradients()
        expectClose(f.outputs[0].toArray(), [0.5, 0.75], "sigmoid")
        expectClose(g[0]!.toArray(), [-0.5, 0.75], "sigmoid − label")
    }

    @Test func maeByHand() throws {
        let f = try OpFixture(
            MAERegressionOutput(), shapes: [nil, nil],
            given: [0: NDArray([1, -1, 0.5, 2], shape: [2, 2]), 1: NDArray([0, 0, 0.5, 3], shape: [2, 2])])
        let g = try f.gradients()
        #expect(f.outputs[0].toArray() == [1, -1, 0.5, 2])
        // At equality MXNet's `minus_sign` gives −1 (0.5 − 0.5: −1/2), not 0.
        expectClose(g[0]!.toArray(), [0.5, -0.5, -0.5, -0.5], "sign(out − label)/2")
    }

    /// The losses whose input gradients the regression outputs write, each `· grad_scale / m`
    /// (m outputs per sample): linear `Σ ½(out − l)²`, logistic the binary cross-entropy
    /// `−Σ l·log σ + (1 − l)·log(1 − σ)`, MAE `Σ |out − l|`.
    static func loss(_ kind: RegressionKind, scale: Double) -> CheckLoss {
        .custom { outs, inputs in
            let y = outs[0]
            let l = inputs[1]
            let m = Double(l.count / l.shape[0])
            var s = 0.0
            for i in 0..<y.count {
                let o = Double(y.data[i])
                let t = Double(l.data[i])
                switch kind {
                case .linear: s += 0.5 * (o - t) * (o - t)
                case .logistic: s -= t * log(o) + (1 - t) * log(1 - o)
                case .mae: s += abs(o - t)
                }
            }
            return s * scale / m
        }
    }

    @Test(arguments: [
        (RegressionKind.linear, Float(1)), (.linear, 2), (.logistic, 1), (.logistic, 0.5), (.mae, 1), (.mae, 3),
    ])
    func gradient(kind: RegressionKind, scale: Float) throws {
        let op: any Operator
        switch kind {
        case .linear: op = LinearRegressionOutput(gradScale: scale)
        case .logistic: op = LogisticRegressionOutput(gradScale: scale)
        case .mae: op = MAERegressionOutput(gradScale: scale)
        }
        // Labels sit at least 0.1 from the data, off MAE's kink.
        var rng = RandomGenerator(seed: 5)
        let data = NDArray(shape: [3, 2])
        rng.fillUniform(data, low: -1, high: 1)
        let label = NDArray(shape: [3, 2])
        for i in 0..<6 {
            let offset = rng.uniform(0.1, 0.6) * (rng.nextUnit() < 0.5 ? -1 : 1)
            label.data[i] = kind == .logistic ? rng.uniform(0, 1) : data.data[i] + offset
        }
        let f = try OpFixture(op, shapes: [nil, nil], given: [0: data, 1: label])
        try GradientCheck.check(f, loss: Self.loss(kind, scale: Double(scale)))
        try GradientCheck.checkAccumulation(f)
        // A label (N,) for data (N, 1) is accepted.
        #expect(try op.inferShape([[4, 1], [4]]).inputs == [[4, 1], [4]])
    }

    @Test func shapesAndAttributes() throws {
        #expect(try LinearRegressionOutput().inferShape([[4, 3], nil]).inputs == [[4, 3], [4, 3]])
        // One output per sample: the label is (N,), as MXNet infers it.
        #expect(try LinearRegressionOutput().inferShape([[4, 1], nil]).inputs == [[4, 1], [4]])
        expectShapeError { _ = try LinearRegressionOutput().inferShape([[4, 3], [4, 2]]) }
        expectBadAttribute("grad_scale") { _ = try MAERegressionOutput(attributes: ["grad_scale": "x"]) }
        #expect(try LogisticRegressionOutput(attributes: ["grad_scale": "2"]).gradScale == 2)
        #expect(LinearRegressionOutput().labelInputs == [1])
    }
}
