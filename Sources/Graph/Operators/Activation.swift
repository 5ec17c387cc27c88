import SwiftPSTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// MXNet's `Activation`: an element-wise non-linearity chosen by `act_type`.
///
/// `relu` = max(x, 0); `sigmoid` = 1/(1+e^(−x)); `tanh`; `softrelu` = log(1+e^x) (MXNet returns x
/// itself above 20); `softsign` = x/(1+|x|). The output has the data's shape.
public struct Activation: Operator {
    public static let typeName = "Activation"

    /// The supported non-linearities, MXNet's `act_type` values.
    public enum Kind: String, Sendable, CaseIterable {
        case relu, sigmoid, tanh, softrelu, softsign
    }

    /// The non-linearity.
    public let kind: Kind

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        guard attributes["act_type"] != nil else { throw r.bad("act_type", "", "is required") }
        let v = try r.choice("act_type", Kind.allCases.map(\.rawValue), default: "relu")
        kind = Kind(rawValue: v) ?? .relu
    }

    /// An Activation of the given kind.
    public init(kind: Kind) { self.kind = kind }

    public var attributes: [String: String] { ["act_type": kind.rawValue] }

    public func listArguments() -> [String] { ["data"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("Activation needs the data shape") }
        return ([data], [data], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        Instance(kind: kind, count: NDArray.elementCount(context.inputShapes[0]))
    }

    final class Instance: OperatorInstance {
        let kind: Kind, count: Int
        init(kind: Kind, count: Int) {
            self.kind = kind
            self.count = count
        }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0].data
            let y = b.outputs[0].data
            let n = count
            switch kind {
            case .relu: for i in 0..<n { y[i] = max(x[i], 0) }
            case .sigmoid: for i in 0..<n { y[i] = 1 / (1 + expf(-x[i])) }
            case .tanh: for i in 0..<n { y[i] = tanhf(x[i]) }
            case .softrelu: for i in 0..<n { y[i] = x[i] > 20 ? x[i] : log1pf(expf(x[i])) }
            case .softsign: for i in 0..<n { y[i] = x[i] / (1 + abs(x[i])) }
            }
        }

        func backward(_ b: OpBinding) {
            let x = b.inputs[0].data
            let y = b.outputs[0].data
            let dy = b.outputGrads[0].data
            let n = count
            b.withGrad(0) { dxArr, acc in
                let dx = dxArr.data
                switch kind {
                case .relu: writeGrad(n, dx, accumulate: acc) { y[$0] > 0 ? dy[$0] : 0 }
                case .sigmoid: writeGrad(n, dx, accumulate: acc) { dy[$0] * y[$0] * (1 - y[$0]) }
                case .tanh: writeGrad(n, dx, accumulate: acc) { dy[$0] * (1 - y[$0] * y[$0]) }
                // d/dx log(1+e^x) = sigmoid(x) = 1 − e^(−y).
                case .softrelu: writeGrad(n, dx, accumulate: acc) { dy[$0] * -expm1f(-y[$0]) }
                case .softsign:
                    writeGrad(n, dx, accumulate: acc) {
                        let d = 1 + abs(x[$0])
                        return dy[$0] / (d * d)
                    }
                }
            }
        }
    }
}
