import Foundation
import SwiftPSTensor

/// What a unary math operator computes from each element, with its derivative as MXNet 1.9.1
/// defines it (including at kinks and outside the domain).
public enum UnaryFunction: Sendable, CaseIterable, ElementFunction {
    case exp, log, sqrt, rsqrt, square, abs, negative, reciprocal, sigmoid, tanh, relu, softsign
    case log1p, expm1, sign, floor, ceil, round, sin, cos
    case tan, arcsin, arccos, arctan, sinh, cosh, arcsinh, arccosh, arctanh, degrees, radians
    case log2, log10, cbrt, rcbrt, erf, erfinv, gamma, gammaln, trunc, fix, rint, logicalNot

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
        case .tan: Foundation.tan(x)
        case .arcsin: Foundation.asin(x)
        case .arccos: Foundation.acos(x)
        case .arctan: Foundation.atan(x)
        case .sinh: Foundation.sinh(x)
        case .cosh: Foundation.cosh(x)
        case .arcsinh: Foundation.asinh(x)
        case .arccosh: Foundation.acosh(x)
        case .arctanh: Foundation.atanh(x)
        case .degrees: x * Self.degreesPerRadian
        case .radians: x * Self.radiansPerDegree
        case .log2: Foundation.log2(x)
        case .log10: Foundation.log10(x)
        case .cbrt: Foundation.cbrt(x)
        case .rcbrt: 1 / Foundation.cbrt(x)
        case .erf: Foundation.erf(x)
        case .erfinv: Float(inverseErf(Double(x)))
        case .gamma: Foundation.tgamma(x)
        case .gammaln: logGamma(x)
        case .trunc, .fix: x.rounded(.towardZero)
        // MXNet's rint: the nearer integer, halves going down (rint(2.5) = 2, rint(-2.5) = -3).
        case .rint: x - x.rounded(.down) <= x.rounded(.up) - x ? x.rounded(.down) : x.rounded(.up)
        case .logicalNot: x == 0 ? 1 : 0
        }
    }

    /// f′ at `x`, where `y` = f(x). MXNet's conventions: abs′(0) = 0 (its gradient is sign(x)),
    /// relu′(0) = 0, and sign, floor, ceil, round, trunc, fix, rint and logical_not pass no gradient.
    /// Outside a domain MXNet evaluates the formula anyway: arccosh′ = 1/√(x²−1) is finite below
    /// −1, arctanh′ = 1/(1−x²) beyond ±1; the others give NaN there.
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
        case .sign, .floor, .ceil, .round, .trunc, .fix, .rint, .logicalNot: 0
        case .sin: Foundation.cos(x)
        case .cos: -Foundation.sin(x)
        case .tan: 1 + y * y
        case .arcsin: 1 / (1 - x * x).squareRoot()
        case .arccos: -1 / (1 - x * x).squareRoot()
        case .arctan: 1 / (1 + x * x)
        case .sinh: Foundation.cosh(x)
        case .cosh: Foundation.sinh(x)
        case .arcsinh: 1 / (x * x + 1).squareRoot()
        case .arccosh: 1 / (x * x - 1).squareRoot()
        case .arctanh: 1 / (1 - x * x)
        case .degrees: Self.degreesPerRadian
        case .radians: Self.radiansPerDegree
        case .log2: 1 / (x * Float(M_LN2))
        case .log10: 1 / (x * Float(M_LN10))
        case .cbrt: 1 / (3 * y * y)
        case .rcbrt: -y / (3 * x)
        case .erf: Float(M_2_SQRTPI) * Foundation.exp(-x * x)
        case .erfinv: Float(0.5 * Double.pi.squareRoot()) * Foundation.exp(y * y)
        case .gamma: y * Float(digamma(Double(x)))
        case .gammaln: Float(digamma(Double(x)))
        }
    }

    static let degreesPerRadian = Float(180 / Double.pi)
    static let radiansPerDegree = Float(Double.pi / 180)

    /// MXNet's name of the operator (`exp`, `log1p`, `logical_not`, …).
    public var operatorName: String { self == .logicalNot ? "logical_not" : "\(self)" }

    /// Whether no gradient passes (the derivative is 0 everywhere it exists).
    var isPiecewiseConstant: Bool {
        [.sign, .floor, .ceil, .round, .trunc, .fix, .rint, .logicalNot].contains(self)
    }

    /// Runs `body` with this function as a constant: each case gets its own copy of `body`, where
    /// `apply` and `derivative` reduce to the case's formula, so loops in `body` are switch-free.
    @inline(__always) func specialized(_ body: (UnaryFunction) -> Void) {
        switch self {
        case .exp: body(.exp)
        case .log: body(.log)
        case .sqrt: body(.sqrt)
        case .rsqrt: body(.rsqrt)
        case .square: body(.square)
        case .abs: body(.abs)
        case .negative: body(.negative)
        case .reciprocal: body(.reciprocal)
        case .sigmoid: body(.sigmoid)
        case .tanh: body(.tanh)
        case .relu: body(.relu)
        case .softsign: body(.softsign)
        case .log1p: body(.log1p)
        case .expm1: body(.expm1)
        case .sign: body(.sign)
        case .floor: body(.floor)
        case .ceil: body(.ceil)
        case .round: body(.round)
        case .sin: body(.sin)
        case .cos: body(.cos)
        case .tan: body(.tan)
        case .arcsin: body(.arcsin)
        case .arccos: body(.arccos)
        case .arctan: body(.arctan)
        case .sinh: body(.sinh)
        case .cosh: body(.cosh)
        case .arcsinh: body(.arcsinh)
        case .arccosh: body(.arccosh)
        case .arctanh: body(.arctanh)
        case .degrees: body(.degrees)
        case .radians: body(.radians)
        case .log2: body(.log2)
        case .log10: body(.log10)
        case .cbrt: body(.cbrt)
        case .rcbrt: body(.rcbrt)
        case .erf: body(.erf)
        case .erfinv: body(.erfinv)
        case .gamma: body(.gamma)
        case .gammaln: body(.gammaln)
        case .trunc: body(.trunc)
        case .fix: body(.fix)
        case .rint: body(.rint)
        case .logicalNot: body(.logicalNot)
        }
    }
}

