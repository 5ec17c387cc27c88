import SwiftPSTensor

/// What MXNet's `SequenceMask`, `SequenceLast` and `SequenceReverse` share: data whose `axis` (0 or
/// 1) is the time and whose other leading axis is the batch, and, with `use_sequence_length`, a
/// `sequence_length` input of one length per batch entry, read as MXNet 1.9.1 reads it (truncated
/// toward zero). Lengths outside [0, T] (where MXNet reads out of bounds) are clamped to it.
struct SequenceAxes: Sendable {
    let op: String
    let useLength: Bool
    let axis: Int

    init(_ r: AttributeReader, axes: ClosedRange<Int>) throws {
        op = r.op
        useLength = try r.bool("use_sequence_length", default: false)
        axis = try r.int("axis", default: 0)
        guard axes.contains(axis) else {
            let allowed = axes.count == 1 ? "0" : "0 or 1"
            throw r.bad("axis", "\(axis)", "must be \(allowed) (the sequence axis MXNet supports)")
        }
    }

    var attributes: [String: String] {
        ["use_sequence_length": AttributeReader.format(useLength), "axis": String(axis)]
    }

    var arguments: [String] { useLength ? ["data", "sequence_length"] : ["data"] }

    /// The data shape and the batch size, checking `sequence_length` against it.
    func check(_ s: [[Int]?]) throws -> (data: [Int], inputs: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("\(op) needs the data shape") }
        guard data.count >= 2 else {
            throw GraphError.shapeError("\(op) data must have at least 2 axes (time and batch), got \(data)")
        }
        let batch = data[1 - axis]
        guard useLength else { return (data, [data]) }
        if s.count > 1, let given = s[1], given != [batch] {
            throw GraphError.shapeError(
                "\(op) sequence_length shape \(given) does not match data \(data): expected [\(batch)]")
        }
        return (data, [data, [batch]])
    }

    func walk(_ shape: [Int]) -> SequenceWalk {
        SequenceWalk(
            steps: shape[axis], batch: shape[1 - axis], inner: shape.dropFirst(2).reduce(1, *), axis: axis,
            useLength: useLength)
    }
}

/// Offsets of (time, batch entry) rows in the data, and the lengths a binding gives.
struct SequenceWalk {
    let steps: Int, batch: Int, inner: Int, axis: Int, useLength: Bool

    @inline(__always) func offset(_ t: Int, _ n: Int) -> Int { (axis == 0 ? t * batch + n : n * steps + t) * inner }

    /// Entry `n`'s length, in 0...T.
    @inline(__always) func length(_ b: OpBinding, _ n: Int) -> Int {
        guard useLength else { return steps }
        let v = b.inputs[1].data[n]
        guard v.isFinite else { return v > 0 ? steps : 0 }
        return min(max(Int(v), 0), steps)
    }

    /// The lengths input gets a zero gradient (MXNet's), when one is asked for.
    func zeroLengthGradient(_ b: OpBinding) {
        guard useLength else { return }
        b.withGrad(1) { g, acc in if !acc { g.data.update(repeating: 0, count: batch) } }
    }
}

/// MXNet's `SequenceMask`: with `use_sequence_length`, every step at or past an entry's length is
/// set to `value` (and gets no gradient); without it, the identity.
public struct SequenceMask: Operator {
    public static let typeName = "SequenceMask"
    public static let attributeNames: [String] = ["use_sequence_length", "value", "axis"]
    let axes: SequenceAxes
    /// The value masked steps take.
    public let value: Float

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        axes = try SequenceAxes(r, axes: 0...1)
        value = try r.float("value", default: 0)
    }

    public var attributes: [String: String] { axes.attributes.merging(["value": formatFloat(value)]) { $1 } }
    public func listArguments() -> [String] { axes.arguments }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        let (data, inputs) = try axes.check(s)
        return (inputs, [data], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        Instance(walk: axes.walk(context.inputShapes[0]), value: value)
    }

    final class Instance: OperatorInstance {
        let walk: SequenceWalk, value: Float
        init(walk: SequenceWalk, value: Float) {
            self.walk = walk
            self.value = value
        }

        var count: Int { walk.steps * walk.batch * walk.inner }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0].data
            let y = b.outputs[0].data
            if x != y { y.update(from: x, count: count) }
            for n in 0..<walk.batch {
                for t in walk.length(b, n)..<walk.steps {
                    (y + walk.offset(t, n)).update(repeating: value, count: walk.inner)
                }
            }
        }

        func backward(_ b: OpBinding) {
            let dy = b.outputGrads[0].data
            b.withGrad(0) { dx, acc in
                for n in 0..<walk.batch {
                    let length = walk.length(b, n)
                    for t in 0..<walk.steps {
                        let o = walk.offset(t, n)
                        if t < length {
                            if acc {
                                Kernels.addInPlace(walk.inner, dy + o, dx.data + o)
                            } else {
                                (dx.data + o).update(from: dy + o, count: walk.inner)
                            }
                        } else if !acc {
                            (dx.data + o).update(repeating: 0, count: walk.inner)
                        }
                    }
                }
            }
            walk.zeroLengthGradient(b)
        }
    }
}

