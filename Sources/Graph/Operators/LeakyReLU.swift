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
/// - `gelu`: x·Φ(x) = 0.5·x·(1 + erf(x/√2));
/// - `prelu`: x for x > 0, else γ_c·x with a learned argument `gamma` of one slope per channel
///   (axis 1; shape (C,)) or one for all (shape (1,)); a gamma made by composing starts at 0.25, as
///   MXNet's (`__init__` Constant 0.25 on the variable);
/// - `rrelu`: x for x > 0, else a·x with a drawn uniformly in [`lower_bound`, `upper_bound`] for each
///   element while training, and their mean otherwise. As MXNet's, it has a second output, `mask`:
///   the slope each element took (MXNet's symbol of an rrelu is a pair; `sym[0]` is the output).
public struct LeakyReLU: Operator {
    public static let typeName = "LeakyReLU"
    public static let attributeNames: [String] = ["act_type", "slope", "lower_bound", "upper_bound"]

    /// The supported variants, MXNet's `act_type` values.
    public enum Kind: String, Sendable, CaseIterable {
        case leaky, elu, selu, gelu, prelu, rrelu
    }

    /// The variant.
    public let kind: Kind
    /// The negative-side slope (leaky) or alpha (elu).
    public let slope: Float
    /// rrelu's range of slopes; MXNet's defaults 0.125 and 0.334.
    public let lowerBound: Float, upperBound: Float

