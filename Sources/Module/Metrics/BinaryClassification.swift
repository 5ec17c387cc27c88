import SwiftPSTensor

/// The confusion counts of a binary classifier, MXNet 1.x's `_BinaryClassificationMetrics`.
///
/// Predictions are `(N, 2)` scores whose argmax along axis 1 is the predicted class; class 1 is
/// positive, and a label is positive when its int32 truncation equals 1. Labels with more than two
/// distinct (truncated) values in one pair are rejected, as MXNet does.
public struct BinaryConfusion: Equatable, Sendable {
    /// Predicted 1, label 1.
    public var truePositives = 0
    /// Predicted 1, label not 1.
    public var falsePositives = 0
    /// Predicted not 1, label 1.
    public var falseNegatives = 0
    /// Predicted not 1, label not 1.
    public var trueNegatives = 0

    /// No samples.
    public init() {}

    /// Counts given directly.
    public init(truePositives: Int, falsePositives: Int, falseNegatives: Int, trueNegatives: Int) {
        self.truePositives = truePositives
        self.falsePositives = falsePositives
        self.falseNegatives = falseNegatives
        self.trueNegatives = trueNegatives
    }

    /// All samples counted.
    public var total: Int { truePositives + falsePositives + falseNegatives + trueNegatives }

    /// The F1 score, 0 when precision and recall are both 0 (MXNet's `fscore`).
    public var fscore: Double {
        let tp = Double(truePositives)
        let precision = truePositives + falsePositives > 0 ? tp / Double(truePositives + falsePositives) : 0
        let recall = truePositives + falseNegatives > 0 ? tp / Double(truePositives + falseNegatives) : 0
        return precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
    }

    /// The Matthews correlation coefficient, MXNet's `matthewscc`: `(TP·TN − FP·FN) / sqrt(the
    /// product of (TP+FP), (TP+FN), (TN+FP), (TN+FN))`, where a zero factor is replaced by 1; 0 when
    /// nothing was counted.
    public var matthewsCorrelation: Double {
        guard total > 0 else { return 0 }
        let (tp, fp) = (Double(truePositives), Double(falsePositives))
        let (fn, tn) = (Double(falseNegatives), Double(trueNegatives))
        let denominator = [tp + fp, tp + fn, tn + fp, tn + fn].filter { $0 != 0 }.reduce(1, *)
        return (tp * tn - fp * fn) / denominator.squareRoot()
    }

    /// Adds one (label, prediction) pair, MXNet's `update_binary_stats`.
    mutating func add(_ metric: String, label: NDArray, pred: NDArray) throws {
        let (rows, classes) = try MetricInput.rowsAndClasses(metric, label: label, pred: pred)
        // Distinct after MXNet's `astype('int32')`: 0.5 is the class 0.
        var distinct: [Int?] = []
        for r in 0..<rows where !distinct.contains(MetricInput.integer(label.data[r])) {
            distinct.append(MetricInput.integer(label.data[r]))
            if distinct.count > 2 {
                throw MetricError.notBinary(metric: metric, distinctLabels: distinct.map { $0.map(Float.init) ?? .nan })
            }
        }
        for r in 0..<rows {
            let row = pred.data + r * classes
            var best = 0
            for k in 1..<classes where row[k] > row[best] { best = k }
            let predictedPositive = best == 1
            let labelPositive = MetricInput.integer(label.data[r]) == 1
            switch (predictedPositive, labelPositive) {
            case (true, true): truePositives += 1
            case (true, false): falsePositives += 1
            case (false, true): falseNegatives += 1
            case (false, false): trueNegatives += 1
            }
        }
    }

    /// `self` plus `other`, count by count.
    static func + (lhs: BinaryConfusion, rhs: BinaryConfusion) -> BinaryConfusion {
        BinaryConfusion(
            truePositives: lhs.truePositives + rhs.truePositives,
            falsePositives: lhs.falsePositives + rhs.falsePositives,
            falseNegatives: lhs.falseNegatives + rhs.falseNegatives,
            trueNegatives: lhs.trueNegatives + rhs.trueNegatives)
    }
}

