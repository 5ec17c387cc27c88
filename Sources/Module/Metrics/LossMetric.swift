import SwiftPSTensor

/// The mean of the outputs themselves, MXNet 1.x's `mx.metric.Loss` (registered as `"loss"`): what
/// a network ending in `MakeLoss` reports, its outputs being the loss. Labels are ignored;
/// `sumMetric` sums every output element and `numInst` counts them.
public final class Loss: EvalMetric {
    /// The display name; MXNet's default is `"loss"`.
    public let name: String
    public private(set) var sumMetric: Double = 0
    public private(set) var numInst: Int = 0

    /// A loss metric named `name`.
    public init(name: String = "loss") { self.name = name }

    /// Adds every element of every output.
    public func update(labels: [NDArray], preds: [NDArray]) throws {
        for pred in preds {
            let p = pred.data
            var sum = 0.0
            for i in 0..<pred.count { sum += Double(p[i]) }
            sumMetric += sum
            numInst += pred.count
        }
    }

    public func reset() {
        sumMetric = 0
        numInst = 0
    }
}
