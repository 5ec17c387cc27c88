import SwiftPSTensor

/// MXNet's `expand_dims`: the data with a new axis of size 1 inserted at `axis` (required; from
/// −(ndim + 1) to ndim, negative counting from the end of the output). The data is copied as it is.
public struct ExpandDims: Operator {
    public static let typeName = "expand_dims"
    public static let attributeNames: [String] = ["axis"]
    public let axis: Int

    public init(attributes: [String: String]) throws {
        axis = try AttributeReader(op: Self.typeName, attributes).int("axis")
    }

    /// A new axis at `axis`.
    public init(axis: Int) { self.axis = axis }

    public var attributes: [String: String] { ["axis": String(axis)] }
    public func listArguments() -> [String] { ["data"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("expand_dims needs the data shape") }
        let n = data.count
        let a = axis < 0 ? axis + n + 1 : axis
        guard a >= 0, a <= n else {
            throw GraphError.shapeError(
                "expand_dims axis \(axis) must lie in [\(-n - 1), \(n)] for data of shape \(data)")
        }
        var out = data
        out.insert(1, at: a)
        return ([data], [out], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        CopyInstance(count: NDArray.elementCount(context.inputShapes[0]))
    }
}

/// MXNet's `squeeze`: the data without the axes of size 1 named by `axis` (an int or a tuple,
/// negative counting from the end; each must have size 1), or without every axis of size 1 when
/// `axis` is absent; data of 1s only becomes (1,), as MXNet. The data is copied as it is.
public struct Squeeze: Operator {
    public static let typeName = "squeeze"
    public static let attributeNames: [String] = ["axis"]
    /// The axes to remove; nil for every axis of size 1.
    public let axis: [Int]?

    public init(attributes: [String: String]) throws {
        let raw = attributes["axis"]?.trimmingSpaces
        axis = raw == nil || raw == "None" ? nil : try AttributeReader(op: Self.typeName, attributes).tuple("axis")
    }

    /// A squeeze of `axis` (nil: every axis of size 1).
    public init(axis: [Int]? = nil) { self.axis = axis }

    public var attributes: [String: String] { axis.map { ["axis": AttributeReader.format($0)] } ?? [:] }
    public func listArguments() -> [String] { ["data"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("squeeze needs the data shape") }
        var removed = data.map { $0 == 1 }
        if let axis {
            removed = Array(repeating: false, count: data.count)
            for a in axis {
                let i = a < 0 ? a + data.count : a
                guard i >= 0, i < data.count else {
                    throw GraphError.shapeError("squeeze axis \(a) is out of range for data of shape \(data)")
                }
                guard data[i] == 1 else {
                    throw GraphError.shapeError(
                        "squeeze cannot remove axis \(i) of size \(data[i]) (data of shape \(data))")
                }
                guard !removed[i] else { throw GraphError.shapeError("squeeze axis names axis \(i) twice") }
                removed[i] = true
            }
        }
        let out = data.indices.filter { !removed[$0] }.map { data[$0] }
        return ([data], [out.isEmpty ? [1] : out], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        CopyInstance(count: NDArray.elementCount(context.inputShapes[0]))
    }
}

/// MXNet's `zeros_like` and `ones_like`: an array of the data's shape filled with 0 or 1. No
/// gradient flows back (the data's is zero, as MXNet's).
public struct FilledLike<Kind: FilledLikeKind>: PlainUnaryOperator {
    public static var typeName: String { Kind.typeName }
    public var readsOutputGradient: Bool { false }

    /// The operator.
    public init() {}

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        Instance(value: Kind.value, count: NDArray.elementCount(context.inputShapes[0]))
    }

    final class Instance: OperatorInstance {
        let value: Float
        let count: Int
        init(value: Float, count: Int) {
            self.value = value
            self.count = count
        }

        func forward(_ b: OpBinding, isTrain: Bool) { Kernels.fill(count, value, b.outputs[0].data) }