/// log |Γ(x)|, without the sign `lgammaf` would store in a global.
@inline(__always) private func logGamma(_ x: Float) -> Float {
    var sign: Int32 = 0
    return lgammaf_r(x, &sign)
}

/// ψ(x) = Γ′(x)/Γ(x): +∞ at the poles 0, −1, −2, … (as MXNet); below 0 by the reflection
/// ψ(x) = ψ(1 − x) − π / tan(πx); above, shifted past 10 by ψ(x) = ψ(x + 1) − 1/x and summed by its
/// asymptotic series.
func digamma(_ x: Double) -> Double {
    if x.isNaN { return x }
    if x <= 0 {
        if x == x.rounded(.down) { return .infinity }
        return digamma(1 - x) - Double.pi / Foundation.tan(Double.pi * x)
    }
    var v = x
    var shift = 0.0
    while v < 10 {
        shift += 1 / v
        v += 1
    }
    let z = 1 / (v * v)
    // ln v − 1/(2v) − Σ B₂ₖ / (2k v²ᵏ), k = 1…6.
    let series =
        z * (1.0 / 12 - z * (1.0 / 120 - z * (1.0 / 252 - z * (1.0 / 240 - z * (1.0 / 132 - z * 691.0 / 32760)))))
    return Foundation.log(v) - 0.5 / v - series - shift
}

