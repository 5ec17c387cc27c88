import SwiftPSTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// MXNet's `Activation`: an element-wise non-linearity chosen by `act_type`.
///
/// `relu` = max(x, 0); `sigmoid` = 1/(1+e^(−x)); `tanh`; `softrelu` = log(1+e^x) (MXNet returns x
/// itself above 20); `softsign` = x/(1+|x|). The output has the data's shape. `tanh` uses a
/// vectorizable approximation within 3e-7 relative of the true value (see `tanhApproximation`).
public struct Activation: Operator {
    public static let typeName = "Activation"
    public static let attributeNames: [String] = ["act_type"]

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
        try elementwiseShape(s, "Activation")
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
            ComputeThreads.forEach(count, grain: ComputeThreads.elementGrain) { range in
                forward(x + range.lowerBound, y + range.lowerBound, range.count)
            }
        }

        private func forward(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
            switch kind {
            case .relu: for i in 0..<n { y[i] = max(x[i], 0) }
            case .sigmoid: for i in 0..<n { y[i] = 1 / (1 + expf(-x[i])) }
            case .tanh: tanhApproximation(n, x, y)
            case .softrelu: for i in 0..<n { y[i] = x[i] > 20 ? x[i] : log1pf(expf(x[i])) }
            case .softsign: for i in 0..<n { y[i] = x[i] / (1 + abs(x[i])) }
            }
        }

        func backward(_ b: OpBinding) {
            let x = b.inputs[0].data
            let y = b.outputs[0].data
            let dy = b.outputGrads[0].data
            b.withGrad(0) { dx, acc in
                ComputeThreads.forEach(count, grain: ComputeThreads.elementGrain) { range in
                    let i = range.lowerBound
                    backward(x + i, y + i, dy + i, dx.data + i, range.count, accumulate: acc)
                }
            }
        }

        private func backward(
            _ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ dy: UnsafeMutablePointer<Float>,
            _ dx: UnsafeMutablePointer<Float>, _ n: Int, accumulate acc: Bool
        ) {
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

/// `y[i] = tanh(x[i])` for `i < n`, through `tanhApproximation(_:)`; the loop vectorizes.
func tanhApproximation(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    for i in 0..<n { y[i] = tanhApproximation(x[i]) }
}

/// tanh(v) within 3e-7 relative error (measured on a dense sweep of [−10, 10] and on 1e-30…10), with
/// no branches and no library call, so loops over it vectorize (glibc's `tanhf` is a scalar call).
///
/// With a = min(|v|, 9) and e = 2^t − 1 = expm1(2a) where t = 2a·log2(e): tanh(a) = e / (e + 2).
/// t is split into an integer k (rounded with the 1.5·2^23 trick, which also leaves k in the low
/// mantissa bits) and r in [−1/2, 1/2]; 2^r − 1 = r·P(r) with a degree-5 least-squares polynomial
/// (relative error 1e-8), and e = 2^k·(2^r − 1) + (2^k − 1), which stays accurate near 0 since it never
/// subtracts two close numbers. tanh(9) rounds to 1 in Float. The sign is copied back; NaN stays NaN.
@inline(__always)
func tanhApproximation(_ v: Float) -> Float {
    let magic: Float = 12_582_912  // 1.5·2^23
    let sign = v.bitPattern & 0x8000_0000
    var a = Float(bitPattern: v.bitPattern & 0x7FFF_FFFF)
    a = a > 9 ? 9 : a
    let t = a * 2.885_390_08  // 2·log2(e)
    let shifted = t + magic
    let r = t - (shifted - magic)
    let k = shifted.bitPattern &- magic.bitPattern
    var p: Float = 1.540_351_2e-4
    p = p * r + 1.339_073_6e-3
    p = p * r + 9.618_237_5e-3
    p = p * r + 5.550_357_4e-2
    p = p * r + 0.240_226_5
    p = p * r + 0.693_147_19
    let scale = Float(bitPattern: (k &+ 127) &<< 23)
    let e = scale * (r * p) + (scale - 1)
    let th = e / (e + 2)
    return Float(bitPattern: th.bitPattern | sign)
}
