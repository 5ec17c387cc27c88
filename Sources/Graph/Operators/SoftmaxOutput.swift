import SwiftPSTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// MXNet's `SoftmaxOutput`: softmax forward, cross-entropy gradient backward.
///
/// The data (d1, d2, …) is viewed as (d1, d2·…) — or, with `preserve_shape`, as (d1·…·d(n−1), dn)
/// — and softmax runs along each row. Labels are float class indices, one per row (shape (d1,), or
/// d1…d(n−1) with `preserve_shape`). Backward ignores the head gradient (unless `out_grad`) and
/// writes `(softmax − onehot(label)) · grad_scale / norm`, the gradient of the summed cross-entropy
/// `−Σ log softmax[label] · grad_scale / norm`, where norm is 1 for `normalization="null"` (MXNet's
/// default), the row count for `batch`, and the count of labels ≠ `ignore_label` (at least 1) for
/// `valid`. With `use_ignore`, rows labelled `ignore_label` get a zero gradient. `smooth_alpha`
/// spreads alpha of the target over the other classes. A label outside [0, K) gets no one-hot term,
/// as in MXNet. `multi_output` is not supported. The label never receives a gradient (0 if asked).
public struct SoftmaxOutput: Operator {
    public static let typeName = "SoftmaxOutput"
    public static let attributeNames: [String] = [
        "grad_scale", "ignore_label", "multi_output", "use_ignore", "preserve_shape", "normalization", "out_grad",
        "smooth_alpha",
    ]

    /// MXNet's `normalization` values.
    public enum Normalization: String, Sendable, CaseIterable {
        case null, batch, valid
    }