/// erf⁻¹(x): ±∞ at ±1 and NaN beyond, as MXNet. A closed-form first guess (Winitzki's) refined by
/// Halley steps on erf(y) = x.
func inverseErf(_ x: Double) -> Double {
    if x.isNaN || Swift.abs(x) > 1 { return .nan }
    if Swift.abs(x) == 1 { return x * .infinity }
    let a = 0.147
    let l = Foundation.log(1 - x * x)
    let t = 2 / (Double.pi * a) + l / 2
    var y = ((t * t - l / a).squareRoot() - t).squareRoot()
    if x < 0 { y = -y }
    for _ in 0..<3 {
        let slope = 2 / Double.pi.squareRoot() * Foundation.exp(-y * y)
        guard slope > 0 else { break }
        let step = (Foundation.erf(y) - x) / slope
        y -= step / (1 + y * step)
    }
    return y
}

/// An element-wise function and its derivative (`UnaryFunction`, or an operator's with attributes:
/// `hard_sigmoid`, `smooth_l1`), run over arrays by `mapElements` and `mapGradient`.
protocol ElementFunction {
    func apply(_ x: Float) -> Float
    /// f′ at `x`, where `y` = f(x).
    func derivative(_ x: Float, _ y: Float) -> Float
}

/// `y[i] = f(x[i])` for `n` elements.
@inline(__always)
func mapElements(_ f: some ElementFunction, _ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    for i in 0..<n { y[i] = f.apply(x[i]) }
}

/// `dx[i] = dy[i] · f′(x[i])` (added with `accumulate`) for `n` elements, `y` being f(x).
@inline(__always)
func mapGradient(
    _ f: some ElementFunction, _ n: Int, x: UnsafePointer<Float>, y: UnsafePointer<Float>, dy: UnsafePointer<Float>,
    dx: UnsafeMutablePointer<Float>, accumulate: Bool
) {
    writeGrad(n, dx, accumulate: accumulate) { dy[$0] * f.derivative(x[$0], y[$0]) }
}

/// A unary math operator's MXNet name and function.
public protocol UnaryMathKind: Sendable {
    static var typeName: String { get }
    static var function: UnaryFunction { get }
}

/// MXNet's element-wise math on one array (`exp`, `log`, `sqrt`, …, `sin`, `cos`, `tan`, …, `gammaln`): each output
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
        function.specialized { f in mapElements(f, count, x, y) }
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
            function.specialized { f in
                mapGradient(f, count, x: x, y: y, dy: dy, dx: dx.data, accumulate: accumulate)
            }
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

public enum TanKind: UnaryMathKind {
    public static let typeName = "tan"
    public static let function = UnaryFunction.tan
}

public enum ArcsinKind: UnaryMathKind {
    public static let typeName = "arcsin"
    public static let function = UnaryFunction.arcsin
}

public enum ArccosKind: UnaryMathKind {
    public static let typeName = "arccos"
    public static let function = UnaryFunction.arccos
}

public enum ArctanKind: UnaryMathKind {
    public static let typeName = "arctan"
    public static let function = UnaryFunction.arctan
}

public enum SinhKind: UnaryMathKind {
    public static let typeName = "sinh"
    public static let function = UnaryFunction.sinh
}

public enum CoshKind: UnaryMathKind {
    public static let typeName = "cosh"
    public static let function = UnaryFunction.cosh
}

public enum ArcsinhKind: UnaryMathKind {
    public static let typeName = "arcsinh"
    public static let function = UnaryFunction.arcsinh
}

public enum ArccoshKind: UnaryMathKind {
    public static let typeName = "arccosh"
    public static let function = UnaryFunction.arccosh
}

public enum ArctanhKind: UnaryMathKind {
    public static let typeName = "arctanh"
    public static let function = UnaryFunction.arctanh
}

public enum DegreesKind: UnaryMathKind {
    public static let typeName = "degrees"
    public static let function = UnaryFunction.degrees
}

public enum RadiansKind: UnaryMathKind {
    public static let typeName = "radians"
    public static let function = UnaryFunction.radians
}

public enum Log2Kind: UnaryMathKind {
    public static let typeName = "log2"
    public static let function = UnaryFunction.log2
}