/// The shared machinery of MXNet 1.x's `F1` and `MCC`: a score of binary confusion counts.
///
/// With `average: .macro` (MXNet's default) each `update` adds the score of that update's pairs and
/// counts one, so the value is the mean per-update score. With `.micro` the confusion counts
/// accumulate and the value is the score of all samples (`sumMetric` is score × samples and
/// `numInst` the samples, as in MXNet).
///
/// Combining workers: in `.macro` mode `partials()` is `[(name, Σscores, updates)]`, so the
/// combined value is the mean score over every worker's updates, exactly what one process seeing
/// the same batches reports. In `.micro` mode `partials()` carries the confusion counts
/// (`name.tp`, `name.fp`, `name.fn`, `name.tn`, each with the sample count), so the combined value
/// is the score of the pooled confusion counts, equal to one `.micro` metric over all samples.
public class BinaryClassificationMetric: EvalMetric {
    /// The display name.
    public let name: String
    /// The aggregation mode.
    public let average: MetricAverage
    /// The summed per-update scores (`.macro`), or score × samples (`.micro`).
    public private(set) var sumMetric: Double = 0
    /// The number of updates (`.macro`) or samples (`.micro`).
    public private(set) var numInst: Int = 0
    /// The counts behind the value: the whole run's in `.micro` mode, empty between updates in
    /// `.macro` mode (MXNet resets them after each update).
    public private(set) var confusion = BinaryConfusion()
    private let score: (BinaryConfusion) -> Double

    init(name: String, average: MetricAverage, score: @escaping (BinaryConfusion) -> Double) {
        self.name = name
        self.average = average
        self.score = score
    }

    /// Adds the confusion counts of every (label, prediction) pair; see the type's notes.
    public func update(labels: [NDArray], preds: [NDArray]) throws {
        try MetricInput.checkCounts(name, labels, preds)
        var batch = BinaryConfusion()
        for (label, pred) in zip(labels, preds) { try batch.add(name, label: label, pred: pred) }
        switch average {
        case .macro:
            sumMetric += score(batch)
            numInst += 1
        case .micro:
            confusion = confusion + batch
            sumMetric = score(confusion) * Double(confusion.total)
            numInst = confusion.total
        }
    }

    /// Clears the sums and the confusion counts.
    public func reset() {
        sumMetric = 0
        numInst = 0
        confusion = BinaryConfusion()
    }

    private var countNames: [String] { [".tp", ".fp", ".fn", ".tn"].map { name + $0 } }

    /// `.macro`: one `(name, Σscores, updates)`; `.micro`: the four confusion counts, each with the
    /// number of samples as its count.
    public func partials() -> [MetricPartial] {
        let c = confusion
        let counts = [c.truePositives, c.falsePositives, c.falseNegatives, c.trueNegatives]
        return averagedPartials(average, micro: zip(countNames, counts.map(Double.init)), count: numInst)
    }

    /// The value of combined partials: the mean per-update score (`.macro`) or the score of the
    /// pooled confusion counts (`.micro`); NaN when nothing was counted.
    public func get(fromPartials partials: [MetricPartial]) throws -> [(name: String, value: Double)] {
        try averagedValue(partials, average, micro: countNames) { sums in
            let c = sums.map { Int($0) }
            return score(
                BinaryConfusion(truePositives: c[0], falsePositives: c[1], falseNegatives: c[2], trueNegatives: c[3]))
        }
    }
}

/// Binary F1 score, MXNet 1.x's `mx.metric.F1` (`"f1"`): `2·P·R / (P + R)` of the confusion
/// counts (see `BinaryConfusion` for how predictions and labels are read, and
/// `BinaryClassificationMetric` for `average` and combining workers).
public final class F1: BinaryClassificationMetric {
    /// The aggregation modes (MXNet's `average`).
    public typealias Average = MetricAverage

    /// An F1 metric (MXNet's `F1(name='f1', average='macro')`).
    public init(name: String = "f1", average: MetricAverage = .macro) {
        super.init(name: name, average: average) { $0.fscore }
    }
}

/// Matthews correlation coefficient of a binary classifier, MXNet 1.x's `mx.metric.MCC` (`"mcc"`):
/// `(TP·TN − FP·FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))`, a zero factor of the denominator
/// replaced by 1 as MXNet does, so a classifier that always predicts one class scores 0.
///
/// Inputs as F1's (`(N, 2)` scores, binary labels; more than two distinct labels throw
/// `notBinary`). With `average: .macro` (MXNet's default) the value is the mean MCC of the
/// updates; with `.micro` it is the MCC of all samples. See `BinaryClassificationMetric` for
/// combining workers.
public final class MCC: BinaryClassificationMetric {
    /// An MCC metric (MXNet's `MCC(name='mcc', average='macro')`).
    public init(name: String = "mcc", average: MetricAverage = .macro) {
        super.init(name: name, average: average) { $0.matthewsCorrelation }
    }
}
