import SwiftPSTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// MXNet's `LeakyReLU` family, chosen by `act_type`:
///
/// - `leaky` (default): x for x > 0, else `slope`·x (`slope` default 0.25);
/// - `elu`: x for x > 0, else `slope`·(e^x − 1) (`slope` plays ELU's alpha);
/// - `selu`: λ·x for x > 0, else λ·α·(e^x − 1) with MXNet's fixed λ ≈ 1.0507, α ≈ 1.6733;
/// - `gelu`: x·Φ(x) = 0.5·x·(1 + erf(x/√2)).
///
/// `prelu` (a learned slope argument) and `rrelu` (random slopes) are not supported.
public struct LeakyReLU: Operator {
    public static let typeName = "LeakyReLU"
    public static let attributeNames: [String] = ["act_type", "slope", "lower_bound", "upper_bound"]

    /// The supported variants, MXNet's `act_type` values.
    public enum Kind: String, Sendable, CaseIterable {
        case leaky, elu, selu, gelu
    }

    /// The variant.
    public let kind: Kind
    /// The negative-side slope (leaky) or alpha (elu).
    public let slope: Float

    static let seluLambda: Float = 1.050_700_987_355_480_5
    static let seluAlpha: Float = 1.673_263_242_354_377_3

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        let v = r.string("act_type", default: "leaky")
        if v == "prelu" || v == "rrelu" {
            throw r.bad(
                "act_type", v, "is not supported by SwiftPS (use leaky, elu, selu or gelu)")
        }
        kind = Kind(rawValue: try r.choice("act_type", Kind.allCases.map(\.rawValue), default: "leaky")) ?? .leaky
        slope = try r.float("slope", default: 0.25)
    }

    /// A LeakyReLU of the given kind and slope.
    public init(kind: Kind = .leaky, slope: Float = 0.25) {
        self.kind = kind
        self.slope = slope
    }

    public var attributes: [String: String] { ["act_type": kind.rawValue, "slope": formatFloat(slope)] }

    public func listArguments() -> [String] { ["data"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        try elementwiseShape(s, "LeakyReLU")
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        Instance(kind: kind, slope: slope, count: NDArray.elementCount(context.inputShapes[0]))
    }

    final class Instance: OperatorInstance {
        let kind: Kind, slope: Float, count: Int
        init(kind: Kind, slope: Float, count: Int) {
            self.kind = kind
            self.slope = slope
            self.count = count
        }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0].data
            let y = b.outputs[0].data
            let n = count
            let a = slope
            switch kind {
            case .leaky: for i in 0..<n { y[i] = x[i] > 0 ? x[i] : a * x[i] }
            case .elu: for i in 0..<n { y[i] = x[i] > 0 ? x[i] : a * expm1f(x[i]) }
            case .selu:
                let l = LeakyReLU.seluLambda
                let al = LeakyReLU.seluAlpha
                for i in 0..<n { y[i] = l * (x[i] > 0 ? x[i] : al * expm1f(x[i])) }
            case .gelu:
                for i in 0..<n { y[i] = 0.5 * x[i] * (1 + erff(x[i] * 0.707_106_781_186_547_5)) }
            }
        }

        func backward(_ b: OpBinding) {
            let x = b.inputs[0].data
            let y = b.outputs[0].data
            let dy = b.outputGrads[0].data
            let n = count
            let a = slope
            b.withGrad(0) { dxArr, acc in
                let dx = dxArr.data
                switch kind {
                case .leaky: writeGrad(n, dx, accumulate: acc) { x[$0] > 0 ? dy[$0] : a * dy[$0] }
                // For x ≤ 0, d/dx a(e^x − 1) = a·e^x = y + a.
                case .elu: writeGrad(n, dx, accumulate: acc) { x[$0] > 0 ? dy[$0] : dy[$0] * (y[$0] + a) }
                case .selu:
                    let l = LeakyReLU.seluLambda
                    let la = l * LeakyReLU.seluAlpha
                    writeGrad(n, dx, accumulate: acc) { x[$0] > 0 ? dy[$0] * l : dy[$0] * (y[$0] + la) }
                case .gelu:
                    // d/dx x·Φ(x) = Φ(x) + x·φ(x), φ the standard normal density.
                    writeGrad(n, dx, accumulate: acc) {
                        let v = x[$0]
                        let cdf = 0.5 * (1 + erff(v * 0.707_106_781_186_547_5))
                        let pdf = expf(-0.5 * v * v) * 0.398_942_280_401_432_7
                        return dy[$0] * (cdf + v * pdf)
                    }
                }
            }
        }
    }
}
