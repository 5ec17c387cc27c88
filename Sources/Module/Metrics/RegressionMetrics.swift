import SwiftPSTensor

/// The per-batch statistic a regression metric takes of one (label, prediction) pair.
enum RegressionStatistic {
    case meanAbsolute
    case meanSquared
    case rootMeanSquared
}

/// The shared machinery of MXNet 1.x's `MAE`, `MSE` and `RMSE`: each (label, prediction) pair
/// adds its own mean error to `sumMetric` and 1 to `numInst`, so the value is the mean over
/// batches of the per-batch error (for RMSE, the mean of per-batch RMSEs, not the RMSE of all
/// samples).
///
/// Shapes follow MXNet 1.9.1's `metric.py`: a 1-D label or prediction `(N,)` is first reshaped to
/// `(N, 1)`, then `label - pred` broadcasts as numpy does and the error is the mean over the
/// broadcast result. So a `(N,)` label against `(N, K)` predictions compares every column with the
/// label (mean over N·K values), `(N,)` against `(N, 1)` compares sample by sample, and a `(1,)`
/// label is compared with every prediction; note that `(N, 1)` against `(1, N)` broadcasts to
/// `(N, N)`, as in MXNet. Shapes numpy cannot broadcast (`(3,)` against `(4,)`, `(N, 3)` against
/// `(N,)`) throw `MetricError.shapeMismatch`, where MXNet raises `ValueError`; so do empty arrays,
/// for which MXNet adds a NaN.
public class RegressionMetric: EvalMetric {
    /// The display name.
    public let name: String
    /// The summed per-batch errors so far.
    public private(set) var sumMetric: Double = 0
    /// The number of (label, prediction) pairs so far.
    public private(set) var numInst: Int = 0
    let statistic: RegressionStatistic

    init(name: String, statistic: RegressionStatistic) {
        self.name = name
        self.statistic = statistic
    }

    /// Adds the mean error of each (label, prediction) pair.
    public func update(labels: [NDArray], preds: [NDArray]) throws {
        try MetricInput.checkCounts(name, labels, preds)
        var sum = 0.0
        for (label, pred) in zip(labels, preds) {
            let pairs = try BroadcastPairs(name, label: label, pred: pred)
            var acc = 0.0
            switch statistic {
            case .meanAbsolute:
                pairs.visit { l, p in acc += abs(Double(l) - Double(p)) }
            case .meanSquared, .rootMeanSquared:
                pairs.visit { l, p in
                    let d = Double(l) - Double(p)
                    acc += d * d
                }
            }
            let mean = acc / Double(pairs.count)
            sum += statistic == .rootMeanSquared ? mean.squareRoot() : mean
        }
        sumMetric += sum
        numInst += labels.count
    }

    /// Clears the sums.
    public func reset() {
        sumMetric = 0
        numInst = 0
    }
}

/// The element pairs of `label - pred` as MXNet's regression metrics form it: each 1-D array
/// reshaped to `(N, 1)`, then numpy broadcasting.
struct BroadcastPairs {
    let label: NDArray
    let pred: NDArray
    /// The broadcast shape.
    let shape: [Int]
    /// Per axis of `shape`, the step through each operand (0 along a broadcast axis).
    private let labelStrides: [Int]
    private let predStrides: [Int]

    /// The number of pairs.
    var count: Int { NDArray.elementCount(shape) }

    init(_ metric: String, label: NDArray, pred: NDArray) throws {
        func column(_ shape: [Int]) -> [Int] { shape.count == 1 ? [shape[0], 1] : shape }
        let l = column(label.shape)
        let p = column(pred.shape)
        let rank = max(l.count, p.count)
        let lp = Array(repeating: 1, count: rank - l.count) + l
        let pp = Array(repeating: 1, count: rank - p.count) + p
        var shape: [Int] = []
        for (a, b) in zip(lp, pp) {
            guard a == b || a == 1 || b == 1 else {
                throw MetricError.shapeMismatch(
                    metric: metric, label: label.shape, pred: pred.shape,
                    expected: "after MXNet's reshape of a 1-D array to (N, 1), \(l) and \(p) do not broadcast")
            }
            shape.append(a == 1 ? b : a)
        }
        guard NDArray.elementCount(shape) > 0 else {
            throw MetricError.shapeMismatch(
                metric: metric, label: label.shape, pred: pred.shape,
                expected: "labels and predictions must not be empty")
        }
        func strides(_ padded: [Int]) -> [Int] {
            var out = Array(repeating: 0, count: rank)
            var step = 1
            for axis in (0..<rank).reversed() {
                out[axis] = padded[axis] == 1 ? 0 : step
                step *= padded[axis]
            }
            return out
        }
        self.label = label
        self.pred = pred
        self.shape = shape
        labelStrides = strides(lp)
        predStrides = strides(pp)
    }

    /// Calls `body` with every (label, prediction) pair of the broadcast, in row-major order.
    func visit(_ body: (Float, Float) -> Void) {
        let l = label.data
        let p = pred.data
        if label.count == count && pred.count == count {
            for i in 0..<count { body(l[i], p[i]) }
            return
        }
        var index = Array(repeating: 0, count: shape.count)
        var (li, pi) = (0, 0)
        for _ in 0..<count {
            body(l[li], p[pi])
            // Advance the multi-index like an odometer, moving both offsets along.
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                li += labelStrides[axis]
                pi += predStrides[axis]
                if index[axis] < shape[axis] { break }
                li -= labelStrides[axis] * shape[axis]
                pi -= predStrides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
}

/// Mean absolute error, MXNet 1.x's `mx.metric.MAE` (`"mae"`): the mean over batches of each
/// batch's `mean(|label - pred|)`.
public final class MAE: RegressionMetric {
    /// An MAE metric named `name` (MXNet's default `"mae"`).
    public init(name: String = "mae") { super.init(name: name, statistic: .meanAbsolute) }
}

/// Mean squared error, MXNet 1.x's `mx.metric.MSE` (`"mse"`): the mean over batches of each
/// batch's `mean((label - pred)^2)`.
public final class MSE: RegressionMetric {
    /// An MSE metric named `name` (MXNet's default `"mse"`).
    public init(name: String = "mse") { super.init(name: name, statistic: .meanSquared) }
}

/// Root mean squared error, MXNet 1.x's `mx.metric.RMSE` (`"rmse"`): the mean over batches of
/// each batch's `sqrt(mean((label - pred)^2))`, as MXNet 1.x computes it.
public final class RMSE: RegressionMetric {
    /// An RMSE metric named `name` (MXNet's default `"rmse"`).
    public init(name: String = "rmse") { super.init(name: name, statistic: .rootMeanSquared) }
}
