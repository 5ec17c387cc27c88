import SwiftPSTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The shared implementation of MXNet 1.x's `CrossEntropy` and `NegativeLogLikelihood`, which
/// compute the same loss under different names.
///
/// For `(N,)` labels and `(N, K)` probabilities it adds `-log(p[n, label_n] + eps)` per sample to
/// `sumMetric` and 1 per sample to `numInst`; the value is the mean over samples. A label indexes
/// its row as numpy does in MXNet's `pred[arange(N), int64(label)]`: truncated toward zero, and a
/// negative label counts from the end (-1 reads the last class, `-K` the first). A label outside
/// `-K..<K`, NaN or infinite throws `MetricError.labelOutOfRange`, where MXNet raises `IndexError`.
public class NegativeLogProbabilityMetric: EvalMetric {
    /// The display name.
    public let name: String
    /// Added to each probability before the logarithm.
    public let eps: Double
    /// The summed negative log-probabilities so far.
    public private(set) var sumMetric: Double = 0
    /// The number of samples so far.
    public private(set) var numInst: Int = 0

    init(name: String, eps: Double) {
        self.eps = eps
        self.name = name
    }

    /// Adds `-log(p[label] + eps)` for every sample.
    public func update(labels: [NDArray], preds: [NDArray]) throws {
        try MetricInput.checkCounts(name, labels, preds)
        var loss = 0.0
        var seen = 0
        for (label, pred) in zip(labels, preds) {
            let (rows, classes) = try MetricInput.rowsAndClasses(name, label: label, pred: pred)
            for r in 0..<rows {
                let c = try MetricInput.classIndex(name, label.data[r], classes: classes)
                loss -= log(Double(pred.data[r * classes + c]) + eps)
            }
            seen += rows
        }
        sumMetric += loss
        numInst += seen
    }

    /// Clears the sums.
    public func reset() {
        sumMetric = 0
        numInst = 0
    }
}

/// Cross-entropy of predicted probabilities, MXNet 1.x's `mx.metric.CrossEntropy` (registered as
/// `"crossentropy"`, alias `"ce"`; display name `"cross-entropy"`).
///
/// For `(N,)` labels and `(N, K)` probabilities it adds `-log(p[n, label_n] + eps)` per sample;
/// the value is the mean over samples. `eps` defaults to 1e-12 as in MXNet. Labels index as numpy
/// does: -1 is the last class (see `NegativeLogProbabilityMetric`).
public final class CrossEntropy: NegativeLogProbabilityMetric {
    /// A cross-entropy metric (MXNet's `CrossEntropy(eps=1e-12, name='cross-entropy')`).
    public init(eps: Double = 1e-12, name: String = "cross-entropy") { super.init(name: name, eps: eps) }
}

/// Negative log-likelihood, MXNet 1.x's `mx.metric.NegativeLogLikelihood` (registered as
/// `"negativeloglikelihood"`, alias `"nll_loss"`; display name `"nll-loss"`).
///
/// The same per-sample `-log(p[label] + eps)` as `CrossEntropy`, averaged over samples, with the
/// same numpy label indexing (-1 is the last class).
public final class NegativeLogLikelihood: NegativeLogProbabilityMetric {
    /// An NLL metric (MXNet's `NegativeLogLikelihood(eps=1e-12, name='nll-loss')`).
    public init(eps: Double = 1e-12, name: String = "nll-loss") { super.init(name: name, eps: eps) }
}
