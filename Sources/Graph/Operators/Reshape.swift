import SwiftPSTensor

/// MXNet's `Reshape`: the data with another shape of the same element count.
///
/// `shape` takes MXNet's special values, read left to right against the data's axes:
/// - 0 copies the data's next axis;
/// - −1 takes what the other axes leave (at most once; it stands for one data axis);
/// - −2 copies all the data's remaining axes;
/// - −3 merges the data's next two axes into one;
/// - −4 splits the data's next axis into the two sizes that follow it (one may be −1).
/// With `reverse`, both lists are read right to left (MXNet reverses them, reads, and reverses the
/// result). The result must have the data's element count.
public struct Reshape: Operator {
    public static let typeName = "Reshape"
    public static let attributeNames: [String] = ["shape", "reverse", "target_shape", "keep_highest"]
    /// The target shape with MXNet's special values.
    public let shape: [Int]
    /// Whether the special values are read from the right.
    public let reverse: Bool

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
        guard s.allSatisfy({ $0 >= -4 }) else {
            throw r.bad("shape", raw, "has a value below -4 (sizes, 0, -1, -2, -3 and -4 are MXNet's)")
        }
        guard s.filter({ $0 == -1 }).count <= 1 else { throw r.bad("shape", raw, "may infer (-1) one dimension only") }
        shape = s
        reverse = try r.bool("reverse", default: false)
    }

    /// A Reshape to `shape` (with MXNet's special values), read from the right when `reverse`.
    public init(shape: [Int], reverse: Bool = false) {
        self.shape = shape
        self.reverse = reverse
    }

    public var attributes: [String: String] {
        var a = ["shape": AttributeReader.format(shape)]
        if reverse { a["reverse"] = AttributeReader.format(true) }
        return a
    }

    public func listArguments() -> [String] { ["data"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("Reshape needs the data shape") }
        let spec = reverse ? Array(shape.reversed()) : shape
        let input = reverse ? Array(data.reversed()) : data
        func fail(_ why: String) -> GraphError {
            .shapeError("Reshape shape \(shape)\(reverse ? " (reverse)" : "") \(why) of data \(data)")
        }
        var out: [Int] = []
        var inferred: Int?
        var source = 0  // the data's next axis
        var i = 0
        func next() throws -> Int {
            guard source < input.count else { throw fail("reads past the last axis (at entry \(i))") }
            source += 1
            return input[source - 1]
        }
        while i < spec.count {
            switch spec[i] {
            case 0: out.append(try next())
            case -1:
                inferred = out.count
                out.append(1)
                source += 1
            case -2:
                out += input[min(source, input.count)...]
                source = max(source, input.count)
            case -3:
                let a = try next()
                out.append(a * (try next()))
            case -4:
                guard i + 2 < spec.count else { throw fail("has -4 without the two sizes after it") }
                let whole = try next()
                var (a, b) = (spec[i + 1], spec[i + 2])
                guard a > 0 || b > 0, a >= -1, b >= -1 else {
                    throw fail("splits (-4) an axis into \((a, b)), which needs a size and a size or -1")
                }
                if a == -1 { a = b > 0 && whole % b == 0 ? whole / b : 0 }
                if b == -1 { b = a > 0 && whole % a == 0 ? whole / a : 0 }
                guard a.multipliedReportingOverflow(by: b) == (whole, false) else {
                    throw fail("splits (-4) axis \(source - 1) of size \(whole) into \(a)×\(b)")
                }
                out += [a, b]
                i += 2
            default:
                out.append(spec[i])
                source += 1
            }
            i += 1
        }
        // The product of the sizes (the −1 counted as 1), checked: "(99999999999, 99999999999)"
        // overflows an Int.
        var known = 1
        for d in out {
            let (product, overflow) = known.multipliedReportingOverflow(by: d)
            guard !overflow else { throw fail("has more elements than memory can hold") }
            known = product
        }
        let total = NDArray.elementCount(data)
        if let inferred {
            guard known > 0, total % known == 0 else { throw fail("cannot infer -1 for the size") }
            out[inferred] = total / known
            known = total
        }
        if reverse { out.reverse() }
        guard known == total else { throw fail("gives \(out), whose size differs from that") }
        return ([data], [out], [])
    }
    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        CopyInstance(count: NDArray.elementCount(context.inputShapes[0]))
    }
}