        func backward(_ b: OpBinding) {
            b.withGrad(0) { dx, accumulate in if !accumulate { dx.fill(0) } }
        }
    }
}

/// The name and fill value of `zeros_like` or `ones_like`.
public protocol FilledLikeKind: Sendable {
    static var typeName: String { get }
    static var value: Float { get }
}

/// `zeros_like`.
public enum ZerosLikeKind: FilledLikeKind {
    public static let typeName = "zeros_like"
    public static let value: Float = 0
}
/// `ones_like`.
public enum OnesLikeKind: FilledLikeKind {
    public static let typeName = "ones_like"
    public static let value: Float = 1
}

/// MXNet's `zeros_like`.
public typealias ZerosLike = FilledLike<ZerosLikeKind>
/// MXNet's `ones_like`.
public typealias OnesLike = FilledLike<OnesLikeKind>

/// MXNet's `broadcast_to` (`shape`, where 0 keeps the data's size; as many axes as the data, each
/// equal to the data's or repeating a data axis of size 1) and `broadcast_axis` (`broadcast_axes`:
/// the data's axes `axis`, each of size 1, repeated to `size`; as MXNet 1.9.1, no negative axis).
/// The gradient is the output's summed over the repeats.
public struct BroadcastTo: Operator {
    public static let typeName = "broadcast_to"
    public static let attributeNames: [String] = ["shape"]
    public let shape: [Int]

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        shape = try r.tuple("shape") ?? []
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw r.bad("shape", attributes["shape"] ?? "", "must not be negative (0 keeps the data's size)")
        }
    }

    /// A broadcast to `shape`.
    public init(shape: [Int]) { self.shape = shape }

    public var attributes: [String: String] { ["shape": AttributeReader.format(shape)] }
    public func listArguments() -> [String] { ["data"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("broadcast_to needs the data shape") }
        guard data.count == shape.count else {
            throw GraphError.shapeError(
                "broadcast_to cannot broadcast data of shape \(data) to \(shape): the number of axes differs")
        }
        let out = zip(data, shape).map { $1 == 0 ? $0 : $1 }
        try repeatedShape(data, out, Self.typeName)
        return ([data], [out], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let data = context.inputShapes[0]
        return repeatInstance(data, try inferShape([data]).outputs[0])
    }
}

/// MXNet's `broadcast_axis`; see `BroadcastTo`.
public struct BroadcastAxis: Operator {
    public static let typeName = "broadcast_axis"
    public static let attributeNames: [String] = ["axis", "size"]
    public let axis: [Int]
    public let size: [Int]

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        axis = try r.tuple("axis") ?? []
        size = try r.tuple("size") ?? []
        guard axis.count == size.count else {
            throw r.bad(
                "size", attributes["size"] ?? "", "must have as many entries as axis \(AttributeReader.format(axis))")
        }
        guard axis.allSatisfy({ $0 >= 0 }) else {
            throw r.bad("axis", attributes["axis"] ?? "", "must not be negative (MXNet 1.9.1 refuses it)")
        }
        guard size.allSatisfy({ $0 >= 1 }) else { throw r.bad("size", attributes["size"] ?? "", "must be positive") }
    }

    /// Axes `axis` repeated to `size`.
    public init(axis: [Int], size: [Int]) {
        self.axis = axis
        self.size = size
    }

    public var attributes: [String: String] {
        ["axis": AttributeReader.format(axis), "size": AttributeReader.format(size)]
    }
    public func listArguments() -> [String] { ["data"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("broadcast_axis needs the data shape") }
        var out = data
        for (a, n) in zip(axis, size) {
            guard a < data.count else {
                throw GraphError.shapeError("broadcast_axis axis \(a) is out of range for data of shape \(data)")
            }
            guard out[a] == 1 else {
                throw GraphError.shapeError(
                    "broadcast_axis axis \(a) must have size 1, not \(out[a]) (data of shape \(data))")
            }
            out[a] = n
        }
        return ([data], [out], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let data = context.inputShapes[0]
        return repeatInstance(data, try inferShape([data]).outputs[0])
    }
}

/// Checks that `out` repeats `data` (same axes, each equal or repeating a size 1).
private func repeatedShape(_ data: [Int], _ out: [Int], _ op: String) throws {
    for i in data.indices where data[i] != out[i] && data[i] != 1 {
        throw GraphError.shapeError(
            "\(op) cannot broadcast data of shape \(data) to \(out): axis \(i) has size \(data[i]), neither \(out[i]) nor 1"
        )
    }
}

/// Data of `data`'s shape repeated along its size-1 axes to `out`'s: a `StridedCopyInstance`
/// reading the data with stride 0 on the repeated axes.
func repeatInstance(_ data: [Int], _ out: [Int]) -> StridedCopyInstance {
    let strides = StridedWalk.contiguousStrides(data)
    return StridedCopyInstance(
        StridedWalk(shape: out, reading: data.indices.map { data[$0] == out[$0] ? strides[$0] : 0 }),
        reads: .repeatedly)
}
