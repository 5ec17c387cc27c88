import Foundation
import SwiftPSTensor

/// What a unary math operator computes from each element, with its derivative as MXNet 1.9.1
/// defines it (including at kinks and outside the domain).
public enum UnaryFunction: Sendable, CaseIterable {
    case exp, log, sqrt, rsqrt, square, abs, negative, reciprocal, sigmoid, tanh, relu, softsign
    case log1p, expm1, sign, floor, ceil, round, sin, cos

    /// f(x).
    @inline(__always) func apply(_ x: Float) -> Float {
        switch self {
        case .exp: Foundation.exp(x)
        case .log: Foundation.log(x)
        case .sqrt: x.squareRoot()
        case .rsqrt: 1 / x.squareRoot()
        case .square: x * x
        case .abs: Swift.abs(x)
        case .negative: -x
        case .reciprocal: 1 / x
        case .sigmoid: 1 / (1 + Foundation.exp(-x))
        case .tanh: Foundation.tanh(x)
        case .relu: x > 0 ? x : 0
        case .softsign: x / (1 + Swift.abs(x))
        case .log1p: Foundation.log1p(x)
        case .expm1: Foundation.expm1(x)
        case .sign: x > 0 ? 1 : (x < 0 ? -1 : 0)
        case .floor: x.rounded(.down)
        case .ceil: x.rounded(.up)
        // Halves away from zero, as MXNet's round (not numpy's half to even).
        case .round: x.rounded(.toNearestOrAwayFromZero)
        case .sin: Foundation.sin(x)
        case .cos: Foundation.cos(x)
        }
    }

    /// f′ at `x`, where `y` = f(x). MXNet's conventions: abs′(0) = 0 (its gradient is sign(x)),
    /// relu′(0) = 0, and sign, floor, ceil and round pass no gradient.
    @inline(__always) func derivative(_ x: Float, _ y: Float) -> Float {
        switch self {
        case .exp: y
        case .log: 1 / x
        case .sqrt: 0.5 / y
        case .rsqrt: -0.5 * y / x
        case .square: 2 * x
        case .abs: x > 0 ? 1 : (x < 0 ? -1 : 0)
        case .negative: -1
        case .reciprocal: -y * y
        case .sigmoid: y * (1 - y)
        case .tanh: 1 - y * y
        case .relu: x > 0 ? 1 : 0
        case .softsign: 1 / ((1 + Swift.abs(x)) * (1 + Swift.abs(x)))
        case .log1p: 1 / (1 + x)
        case .expm1: y + 1
        case .sign, .floor, .ceil, .round: 0
        case .sin: Foundation.cos(x)
        case .cos: -Foundation.sin(x)
        }
    }

    /// MXNet's name of the operator (`exp`, `log1p`, …).
    public var operatorName: String { "\(self)" }

    /// Whether no gradient passes (the derivative is 0 everywhere it exists).
    var isPiecewiseConstant: Bool { [.sign, .floor, .ceil, .round].contains(self) }
}

/// A unary math operator's MXNet name and function.
public protocol UnaryMathKind: Sendable {
    static var typeName: String { get }
    static var function: UnaryFunction { get }
}

/// MXNet's element-wise math on one array (`exp`, `log`, `sqrt`, …, `sin`, `cos`): each output
/// element is f of the input element; the gradient is the output's times f′ (`UnaryFunction`).
/// They take no attributes. As MXNet, values outside a function's domain give NaN or ±inf.
public struct UnaryMath<Kind: UnaryMathKind>: PlainUnaryOperator {
    public static var typeName: String { Kind.typeName }

    /// The operator.
    public init() {}

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        UnaryMathInstance(Kind.function, count: NDArray.elementCount(context.inputShapes[0]))
    }
}

final class UnaryMathInstance: OperatorInstance {
    let function: UnaryFunction
    let count: Int
    init(_ function: UnaryFunction, count: Int) {
        self.function = function
        self.count = count
    }

    func forward(_ b: OpBinding, isTrain: Bool) {
        let x = b.inputs[0].data
        let y = b.outputs[0].data
        for i in 0..<count { y[i] = function.apply(x[i]) }
    }

    func backward(_ b: OpBinding) {
        let x = b.inputs[0].data
        let y = b.outputs[0].data
        let dy = b.outputGrads[0].data
        b.withGrad(0) { dx, accumulate in
            if function.isPiecewiseConstant {
                if !accumulate { dx.fill(0) }
                return
            }
            writeGrad(count, dx.data, accumulate: accumulate) { dy[$0] * function.derivative(x[$0], y[$0]) }
        }
    }
}

// The kinds: MXNet's name and the function of each unary math operator.

