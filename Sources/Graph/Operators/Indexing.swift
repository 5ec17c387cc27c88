import SwiftPSTensor

extension AttributeReader {
    /// A tuple whose entries may be `None`, MXNet's `Tuple<optional<int>>` (`"(None, 1)"`); nil when
    /// absent.
    func optionalTuple(_ name: String) throws -> [Int?]? {
        guard let v = raw[name] else { return nil }
        var out: [Int?] = []
        for part in v.trimmingSpaces.trimmingCharacters(in: "()[]").split(separator: ",") {
            let p = String(part).trimmingSpaces
            if p.isEmpty { continue }
            if p == "None" {
                out.append(nil)
            } else {
                guard let i = Int(p) else { throw bad(name, v, "is not a tuple of integers or None") }
                out.append(i)
            }
        }
        return out
    }

    /// A required integer or `None` (nil).
    func intOrNone(_ name: String) throws -> Int? {
        raw[name]?.trimmingSpaces == "None" ? nil : try int(name)
    }

    /// Formats a tuple with `None` entries the way MXNet writes it: `"(None, 1)"`.
    static func format(_ t: [Int?]) -> String {
        "(" + t.map { $0.map(String.init) ?? "None" }.joined(separator: ", ") + ")"
    }
}

/// The part of one axis of length `length` a slice picks: `count` elements from `begin` in steps of
/// `step` (negative: backwards).
struct AxisRange: Equatable {
    var begin: Int, step: Int, count: Int

    /// The whole axis, forwards or (`reversed`) backwards.
    init(whole length: Int, reversed: Bool = false) {
        (begin, step, count) = reversed ? (length - 1, -1, length) : (0, 1, length)
    }

    init(begin: Int, step: Int, count: Int) {
        // A step is immaterial for fewer than 2 elements; 1 keeps the walk's stride products small.
        (self.begin, self.step, self.count) = (begin, count < 2 ? 1 : step, count)
    }

    /// Python's (and MXNet's `slice`) `begin:end:step` on an axis of `length` (`step` not 0): a nil
    /// begin or end is the axis's start or end in the step's direction, negative ones count from the
    /// end, and both are clamped to the axis.
    init(python begin: Int?, _ end: Int?, step: Int, length: Int) {
        func clamped(_ i: Int, _ low: Int, _ high: Int) -> Int { i < 0 ? max(i + length, low) : min(i, high) }
        if step > 0 {
            let b = begin.map { clamped($0, 0, length) } ?? 0
            let e = end.map { clamped($0, 0, length) } ?? length
            self.init(begin: b, step: step, count: e > b ? (e - b - 1) / step + 1 : 0)
        } else {
            let b = begin.map { clamped($0, -1, length - 1) } ?? length - 1
            let e = end.map { clamped($0, -1, length - 1) } ?? -1
            self.init(begin: b, step: step, count: b > e ? (b - e - 1) / -step + 1 : 0)
        }
    }
}

/// A box of data of `shape` picked axis by axis (`ranges`, one per axis): a `StridedCopyInstance`
/// starting at the box's first element with each axis's stride times its step.
func boxInstance(_ shape: [Int], _ ranges: [AxisRange]) -> StridedCopyInstance {
    let strides = StridedWalk.contiguousStrides(shape)
    let whole = shape.indices.allSatisfy { ranges[$0].count == shape[$0] }
    return StridedCopyInstance(
        StridedWalk(shape: ranges.map(\.count), reading: shape.indices.map { ranges[$0].step * strides[$0] }),
        offset: shape.indices.reduce(0) { $0 + ranges[$1].begin * strides[$1] },
        reads: whole ? .eachOnce : .atMostOnce)
}

/// The shape of a box, refusing an empty one, which SwiftPS has no arrays for (MXNet makes an array
/// of size 0).
func boxShape(_ ranges: [AxisRange], _ op: String, _ data: [Int], _ what: () -> String) throws -> [Int] {
    if let axis = ranges.firstIndex(where: { $0.count == 0 }) {
        throw GraphError.shapeError(
            "\(op) \(what()) selects no element of axis \(axis) (data of shape \(data)); SwiftPS has no empty arrays")
    }
    return ranges.map(\.count)
}

/// The data's shape, or the error naming `op`.
private func dataShape(_ s: [[Int]?], _ op: String) throws -> [Int] {
    guard let data = s.first ?? nil else { throw GraphError.shapeError("\(op) needs the data shape") }
    return data
}

