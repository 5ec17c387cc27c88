import SwiftPSTensor

/// What a reduction computes over the elements it folds into one.
public enum ReduceOperation: String, Sendable, CaseIterable {
    case sum, mean, max, min, prod
    /// `norm` with `ord=1`: the sum of magnitudes.
    case norm1
    /// `norm` with `ord=2` (its default): the square root of the sum of squares.
    case norm2

    /// The value a fold starts from.
    var identity: Float {
        switch self {
        case .sum, .mean, .norm1, .norm2: 0
        case .prod: 1
        case .max: -.infinity
        case .min: .infinity
        }
    }
}

/// Which axes of the data MXNet's reductions fold, from their `axis` (an int or a tuple, negative
/// counting from the end; absent or empty for all axes), `exclude` (fold the axes not named) and
/// `keepdims` (keep folded axes as size 1).
public struct ReductionAxes: Sendable, Equatable {
    /// The axes as given; nil or empty for all.
    public let axis: [Int]?
    public let keepdims: Bool
    public let exclude: Bool

    init(_ r: AttributeReader, exclusion: Bool) throws {
        let raw = r.raw["axis"]?.trimmingSpaces
        axis = raw == nil || raw == "None" ? nil : try r.tuple("axis")
        keepdims = try r.bool("keepdims", default: false)
        exclude = exclusion ? try r.bool("exclude", default: false) : false
    }

    /// Folds over `axis` (nil: all).
    init(axis: [Int]?, keepdims: Bool, exclude: Bool) {
        self.axis = axis
        self.keepdims = keepdims
        self.exclude = exclude
    }

    /// The axes as given, as MXNet writes them.
    var attributes: [String: String] {
        var a = ["keepdims": AttributeReader.format(keepdims)]
        if let axis { a["axis"] = AttributeReader.format(axis) }
        return a
    }

    /// Whether each axis of `shape` is folded.
    func folded(_ shape: [Int], _ op: String) throws -> [Bool] {
        guard let axis, !axis.isEmpty else { return Array(repeating: true, count: shape.count) }
        var named = Array(repeating: false, count: shape.count)
        for a in axis {
            let i = a < 0 ? a + shape.count : a
            guard i >= 0, i < shape.count else {
                throw GraphError.shapeError("\(op): axis \(a) is out of range for data of shape \(shape)")
            }
            guard !named[i] else {
                throw GraphError.shapeError(
                    "\(op): axis \(AttributeReader.format(axis)) names axis \(i) twice (data of shape \(shape))")
            }
            named[i] = true
        }
        return exclude ? named.map { !$0 } : named
    }

    /// The output shape for `shape`: folded axes become 1 with `keepdims`, else vanish; no axis left
    /// gives (1,), as MXNet.
    func outputShape(_ shape: [Int], _ op: String) throws -> [Int] {
        let f = try folded(shape, op)
        if keepdims { return shape.indices.map { f[$0] ? 1 : shape[$0] } }
        let kept = shape.indices.filter { !f[$0] }.map { shape[$0] }
        return kept.isEmpty ? [1] : kept
    }

    /// The instance folding `shape` by `operation`.
    func instance(_ operation: ReduceOperation, _ shape: [Int], _ op: String) throws -> ReduceInstance {
        let f = try folded(shape, op)
        let outStrides = StridedWalk.contiguousStrides(shape.indices.map { f[$0] ? 1 : shape[$0] })
        let a = shape.indices.map { f[$0] ? 0 : outStrides[$0] }
        let walk = StridedWalk(shape: shape, a: a, b: Array(repeating: 0, count: shape.count))
        let count = NDArray.elementCount(shape)
        let outCount = NDArray.elementCount(shape.indices.map { f[$0] ? 1 : shape[$0] })
        return ReduceInstance(operation, walk: walk, count: count, outCount: outCount)
    }
}

/// A reduction's MXNet name and operation.
public protocol ReduceKind: Sendable {
    static var typeName: String { get }
    static var operation: ReduceOperation { get }
}

