import SwiftPSTensor

/// Top-k accuracy, MXNet 1.x's `mx.metric.TopKAccuracy` (registered as `"top_k_accuracy"`, alias
/// `"top_k_acc"`): a sample counts as correct when its label is among the `topK` highest scores.
///
/// The name gets the suffix `_k` as in MXNet (`"top_k_accuracy_5"`). MXNet ranks with numpy's
/// `argsort`; here ties are broken as a stable ascending sort would, so among equal scores the
/// higher class index ranks higher. MXNet's signature default `top_k=1` is rejected by its own
/// assertion, so the default here is 5, the value `create("top_k_accuracy")` uses. A label that is
/// no class index (padding's -1, say) is a miss, as in MXNet, whose comparison never matches it.
public final class TopKAccuracy: EvalMetric {
    /// The display name, `"top_k_accuracy_<k>"` by default.
    public let name: String
    /// How many of the highest-scored classes count as a hit.
    public let topK: Int
    /// The number of hits so far.
    public private(set) var sumMetric: Double = 0
    /// The number of samples so far.
    public private(set) var numInst: Int = 0

    /// A top-k metric; `topK` must be at least 2 (MXNet asserts this: use `Accuracy` for k = 1).
    public init(topK: Int = 5, name: String = "top_k_accuracy") throws {
        guard topK > 1 else {
            throw MetricError.invalidArgument("top_k_accuracy needs topK > 1 (got \(topK)); use Accuracy for topK = 1")
        }
        self.topK = topK
        self.name = "\(name)_\(topK)"
    }

    /// Adds the hits of each `(N,)` label and `(N, K)` score pair.
    public func update(labels: [NDArray], preds: [NDArray]) throws {
        try MetricInput.checkCounts(name, labels, preds)
        var hits = 0
        var seen = 0
        for (label, pred) in zip(labels, preds) {
            let (rows, classes) = try MetricInput.rowsAndClasses(name, label: label, pred: pred)
            let k = min(classes, topK)
            for r in 0..<rows {
                let row = pred.data + r * classes
                guard let c = MetricInput.integer(label.data[r]), c >= 0, c < classes else { continue }
                let v = row[c]
                // The label's place from the top under a stable ascending sort.
                var above = 0
                for j in 0..<classes where row[j] > v || (row[j] == v && j > c) { above += 1 }
                if above < k { hits += 1 }
            }
            seen += rows
        }
        sumMetric += Double(hits)
        numInst += seen
    }

    /// Clears the counts.
    public func reset() {
        sumMetric = 0
        numInst = 0
    }
}
