import SwiftPSTensor

/// Input checks and label decoding shared by the metrics (MXNet's `check_label_shapes` and the
/// `astype('int32')` casts of `metric.py`).
enum MetricInput {
    /// Throws unless there are as many label arrays as prediction arrays.
    static func checkCounts(_ metric: String, _ labels: [NDArray], _ preds: [NDArray]) throws {
        guard labels.count == preds.count else {
            throw MetricError.arrayCountMismatch(metric: metric, labels: labels.count, preds: preds.count)
        }
    }

    /// A float label or prediction as an integer, truncated toward zero like numpy's
    /// `astype('int32')`; nil when it is not finite or does not fit in 32 bits.
    @inline(__always) static func integer(_ value: Float) -> Int? {
        guard value.isFinite, value >= -2_147_483_648, value < 2_147_483_648 else { return nil }
        return Int(value)
    }

    /// The class index held by `value` as numpy indexes a row with it (`pred[n, int64(label)]`):
    /// truncated toward zero, and a negative index counts from the end, so -1 is the last class and
    /// `-classes` the first. Anything outside `-classes..<classes`, NaN or infinite throws
    /// `labelOutOfRange`, where MXNet raises numpy's `IndexError`.
    @inline(__always) static func classIndex(_ metric: String, _ value: Float, classes: Int) throws -> Int {
        guard let k = integer(value), k >= -classes, k < classes else {
            throw MetricError.labelOutOfRange(metric: metric, label: value, classes: classes)
        }
        return k < 0 ? k + classes : k
    }

    /// The number of rows and columns of `pred` seen as an `(N, K)` matrix whose N must equal the
    /// label count (MXNet indexes `pred[arange(N), label]`).
    static func rowsAndClasses(_ metric: String, label: NDArray, pred: NDArray) throws -> (rows: Int, classes: Int) {
        guard pred.ndim == 2, pred.shape[0] == label.count, pred.shape[1] > 0 else {
            throw MetricError.shapeMismatch(
                metric: metric, label: label.shape, pred: pred.shape,
                expected: "predictions must be (N, classes) with N = \(label.count) labels")
        }
        return (pred.shape[0], pred.shape[1])
    }
}