public enum Log10Kind: UnaryMathKind {
    public static let typeName = "log10"
    public static let function = UnaryFunction.log10
}

public enum CbrtKind: UnaryMathKind {
    public static let typeName = "cbrt"
    public static let function = UnaryFunction.cbrt
}

public enum RcbrtKind: UnaryMathKind {
    public static let typeName = "rcbrt"
    public static let function = UnaryFunction.rcbrt
}

public enum ErfKind: UnaryMathKind {
    public static let typeName = "erf"
    public static let function = UnaryFunction.erf
}

public enum ErfinvKind: UnaryMathKind {
    public static let typeName = "erfinv"
    public static let function = UnaryFunction.erfinv
}

public enum GammaKind: UnaryMathKind {
    public static let typeName = "gamma"
    public static let function = UnaryFunction.gamma
}

public enum GammalnKind: UnaryMathKind {
    public static let typeName = "gammaln"
    public static let function = UnaryFunction.gammaln
}

public enum TruncKind: UnaryMathKind {
    public static let typeName = "trunc"
    public static let function = UnaryFunction.trunc
}

public enum FixKind: UnaryMathKind {
    public static let typeName = "fix"
    public static let function = UnaryFunction.fix
}

public enum RintKind: UnaryMathKind {
    public static let typeName = "rint"
    public static let function = UnaryFunction.rint
}

public enum LogicalNotKind: UnaryMathKind {
    public static let typeName = "logical_not"
    public static let function = UnaryFunction.logicalNot
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
/// MXNet's `tan`.
public typealias TanOp = UnaryMath<TanKind>
/// MXNet's `arcsin`.
public typealias ArcsinOp = UnaryMath<ArcsinKind>
/// MXNet's `arccos`.
public typealias ArccosOp = UnaryMath<ArccosKind>
/// MXNet's `arctan`.
public typealias ArctanOp = UnaryMath<ArctanKind>
/// MXNet's `sinh`.
public typealias SinhOp = UnaryMath<SinhKind>
/// MXNet's `cosh`.
public typealias CoshOp = UnaryMath<CoshKind>
/// MXNet's `arcsinh`.
public typealias ArcsinhOp = UnaryMath<ArcsinhKind>
/// MXNet's `arccosh`.
public typealias ArccoshOp = UnaryMath<ArccoshKind>
/// MXNet's `arctanh`.
public typealias ArctanhOp = UnaryMath<ArctanhKind>
/// MXNet's `degrees`.
public typealias DegreesOp = UnaryMath<DegreesKind>
/// MXNet's `radians`.
public typealias RadiansOp = UnaryMath<RadiansKind>
/// MXNet's `log2`.
public typealias Log2Op = UnaryMath<Log2Kind>
/// MXNet's `log10`.
public typealias Log10Op = UnaryMath<Log10Kind>
/// MXNet's `cbrt`.
public typealias CbrtOp = UnaryMath<CbrtKind>
/// MXNet's `rcbrt`.
public typealias RcbrtOp = UnaryMath<RcbrtKind>
/// MXNet's `erf`.
public typealias ErfOp = UnaryMath<ErfKind>
/// MXNet's `erfinv`.
public typealias ErfinvOp = UnaryMath<ErfinvKind>
/// MXNet's `gamma`.
public typealias GammaOp = UnaryMath<GammaKind>
/// MXNet's `gammaln`.
public typealias GammalnOp = UnaryMath<GammalnKind>
/// MXNet's `trunc`.
public typealias TruncOp = UnaryMath<TruncKind>
/// MXNet's `fix`.
public typealias FixOp = UnaryMath<FixKind>
/// MXNet's `rint`.
public typealias RintOp = UnaryMath<RintKind>
/// MXNet's `logical_not`.
public typealias LogicalNotOp = UnaryMath<LogicalNotKind>

/// `hard_sigmoid`'s function: clip(αx + β, 0, 1); slope α strictly inside (0, 1), 0 elsewhere (also
/// where αx + β is exactly 0 or 1, as MXNet).
struct HardSigmoidFunction: ElementFunction {
    let alpha: Float, beta: Float
    @inline(__always) func apply(_ x: Float) -> Float { Swift.min(Swift.max(alpha * x + beta, 0), 1) }
    @inline(__always) func derivative(_ x: Float, _ y: Float) -> Float {
        let v = alpha * x + beta
        return v > 0 && v < 1 ? alpha : 0
    }
}

/// `smooth_l1`'s function for σ² = `sigmaSquared`: ½ σ² x² where |x| ≤ 1/σ², |x| − ½/σ² beyond;
/// its derivative σ² x inside, ±1 beyond. σ = 0 gives 0 (all inside).
struct SmoothL1Function: ElementFunction {
    let sigmaSquared: Float, bound: Float
    init(sigma: Float) {
        sigmaSquared = sigma * sigma
        bound = 1 / sigmaSquared
    }
    @inline(__always) func apply(_ x: Float) -> Float {
        let a = Swift.abs(x)
        return a > bound ? a - 0.5 * bound : 0.5 * sigmaSquared * x * x
    }
    @inline(__always) func derivative(_ x: Float, _ y: Float) -> Float {
        x > bound ? 1 : (x < -bound ? -1 : sigmaSquared * x)
    }
}

/// The instance of the element-wise operators with attributes (`hard_sigmoid`, `smooth_l1`): one
/// loop per function.
final class ParametricUnaryInstance: OperatorInstance {
    enum Function {
        case hardSigmoid(HardSigmoidFunction)
        case smoothL1(SmoothL1Function)
    }
    let function: Function
    let count: Int
    init(_ function: Function, count: Int) {
        self.function = function
        self.count = count
    }

