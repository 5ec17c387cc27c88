import SwiftPSTensor

/// MXNet's `Embedding`: each entry of `data`, an index held as a float, replaced by that row of
/// `weight` (shape (input_dim, output_dim)); the output has the data's shape plus `output_dim`.
///
/// Indices are read as MXNet 1.9.1 reads them: truncated toward zero to a 64-bit integer, then
/// clipped to [0, input_dim − 1], so -3 and 0.6 pick row 0 and 100 the last row; a value with no
/// 64-bit integer (NaN, ±∞, ±1e19) picks row 0. The weight's gradient is dense: each output row's
/// gradient is added into the row it was read from. The data gets a zero gradient (MXNet refuses
/// to compute one). `dtype` other than float32 and `sparse_grad` are refused: SwiftPS arrays are
/// float32 and dense.
public struct Embedding: Operator {
    public static let typeName = "Embedding"
    public static let attributeNames: [String] = ["input_dim", "output_dim", "dtype", "sparse_grad"]
    /// The number of rows (the vocabulary size).
    public let inputDim: Int
    /// The length of each row.
    public let outputDim: Int

    /// MXNet's dtype names, of which SwiftPS takes float32 only.
    static let mxnetTypes = ["bfloat16", "float16", "float32", "float64", "int32", "int64", "int8", "uint8"]

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        inputDim = try r.int("input_dim")
        outputDim = try r.int("output_dim")
        for (name, value) in [("input_dim", inputDim), ("output_dim", outputDim)] where value < 1 {
            throw r.bad(name, "\(value)", "must be at least 1")
        }
        try r.requireFloat32("dtype", among: Self.mxnetTypes, what: "the weight")
        if try r.bool("sparse_grad", default: false) {
            throw r.bad(
                "sparse_grad", attributes["sparse_grad"] ?? "",
                "is not supported: SwiftPS computes the weight's gradient as a dense array")
        }
    }

    /// An embedding of `inputDim` rows of `outputDim` entries.
    public init(inputDim: Int, outputDim: Int) {
        self.inputDim = inputDim
        self.outputDim = outputDim
    }

    public var attributes: [String: String] { ["input_dim": String(inputDim), "output_dim": String(outputDim)] }

    public func listArguments() -> [String] { ["data", "weight"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("Embedding needs the data shape") }
        let weight = [inputDim, outputDim]
        if s.count > 1, let w = s[1], w != weight {
            throw GraphError.shapeError(
                "Embedding weight shape \(w) does not match input_dim=\(inputDim), output_dim=\(outputDim): "
                    + "expected \(weight)")
        }
        return ([data, weight], [data + [outputDim]], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        Instance(count: NDArray.elementCount(context.inputShapes[0]), rows: inputDim, width: outputDim)
    }

    /// The row MXNet reads for index value `v` among `rows` rows.
    @inline(__always) static func row(_ v: Float, rows: Int) -> Int {
        // MXNet converts to int64 first; a value without one becomes INT64_MIN, then row 0.
        guard v.isFinite, abs(v) < 0x1p63 else { return 0 }
        return min(max(Int(v), 0), rows - 1)
    }

    final class Instance: OperatorInstance {
        /// The number of indices.
        let count: Int
        let rows: Int
        let width: Int
        init(count: Int, rows: Int, width: Int) {
            self.count = count
            self.rows = rows
            self.width = width
        }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0].data
            let w = b.inputs[1].data
            let y = b.outputs[0].data
            for i in 0..<count {
                (y + i * width).update(from: w + Embedding.row(x[i], rows: rows) * width, count: width)
            }
        }

        func backward(_ b: OpBinding) {
            let x = b.inputs[0].data
            let dy = b.outputGrads[0].data
            b.withGrad(0) { dx, accumulate in if !accumulate { dx.fill(0) } }
            b.withGrad(1) { dwArray, accumulate in
                if !accumulate { dwArray.fill(0) }
                let dw = dwArray.data
                for i in 0..<count {
                    Kernels.addInPlace(width, dy + i * width, dw + Embedding.row(x[i], rows: rows) * width)
                }
            }
        }
    }
}

extension AttributeReader {
    /// Throws unless attribute `name` is absent or `float32`: a dtype of MXNet's list (`types`) is
    /// refused as unsupported (SwiftPS arrays are float32), any other as unknown.
    func requireFloat32(_ name: String, among types: [String], what: String) throws {
        guard let value = raw[name], value.trimmingSpaces != "float32" else { return }
        guard types.contains(value.trimmingSpaces) else {
            throw bad(name, value, "must be one of \(types.joined(separator: ", "))")
        }
        throw bad(name, value, "is not supported: SwiftPS arrays are float32, so \(what) must be float32")
    }
}
