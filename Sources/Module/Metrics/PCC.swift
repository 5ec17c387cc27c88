import SwiftPSTensor

/// Multiclass Pearson (Matthews) correlation of a confusion matrix, MXNet 1.x's `mx.metric.PCC`
/// (`"pcc"`): for binary problems it equals `MCC`.
///
/// Predictions are `(N, K)` scores (the class is the argmax along axis 1) or, when they have the
/// label's shape, class indices. Labels and class indices are truncated to integers as MXNet's
/// `astype('int32')`. The confusion matrix starts at 2×2 and grows to the largest class seen (it
/// keeps its size across `reset`, as MXNet's does); a negative index counts from the end of the
/// current matrix as numpy indexes (-1 is the last class), and one past `-K` throws
/// `labelOutOfRange`, where MXNet raises `IndexError`. The value is the PCC of the counts of all
/// updates since `reset`:
/// `(n·Σ C_kk − Σ x_k·y_k) / sqrt((n² − Σ x_k²)(n² − Σ y_k²))` with `x` the predicted and `y` the
/// true class totals; NaN when every prediction or every label is one class. `numInst` counts
/// updates and `sumMetric` is the value × updates, as in MXNet.
///
/// Combining workers: `partials()` holds the K×K counts (`pcc[i,j]`, predicted i, label j, each
/// with the update count), which add over workers when every worker's matrix has the same size
/// (the same largest class seen); otherwise `Metrics.combine` reports `partialsMismatch`.
public final class PCC: EvalMetric {
    /// The display name; MXNet's default is `"pcc"`.
    public let name: String
    /// The number of updates since `reset`.
    public private(set) var numInst: Int = 0
    /// The size of the confusion matrix: 2, or one past the largest class seen.
    public private(set) var classes = 2
    /// The confusion counts, row-major: `counts[predicted * classes + label]`.
    public private(set) var counts: [Int] = [0, 0, 0, 0]

    /// A PCC metric (MXNet's `PCC(name='pcc')`).
    public init(name: String = "pcc") { self.name = name }

    /// The value × `numInst` (MXNet's `sum_metric` property).
    public var sumMetric: Double { PCC.correlation(counts, classes: classes) * Double(numInst) }

    /// Adds the (predicted, label) pairs of every (label, prediction) pair and counts one update.
    public func update(labels: [NDArray], preds: [NDArray]) throws {
        try MetricInput.checkCounts(name, labels, preds)
        var pairs: [(predicted: Int, label: Int)] = []
        var grown = classes
        for (label, pred) in zip(labels, preds) {
            let predicted = try PCC.predictedClasses(name, label: label, pred: pred)
            let truth = try (0..<label.count).map { r in
                guard let k = MetricInput.integer(label.data[r]) else {
                    throw MetricError.labelOutOfRange(metric: name, label: label.data[r], classes: grown)
                }
                return k
            }
            // MXNet grows the matrix to the largest index of the pair before counting it.
            grown = max(grown, (predicted + truth).max().map { $0 + 1 } ?? 0)
            for (i, j) in zip(predicted, truth) {
                let row = try MetricInput.classIndex(name, Float(i), classes: grown)
                let column = try MetricInput.classIndex(name, Float(j), classes: grown)
                pairs.append((row, column))
            }
        }
        if grown > classes { grow(to: grown) }
        for (i, j) in pairs { counts[i * classes + j] += 1 }
        numInst += 1
    }

    /// The classes the predictions hold: the argmax of `(N, K)` scores, or the truncated values
    /// of predictions shaped like the label.
    private static func predictedClasses(_ metric: String, label: NDArray, pred: NDArray) throws -> [Int] {
        if pred.shape == label.shape {
            return try (0..<pred.count).map { i in
                guard let k = MetricInput.integer(pred.data[i]) else {
                    throw MetricError.shapeMismatch(
                        metric: metric, label: label.shape, pred: pred.shape,
                        expected: "prediction \(pred.data[i]) is not a class index")
                }
                return k
            }
        }
        let (rows, classes) = try MetricInput.rowsAndClasses(metric, label: label, pred: pred)
        return (0..<rows).map { r in
            let row = pred.data + r * classes
            var best = 0
            for k in 1..<classes where row[k] > row[best] { best = k }
            return best
        }
    }

    /// Pads the matrix with zero rows and columns up to `size` classes.
    private func grow(to size: Int) {
        var bigger = [Int](repeating: 0, count: size * size)
        for i in 0..<classes {
            for j in 0..<classes { bigger[i * size + j] = counts[i * classes + j] }
        }
        counts = bigger
        classes = size
    }

    /// Clears the counts (the matrix keeps its size, as MXNet's).
    public func reset() {
        numInst = 0
        counts = [Int](repeating: 0, count: classes * classes)
    }

    /// `[(name, PCC of the counts)]`, NaN before the first update.
    public func get() -> [(name: String, value: Double)] {
        [(name, numInst == 0 ? .nan : PCC.correlation(counts, classes: classes))]
    }

    private func cellNames(_ size: Int) -> [String] {
        (0..<size * size).map { "\(name)[\($0 / size),\($0 % size)]" }
    }

    /// The confusion counts, one partial per cell, each with the update count.
    public func partials() -> [MetricPartial] {
        zip(cellNames(classes), counts).map { ($0, Double($1), numInst) }
    }

    /// The PCC of combined confusion counts; NaN when nothing was counted.
    public func get(fromPartials partials: [MetricPartial]) throws -> [(name: String, value: Double)] {
        let size = Int(Double(partials.count).squareRoot().rounded())
        try checkLayout(partials, names: cellNames(size))
        guard let first = partials.first, first.count > 0 else { return [(name, .nan)] }
        return [(name, PCC.correlation(partials.map { Int($0.sum) }, classes: size))]
    }

    /// MXNet's `_calc_mcc` of a row-major (predicted, label) count matrix.
    static func correlation(_ counts: [Int], classes k: Int) -> Double {
        var predicted = [Double](repeating: 0, count: k)
        var truth = [Double](repeating: 0, count: k)
        var diagonal = [Double](repeating: 0, count: k)
        for i in 0..<k {
            for j in 0..<k {
                predicted[i] += Double(counts[i * k + j])
                truth[j] += Double(counts[i * k + j])
            }
            diagonal[i] = Double(counts[i * k + i])
        }
        let n = predicted.reduce(0, +)
        let covPredicted = predicted.reduce(0) { $0 + $1 * (n - $1) }
        let covTruth = truth.reduce(0) { $0 + $1 * (n - $1) }
        guard covPredicted != 0, covTruth != 0 else { return .nan }
        let covBoth = (0..<k).reduce(0.0) { $0 + diagonal[$1] * n - predicted[$1] * truth[$1] }
        return covBoth / (covPredicted * covTruth).squareRoot()
    }
}
