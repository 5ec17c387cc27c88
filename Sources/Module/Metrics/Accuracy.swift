import SwiftPSTensor

/// Classification accuracy, MXNet 1.x's `mx.metric.Accuracy` (registered as `"accuracy"`, alias `"acc"`).
///
/// When a prediction has the label's shape it holds class indices and is compared directly;
/// otherwise the class is the argmax along `axis` (MXNet's default 1: `(N, K)` scores, or
/// `(N, K, d…)` with labels `(N, d…)`; `axis: -1` for `(N, T, K)` scores with `(N, T)` labels),
/// compared with the label flattened. Both sides are truncated to integers first, as MXNet's
/// `astype('int32')`.
/// `sumMetric` counts correct samples and `numInst` all samples.
public final class Accuracy: EvalMetric {
    /// The display name; MXNet's default is `"accuracy"`.
    public let name: String
    /// The axis of the predictions that holds the classes (negative: counted from the end).
    public let axis: Int
    /// The number of correct predictions so far.
    public private(set) var sumMetric: Double = 0
    /// The number of samples so far.
    public private(set) var numInst: Int = 0

    /// An accuracy metric named `name` taking the argmax along `axis` (MXNet's
    /// `Accuracy(axis=1, name='accuracy')`).
    public init(axis: Int = 1, name: String = "accuracy") {
        self.axis = axis
        self.name = name
    }

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
                let at = axis < 0 ? pred.ndim + axis : axis
                guard at >= 0, at < pred.ndim, pred.shape[at] > 0, pred.count / pred.shape[at] == n else {
                    throw MetricError.shapeMismatch(
                        metric: name, label: label.shape, pred: pred.shape,
                        expected: "the argmax of the predictions along axis \(axis) must have \(n) elements")
                }
                let classes = pred.shape[at]
                let inner = pred.shape.dropFirst(at + 1).reduce(1, *)
                for outer in 0..<pred.shape.prefix(at).reduce(1, *) {
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