    /// Multiplies the gradient.
    public let gradScale: Float
    /// The label value ignored with `useIgnore` (and not counted by `valid`).
    public let ignoreLabel: Float
    /// Zero the gradient of rows labelled `ignoreLabel`.
    public let useIgnore: Bool
    /// How the gradient is divided.
    public let normalization: Normalization
    /// Softmax along the last axis, keeping the leading axes as rows.
    public let preserveShape: Bool
    /// Multiply the gradient by the head gradient.
    public let outGrad: Bool
    /// Label smoothing.
    public let smoothAlpha: Float

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        gradScale = try r.float("grad_scale", default: 1)
        ignoreLabel = try r.float("ignore_label", default: -1)
        guard Self.classIndex(ignoreLabel) != nil else {
            throw r.bad("ignore_label", formatFloat(ignoreLabel), "must be a finite class index")
        }
        useIgnore = try r.bool("use_ignore", default: false)
        normalization =
            Normalization(
                rawValue: try r.choice("normalization", Normalization.allCases.map(\.rawValue), default: "null"))
            ?? .null
        preserveShape = try r.bool("preserve_shape", default: false)
        outGrad = try r.bool("out_grad", default: false)
        smoothAlpha = try r.float("smooth_alpha", default: 0, in: 0...1)
        if try r.bool("multi_output", default: false) {
            throw r.bad("multi_output", attributes["multi_output"] ?? "", "is not supported by SwiftPS")
        }
    }

    /// A SoftmaxOutput with the given settings.
    public init(
        gradScale: Float = 1, ignoreLabel: Float = -1, useIgnore: Bool = false, normalization: Normalization = .null,
        preserveShape: Bool = false, outGrad: Bool = false, smoothAlpha: Float = 0
    ) {
        self.gradScale = gradScale
        self.ignoreLabel = ignoreLabel
        self.useIgnore = useIgnore
        self.normalization = normalization
        self.preserveShape = preserveShape
        self.outGrad = outGrad
        self.smoothAlpha = smoothAlpha
    }

    public var attributes: [String: String] {
        [
            "grad_scale": formatFloat(gradScale), "ignore_label": formatFloat(ignoreLabel),
            "use_ignore": AttributeReader.format(useIgnore), "normalization": normalization.rawValue,
            "preserve_shape": AttributeReader.format(preserveShape), "out_grad": AttributeReader.format(outGrad),
            "smooth_alpha": formatFloat(smoothAlpha),
        ]
    }

    public func listArguments() -> [String] { ["data", "label"] }
    public var labelInputs: Set<Int> { [1] }
    /// Only with `out_grad` does the gradient multiply the head gradient.
    public var readsOutputGradient: Bool { outGrad }

    /// The class a label value names, truncated toward zero as MXNet's `static_cast<int>` (so -0.5
    /// is class 0); nil for NaN, infinities and values no class index can hold, which then select no
    /// class (Swift's `Int(_:)` would stop the process on them).
    static func classIndex(_ label: Float) -> Int? {
        label.isFinite && abs(label) < 2_147_483_648 ? Int(label) : nil
    }

    /// (rows, classes) of the softmax view of `data`, and the label shape MXNet infers.
    func layout(_ data: [Int]) throws -> (rows: Int, classes: Int, label: [Int]) {
        guard data.count >= 1 else { throw GraphError.shapeError("SoftmaxOutput needs data with at least one axis") }
        if preserveShape {
            let label = Array(data.dropLast())
            return (label.reduce(1, *), data.last ?? 1, label)
        }
        return (data[0], data.dropFirst().reduce(1, *), [data[0]])
    }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("SoftmaxOutput needs the data shape") }
        let l = try layout(data)
        var label = l.label
        if s.count > 1, let given = s[1] {
            // MXNet checks the label's shape, not only its size: a label of another layout with as
            // many elements (a transposed (35, 32) for data (32, 35, K)) would pair rows with the
            // wrong labels. A trailing axis of 1 ((N, 1) for (N,)) says the same and is accepted.
            guard given == l.label || given == l.label + [1] else {
                throw GraphError.shapeError(
                    "SoftmaxOutput label shape \(given) does not match data \(data): expected \(l.label)")
            }
            label = given
        }
        return ([data, label], [data], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let l = try layout(context.inputShapes[0])
        return Instance(op: self, rows: l.rows, classes: l.classes)
    }

    final class Instance: OperatorInstance {
        let op: SoftmaxOutput, rows: Int, classes: Int
        init(op: SoftmaxOutput, rows: Int, classes: Int) {
            self.op = op
            self.rows = rows
            self.classes = classes
        }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0].data
            let y = b.outputs[0].data
            let k = classes
            for r in 0..<rows {
                let xr = x + r * k
                let yr = y + r * k
                var m = -Float.infinity
                for j in 0..<k { m = max(m, xr[j]) }
                for j in 0..<k { yr[j] = expf(xr[j] - m) }
                let inv = 1 / Kernels.sum(k, yr)
                for j in 0..<k { yr[j] *= inv }
            }
        }

        func backward(_ b: OpBinding) {
            let y = b.outputs[0].data
            let label = b.inputs[1].data
            let k = classes
            let ignore = SoftmaxOutput.classIndex(op.ignoreLabel)
            var norm: Float = 1
            switch op.normalization {
            case .null: norm = 1
            case .batch: norm = Float(max(rows, 1))
            case .valid:
                var n = 0
                for r in 0..<rows where SoftmaxOutput.classIndex(label[r]) != ignore { n += 1 }
                norm = Float(max(n, 1))
            }
            let scale = op.gradScale / norm
            let off: Float = k > 1 ? op.smoothAlpha / Float(k - 1) : 0
            let on: Float = 1 - op.smoothAlpha
            let head: UnsafeMutablePointer<Float>? = op.outGrad ? b.outputGrads.first?.data : nil
            b.withGrad(0) { dxArr, acc in
                let dx = dxArr.data
                for r in 0..<rows {
                    let yr = y + r * k
                    let dr = dx + r * k
                    let target = SoftmaxOutput.classIndex(label[r])
                    if op.useIgnore && target != nil && target == ignore {
                        if !acc { dr.update(repeating: 0, count: k) }
                        continue
                    }
                    let inRange = target.map { $0 >= 0 && $0 < k } ?? false
                    if let head {
                        let hr = head + r * k
                        writeGrad(k, dr, accumulate: acc) { (yr[$0] - off) * scale * hr[$0] }
                        if inRange, let t = target { dr[t] -= (on - off) * scale * hr[t] }
                    } else {
                        writeGrad(k, dr, accumulate: acc) { (yr[$0] - off) * scale }
                        if inRange, let t = target { dr[t] -= (on - off) * scale }
                    }
                }
            }
            b.withGrad(1) { dl, acc in if !acc { dl.fill(0) } }
        }
    }
}