    static let seluLambda: Float = 1.050_700_987_355_480_5
    static let seluAlpha: Float = 1.673_263_242_354_377_3

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        kind = Kind(rawValue: try r.choice("act_type", Kind.allCases.map(\.rawValue), default: "leaky")) ?? .leaky
        slope = try r.float("slope", default: 0.25)
        lowerBound = try r.float("lower_bound", default: 0.125)
        upperBound = try r.float("upper_bound", default: 0.334)
        guard lowerBound <= upperBound else {
            throw r.bad("upper_bound", "\(upperBound)", "must be at least lower_bound (\(lowerBound))")
        }
    }

    /// A LeakyReLU of the given kind and slope (and rrelu's bounds).
    public init(kind: Kind = .leaky, slope: Float = 0.25, lowerBound: Float = 0.125, upperBound: Float = 0.334) {
        precondition(lowerBound <= upperBound, "rrelu's lower bound exceeds its upper bound")
        self.kind = kind
        self.slope = slope
        self.lowerBound = lowerBound
        self.upperBound = upperBound
    }

    public var attributes: [String: String] {
        var a = ["act_type": kind.rawValue, "slope": formatFloat(slope)]
        if kind == .rrelu {
            a["lower_bound"] = formatFloat(lowerBound)
            a["upper_bound"] = formatFloat(upperBound)
        }
        return a
    }

    public func listArguments() -> [String] { kind == .prelu ? ["data", "gamma"] : ["data"] }
    public func listOutputs() -> [String] { kind == .rrelu ? ["output", "mask"] : ["output"] }

    /// prelu's gamma starts at 0.25 (MXNet's `__init__` on the variable it makes).
    public func argumentAttributes(_ argument: String) -> [String: String] {
        kind == .prelu && argument == "gamma" ? ["__init__": #"["Constant", {"value": 0.25}]"#] : [:]
    }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        let shapes = try elementwiseShape(s, "LeakyReLU")
        if kind == .rrelu { return (shapes.inputs, shapes.outputs + shapes.outputs, []) }
        guard kind == .prelu else { return shapes }
        let data = shapes.inputs[0]
        guard data.count >= 2 else {
            throw GraphError.shapeError("LeakyReLU prelu needs data with a channel axis (axis 1), got \(data)")
        }
        let gamma = s.count > 1 ? s[1] ?? [data[1]] : [data[1]]
        guard gamma == [data[1]] || gamma == [1] else {
            throw GraphError.shapeError(
                "LeakyReLU prelu gamma shape \(gamma) should be [\(data[1])] (one slope per channel) or [1], for data \(data)"
            )
        }
        return ([data, gamma], [data], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let shape = context.inputShapes[0]
        let count = NDArray.elementCount(shape)
        switch kind {
        case .prelu:
            return PReLUInstance(
                shape: shape, shared: context.inputShapes[1] == [1] && shape[1] != 1)
        case .rrelu: return RReLUInstance(op: self, count: count, seed: context.seed)
        case .leaky: return Instance(kind: .leaky, slope: slope, count: count)
        case .elu: return Instance(kind: .elu, slope: slope, count: count)
        case .selu: return Instance(kind: .selu, slope: slope, count: count)
        case .gelu: return Instance(kind: .gelu, slope: slope, count: count)
        }
    }

    /// The variants without a learned or drawn slope, which share one instance.
    enum Pointwise { case leaky, elu, selu, gelu }

    final class Instance: OperatorInstance {
        let kind: Pointwise, slope: Float, count: Int
        init(kind: Pointwise, slope: Float, count: Int) {
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

    /// prelu: y = x for x > 0, else γ_c·x, c the element's channel (axis 1), or one γ for all.
    final class PReLUInstance: OperatorInstance {
        let count: Int, channels: Int, plane: Int, shared: Bool
        init(shape: [Int], shared: Bool) {
            count = NDArray.elementCount(shape)
            channels = shape[1]
            plane = shape[2...].reduce(1, *)
            self.shared = shared
        }

        /// Calls `body(start, channel)` for each run of `plane` elements of one channel.
        @inline(__always) private func forEachPlane(_ body: (Int, Int) -> Void) {
            guard plane > 0 else { return }
            var start = 0
            while start < count {
                body(start, shared ? 0 : (start / plane) % channels)
                start += plane
            }
        }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0].data
            let g = b.inputs[1].data
            let y = b.outputs[0].data
            forEachPlane { start, c in
                let a = g[c]
                for i in start..<start + plane { y[i] = x[i] > 0 ? x[i] : a * x[i] }
            }
        }

        func backward(_ b: OpBinding) {
            let x = b.inputs[0].data
            let g = b.inputs[1].data
            let dy = b.outputGrads[0].data
            b.withGrad(0) { dxArray, accumulate in
                let dx = dxArray.data
                forEachPlane { start, c in
                    let a = g[c]
                    if accumulate {
                        for i in start..<start + plane { dx[i] += x[i] > 0 ? dy[i] : a * dy[i] }
                    } else {
                        for i in start..<start + plane { dx[i] = x[i] > 0 ? dy[i] : a * dy[i] }
                    }
                }
            }
            // dγ_c = Σ over c's elements with x ≤ 0 of x·dy.
            b.withGrad(1) { dgArray, accumulate in
                let dg = dgArray.data
                if !accumulate { dgArray.fill(0) }
                forEachPlane { start, c in
                    var sum: Float = 0
                    for i in start..<start + plane where x[i] <= 0 { sum += x[i] * dy[i] }
                    dg[c] += sum
                }
            }
        }
    }

    /// rrelu: y = x for x > 0, else a·x, a drawn per element in [lower, upper] while training and
    /// their mean otherwise; the slopes are the second output (the mask), which backward reads.
    final class RReLUInstance: OperatorInstance {
        let lower: Float, upper: Float, count: Int
        var rng: RandomGenerator

        init(op: LeakyReLU, count: Int, seed: UInt64) {
            lower = op.lowerBound
            upper = op.upperBound
            self.count = count
            rng = RandomGenerator(seed: seed)
        }

        func reseed(_ seed: UInt64) { rng = RandomGenerator(seed: seed) }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0].data
            let y = b.outputs[0].data
            let a = b.outputs[1].data
            if isTrain {
                for i in 0..<count { a[i] = rng.uniform(lower, upper) }
            } else {
                Kernels.fill(count, (lower + upper) / 2, a)
            }
            for i in 0..<count { y[i] = x[i] > 0 ? x[i] : a[i] * x[i] }
        }

        func backward(_ b: OpBinding) {
            let x = b.inputs[0].data
            let dy = b.outputGrads[0].data
            let a = b.outputs[1].data
            b.withGrad(0) { dx, acc in
                writeGrad(count, dx.data, accumulate: acc) { x[$0] > 0 ? dy[$0] : a[$0] * dy[$0] }
            }
        }
    }
}
