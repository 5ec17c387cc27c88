import SwiftPSTensor

/// The arithmetic of a `_…_scalar` operator with the scalar `s`.
public enum ScalarArithmetic: Sendable, CaseIterable {
    case plus, minus, reverseMinus, times, divide, reverseDivide
    case maximum, minimum, power, reversePower
    /// The comparisons `x ∘ s`: 1 where it holds, else 0; no gradient passes.
    case equal, notEqual, greater, greaterEqual, lesser, lesserEqual

    /// MXNet's name of the operator: `_plus_scalar`, `_rminus_scalar`, `_greater_equal_scalar`, …:
    /// the binary operation's name (`plus` and `minus` for add and subtract), `r` before it when
    /// the scalar is the left operand.
    public var operatorName: String {
        let (operation, reversed) = self.operation
        let base =
            switch operation {
            case .add: "plus"
            case .subtract: "minus"
            default: operation.baseName
            }
        return "_" + (reversed ? "r" : "") + base + "_scalar"
    }

    /// The binary operation between the data and the scalar, and whether the scalar is its left
    /// operand (`_rminus_scalar`: `s − x`, `_rpower_scalar`: `s ^ x`). Its gradient formulas are
    /// MXNet's for the scalar forms too (`_maximum_scalar`'s tie goes to the data), but for
    /// `_div_scalar`'s `dy · (1 / s)`, where MXNet divides, `dy / s`: a rounding apart.
    var operation: (BinaryOperation, reversed: Bool) {
        switch self {
        case .plus: (.add, false)
        case .minus: (.subtract, false)
        case .reverseMinus: (.subtract, true)
        case .times: (.multiply, false)
        case .divide: (.divide, false)
        case .reverseDivide: (.divide, true)
        case .maximum: (.maximum, false)
        case .minimum: (.minimum, false)
        case .power: (.power, false)
        case .reversePower: (.power, true)
        case .equal: (.equal, false)
        case .notEqual: (.notEqual, false)
        case .greater: (.greater, false)
        case .greaterEqual: (.greaterEqual, false)
        case .lesser: (.lesser, false)
        case .lesserEqual: (.lesserEqual, false)
        }
    }
}

/// A scalar operator's MXNet name and arithmetic.
public protocol ScalarOperatorKind: Sendable {
    static var typeName: String { get }
    static var arithmetic: ScalarArithmetic { get }
}

/// MXNet's `_plus_scalar`, `_minus_scalar`, `_rminus_scalar`, `_mul_scalar`, `_div_scalar`,
/// `_rdiv_scalar`, `_maximum_scalar`, `_minimum_scalar`, `_power_scalar`, `_rpower_scalar` and the
/// comparisons `_equal_scalar` … `_lesser_equal_scalar` (what `data + 1`, `1 - data`, `data / 255`,
/// `data ** 2`, `2 ** data`, `data > 0` on a symbol write): each element with the attribute
/// `scalar`.
public struct ScalarOperator<Kind: ScalarOperatorKind>: Operator {
    public static var typeName: String { Kind.typeName }
    public static var attributeNames: [String] { ["scalar", "is_int"] }
    public let scalar: Float

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        _ = try r.bool("is_int", default: false)  // MXNet 1.9's hint for integer arrays; float32 here
        // MXNet 1.9.1's default when a symbol leaves it out (`_plus_scalar(a)` adds 1).
        scalar = try r.float("scalar", default: 1)
    }

    /// The operator with `scalar`.
    public init(scalar: Float) { self.scalar = scalar }

    public var attributes: [String: String] { ["scalar": formatFloat(scalar)] }
    public func listArguments() -> [String] { ["data"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        try elementwiseShape(s, Self.typeName)
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let (operation, reversed) = Kind.arithmetic.operation
        return ScalarInstance(
            operation, scalar: scalar, reversed: reversed, count: NDArray.elementCount(context.inputShapes[0]))
    }
}

/// `x ∘ s`, or `s ∘ x` when `reversed`, for each element `x`: one loop per operation.
final class ScalarInstance: OperatorInstance {
    let operation: BinaryOperation
    let scalar: Float
    let reversed: Bool
    let count: Int
    init(_ operation: BinaryOperation, scalar: Float, reversed: Bool, count: Int) {
        self.operation = operation
        self.scalar = scalar
        self.reversed = reversed
        self.count = count
    }

    /// `y = x ∘ s` (or `s ∘ x`) over `n` elements.
    struct Forward: BinaryLoop {
        let n: Int, s: Float, reversed: Bool
        let x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>
        func run<F: BinaryFunction>(_: F.Type) {
            if reversed {
                for i in 0..<n { y[i] = F.apply(s, x[i]) }
            } else {
                for i in 0..<n { y[i] = F.apply(x[i], s) }
            }
        }
    }

    /// The data's gradient over `n` elements into `dst`, written or added.
    struct Gradient: BinaryLoop {
        let n: Int, s: Float, reversed: Bool
        let dy: UnsafeMutablePointer<Float>, x: UnsafeMutablePointer<Float>, dst: UnsafeMutablePointer<Float>
        let accumulate: Bool
        func run<F: BinaryFunction>(_: F.Type) {
            if reversed {
                writeGrad(n, dst, accumulate: accumulate) { F.rhsGradient(dy[$0], s, x[$0]) }
            } else {
                writeGrad(n, dst, accumulate: accumulate) { F.lhsGradient(dy[$0], x[$0], s) }
            }
        }
    }

    func forward(_ b: OpBinding, isTrain: Bool) {
        operation.run(Forward(n: count, s: scalar, reversed: reversed, x: b.inputs[0].data, y: b.outputs[0].data))
    }

