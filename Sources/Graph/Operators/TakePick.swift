import SwiftPSTensor

/// How `take` and `pick` read an index outside the axis: MXNet's `mode`.
enum IndexMode: String, Sendable {
    /// Clipped to the axis: below 0 is the first element, past the end the last.
    case clip
    /// Counted around the axis: −1 is the last element, the length the first.
    case wrap

    /// The mode of attribute `mode` (default clip); `raise`, which MXNet takes for `take`, is refused:
    /// a forward pass here cannot stop with an error.
    init(_ r: AttributeReader, allowed: [String]) throws {
        let value = try r.choice("mode", allowed, default: "clip")
        guard let mode = IndexMode(rawValue: value) else {
            throw r.bad(
                "mode", value, "is not supported: SwiftPS's forward pass cannot raise an error; use clip or wrap")
        }
        self = mode
    }
}

/// How `take` and `pick` read an index value: the instances are generic over it, so the inner loops
/// carry no switch over the mode.
protocol IndexReader {
    /// The element an index value `v` picks on an axis of `length`, as MXNet 1.9.1 reads it:
    /// truncated toward zero to a 64-bit integer (a value without one, NaN or ±∞, is the smallest),
    /// then clipped or wrapped.
    static func element(_ v: Float, length: Int) -> Int
}

/// `mode` clip.
enum ClippedIndex: IndexReader {
    @inline(__always) static func element(_ v: Float, length: Int) -> Int { Embedding.row(v, rows: length) }
}

/// `mode` wrap.
enum WrappedIndex: IndexReader {
    @inline(__always) static func element(_ v: Float, length: Int) -> Int {
        let j = (v.isFinite && abs(v) < 0x1p63 ? Int(v) : Int.min) % length
        return j < 0 ? j + length : j
    }
}

/// The index input gets no gradient (MXNet gives zeros): zeroes input `i`'s gradient unless it
/// accumulates.
private func zeroIndexGradient(_ b: OpBinding, _ i: Int) {
    b.withGrad(i) { g, accumulate in if !accumulate { g.fill(0) } }
}

/// An axis of `shape` given as `axis` (negative counting from the end), or the error naming `op`.
private func normalizedAxis(_ axis: Int, _ shape: [Int], _ op: String) throws -> Int {
    let a = axis < 0 ? axis + shape.count : axis
    guard a >= 0, a < shape.count else {
        throw GraphError.shapeError("\(op) axis \(axis) is out of range for data of shape \(shape)")
    }
    return a
}

/// The data's shape viewed as (before, axis, after) around axis `a`.
private func around(_ shape: [Int], _ a: Int) -> (before: Int, length: Int, after: Int) {
    (NDArray.elementCount(Array(shape[..<a])), shape[a], NDArray.elementCount(Array(shape[(a + 1)...])))
}

/// MXNet's `take`: the slices of `a` along `axis` (default 0; negative counting from the end) that
/// `indices` (floats, truncated toward zero) name, in the indices' shape: the output is `a`'s shape
/// with that axis replaced by the indices' shape. Out-of-range indices are clipped (`mode` clip, the
/// default) or wrapped (`wrap`); MXNet's `raise` is refused. The gradient goes to `a` only, each
/// output slice's added into the slice it was read from; `indices` get zeros, as in MXNet.
public struct Take: Operator {
    public static let typeName = "take"
    public static let attributeNames: [String] = ["axis", "mode"]
    public let axis: Int
    let mode: IndexMode

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        axis = try r.int("axis", default: 0)
        mode = try IndexMode(r, allowed: ["clip", "raise", "wrap"])
    }

    public var attributes: [String: String] { ["axis": String(axis), "mode": mode.rawValue] }
    public func listArguments() -> [String] { ["a", "indices"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("take needs the shape of a") }
        guard s.count > 1, let indices = s[1] else { throw GraphError.shapeError("take needs the shape of indices") }
        let a = try normalizedAxis(axis, data, Self.typeName)
        return ([data, indices], [Array(data[..<a]) + indices + Array(data[(a + 1)...])], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let data = context.inputShapes[0]
        let (before, length, after) = around(data, try normalizedAxis(axis, data, Self.typeName))
        let count = NDArray.elementCount(context.inputShapes[1])
        switch mode {
        case .clip: return Instance<ClippedIndex>(before: before, length: length, after: after, count: count)
        case .wrap: return Instance<WrappedIndex>(before: before, length: length, after: after, count: count)
        }
    }

    final class Instance<Reader: IndexReader>: OperatorInstance {
        let before: Int, length: Int, after: Int, count: Int
        init(before: Int, length: Int, after: Int, count: Int) {
            (self.before, self.length, self.after, self.count) = (before, length, after, count)
        }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0].data
            let indices = b.inputs[1].data
            let y = b.outputs[0].data
            for p in 0..<before {
                for i in 0..<count {
                    let src = x + (p * length + Reader.element(indices[i], length: length)) * after
                    (y + (p * count + i) * after).update(from: src, count: after)
                }
            }
        }

        func backward(_ b: OpBinding) {
            let indices = b.inputs[1].data
            let dy = b.outputGrads[0].data
            b.withGrad(0) { dxArray, accumulate in
                if !accumulate { dxArray.fill(0) }
                let dx = dxArray.data
                for p in 0..<before {
                    for i in 0..<count {
                        let dst = dx + (p * length + Reader.element(indices[i], length: length)) * after
                        Kernels.addInPlace(after, dy + (p * count + i) * after, dst)
                    }
                }
            }
            zeroIndexGradient(b, 1)
        }
    }
}

