import SwiftPSTensor

/// The arithmetic of a `_…_scalar` operator with the scalar `s`.
public enum ScalarArithmetic: Sendable {
    case plus, minus, reverseMinus, times, divide, reverseDivide

    func apply(_ x: Float, _ s: Float) -> Float {
        switch self {
        case .plus: x + s
        case .minus: x - s
        case .reverseMinus: s - x
        case .times: x * s
        case .divide: x / s
        case .reverseDivide: s / x
        }
    }

    /// d(apply)/dx at `x`.
    func derivative(_ x: Float, _ s: Float) -> Float {
        switch self {
        case .plus, .minus: 1
        case .reverseMinus: -1
        case .times: s
        case .divide: 1 / s
        case .reverseDivide: -s / (x * x)
        }
    }
}

/// A scalar operator's MXNet name and arithmetic.
public protocol ScalarOperatorKind: Sendable {
    static var typeName: String { get }
    static var arithmetic: ScalarArithmetic { get }
}

/// MXNet's `_plus_scalar`, `_minus_scalar`, `_rminus_scalar`, `_mul_scalar`, `_div_scalar` and
/// `_rdiv_scalar` (what `data + 1`, `1 - data`, `data / 255` on a symbol write): each element with
/// the attribute `scalar`.
public struct ScalarOperator<Kind: ScalarOperatorKind>: Operator {
    public static var typeName: String { Kind.typeName }
    public static var attributeNames: [String] { ["scalar", "is_int"] }
    public let scalar: Float

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        guard attributes["scalar"] != nil else { throw r.bad("scalar", "", "is required") }
        _ = try r.bool("is_int", default: false)  // MXNet 1.9's hint for integer arrays; float32 here
        scalar = try r.float("scalar", default: 0)
    }

    /// The operator with `scalar`.
    public init(scalar: Float) { self.scalar = scalar }

    public var attributes: [String: String] { ["scalar": formatFloat(scalar)] }
    public func listArguments() -> [String] { ["data"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        try elementwiseShape(s, Self.typeName)
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        ScalarInstance(arithmetic: Kind.arithmetic, scalar: scalar, count: NDArray.elementCount(context.inputShapes[0]))
    }
}

final class ScalarInstance: OperatorInstance {
    let arithmetic: ScalarArithmetic
    let scalar: Float
    let count: Int
    init(arithmetic: ScalarArithmetic, scalar: Float, count: Int) {
        self.arithmetic = arithmetic
        self.scalar = scalar
        self.count = count
    }

    func forward(_ b: OpBinding, isTrain: Bool) {
        let x = b.inputs[0].data
        let y = b.outputs[0].data
        for i in 0..<count { y[i] = arithmetic.apply(x[i], scalar) }
    }

    func backward(_ b: OpBinding) {
        let x = b.inputs[0].data
        let dy = b.outputGrads[0].data
        b.withGrad(0) { dx, accumulate in
            writeGrad(count, dx.data, accumulate: accumulate) { dy[$0] * arithmetic.derivative(x[$0], scalar) }
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
