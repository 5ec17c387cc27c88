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
/// samples). Labels and predictions must have the same number of elements; a `(N,)` array is
/// compared with an `(N, 1)` one, as MXNet reshapes 1-D arrays to `(N, 1)`.
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
            guard label.count == pred.count, label.count > 0, label.shape.first == pred.shape.first else {
                throw MetricError.shapeMismatch(
                    metric: name, label: label.shape, pred: pred.shape,
                    expected: "labels and predictions must hold the same number of values per sample")
            }
            let l = label.data
            let p = pred.data
            var acc = 0.0
            switch statistic {
            case .meanAbsolute:
                for i in 0..<label.count { acc += abs(Double(l[i]) - Double(p[i])) }
            case .meanSquared, .rootMeanSquared:
                for i in 0..<label.count {
                    let d = Double(l[i]) - Double(p[i])
                    acc += d * d
                }
            }
            let mean = acc / Double(label.count)
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
