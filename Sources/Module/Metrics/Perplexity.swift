import SwiftPSTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Perplexity, MXNet 1.x's `mx.metric.Perplexity` (`"perplexity"`): `exp` of the mean negative
/// log-probability of the labels.
///
/// Predictions hold probabilities along their last axis; labels hold one class index per
/// prediction row (`label.count == pred.count / pred.shape.last`). Rows whose label equals
/// `ignoreLabel` are left out of both the sum and the count. Probabilities are clamped below at
/// 1e-10 before the logarithm, as MXNet does. `sumMetric` is the summed negative log-probability
/// and `numInst` the number of counted labels.
///
/// Combining workers: `partials()` is `[("perplexity", ΣNLL, counted labels)]`; the combined value
/// is `exp(ΣNLL / Σcount)` over all workers, exactly the perplexity of the union of samples
/// (perplexities themselves must never be averaged).
public final class Perplexity: EvalMetric {
    /// The display name; MXNet's default is `"perplexity"`.
    public let name: String
    /// Label value to skip (padding), or nil to count every label. MXNet documents -1 as the default.
    public let ignoreLabel: Int?
    /// The summed negative log-probabilities so far.
    public private(set) var sumMetric: Double = 0
    /// The number of counted labels so far.
    public private(set) var numInst: Int = 0

    /// A perplexity metric (MXNet's `Perplexity(ignore_label, axis=-1, name='perplexity')`).
    public init(ignoreLabel: Int? = -1, name: String = "perplexity") {
        self.ignoreLabel = ignoreLabel
        self.name = name
    }

    /// Adds `-log(max(1e-10, p[label]))` for every label that is not `ignoreLabel`.
    public func update(labels: [NDArray], preds: [NDArray]) throws {
        try MetricInput.checkCounts(name, labels, preds)
        var loss = 0.0
        var counted = 0
        for (label, pred) in zip(labels, preds) {
            guard let classes = pred.shape.last, classes > 0, pred.count / classes == label.count else {
                throw MetricError.shapeMismatch(
                    metric: name, label: label.shape, pred: pred.shape,
                    expected: "one label per prediction row along the last axis")
            }
            let ignored = ignoreLabel.map { Float($0) }
            for r in 0..<label.count {
                let value = label.data[r]
                if let ignored, value == ignored { continue }
                // MXNet picks with `pick`'s default mode, clip: a label past the classes takes the nearest.
                let c = min(max(MetricInput.integer(value) ?? 0, 0), classes - 1)
                loss -= log(max(1e-10, Double(pred.data[r * classes + c])))
                counted += 1
            }
        }
        sumMetric += loss
        numInst += counted
    }

    /// Clears the sums.
    public func reset() {
        sumMetric = 0
        numInst = 0
    }

    /// `[(name, exp(sumMetric / numInst))]`, NaN before any label was counted.
    public func get() -> [(name: String, value: Double)] { [(name, exp(meanOrNaN(sumMetric, numInst)))] }

    /// `exp(Σsum / Σcount)` of one combined `(name, sum, count)` partial.
    public func get(fromPartials partials: [MetricPartial]) throws -> [(name: String, value: Double)] {
        try checkLayout(partials, names: [name])
        return [(name, exp(meanOrNaN(partials[0].sum, partials[0].count)))]
    }
}