/// MXNet's `SequenceLast`: each batch entry's last step (its length − 1 with
/// `use_sequence_length`, else T − 1); the output drops the time axis. A length of 0 (where MXNet
/// reads before the data) takes step 0.
public struct SequenceLast: Operator {
    public static let typeName = "SequenceLast"
    public static let attributeNames: [String] = ["use_sequence_length", "axis"]
    let axes: SequenceAxes

    public init(attributes: [String: String]) throws {
        axes = try SequenceAxes(AttributeReader(op: Self.typeName, attributes), axes: 0...1)
    }

    public var attributes: [String: String] { axes.attributes }
    public func listArguments() -> [String] { axes.arguments }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        let (data, inputs) = try axes.check(s)
        return (inputs, [[data[1 - axes.axis]] + data.dropFirst(2)], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        Instance(walk: axes.walk(context.inputShapes[0]))
    }

    final class Instance: OperatorInstance {
        let walk: SequenceWalk
        init(walk: SequenceWalk) { self.walk = walk }

        func last(_ b: OpBinding, _ n: Int) -> Int { max(walk.length(b, n) - 1, 0) }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0].data
            let y = b.outputs[0].data
            for n in 0..<walk.batch {
                (y + n * walk.inner).update(from: x + walk.offset(last(b, n), n), count: walk.inner)
            }
        }

        func backward(_ b: OpBinding) {
            let dy = b.outputGrads[0].data
            b.withGrad(0) { dx, acc in
                if !acc { dx.data.update(repeating: 0, count: walk.steps * walk.batch * walk.inner) }
                for n in 0..<walk.batch {
                    Kernels.addInPlace(walk.inner, dy + n * walk.inner, dx.data + walk.offset(last(b, n), n))
                }
            }
            walk.zeroLengthGradient(b)
        }
    }
}

/// MXNet's `SequenceReverse`: each batch entry's first `length` steps in reverse order (all T
/// without `use_sequence_length`); later steps stay. Time on axis 0 only, as MXNet 1.9.1.
public struct SequenceReverse: Operator {
    public static let typeName = "SequenceReverse"
    public static let attributeNames: [String] = ["use_sequence_length", "axis"]
    let axes: SequenceAxes

    public init(attributes: [String: String]) throws {
        axes = try SequenceAxes(AttributeReader(op: Self.typeName, attributes), axes: 0...0)
    }

    public var attributes: [String: String] { axes.attributes }
    public func listArguments() -> [String] { axes.arguments }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        let (data, inputs) = try axes.check(s)
        return (inputs, [data], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        Instance(walk: axes.walk(context.inputShapes[0]))
    }

    final class Instance: OperatorInstance {
        let walk: SequenceWalk
        init(walk: SequenceWalk) { self.walk = walk }

        /// Copies (or adds) `src` into `dst` with every entry's first `length` steps reversed; the
        /// permutation is its own inverse, so backward is the same walk.
        func reverse(
            _ b: OpBinding, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, accumulate: Bool
        ) {
            for n in 0..<walk.batch {
                let length = walk.length(b, n)
                for t in 0..<walk.steps {
                    let from = t < length ? length - 1 - t : t
                    let out = dst + walk.offset(t, n)
                    let input = src + walk.offset(from, n)
                    if accumulate {
                        Kernels.addInPlace(walk.inner, input, out)
                    } else {
                        out.update(from: input, count: walk.inner)
                    }
                }
            }
        }

        func forward(_ b: OpBinding, isTrain: Bool) {
            reverse(b, b.inputs[0].data, b.outputs[0].data, accumulate: false)
        }

        func backward(_ b: OpBinding) {
            let dy = b.outputGrads[0].data
            b.withGrad(0) { dx, acc in reverse(b, dy, dx.data, accumulate: acc) }
            walk.zeroLengthGradient(b)
        }
    }
}
