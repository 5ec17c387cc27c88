import SwiftPSTensor

/// MXNet's `Reshape`: the data with another shape of the same element count.
///
/// `shape` takes MXNet's special values 0 (copy the input's dimension at the same position) and
/// −1 (infer this dimension from the others, at most once). MXNet's −2, −3, −4 and `reverse` are
/// rejected with `GraphError.badAttribute`.
public struct Reshape: Operator {
    public static let typeName = "Reshape"
    public static let attributeNames: [String] = ["shape", "reverse", "target_shape", "keep_highest"]
    /// The target shape with MXNet's 0 and −1.
    public let shape: [Int]

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        guard let s = try r.tuple("shape") else {
            if attributes["target_shape"] != nil {
                throw r.bad("target_shape", attributes["target_shape"] ?? "", "is MXNet's deprecated form: use shape")
            }
            throw r.bad("shape", "", "is required")
        }
        let raw = attributes["shape"] ?? ""
        guard !s.isEmpty else { throw r.bad("shape", raw, "must not be empty") }
        guard s.allSatisfy({ $0 >= -1 }) else {
            throw r.bad("shape", raw, "uses -2, -3 or -4, which SwiftPS does not support (use 0, -1 or sizes)")
        }
        guard s.filter({ $0 == -1 }).count <= 1 else { throw r.bad("shape", raw, "may infer (-1) one dimension only") }
        if try r.bool("reverse", default: false) {
            throw r.bad("reverse", attributes["reverse"] ?? "", "is not supported by SwiftPS")
        }
        shape = s
    }

    /// A Reshape to `shape` (0 and −1 allowed).
    public init(shape: [Int]) { self.shape = shape }

    public var attributes: [String: String] { ["shape": AttributeReader.format(shape)] }

    public func listArguments() -> [String] { ["data"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("Reshape needs the data shape") }
        var out = shape
        for (i, d) in shape.enumerated() where d == 0 {
            guard i < data.count else {
                throw GraphError.shapeError(
                    "Reshape shape \(shape) copies (0) axis \(i) of data \(data), which has none")
            }
            out[i] = data[i]
        }
        let total = NDArray.elementCount(data)
        // The product of the sizes the attribute gives (-1 left out), checked: "(99999999999, 99999999999)"
        // overflows an Int.
        var known = 1
        for d in out where d != -1 {
            let (product, overflow) = known.multipliedReportingOverflow(by: d)
            guard !overflow else {
                throw GraphError.shapeError("Reshape \(shape) has more elements than memory can hold")
            }
            known = product
        }
        if let i = out.firstIndex(of: -1) {
            guard known > 0, total % known == 0 else {
                throw GraphError.shapeError("Reshape cannot infer -1 in \(shape) for data \(data)")
            }
            out[i] = total / known
            known *= out[i]
        }
        guard known == total else {
            throw GraphError.shapeError("Reshape \(shape) gives \(out) whose size differs from data \(data)")
        }
        return ([data], [out], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        CopyInstance(count: NDArray.elementCount(context.inputShapes[0]))
    }
}