public enum ExpKind: UnaryMathKind {
    public static let typeName = "exp"
    public static let function = UnaryFunction.exp
}
public enum LogKind: UnaryMathKind {
    public static let typeName = "log"
    public static let function = UnaryFunction.log
}

public enum SqrtKind: UnaryMathKind {
    public static let typeName = "sqrt"
    public static let function = UnaryFunction.sqrt
}

public enum RsqrtKind: UnaryMathKind {
    public static let typeName = "rsqrt"
    public static let function = UnaryFunction.rsqrt
}

public enum SquareKind: UnaryMathKind {
    public static let typeName = "square"
    public static let function = UnaryFunction.square
}

public enum AbsKind: UnaryMathKind {
    public static let typeName = "abs"
    public static let function = UnaryFunction.abs
}

public enum NegativeKind: UnaryMathKind {
    public static let typeName = "negative"
    public static let function = UnaryFunction.negative
}

public enum ReciprocalKind: UnaryMathKind {
    public static let typeName = "reciprocal"
    public static let function = UnaryFunction.reciprocal
}

public enum SigmoidKind: UnaryMathKind {
    public static let typeName = "sigmoid"
    public static let function = UnaryFunction.sigmoid
}

public enum TanhKind: UnaryMathKind {
    public static let typeName = "tanh"
    public static let function = UnaryFunction.tanh
}

public enum ReluKind: UnaryMathKind {
    public static let typeName = "relu"
    public static let function = UnaryFunction.relu
}

public enum SoftsignKind: UnaryMathKind {
    public static let typeName = "softsign"
    public static let function = UnaryFunction.softsign
}

public enum Log1pKind: UnaryMathKind {
    public static let typeName = "log1p"
    public static let function = UnaryFunction.log1p
}

public enum Expm1Kind: UnaryMathKind {
    public static let typeName = "expm1"
    public static let function = UnaryFunction.expm1
}

public enum SignKind: UnaryMathKind {
    public static let typeName = "sign"
    public static let function = UnaryFunction.sign
}

public enum FloorKind: UnaryMathKind {
    public static let typeName = "floor"
    public static let function = UnaryFunction.floor
}

public enum CeilKind: UnaryMathKind {
    public static let typeName = "ceil"
    public static let function = UnaryFunction.ceil
}

public enum RoundKind: UnaryMathKind {
    public static let typeName = "round"
    public static let function = UnaryFunction.round
}

public enum SinKind: UnaryMathKind {
    public static let typeName = "sin"
    public static let function = UnaryFunction.sin
}

public enum CosKind: UnaryMathKind {
    public static let typeName = "cos"
    public static let function = UnaryFunction.cos
}

/// MXNet's `exp`.
public typealias ExpOp = UnaryMath<ExpKind>
/// MXNet's `log`.
public typealias LogOp = UnaryMath<LogKind>
/// MXNet's `sqrt`.
public typealias SqrtOp = UnaryMath<SqrtKind>
/// MXNet's `rsqrt`.
public typealias RsqrtOp = UnaryMath<RsqrtKind>
/// MXNet's `square`.
public typealias SquareOp = UnaryMath<SquareKind>
/// MXNet's `abs`.
public typealias AbsOp = UnaryMath<AbsKind>
/// MXNet's `negative`.
public typealias NegativeOp = UnaryMath<NegativeKind>
/// MXNet's `reciprocal`.
public typealias ReciprocalOp = UnaryMath<ReciprocalKind>
/// MXNet's `sigmoid`.
public typealias SigmoidOp = UnaryMath<SigmoidKind>
/// MXNet's `tanh`.
public typealias TanhOp = UnaryMath<TanhKind>
/// MXNet's `relu`.
public typealias ReluOp = UnaryMath<ReluKind>
/// MXNet's `softsign`.
public typealias SoftsignOp = UnaryMath<SoftsignKind>
/// MXNet's `log1p`.
public typealias Log1pOp = UnaryMath<Log1pKind>
/// MXNet's `expm1`.
public typealias Expm1Op = UnaryMath<Expm1Kind>
/// MXNet's `sign`.
public typealias SignOp = UnaryMath<SignKind>
/// MXNet's `floor`.
public typealias FloorOp = UnaryMath<FloorKind>
/// MXNet's `ceil`.
public typealias CeilOp = UnaryMath<CeilKind>
/// MXNet's `round`.
public typealias RoundOp = UnaryMath<RoundKind>
/// MXNet's `sin`.
public typealias SinOp = UnaryMath<SinKind>
/// MXNet's `cos`.
public typealias CosOp = UnaryMath<CosKind>