/// MXNet's `slice_axis`: elements `begin` ..< `end` of axis `axis` (all three required; `end` may be
/// `None` for the axis's end; negative values count from the end). Unlike `slice`, nothing is clamped:
/// as MXNet, begin must lie on the axis, end at most its length, and begin before end.
public struct SliceAxis: Operator {
    public static let typeName = "slice_axis"
    public static let attributeNames: [String] = ["axis", "begin", "end"]
    public let axis: Int, begin: Int
    /// The end; nil for the axis's end (MXNet's `None`).
    public let end: Int?

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        axis = try r.int("axis")
        begin = try r.int("begin")
        end = try r.intOrNone("end")
    }

    /// Elements `begin ..< end` (nil: to the end) of `axis`.
    public init(axis: Int, begin: Int, end: Int?) {
        (self.axis, self.begin, self.end) = (axis, begin, end)
    }

    public var attributes: [String: String] {
        ["axis": String(axis), "begin": String(begin), "end": end.map(String.init) ?? "None"]
    }
    public func listArguments() -> [String] { ["data"] }

    func ranges(_ data: [Int]) throws -> [AxisRange] {
        let a = axis < 0 ? axis + data.count : axis
        guard a >= 0, a < data.count else {
            throw GraphError.shapeError("slice_axis axis \(axis) is out of range for data of shape \(data)")
        }
        let length = data[a]
        let b = begin < 0 ? begin + length : begin
        let e = end.map { $0 < 0 ? $0 + length : $0 } ?? length
        let what = "begin=\(begin), end=\(end.map(String.init) ?? "None") on axis \(a) of size \(length)"
        guard b >= 0, b < length else { throw GraphError.shapeError("slice_axis \(what): begin is off the axis") }
        guard e <= length else { throw GraphError.shapeError("slice_axis \(what): end is past the axis") }
        guard b < e else { throw GraphError.shapeError("slice_axis \(what): begin must come before end") }
        var ranges = data.map { AxisRange(whole: $0) }
        ranges[a] = AxisRange(begin: b, step: 1, count: e - b)
        return ranges
    }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        let data = try dataShape(s, Self.typeName)
        return ([data], [try ranges(data).map(\.count)], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let data = context.inputShapes[0]
        return boxInstance(data, try ranges(data))
    }
}

/// MXNet's `slice` (alias `crop`): `begin:end:step` on each of the first axes, as Python and NumPy
/// slice (entries may be `None`; negative begin and end count from the end; out-of-range ones are
/// clamped; a negative step runs backwards). `begin` and `end` are required and of equal length, at
/// most the data's number of axes; `step` is empty or of the same length, without 0. Axes past them
/// are kept whole. SwiftPS refuses a slice that selects nothing (MXNet makes an empty array).
public struct Slice: Operator {
    public static let typeName = "slice"
    public static let attributeNames: [String] = ["begin", "end", "step"]
    public let begin: [Int?], end: [Int?]
    /// The steps; empty for 1 on every axis.
    public let step: [Int?]

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        guard let begin = try r.optionalTuple("begin") else { throw r.bad("begin", "", "is required") }
        guard let end = try r.optionalTuple("end") else { throw r.bad("end", "", "is required") }
        let step = try r.optionalTuple("step") ?? []
        guard end.count == begin.count else {
            throw r.bad("end", attributes["end"] ?? "", "must have as many entries as begin (\(begin.count))")
        }
        guard step.isEmpty || step.count == begin.count else {
            throw r.bad(
                "step", attributes["step"] ?? "", "must be empty or have as many entries as begin (\(begin.count))")
        }
        guard !step.contains(0) else { throw r.bad("step", attributes["step"] ?? "", "must not have a 0 entry") }
        (self.begin, self.end, self.step) = (begin, end, step)
    }

    /// `begin:end:step` on the first axes (nil entries: MXNet's `None`; empty `step`: all 1).
    public init(begin: [Int?], end: [Int?], step: [Int?] = []) {
        precondition(begin.count == end.count && (step.isEmpty || step.count == begin.count), "slice lengths differ")
        (self.begin, self.end, self.step) = (begin, end, step)
    }

    public var attributes: [String: String] {
        var a = ["begin": AttributeReader.format(begin), "end": AttributeReader.format(end)]
        if !step.isEmpty { a["step"] = AttributeReader.format(step) }
        return a
    }
    public func listArguments() -> [String] { ["data"] }

    func ranges(_ data: [Int]) throws -> [AxisRange] {
        guard begin.count <= data.count else {
            throw GraphError.shapeError(
                "slice begin \(AttributeReader.format(begin)) names more axes than data of shape \(data) has")
        }
        return data.indices.map { i in
            guard i < begin.count else { return AxisRange(whole: data[i]) }
            return AxisRange(python: begin[i], end[i], step: step.isEmpty ? 1 : step[i] ?? 1, length: data[i])
        }
    }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        let data = try dataShape(s, Self.typeName)
        let out = try boxShape(ranges(data), Self.typeName, data) {
            let steps = step.isEmpty ? "" : ", step=\(AttributeReader.format(step))"
            return "begin=\(AttributeReader.format(begin)), end=\(AttributeReader.format(end))\(steps)"
        }
        return ([data], [out], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let data = context.inputShapes[0]
        return boxInstance(data, try ranges(data))
    }
}