/// MXNet's `sum` (`sum_axis`), `mean`, `max` (`max_axis`), `min` (`min_axis`) and `prod`: the data
/// folded over `axis` (`ReductionAxes`: int or tuple, negative allowed, none for all; `keepdims`;
/// `exclude`).
///
/// Gradients: sum and mean spread the output's back (mean divided by the folded count); max and min
/// send it to every element equal to the result, as MXNet 1.9.1 (ties all receive it); prod gives
/// each element the product of the others, also where elements are 0 (MXNet divides the product
/// by the element there and gives NaN).
public struct Reduce<Kind: ReduceKind>: Operator {
    public static var typeName: String { Kind.typeName }
    public static var attributeNames: [String] { ["axis", "keepdims", "exclude"] }
    public let axes: ReductionAxes

    public init(attributes: [String: String]) throws {
        axes = try ReductionAxes(AttributeReader(op: Self.typeName, attributes), exclusion: true)
    }

    /// The reduction over `axis` (nil: all).
    public init(axis: [Int]? = nil, keepdims: Bool = false, exclude: Bool = false) {
        axes = ReductionAxes(axis: axis, keepdims: keepdims, exclude: exclude)
    }

    public var attributes: [String: String] {
        axes.attributes.merging(["exclude": AttributeReader.format(axes.exclude)]) { $1 }
    }

    public func listArguments() -> [String] { ["data"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("\(Self.typeName) needs the data shape") }
        return ([data], [try axes.outputShape(data, Self.typeName)], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        try axes.instance(Kind.operation, context.inputShapes[0], Self.typeName)
    }
}

/// MXNet's `norm`: the L2 norm (`ord=2`, the default) or the L1 norm (`ord=1`) over `axis` (as the
/// other reductions, without `exclude`), with `keepdims`. MXNet 1.9.1 takes any other `ord` when
/// the symbol is built and fails when it runs: refused here. `out_dtype` may only be float32.
/// The L2 gradient is `x / norm`, 0 where the norm is 0 (MXNet gives NaN there); the L1 gradient is
/// `sign(x)`.
public struct Norm: Operator {
    public static let typeName = "norm"
    public static let attributeNames: [String] = ["ord", "axis", "out_dtype", "keepdims"]
    public let ord: Int
    public let axes: ReductionAxes

    /// The L`ord` norm over `axis` (nil: all).
    public init(ord: Int = 2, axis: [Int]? = nil, keepdims: Bool = false) {
        precondition(ord == 1 || ord == 2, "norm's ord is 1 or 2")
        self.ord = ord
        axes = ReductionAxes(axis: axis, keepdims: keepdims, exclude: false)
    }

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        ord = try r.int("ord", default: 2)
        guard ord == 1 || ord == 2 else {
            throw r.bad("ord", attributes["ord"] ?? "", "must be 1 or 2 (MXNet 1.9.1's norm computes no other)")
        }
        try r.requireAbsentOr(
            "out_dtype", ["None", "float32"], reason: "must be float32, the type SwiftPS computes in")
        axes = try ReductionAxes(r, exclusion: false)
    }

    public var attributes: [String: String] { axes.attributes.merging(["ord": String(ord)]) { $1 } }

    public func listArguments() -> [String] { ["data"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("norm needs the data shape") }
        return ([data], [try axes.outputShape(data, Self.typeName)], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        try axes.instance(ord == 1 ? .norm1 : .norm2, context.inputShapes[0], Self.typeName)
    }
}

/// Folds the data into the output by walking the data in order (`StridedWalk`) with the output's
/// strides, 0 along folded axes: each data element meets the output element it folds into.
final class ReduceInstance: OperatorInstance {
    let operation: ReduceOperation
    let walk: StridedWalk
    let count: Int
    let outCount: Int
    /// prod only, per output element: how many of its elements are 0, and the product of the others.
    let zeros: NDArray
    let nonzeroProduct: NDArray

    init(_ operation: ReduceOperation, walk: StridedWalk, count: Int, outCount: Int) {
        self.operation = operation
        self.walk = walk
        self.count = count
        self.outCount = outCount
        zeros = NDArray(shape: [operation == .prod ? outCount : 0])
        nonzeroProduct = NDArray(shape: [operation == .prod ? outCount : 0])
    }

