import SwiftPSTensor

/// MXNet's `FullyConnected`: `output = data · weightᵀ + bias`, weight of shape (num_hidden, input_dim).
///
/// With `flatten` (the default) an input of shape (N, d1, d2, …) is treated as (N, d1·d2·…);
/// without it, the last axis is the input dimension. Forward and backward are one sgemm each.
public struct FullyConnected: Operator {
    public static let typeName = "FullyConnected"
    public static let attributeNames: [String] = ["num_hidden", "no_bias", "flatten"]
    /// The number of outputs per sample.
    public let numHidden: Int
    /// No bias argument when true.
    public let noBias: Bool
    /// Flatten all axes after the first into the input dimension.
    public let flatten: Bool

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        numHidden = try r.int("num_hidden")
        noBias = try r.bool("no_bias", default: false)
        flatten = try r.bool("flatten", default: true)
        guard numHidden > 0 else {
            throw GraphError.badAttribute(
                op: Self.typeName, name: "num_hidden", value: "\(numHidden)", reason: "must be positive")
        }
    }

    /// A FullyConnected with the given settings.
    public init(numHidden: Int, noBias: Bool = false, flatten: Bool = true) {
        self.numHidden = numHidden
        self.noBias = noBias
        self.flatten = flatten
    }

    public var attributes: [String: String] {
        [
            "num_hidden": String(numHidden), "no_bias": AttributeReader.format(noBias),
            "flatten": AttributeReader.format(flatten),
        ]
    }

    public func listArguments() -> [String] { noBias ? ["data", "weight"] : ["data", "weight", "bias"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil, data.count >= 1 else {
            throw GraphError.shapeError("FullyConnected needs the data shape")
        }
        let (rows, dim) =
            flatten
            ? (data[0], data.dropFirst().reduce(1, *))
            : (data.dropLast().reduce(1, *), data.last!)
        let weight = [numHidden, dim]
        if s.count > 1, let w = s[1], w != weight {
            throw GraphError.shapeError(
                "FullyConnected weight shape \(w) does not match data \(data): expected \(weight)")
        }
        var inputs = [data, weight]
        if !noBias { inputs.append([numHidden]) }
        let out = flatten ? [rows, numHidden] : Array(data.dropLast()) + [numHidden]
        return (inputs, [out], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let data = context.inputShapes[0]
        let rows = flatten ? data[0] : data.dropLast().reduce(1, *)
        return Instance(rows: rows, dim: NDArray.elementCount(data) / max(rows, 1), hidden: numHidden, noBias: noBias)
    }

    final class Instance: OperatorInstance {
        let rows: Int, dim: Int, hidden: Int, noBias: Bool
        init(rows: Int, dim: Int, hidden: Int, noBias: Bool) {
            self.rows = rows
            self.dim = dim
            self.hidden = hidden
            self.noBias = noBias
        }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0]
            let w = b.inputs[1]
            let y = b.outputs[0]
            if noBias {
                BLAS.gemm(transB: true, m: rows, n: hidden, k: dim, a: x.data, b: w.data, beta: 0, c: y.data)
            } else {
                // Broadcast the bias into y, then accumulate the product on top (one pass, no temp).
                let bias = b.inputs[2].data
                for r in 0..<rows { (y.data + r * hidden).update(from: bias, count: hidden) }
                BLAS.gemm(transB: true, m: rows, n: hidden, k: dim, a: x.data, b: w.data, beta: 1, c: y.data)
            }
        }

        func backward(_ b: OpBinding) {
            let x = b.inputs[0]
            let w = b.inputs[1]
            let dy = b.outputGrads[0]
            // dx = dy · W      (rows × hidden) · (hidden × dim)
            b.withGrad(0) { dx, acc in
                BLAS.gemm(m: rows, n: dim, k: hidden, a: dy.data, b: w.data, beta: acc ? 1 : 0, c: dx.data)
            }
            // dW = dyᵀ · x     (hidden × rows) · (rows × dim)
            b.withGrad(1) { dw, acc in
                BLAS.gemm(
                    transA: true, m: hidden, n: dim, k: rows, a: dy.data, b: x.data, beta: acc ? 1 : 0, c: dw.data)
            }
            if !noBias {
                b.withGrad(2) { db, acc in
                    Kernels.sumRows(rows: rows, cols: hidden, dy.data, db.data, accumulate: acc)
                }
            }
        }
    }
}
