import SwiftPSTensor

/// Classification accuracy, MXNet 1.x's `mx.metric.Accuracy` (registered as `"accuracy"`, alias `"acc"`).
///
/// When a prediction has the label's shape it holds class indices and is compared directly;
/// otherwise the class is the argmax along `axis` 1 (`(N, K)` scores, or `(N, K, d…)` with labels
/// `(N, d…)`). Both sides are truncated to integers first, as MXNet's `astype('int32')`.
/// `sumMetric` counts correct samples and `numInst` all samples.
public final class Accuracy: EvalMetric {
    /// The display name; MXNet's default is `"accuracy"`.
    public let name: String
    /// The number of correct predictions so far.
    public private(set) var sumMetric: Double = 0
    /// The number of samples so far.
    public private(set) var numInst: Int = 0

    /// An accuracy metric named `name` (MXNet's `Accuracy(name='accuracy')`).
    public init(name: String = "accuracy") { self.name = name }

    /// Adds the correct predictions of each (label, prediction) pair.
    public func update(labels: [NDArray], preds: [NDArray]) throws {
        try MetricInput.checkCounts(name, labels, preds)
        var correct = 0
        var seen = 0
        for (label, pred) in zip(labels, preds) {
            let n = label.count
            let l = label.data
            let p = pred.data
            if pred.shape == label.shape {
                for i in 0..<n {
                    if let a = MetricInput.integer(p[i]), let b = MetricInput.integer(l[i]), a == b { correct += 1 }
                }
            } else {
                guard pred.ndim >= 2, pred.shape[1] > 0, pred.count / pred.shape[1] == n else {
                    throw MetricError.shapeMismatch(
                        metric: name, label: label.shape, pred: pred.shape,
                        expected: "the argmax of the predictions along axis 1 must have \(n) elements")
                }
                let classes = pred.shape[1]
                let inner = pred.shape.dropFirst(2).reduce(1, *)
                for outer in 0..<pred.shape[0] {
                    for j in 0..<inner {
                        let base = p + outer * classes * inner + j
                        var best = 0
                        var bestValue = base[0]
                        for k in 1..<classes where base[k * inner] > bestValue {
                            best = k
                            bestValue = base[k * inner]
                        }
                        if let b = MetricInput.integer(l[outer * inner + j]), b == best { correct += 1 }
                    }
                }
            }
            seen += n
        }
        sumMetric += Double(correct)
        numInst += seen
    }

    /// Clears the counts.
    public func reset() {
        sumMetric = 0
        numInst = 0
    }
}