/// MXNet's `reverse` (alias `flip`): the data with the order of the elements along each axis of
/// `axis` (a required tuple) reversed. As MXNet 1.9.1, the axes count from 0 only, and an axis named
/// twice is reversed twice (so it keeps its order).
public struct Reverse: Operator {
    public static let typeName = "reverse"
    public static let attributeNames: [String] = ["axis"]
    public let axis: [Int]

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        guard let axis = try r.tuple("axis") else { throw r.bad("axis", "", "is required") }
        guard axis.allSatisfy({ $0 >= 0 }) else {
            throw r.bad("axis", attributes["axis"] ?? "", "must not be negative (MXNet 1.9.1's reverse refuses it)")
        }
        self.axis = axis
    }

    /// The axes `axis` reversed.
    public init(axis: [Int]) { self.axis = axis }

    public var attributes: [String: String] { ["axis": AttributeReader.format(axis)] }
    public func listArguments() -> [String] { ["data"] }

    func ranges(_ data: [Int]) throws -> [AxisRange] {
        var reversed = data.map { _ in false }
        for a in axis {
            guard a < data.count else {
                throw GraphError.shapeError("reverse axis \(a) is out of range for data of shape \(data)")
            }
            reversed[a].toggle()
        }
        return data.indices.map { AxisRange(whole: data[$0], reversed: reversed[$0]) }
    }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        let data = try dataShape(s, Self.typeName)
        _ = try ranges(data)
        return ([data], [data], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let data = context.inputShapes[0]
        return boxInstance(data, try ranges(data))
    }
}

/// The product `a · b` of two sizes, or the error naming `op` when it is past `Int`.
private func product(_ a: Int, _ b: Int, _ op: String, _ data: [Int]) throws -> Int {
    let (p, overflow) = a.multipliedReportingOverflow(by: b)
    guard !overflow else {
        throw GraphError.shapeError("\(op) of data of shape \(data) has more elements than memory can hold")
    }
    return p
}

/// MXNet's `tile`: the data repeated `reps` times along each axis (every entry positive). When
/// `reps` and the data have different numbers of axes, the shorter is padded with leading 1s, as
/// NumPy. The gradient is the output's summed over the copies.
public struct Tile: Operator {
    public static let typeName = "tile"
    public static let attributeNames: [String] = ["reps"]
    public let reps: [Int]

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        guard let reps = try r.tuple("reps") else { throw r.bad("reps", "", "is required") }
        guard reps.allSatisfy({ $0 >= 1 }) else {
            throw r.bad("reps", attributes["reps"] ?? "", "entries must be positive (MXNet refuses 0 and below)")
        }
        self.reps = reps
    }

    /// The data tiled `reps` times.
    public init(reps: [Int]) { self.reps = reps }

    public var attributes: [String: String] { ["reps": AttributeReader.format(reps)] }
    public func listArguments() -> [String] { ["data"] }

    /// The data's shape and `reps`, both padded with leading 1s to the same length.
    func padded(_ data: [Int]) -> (data: [Int], reps: [Int]) {
        let n = max(data.count, reps.count)
        return (Array(repeating: 1, count: n - data.count) + data, Array(repeating: 1, count: n - reps.count) + reps)
    }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        let data = try dataShape(s, Self.typeName)
        let (d, r) = padded(data)
        return ([data], [try d.indices.map { try product(d[$0], r[$0], Self.typeName, data) }], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let (d, r) = padded(context.inputShapes[0])
        // Each axis becomes (copy, element): the copies read the data with stride 0.
        let strides = StridedWalk.contiguousStrides(d)
        return StridedCopyInstance(
            StridedWalk(shape: d.indices.flatMap { [r[$0], d[$0]] }, reading: d.indices.flatMap { [0, strides[$0]] }),
            reads: r.allSatisfy { $0 == 1 } ? .eachOnce : .repeatedly)
    }
}

