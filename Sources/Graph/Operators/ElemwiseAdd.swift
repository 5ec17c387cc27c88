import SwiftPSTensor

/// What a binary element-wise operator computes from one element of `lhs` and one of `rhs`.
public enum BinaryOperation: Sendable {
    case add, subtract, multiply, divide

    /// `l ∘ r`.
    @inline(__always) func apply(_ l: Float, _ r: Float) -> Float {
        switch self {
        case .add: l + r
        case .subtract: l - r
        case .multiply: l * r
        case .divide: l / r
        }
    }

    /// The gradient reaching `l` from the output's gradient `dy`.
    @inline(__always) func lhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float {
        switch self {
        case .add, .subtract: dy
        case .multiply: dy * r
        case .divide: dy / r
        }
    }

    /// The gradient reaching `r` from the output's gradient `dy`.
    @inline(__always) func rhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float {
        switch self {
        case .add: dy
        case .subtract: -dy
        case .multiply: dy * l
        case .divide: -dy * l / (r * r)
        }
    }
}

/// A binary element-wise operator's MXNet name, operation, and whether its operands broadcast.
public protocol BinaryOperatorKind: Sendable {
    static var typeName: String { get }
    static var operation: BinaryOperation { get }
    /// True for MXNet's `broadcast_*` operators (numpy-style shapes, `broadcastShape`), false for
    /// `elemwise_*` (equal shapes only).
    static var broadcasts: Bool { get }
}

extension BinaryOperatorKind {
    public static var broadcasts: Bool { false }
}

/// MXNet's binary arithmetic between two arrays: `lhs + rhs`, `lhs − rhs`, `lhs ⊙ rhs`, `lhs / rhs`.
///
/// `elemwise_add` (`_Plus`, `_plus`), `elemwise_sub` (`_Minus`, `_minus`, `_sub`) and `elemwise_mul`
/// (`_Mul`, `_mul`) take operands of one shape. `broadcast_add` (`broadcast_plus`), `broadcast_sub`
/// (`broadcast_minus`), `broadcast_mul` and `broadcast_div` broadcast them as MXNet 1.x does
/// (`broadcastShape`); their gradients are summed over the broadcast axes. Operands of equal shapes
/// take the same element-wise path either way.
public struct BinaryElementwise<Kind: BinaryOperatorKind>: Operator {
    public static var typeName: String { Kind.typeName }
    public static var attributeNames: [String] { [] }

    public init(attributes: [String: String]) throws {}

    /// The operator.
    public init() {}

    public var attributes: [String: String] { [:] }

    public func listArguments() -> [String] { ["lhs", "rhs"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        let lhs = s.first ?? nil
        let rhs = s.count > 1 ? s[1] : nil
        if Kind.broadcasts {
            // As MXNet: neither shape can be told from the other when they may broadcast.
            guard let l = lhs, let r = rhs else {
                throw GraphError.shapeError("\(Self.typeName) needs both the lhs and the rhs shape")
            }
            return ([l, r], [try broadcastShape(l, r, Self.typeName)], [])
        }
        guard let shape = lhs ?? rhs else {
            throw GraphError.shapeError("\(Self.typeName) needs the lhs or rhs shape")
        }
        if let l = lhs, let r = rhs, l != r {
            throw GraphError.shapeError(
                "\(Self.typeName) needs equal shapes, got \(l) and \(r) (the broadcast_* operators broadcast)")
        }
        return ([shape, shape], [shape], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let lhs = context.inputShapes[0]
        let rhs = context.inputShapes[1]
        guard lhs == rhs else { return try BroadcastInstance(Kind.operation, lhs: lhs, rhs: rhs, op: Self.typeName) }
        let count = NDArray.elementCount(lhs)
        switch Kind.operation {
        case .add: return AddN.Instance(count: count)  // the sum of two: add_n's instance
        case .subtract, .multiply, .divide: return BinaryInstance(count: count, operation: Kind.operation)
        }
    }
}

/// `elemwise_add`.
public enum AddKind: BinaryOperatorKind {
    public static let typeName = "elemwise_add"
    public static let operation = BinaryOperation.add
}

/// `elemwise_sub`.
public enum SubtractKind: BinaryOperatorKind {
    public static let typeName = "elemwise_sub"
    public static let operation = BinaryOperation.subtract
}

/// `elemwise_mul`.
public enum MultiplyKind: BinaryOperatorKind {
    public static let typeName = "elemwise_mul"
    public static let operation = BinaryOperation.multiply
}

/// MXNet's `elemwise_add`.
public typealias ElemwiseAdd = BinaryElementwise<AddKind>
/// MXNet's `elemwise_sub`.
public typealias ElemwiseSub = BinaryElementwise<SubtractKind>
/// MXNet's `elemwise_mul`.
public typealias ElemwiseMul = BinaryElementwise<MultiplyKind>

/// `lhs ∘ rhs` of one shape for ∘ in −, ⊙, / (addition runs on `AddN.Instance`).
final class BinaryInstance: OperatorInstance {
    let count: Int
    let operation: BinaryOperation
    init(count: Int, operation: BinaryOperation) {
        self.count = count
        self.operation = operation
    }

    func forward(_ b: OpBinding, isTrain: Bool) {
        let x = b.inputs[0].data
        let z = b.inputs[1].data
        let y = b.outputs[0].data
        switch operation {
        case .multiply: Kernels.mul(count, x, z, y)
        case .add: Kernels.add(count, x, z, y)
        case .subtract: for i in 0..<count { y[i] = x[i] - z[i] }
        case .divide: for i in 0..<count { y[i] = x[i] / z[i] }
        }
    }

    func backward(_ b: OpBinding) {
        let dy = b.outputGrads[0].data
        let x = b.inputs[0].data
        let z = b.inputs[1].data
        b.withGrad(0) { dx, accumulate in
            writeGrad(count, dx.data, accumulate: accumulate) { operation.lhsGradient(dy[$0], x[$0], z[$0]) }
        }
        b.withGrad(1) { dz, accumulate in
            writeGrad(count, dz.data, accumulate: accumulate) { operation.rhsGradient(dy[$0], x[$0], z[$0]) }
        }
    }
}
