import SwiftPSTensor

/// MXNet's `transpose`: the data with its axes reordered, output axis `i` being input axis
/// `axes[i]`; without `axes` (MXNet's default `()`), the axes reversed. The gradient is the output's
/// gradient transposed back.
///
/// As MXNet 1.9.1, `axes` takes no negative entries and must name every axis of the data; SwiftPS
/// also refuses an entry named twice (MXNet infers a shape for it but it is no reordering).
public struct Transpose: Operator {
    public static let typeName = "transpose"
    public static let attributeNames: [String] = ["axes"]
    /// The input axis of each output axis; empty for all axes reversed.
    public let axes: [Int]

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        let axes = try r.tuple("axes") ?? []
        let raw = attributes["axes"] ?? ""
        guard axes.allSatisfy({ $0 >= 0 }) else {
            throw r.bad("axes", raw, "must not be negative (MXNet 1.9.1's transpose counts axes from 0 only)")
        }
        guard Set(axes).count == axes.count else { throw r.bad("axes", raw, "names an axis twice") }
        self.axes = axes
    }

    /// A transpose by `axes` (empty: all axes reversed).
    public init(axes: [Int] = []) { self.axes = axes }

    public var attributes: [String: String] { axes.isEmpty ? [:] : ["axes": AttributeReader.format(axes)] }

    public func listArguments() -> [String] { ["data"] }

    /// The input axis of each output axis for `ndim`-D data.
    func permutation(_ ndim: Int) throws -> [Int] {
        if axes.isEmpty { return Array((0..<ndim).reversed()) }
        guard axes.count == ndim, axes.allSatisfy({ $0 < ndim }) else {
            throw GraphError.shapeError(
                "transpose axes \(AttributeReader.format(axes)) must reorder all \(ndim) axes of the data (0 to \(ndim - 1))"
            )
        }
        return axes
    }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("transpose needs the data shape") }
        return ([data], [try permutation(data.count).map { data[$0] }], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let shape = context.inputShapes[0]
        let p = try permutation(shape.count)
        let strides = StridedWalk.contiguousStrides(shape)
        let walk = StridedWalk(shape: p.map { shape[$0] }, reading: p.map { strides[$0] })
        return StridedCopyInstance(walk, reads: .eachOnce)
    }
}
