import SwiftPSTensor

/// Binary F1 score, MXNet 1.x's `mx.metric.F1` (`"f1"`).
///
/// Predictions are `(N, 2)` scores whose argmax along axis 1 is the predicted class; class 1 is
/// positive, and a label is positive when it equals 1. Labels with more than two distinct values
/// in one update are rejected, as MXNet does. With `average: .macro` (MXNet's default) each
/// `update` adds that batch's F1 and counts one batch, so the value is the mean per-batch F1.
/// With `.micro` the confusion counts accumulate and the value is the F1 of all samples.
///
/// Combining workers: in `.macro` mode `partials()` is `[("f1", ΣF1 of batches, batches)]`, so
/// the combined value is the mean F1 over every worker's batches, exactly what one process seeing
/// the same batches reports. In `.micro` mode `partials()` carries the confusion counts
/// (`"f1.tp"`, `"f1.fp"`, `"f1.fn"`, each with the sample count), so the combined value is the F1
/// of the pooled confusion matrix, equal to a single `.micro` metric over the union of samples.
public final class F1: EvalMetric {
    /// How F1 is aggregated over mini-batches (MXNet's `average` argument).
    public enum Average: String, Sendable {
        /// The mean of per-batch F1 scores (MXNet's default).
        case macro
        /// One F1 over all samples seen.
        case micro
    }

    /// The display name; MXNet's default is `"f1"`.
    public let name: String
    /// The aggregation mode.
    public let average: Average
    /// The summed per-batch F1 (`.macro`), or F1 × samples (`.micro`).
    public private(set) var sumMetric: Double = 0
    /// The number of batches (`.macro`) or samples (`.micro`).
    public private(set) var numInst: Int = 0
    private var truePositives = 0
    private var falsePositives = 0
    private var falseNegatives = 0
    private var trueNegatives = 0

    /// An F1 metric (MXNet's `F1(name='f1', average='macro')`).
    public init(name: String = "f1", average: Average = .macro) {
        self.name = name
        self.average = average
    }

    /// The F1 of confusion counts, 0 when precision and recall are both 0 (MXNet's `fscore`).
    static func fscore(tp: Int, fp: Int, fn: Int) -> Double {
        let precision = tp + fp > 0 ? Double(tp) / Double(tp + fp) : 0
        let recall = tp + fn > 0 ? Double(tp) / Double(tp + fn) : 0
        return precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
    }

    /// Adds the confusion counts of every (label, prediction) pair; see the type's notes.
    public func update(labels: [NDArray], preds: [NDArray]) throws {
        try MetricInput.checkCounts(name, labels, preds)
        var counts = (tp: 0, fp: 0, fn: 0, tn: 0)
        for (label, pred) in zip(labels, preds) {
            let (rows, classes) = try MetricInput.rowsAndClasses(name, label: label, pred: pred)
            // Distinct after MXNet's `astype('int32')`: 0.5 is the class 0.
            var distinct: [Int?] = []
            for r in 0..<rows where !distinct.contains(MetricInput.integer(label.data[r])) {
                distinct.append(MetricInput.integer(label.data[r]))
                if distinct.count > 2 {
                    throw MetricError.notBinary(
                        metric: name, distinctLabels: distinct.map { $0.map(Float.init) ?? .nan })
                }
            }
            for r in 0..<rows {
                let row = pred.data + r * classes
                var best = 0
                for k in 1..<classes where row[k] > row[best] { best = k }
                let predictedPositive = best == 1
                let labelPositive = MetricInput.integer(label.data[r]) == 1
                switch (predictedPositive, labelPositive) {
                case (true, true): counts.tp += 1
                case (true, false): counts.fp += 1
                case (false, true): counts.fn += 1
                case (false, false): counts.tn += 1
                }
            }
        }
        truePositives += counts.tp
        falsePositives += counts.fp
        falseNegatives += counts.fn
        trueNegatives += counts.tn
        let total = truePositives + falsePositives + falseNegatives + trueNegatives
        let score = F1.fscore(tp: truePositives, fp: falsePositives, fn: falseNegatives)
        switch average {
        case .macro:
            sumMetric += score
            numInst += 1
            truePositives = 0
            falsePositives = 0
            falseNegatives = 0
            trueNegatives = 0
        case .micro:
            sumMetric = score * Double(total)
            numInst = total
        }
    }

    /// Clears the sums and the confusion counts.
    public func reset() {
        sumMetric = 0
        numInst = 0
        truePositives = 0
        falsePositives = 0
        falseNegatives = 0
        trueNegatives = 0
    }

    /// `.macro`: one `(name, ΣF1, batches)`; `.micro`: the true-positive, false-positive and
    /// false-negative counts, each with the number of samples as its count.
    public func partials() -> [MetricPartial] {
        switch average {
        case .macro:
            return [(name, sumMetric, numInst)]
        case .micro:
            return [
                (name + ".tp", Double(truePositives), numInst),
                (name + ".fp", Double(falsePositives), numInst),
                (name + ".fn", Double(falseNegatives), numInst),
            ]
        }
    }

    /// The F1 of combined partials: the mean per-batch F1 (`.macro`) or the F1 of the pooled
    /// confusion counts (`.micro`); NaN when nothing was counted.
    public func get(fromPartials partials: [MetricPartial]) throws -> [(name: String, value: Double)] {
        switch average {
        case .macro:
            try checkLayout(partials, names: [name])
            return [(name, meanOrNaN(partials[0].sum, partials[0].count))]
        case .micro:
            try checkLayout(partials, names: [name + ".tp", name + ".fp", name + ".fn"])
            guard partials[0].count > 0 else { return [(name, .nan)] }
            let score = F1.fscore(tp: Int(partials[0].sum), fp: Int(partials[1].sum), fn: Int(partials[2].sum))
            return [(name, score)]
        }
    }
}