    func backward(_ b: OpBinding) {
        b.withGrad(0) { dx, accumulate in
            guard operation.passesGradient else { return zeroGrad(dx, accumulate: accumulate) }
            operation.run(
                Gradient(
                    n: count, s: scalar, reversed: reversed, dy: b.outputGrads[0].data, x: b.inputs[0].data,
                    dst: dx.data, accumulate: accumulate))
        }
    }
}

public enum PlusScalarKind: ScalarOperatorKind {
    public static let typeName = "_plus_scalar"
    public static let arithmetic = ScalarArithmetic.plus
}
public enum MinusScalarKind: ScalarOperatorKind {
    public static let typeName = "_minus_scalar"
    public static let arithmetic = ScalarArithmetic.minus
}
public enum ReverseMinusScalarKind: ScalarOperatorKind {
    public static let typeName = "_rminus_scalar"
    public static let arithmetic = ScalarArithmetic.reverseMinus
}
public enum MulScalarKind: ScalarOperatorKind {
    public static let typeName = "_mul_scalar"
    public static let arithmetic = ScalarArithmetic.times
}
public enum DivScalarKind: ScalarOperatorKind {
    public static let typeName = "_div_scalar"
    public static let arithmetic = ScalarArithmetic.divide
}
public enum ReverseDivScalarKind: ScalarOperatorKind {
    public static let typeName = "_rdiv_scalar"
    public static let arithmetic = ScalarArithmetic.reverseDivide
}

public enum MaximumScalarKind: ScalarOperatorKind {
    public static let typeName = "_maximum_scalar"
    public static let arithmetic = ScalarArithmetic.maximum
}
public enum MinimumScalarKind: ScalarOperatorKind {
    public static let typeName = "_minimum_scalar"
    public static let arithmetic = ScalarArithmetic.minimum
}
public enum PowerScalarKind: ScalarOperatorKind {
    public static let typeName = "_power_scalar"
    public static let arithmetic = ScalarArithmetic.power
}
public enum ReversePowerScalarKind: ScalarOperatorKind {
    public static let typeName = "_rpower_scalar"
    public static let arithmetic = ScalarArithmetic.reversePower
}
public enum EqualScalarKind: ScalarOperatorKind {
    public static let typeName = "_equal_scalar"
    public static let arithmetic = ScalarArithmetic.equal
}
public enum NotEqualScalarKind: ScalarOperatorKind {
    public static let typeName = "_not_equal_scalar"
    public static let arithmetic = ScalarArithmetic.notEqual
}
public enum GreaterScalarKind: ScalarOperatorKind {
    public static let typeName = "_greater_scalar"
    public static let arithmetic = ScalarArithmetic.greater
}
public enum GreaterEqualScalarKind: ScalarOperatorKind {
    public static let typeName = "_greater_equal_scalar"
    public static let arithmetic = ScalarArithmetic.greaterEqual
}
public enum LesserScalarKind: ScalarOperatorKind {
    public static let typeName = "_lesser_scalar"
    public static let arithmetic = ScalarArithmetic.lesser
}
public enum LesserEqualScalarKind: ScalarOperatorKind {
    public static let typeName = "_lesser_equal_scalar"
    public static let arithmetic = ScalarArithmetic.lesserEqual
}

/// `_plus_scalar`: `data + scalar`.
public typealias PlusScalar = ScalarOperator<PlusScalarKind>
/// `_minus_scalar`: `data − scalar`.
public typealias MinusScalar = ScalarOperator<MinusScalarKind>
/// `_rminus_scalar`: `scalar − data`.
public typealias ReverseMinusScalar = ScalarOperator<ReverseMinusScalarKind>
/// `_mul_scalar`: `data · scalar`.
public typealias MulScalar = ScalarOperator<MulScalarKind>
/// `_div_scalar`: `data / scalar`.
public typealias DivScalar = ScalarOperator<DivScalarKind>
/// `_rdiv_scalar`: `scalar / data`.
public typealias ReverseDivScalar = ScalarOperator<ReverseDivScalarKind>
/// `_maximum_scalar`: `max(data, scalar)`.
public typealias MaximumScalar = ScalarOperator<MaximumScalarKind>
/// `_minimum_scalar`: `min(data, scalar)`.
public typealias MinimumScalar = ScalarOperator<MinimumScalarKind>
/// `_power_scalar`: `data ^ scalar`.
public typealias PowerScalar = ScalarOperator<PowerScalarKind>
/// `_rpower_scalar`: `scalar ^ data`.
public typealias ReversePowerScalar = ScalarOperator<ReversePowerScalarKind>
/// `_equal_scalar`: `data == scalar` (1 or 0).
public typealias EqualScalar = ScalarOperator<EqualScalarKind>
/// `_not_equal_scalar`: `data != scalar` (1 or 0).
public typealias NotEqualScalar = ScalarOperator<NotEqualScalarKind>
/// `_greater_scalar`: `data > scalar` (1 or 0).
public typealias GreaterScalar = ScalarOperator<GreaterScalarKind>
/// `_greater_equal_scalar`: `data >= scalar` (1 or 0).
public typealias GreaterEqualScalar = ScalarOperator<GreaterEqualScalarKind>
/// `_lesser_scalar`: `data < scalar` (1 or 0).
public typealias LesserScalar = ScalarOperator<LesserScalarKind>
/// `_lesser_equal_scalar`: `data <= scalar` (1 or 0).
public typealias LesserEqualScalar = ScalarOperator<LesserEqualScalarKind>
