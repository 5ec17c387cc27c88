import Foundation
import SwiftPSTensor

/// MXNet's `smooth_l1`: with σ = `scalar` (1 when left out, as MXNet 1.9.1), each element x gives
/// ½ (σx)² where |x| ≤ 1/σ², else |x| − ½/σ²; the gradient is σ²x inside, sign(x) beyond. σ enters
/// squared (a negative σ acts as |σ|); σ = 0 gives 0. σ must be finite.
public struct SmoothL1: Operator {
    public static let typeName = "smooth_l1"
    public static let attributeNames = ["scalar"]
    public let scalar: Float

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        scalar = try r.float("scalar", default: 1)
        guard scalar.isFinite else { throw r.bad("scalar", attributes["scalar"] ?? "", "must be a finite number") }
    }

    /// A smooth L1 of σ = `scalar`.
    public init(scalar: Float = 1) { self.scalar = scalar }

    public var attributes: [String: String] { ["scalar": formatFloat(scalar)] }
    public func listArguments() -> [String] { ["data"] }
    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        try elementwiseShape(s, Self.typeName)
    }
    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        ParametricUnaryInstance(
            .smoothL1(SmoothL1Function(sigma: scalar)), count: NDArray.elementCount(context.inputShapes[0]))
    }
}

/// MXNet's `softmax_cross_entropy`: for `data` of (batch, classes) and `label` of (batch,), the
/// (1,) sum over the rows of −log max(softmax(row)[label], 1e-8): as MXNet, each row's term is at
/// most −log 1e-8 ≈ 18.42 (its gradient stays that of the unclipped loss). A label names its class truncated toward
/// zero, as MXNet; a row whose label is outside [0, classes) adds nothing to the loss (MXNet reads
/// outside the row there) and its gradient is the softmax alone, as MXNet's. The data's gradient is
/// (softmax − onehot(label)) times the output's gradient; the label takes none (MXNet refuses to
/// compute one).
public struct SoftmaxCrossEntropy: Operator {
    public static let typeName = "softmax_cross_entropy"
    public static let attributeNames: [String] = []

    public init(attributes: [String: String]) throws { _ = AttributeReader(op: Self.typeName, attributes) }

    /// The operator.
    public init() {}

    public var attributes: [String: String] { [:] }
    public func listArguments() -> [String] { ["data", "label"] }
    public var labelInputs: Set<Int> { [1] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("\(Self.typeName) needs the data shape") }
        guard data.count == 2 else {
            throw GraphError.shapeError("\(Self.typeName): data \(data) must be 2-D (batch, classes)")
        }
        if s.count > 1, let label = s[1], label != [data[0]] {
            throw GraphError.shapeError(
                "\(Self.typeName): label \(label) must be 1-D of the batch size \(data[0]) (data \(data))")
        }
        return ([data, [data[0]]], [[1]], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        SoftmaxCrossEntropyInstance(rows: context.inputShapes[0][0], classes: context.inputShapes[0][1])
    }
}

final class SoftmaxCrossEntropyInstance: OperatorInstance {
    let rows: Int
    let classes: Int
    init(rows: Int, classes: Int) {
        self.rows = rows
        self.classes = classes
    }

    /// log 1e-8: MXNet clips the probability at the label to at least 1e-8.
    static let smallestLog = logf(1e-8)

    /// The row's largest value and the sum of exp(x − largest).
    @inline(__always) func normalizer(_ x: UnsafePointer<Float>) -> (top: Float, sum: Float) {
        var top = -Float.infinity
        for j in 0..<classes { top = max(top, x[j]) }
        var sum: Float = 0
        for j in 0..<classes { sum += expf(x[j] - top) }
        return (top, sum)
    }

    /// The class `label` names, if inside the row.
    @inline(__always) func target(_ label: Float) -> Int? {
        SoftmaxOutput.classIndex(label).flatMap { $0 >= 0 && $0 < classes ? $0 : nil }
    }

    func forward(_ b: OpBinding, isTrain: Bool) {
        let x = b.inputs[0].data
        let label = b.inputs[1].data
        var loss: Float = 0
        for r in 0..<rows {
            guard let t = target(label[r]) else { continue }
            let row = x + r * classes
            let (top, sum) = normalizer(row)
            loss -= max(row[t] - top - logf(sum), Self.smallestLog)
        }
        b.outputs[0].data[0] = loss
    }

    func backward(_ b: OpBinding) {
        let x = b.inputs[0].data
        let label = b.inputs[1].data
        let head = b.outputGrads[0].data[0]
        b.withGrad(0) { dxArray, accumulate in
            for r in 0..<rows {
                let row = x + r * classes
                let dx = dxArray.data + r * classes
                let (top, sum) = normalizer(row)
                let scale = head / sum
                writeGrad(classes, dx, accumulate: accumulate) { expf(row[$0] - top) * scale }
                if let t = target(label[r]) { dx[t] -= head }
            }
        }
        b.withGrad(1) { dl, accumulate in if !accumulate { dl.fill(0) } }
    }
}
