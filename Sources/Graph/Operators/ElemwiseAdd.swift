import SwiftPSTensor

/// What a binary element-wise operator computes from `lhs` and `rhs` of one shape.
public enum BinaryOperation: Sendable {
    case add, subtract, multiply
}

/// A binary element-wise operator's MXNet name and operation.
public protocol BinaryOperatorKind: Sendable {
    static var typeName: String { get }
    static var operation: BinaryOperation { get }
}

/// MXNet's `elemwise_add` (`_Plus`, `_plus`, and `broadcast_add` for equal shapes), `elemwise_sub`
/// (`_Minus`, `_minus`) and `elemwise_mul` (`_Mul`, `_mul`): `lhs + rhs`, `lhs − rhs`, `lhs ⊙ rhs`
/// of equal shapes (SwiftPS does not broadcast).
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
        guard let shape = lhs ?? rhs else {
            throw GraphError.shapeError("\(Self.typeName) needs the lhs or rhs shape")
        }
        if let l = lhs, let r = rhs, l != r {
            throw GraphError.shapeError(
                "\(Self.typeName) needs equal shapes, got \(l) and \(r) (SwiftPS's broadcast_add does not broadcast)")
        }
        return ([shape, shape], [shape], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let count = NDArray.elementCount(context.inputShapes[0])
        switch Kind.operation {
        case .add: return AddN.Instance(count: count)  // the sum of two: add_n's instance
        case .subtract, .multiply: return BinaryInstance(count: count, multiply: Kind.operation == .multiply)
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

/// `lhs − rhs` (d/dlhs = dy, d/drhs = −dy) or `lhs ⊙ rhs` (d/dlhs = dy ⊙ rhs, d/drhs = dy ⊙ lhs).
final class BinaryInstance: OperatorInstance {
    let count: Int
    let multiply: Bool
    init(count: Int, multiply: Bool) {
        self.count = count
        self.multiply = multiply
    }

    func forward(_ b: OpBinding, isTrain: Bool) {
        let x = b.inputs[0].data
        let z = b.inputs[1].data
        let y = b.outputs[0].data
        if multiply { Kernels.mul(count, x, z, y) } else { for i in 0..<count { y[i] = x[i] - z[i] } }
    }

    func backward(_ b: OpBinding) {
        let dy = b.outputGrads[0].data
        let x = b.inputs[0].data
        let z = b.inputs[1].data
        b.withGrad(0) { dx, accumulate in
            writeGrad(count, dx.data, accumulate: accumulate) { multiply ? dy[$0] * z[$0] : dy[$0] }
        }
        b.withGrad(1) { dz, accumulate in
            writeGrad(count, dz.data, accumulate: accumulate) { multiply ? dy[$0] * x[$0] : -dy[$0] }
        }
    }
}
