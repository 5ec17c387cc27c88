import SwiftPSTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The three MXNet regression losses, which differ only in forward transform and gradient.
public enum RegressionKind: String, Sendable {
    /// `LinearRegressionOutput`: identity forward; gradient of `Σ ½(out − label)²`.
    case linear
    /// `LogisticRegressionOutput`: sigmoid forward; gradient of the binary cross-entropy
    /// `−Σ [label·log σ + (1 − label)·log(1 − σ)]` with respect to the input.
    case logistic
    /// `MAERegressionOutput`: identity forward; gradient of `Σ |out − label|`.
    case mae
}

/// The shared shape rules and instance of MXNet's regression outputs.
///
/// Arguments data and label; the label has the data's shape, or the same element count (a label
/// (N,) for data (N, 1) is accepted, as MXNet reshapes). Backward ignores the head gradient and
/// writes `(out − label)` (linear, logistic) or `sign(out − label)` (MAE; −1 at equality, MXNet's `minus_sign`) times
/// `grad_scale / m`, m the number of outputs per sample (`label.count / label.shape[0]`), as in
/// MXNet's `regression_output-inl.h`. The label never receives a gradient (0 if asked).
public protocol RegressionOutputOperator: Operator {
    /// The loss.
    static var kind: RegressionKind { get }
    /// Multiplies the gradient.
    var gradScale: Float { get }
    /// Builds the operator with a gradient scale.
    init(gradScale: Float)
}

extension RegressionOutputOperator {
    public static var attributeNames: [String] { ["grad_scale"] }

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        self.init(gradScale: try r.float("grad_scale", default: 1))
    }

    public var attributes: [String: String] { ["grad_scale": formatFloat(gradScale)] }

    public func listArguments() -> [String] { ["data", "label"] }
    public var labelInputs: Set<Int> { [1] }
    public var readsOutputGradient: Bool { false }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil, !data.isEmpty else {
            throw GraphError.shapeError("\(Self.typeName) needs the data shape")
        }
        // As MXNet's `RegressionOpShape`: a label not given is (N,) for (N, 1) data, else the data's shape.
        var label = data.count == 2 && data[1] == 1 ? [data[0]] : data
        if s.count > 1, let given = s[1] {
            guard NDArray.elementCount(given) == NDArray.elementCount(data), given.first == data.first else {
                throw GraphError.shapeError("\(Self.typeName) label shape \(given) does not match data \(data)")
            }
            label = given
        }
        return ([data, label], [data], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let data = context.inputShapes[0]
        let label = context.inputShapes.count > 1 ? context.inputShapes[1] : data
        let count = NDArray.elementCount(data)
        let perSample = count / max(label.first ?? 1, 1)
        return RegressionInstance(
            kind: Self.kind, count: count, scale: gradScale / Float(max(perSample, 1)))
    }
}

/// Forward and backward of a regression output.
final class RegressionInstance: OperatorInstance {
    let kind: RegressionKind, count: Int
    /// grad_scale / outputs per sample.
    let scale: Float
    init(kind: RegressionKind, count: Int, scale: Float) {
        self.kind = kind
        self.count = count
        self.scale = scale
    }

    func forward(_ b: OpBinding, isTrain: Bool) {
        let x = b.inputs[0].data
        let y = b.outputs[0].data
        switch kind {
        case .linear, .mae: if x != y { y.update(from: x, count: count) }
        case .logistic: for i in 0..<count { y[i] = 1 / (1 + expf(-x[i])) }
        }
    }

    func backward(_ b: OpBinding) {
        let y = b.outputs[0].data
        let label = b.inputs[1].data
        let s = scale
        b.withGrad(0) { dx, acc in
            switch kind {
            case .linear, .logistic: writeGrad(count, dx.data, accumulate: acc) { (y[$0] - label[$0]) * s }
            case .mae:
                writeGrad(count, dx.data, accumulate: acc) {
                    // MXNet's `minus_sign`: 1 where out > label, else -1 (at equality too).
                    y[$0] - label[$0] > 0 ? s : -s
                }
            }
        }
        b.withGrad(1) { dl, acc in if !acc { dl.fill(0) } }
    }
}

/// MXNet's `LinearRegressionOutput`: identity forward, gradient `(out − label)·grad_scale/m`.
public struct LinearRegressionOutput: RegressionOutputOperator {
    public static let typeName = "LinearRegressionOutput"
    public static let kind = RegressionKind.linear
    public let gradScale: Float
    public init(gradScale: Float = 1) { self.gradScale = gradScale }
}

/// MXNet's `LogisticRegressionOutput`: sigmoid forward, gradient `(σ(x) − label)·grad_scale/m`.
public struct LogisticRegressionOutput: RegressionOutputOperator {
    public static let typeName = "LogisticRegressionOutput"
    public static let kind = RegressionKind.logistic
    public let gradScale: Float
    public init(gradScale: Float = 1) { self.gradScale = gradScale }
}

/// MXNet's `MAERegressionOutput`: identity forward, gradient `sign(out − label)·grad_scale/m` (−1 at equality).
public struct MAERegressionOutput: RegressionOutputOperator {
    public static let typeName = "MAERegressionOutput"
    public static let kind = RegressionKind.mae
    public let gradScale: Float
    public init(gradScale: Float = 1) { self.gradScale = gradScale }
}
