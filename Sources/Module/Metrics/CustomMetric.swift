import SwiftPSTensor

/// A metric computed by a closure, MXNet 1.x's `mx.metric.CustomMetric` (`feval(label, pred)`).
///
/// The closure is called once per (label, prediction) pair. A closure returning a `Double` adds it
/// to `sumMetric` and 1 to `numInst`; one returning `(sum, count)` adds both, as MXNet does when
/// `feval` returns a tuple. With `allowExtraOutputs` the pairs are zipped without requiring equal
/// numbers of labels and predictions (for RNNs whose states are extra outputs).
public final class CustomMetric: EvalMetric {
    private enum Evaluation {
        case value((NDArray, NDArray) throws -> Double)
        case sumAndCount((NDArray, NDArray) throws -> (sum: Double, count: Int))
    }

    /// The display name (MXNet uses the function's name, or `custom(<lambda>)`).
    public let name: String
    /// Whether predictions may outnumber labels.
    public let allowExtraOutputs: Bool
    /// The summed closure results so far.
    public private(set) var sumMetric: Double = 0
    /// The number of pairs (or the summed returned counts) so far.
    public private(set) var numInst: Int = 0
    private let evaluation: Evaluation

    /// A metric adding `feval(label, pred)` per pair and counting one per pair.
    public init(
        name: String = "custom", allowExtraOutputs: Bool = false,
        _ feval: @escaping (_ label: NDArray, _ pred: NDArray) throws -> Double
    ) {
        self.name = name
        self.allowExtraOutputs = allowExtraOutputs
        self.evaluation = .value(feval)
    }

    /// A metric adding the `(sum, count)` that `feval(label, pred)` returns per pair.
    public init(
        name: String = "custom", allowExtraOutputs: Bool = false,
        sumAndCount feval: @escaping (_ label: NDArray, _ pred: NDArray) throws -> (sum: Double, count: Int)
    ) {
        self.name = name
        self.allowExtraOutputs = allowExtraOutputs
        self.evaluation = .sumAndCount(feval)
    }

    /// Calls the closure on every (label, prediction) pair; its errors propagate unchanged.
    public func update(labels: [NDArray], preds: [NDArray]) throws {
        if !allowExtraOutputs { try MetricInput.checkCounts(name, labels, preds) }
        var sum = 0.0
        var count = 0
        for (label, pred) in zip(labels, preds) {
            switch evaluation {
            case .value(let f):
                sum += try f(label, pred)
                count += 1
            case .sumAndCount(let f):
                let r = try f(label, pred)
                sum += r.sum
                count += r.count
            }
        }
        sumMetric += sum
        numInst += count
    }

    /// Clears the sums.
    public func reset() {
        sumMetric = 0
        numInst = 0
    }
}