    func forward(_ b: OpBinding, isTrain: Bool) {
        let x = b.inputs[0].data
        let y = b.outputs[0].data
        switch function {
        case .hardSigmoid(let f): mapElements(f, count, x, y)
        case .smoothL1(let f): mapElements(f, count, x, y)
        }
    }

    func backward(_ b: OpBinding) {
        let (x, y, dy) = (b.inputs[0].data, b.outputs[0].data, b.outputGrads[0].data)
        b.withGrad(0) { dx, accumulate in
            switch function {
            case .hardSigmoid(let f): mapGradient(f, count, x: x, y: y, dy: dy, dx: dx.data, accumulate: accumulate)
            case .smoothL1(let f): mapGradient(f, count, x: x, y: y, dy: dy, dx: dx.data, accumulate: accumulate)
            }
        }
    }
}

/// MXNet's `hard_sigmoid`: clip(`alpha`·x + `beta`, 0, 1) of each element (defaults 0.2 and 0.5).
/// Both must be finite (MXNet takes any float).
public struct HardSigmoid: Operator {
    public static let typeName = "hard_sigmoid"
    public static let attributeNames = ["alpha", "beta"]
    public let alpha: Float
    public let beta: Float

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        alpha = try r.float("alpha", default: 0.2)
        beta = try r.float("beta", default: 0.5)
        for (name, v) in [("alpha", alpha), ("beta", beta)] where !v.isFinite {
            throw r.bad(name, attributes[name] ?? "", "must be a finite number")
        }
    }

    /// A hard sigmoid of slope `alpha` and offset `beta`.
    public init(alpha: Float = 0.2, beta: Float = 0.5) {
        self.alpha = alpha
        self.beta = beta
    }

    public var attributes: [String: String] { ["alpha": formatFloat(alpha), "beta": formatFloat(beta)] }
    public func listArguments() -> [String] { ["data"] }
    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        try elementwiseShape(s, Self.typeName)
    }
    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        ParametricUnaryInstance(
            .hardSigmoid(HardSigmoidFunction(alpha: alpha, beta: beta)),
            count: NDArray.elementCount(context.inputShapes[0]))
    }
}