/// MXNet's `repeat`: each element repeated `repeats` times (positive) along axis `axis` (negative
/// counting from the end), or, without `axis` (MXNet's `None`, the default), of the flattened data
/// into a 1-D output. The gradient is the output's summed over the repeats. SwiftPS refuses
/// `repeats=0` (MXNet makes an empty array).
public struct Repeat: Operator {
    public static let typeName = "repeat"
    public static let attributeNames: [String] = ["repeats", "axis"]
    public let repeats: Int
    /// The axis; nil for the flattened data.
    public let axis: Int?

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        repeats = try r.int("repeats")
        axis = attributes["axis"] == nil ? nil : try r.intOrNone("axis")
        guard repeats >= 1 else {
            throw r.bad(
                "repeats", attributes["repeats"] ?? "",
                repeats == 0 ? "must be positive (SwiftPS has no empty arrays)" : "cannot be negative")
        }
    }

    /// Each element repeated `repeats` times along `axis` (nil: of the flattened data).
    public init(repeats: Int, axis: Int? = nil) { (self.repeats, self.axis) = (repeats, axis) }

    public var attributes: [String: String] {
        var a = ["repeats": String(repeats)]
        if let axis { a["axis"] = String(axis) }
        return a
    }
    public func listArguments() -> [String] { ["data"] }

    /// The data's shape viewed as (before, axis, after) around the repeated axis (the flattened
    /// data is one axis).
    func split(_ data: [Int]) throws -> (before: Int, axis: Int, after: Int) {
        guard let axis else { return (1, NDArray.elementCount(data), 1) }
        let a = axis < 0 ? axis + data.count : axis
        guard a >= 0, a < data.count else {
            throw GraphError.shapeError("repeat axis \(axis) is out of range for data of shape \(data)")
        }
        return (NDArray.elementCount(Array(data[..<a])), data[a], NDArray.elementCount(Array(data[(a + 1)...])))
    }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        let data = try dataShape(s, Self.typeName)
        let (_, length, _) = try split(data)
        let repeated = try product(length, repeats, Self.typeName, data)
        guard let axis else { return ([data], [[repeated]], []) }
        var out = data
        out[axis < 0 ? axis + data.count : axis] = repeated
        return ([data], [out], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let (before, length, after) = try split(context.inputShapes[0])
        // The axis becomes (element, repeat): the repeats read the data with stride 0.
        return StridedCopyInstance(
            StridedWalk(shape: [before, length, repeats, after], reading: [length * after, after, 0, 1]),
            reads: repeats == 1 ? .eachOnce : .repeatedly)
    }
}

/// MXNet's `stack`: `num_args` arrays of one shape joined along a new axis `axis` of the output
/// (default 0; negative counting from the end of the output). Arguments are named `arg0`, `arg1`, …
/// as `Concat`'s. Any one input's shape gives the others' (MXNet 1.9.1 needs every one, and does
/// not check that they agree: SwiftPS refuses inputs of different shapes).
public struct Stack: Operator {
    public static let typeName = "stack"
    public static let attributeNames: [String] = ["axis", "num_args"]
    public let axis: Int
    /// How many arrays are stacked.
    public let numArgs: Int

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        axis = try r.int("axis", default: 0)
        numArgs = try r.int("num_args")
        guard numArgs >= 1 else { throw r.bad("num_args", "\(numArgs)", "must be at least 1") }
        guard numArgs <= Concat.maxArgs else {
            throw r.bad("num_args", "\(numArgs)", "must be at most \(Concat.maxArgs) (SwiftPS's limit)")
        }
    }

    /// A stack of `numArgs` arrays along a new axis `axis`.
    public init(numArgs: Int, axis: Int = 0) { (self.numArgs, self.axis) = (numArgs, axis) }

    public var attributes: [String: String] {
        var a = ["num_args": String(numArgs)]
        if axis != 0 { a["axis"] = String(axis) }
        return a
    }

    public func listArguments() -> [String] { (0..<numArgs).map { "arg\($0)" } }

    /// The new axis of the output, for `ndim`-D inputs.
    func newAxis(_ ndim: Int) throws -> Int {
        let a = axis < 0 ? axis + ndim + 1 : axis
        guard a >= 0, a <= ndim else {
            throw GraphError.shapeError(
                "stack axis \(axis) is out of range for \(ndim)-D inputs (\(ndim + 1)-D output)")
        }
        return a
    }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard s.count == numArgs else {
            throw GraphError.shapeError("stack has num_args=\(numArgs) but \(s.count) inputs")
        }
        guard let first = s.firstIndex(where: { $0 != nil }), let shape = s[first] else {
            throw GraphError.shapeError("stack needs the shape of one of its inputs")
        }
        for (i, other) in s.enumerated() {
            if let other, other != shape {
                throw GraphError.shapeError(
                    "stack arg\(i) has shape \(other), arg\(first) has \(shape): they must agree")
            }
        }
        var out = shape
        out.insert(numArgs, at: try newAxis(shape.count))
        return (Array(repeating: shape, count: numArgs), [out], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        // Stacking is joining the inputs, each with a new axis of size 1, along that axis.
        var part = context.inputShapes[0]
        let a = try newAxis(part.count)
        part.insert(1, at: a)
        return Concat.Instance(layout: AxisBlocks(parts: Array(repeating: part, count: numArgs), axis: a))
    }
}