    /// How many data elements fold into each output element.
    var folded: Int { outCount == 0 ? 0 : count / outCount }

    func forward(_ b: OpBinding, isTrain: Bool) {
        let x = b.inputs[0].data
        let y = b.outputs[0].data
        Kernels.fill(outCount, operation.identity, y)
        let (n, s, _) = walk.row
        walk.forEachRow { i, o, _ in
            switch operation {
            case .sum, .mean: for j in 0..<n { y[o + j * s] += x[i + j] }
            case .max: for j in 0..<n { y[o + j * s] = Swift.max(y[o + j * s], x[i + j]) }
            case .min: for j in 0..<n { y[o + j * s] = Swift.min(y[o + j * s], x[i + j]) }
            case .prod: for j in 0..<n { y[o + j * s] *= x[i + j] }
            case .norm1: for j in 0..<n { y[o + j * s] += abs(x[i + j]) }
            case .norm2: for j in 0..<n { y[o + j * s] += x[i + j] * x[i + j] }
            }
        }
        switch operation {
        case .mean: Kernels.scale(outCount, 1 / Float(Swift.max(folded, 1)), y)
        case .norm2: for k in 0..<outCount { y[k] = y[k].squareRoot() }
        case .prod: countZeros(x)
        default: break
        }
    }

    private func countZeros(_ x: UnsafeMutablePointer<Float>) {
        let z = zeros.data
        let p = nonzeroProduct.data
        Kernels.fill(outCount, 0, z)
        Kernels.fill(outCount, 1, p)
        let (n, s, _) = walk.row
        walk.forEachRow { i, o, _ in
            for j in 0..<n {
                if x[i + j] == 0 { z[o + j * s] += 1 } else { p[o + j * s] *= x[i + j] }
            }
        }
    }

    func backward(_ b: OpBinding) {
        let x = b.inputs[0].data
        let y = b.outputs[0].data
        let dy = b.outputGrads[0].data
        let (n, s, _) = walk.row
        let z = zeros.data
        let p = nonzeroProduct.data
        let meanScale = 1 / Float(Swift.max(folded, 1))
        b.withGrad(0) { dxArray, accumulate in
            let dx = dxArray.data
            walk.forEachRow { i, o, _ in
                // d(output)/d(x) for element j of the row, times the output's gradient.
                func g(_ j: Int) -> Float {
                    let k = o + j * s
                    let v = x[i + j]
                    switch operation {
                    case .sum: return dy[k]
                    case .mean: return dy[k] * meanScale
                    case .max, .min: return v == y[k] ? dy[k] : 0
                    case .prod:
                        if z[k] == 0 { return dy[k] * y[k] / v }
                        return z[k] == 1 && v == 0 ? dy[k] * p[k] : 0
                    case .norm1: return v > 0 ? dy[k] : (v < 0 ? -dy[k] : 0)
                    case .norm2: return y[k] == 0 ? 0 : dy[k] * v / y[k]
                    }
                }
                writeGrad(n, dx + i, accumulate: accumulate, g)
            }
        }
    }
}

/// `sum` (`sum_axis`).
public enum SumKind: ReduceKind {
    public static let typeName = "sum"
    public static let operation = ReduceOperation.sum
}
/// `mean`.
public enum MeanKind: ReduceKind {
    public static let typeName = "mean"
    public static let operation = ReduceOperation.mean
}
/// `max` (`max_axis`).
public enum MaxKind: ReduceKind {
    public static let typeName = "max"
    public static let operation = ReduceOperation.max
}
/// `min` (`min_axis`).
public enum MinKind: ReduceKind {
    public static let typeName = "min"
    public static let operation = ReduceOperation.min
}
/// `prod`.
public enum ProdKind: ReduceKind {
    public static let typeName = "prod"
    public static let operation = ReduceOperation.prod
}

/// MXNet's `sum`.
public typealias Sum = Reduce<SumKind>
/// MXNet's `mean`.
public typealias Mean = Reduce<MeanKind>
/// MXNet's `max`.
public typealias Max = Reduce<MaxKind>
/// MXNet's `min`.
public typealias Min = Reduce<MinKind>
/// MXNet's `prod`.
public typealias Prod = Reduce<ProdKind>