/// MXNet's `pick`: along axis `axis` (default −1; negative counting from the end; MXNet 1.9.1 refuses
/// `None`), the one element of the data that `index` (floats, truncated toward zero) names for each
/// position of the other axes. The output is the data without that axis (`keepdims`: with it as 1);
/// `index` has that shape, or the data's with the axis as 1. Out-of-range indices are clipped (`mode`
/// clip, the default) or wrapped (`wrap`). The gradient goes to the data only, at the picked
/// elements; `index` gets zeros, as in MXNet.
public struct Pick: Operator {
    public static let typeName = "pick"
    public static let attributeNames: [String] = ["axis", "keepdims", "mode"]
    public let axis: Int
    public let keepdims: Bool
    let mode: IndexMode

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        guard try attributes["axis"] == nil || r.intOrNone("axis") != nil else {
            throw r.bad("axis", attributes["axis"] ?? "", "cannot be None: MXNet 1.9.1's pick needs an axis")
        }
        axis = try r.int("axis", default: -1)
        keepdims = try r.bool("keepdims", default: false)
        mode = try IndexMode(r, allowed: ["clip", "wrap"])
    }

    public var attributes: [String: String] {
        ["axis": String(axis), "keepdims": AttributeReader.format(keepdims), "mode": mode.rawValue]
    }
    public func listArguments() -> [String] { ["data", "index"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("pick needs the data shape") }
        let a = try normalizedAxis(axis, data, Self.typeName)
        var kept = data
        kept[a] = 1
        var reduced = data
        reduced.remove(at: a)
        var index = reduced
        if s.count > 1, let given = s[1] {
            guard given == reduced || given == kept else {
                throw GraphError.shapeError(
                    "pick index has shape \(given); data of shape \(data) picked along axis \(a) needs \(reduced)")
            }
            index = given
        }
        return ([data, index], [keepdims ? kept : reduced], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let data = context.inputShapes[0]
        let (before, length, after) = around(data, try normalizedAxis(axis, data, Self.typeName))
        switch mode {
        case .clip: return Instance<ClippedIndex>(before: before, length: length, after: after)
        case .wrap: return Instance<WrappedIndex>(before: before, length: length, after: after)
        }
    }

    final class Instance<Reader: IndexReader>: OperatorInstance {
        let before: Int, length: Int, after: Int
        init(before: Int, length: Int, after: Int) {
            (self.before, self.length, self.after) = (before, length, after)
        }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0].data
            let index = b.inputs[1].data
            let y = b.outputs[0].data
            for p in 0..<before {
                let row = x + p * length * after
                for q in 0..<after {
                    let o = p * after + q
                    y[o] = row[Reader.element(index[o], length: length) * after + q]
                }
            }
        }

        func backward(_ b: OpBinding) {
            let index = b.inputs[1].data
            let dy = b.outputGrads[0].data
            b.withGrad(0) { dxArray, accumulate in
                if !accumulate { dxArray.fill(0) }
                let dx = dxArray.data
                for p in 0..<before {
                    let row = dx + p * length * after
                    for q in 0..<after {
                        let o = p * after + q
                        row[Reader.element(index[o], length: length) * after + q] += dy[o]
                    }
                }
            }
            zeroIndexGradient(b, 1)
        }
    }
}

/// MXNet's `one_hot`: for each entry of `indices` (floats, truncated toward zero) a row of `depth`
/// (at least 1) values, `on_value` (default 1) at the index and `off_value` (default 0) elsewhere;
/// an index outside [0, depth) gives a row of `off_value` (as MXNet 1.9.1, −0.5 too: it is compared
/// before it is truncated). The output has the indices' shape plus
/// `depth`. No gradient flows back (the indices get zeros, as in MXNet). `dtype` other than float32
/// is refused: SwiftPS arrays are float32.
public struct OneHot: Operator {
    public static let typeName = "one_hot"
    public static let attributeNames: [String] = ["depth", "on_value", "off_value", "dtype"]
    public let depth: Int
    public let onValue: Float, offValue: Float
    public var readsOutputGradient: Bool { false }

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        depth = try r.int("depth")
        guard depth >= 1 else {
            throw r.bad(
                "depth", attributes["depth"] ?? "",
                depth == 0 ? "must be positive (SwiftPS has no empty arrays)" : "must not be negative")
        }
        onValue = try r.float("on_value", default: 1)
        offValue = try r.float("off_value", default: 0)
        try r.requireFloat32("dtype", among: Embedding.mxnetTypes, what: "the output")
    }

    public var attributes: [String: String] {
        var a = ["depth": String(depth)]
        if onValue != 1 { a["on_value"] = formatFloat(onValue) }
        if offValue != 0 { a["off_value"] = formatFloat(offValue) }
        return a
    }
    public func listArguments() -> [String] { ["indices"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let indices = s.first ?? nil else { throw GraphError.shapeError("one_hot needs the shape of indices") }
        return ([indices], [indices + [depth]], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        Instance(count: NDArray.elementCount(context.inputShapes[0]), depth: depth, on: onValue, off: offValue)
    }

    final class Instance: OperatorInstance {
        let count: Int, depth: Int
        let on: Float, off: Float
        init(count: Int, depth: Int, on: Float, off: Float) {
            (self.count, self.depth, self.on, self.off) = (count, depth, on, off)
        }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let indices = b.inputs[0].data
            let y = b.outputs[0].data
            Kernels.fill(count * depth, off, y)
            for i in 0..<count {
                // As MXNet 1.9.1: a value below 0 (−0.5 too), NaN, ±∞ or past the depth picks nothing;
                // others are truncated.
                let v = indices[i]
                guard v >= 0, v < 0x1p62 else { continue }
                let j = Int(v)
                if j < depth { y[i * depth + j] = on }
            }
        }

        func backward(_ b: OpBinding) { zeroIndexGradient(b, 0) }
    }
}
