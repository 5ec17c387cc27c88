/// Creating metrics by name and combining workers' partial sums (MXNet 1.x's `mx.metric.create`).
public enum Metrics {
    /// The names `create` accepts: MXNet's registered class names (lower-cased) and aliases, plus
    /// the display names where they differ.
    public static let validNames: [String] = [
        "acc", "accuracy", "ce", "composite", "cross-entropy", "crossentropy", "f1", "loss", "mae", "mcc", "mse",
        "negativeloglikelihood", "nll-loss", "nll_loss", "pcc", "pearsoncorrelation", "pearsonr", "perplexity",
        "rmse", "top_k_acc", "top_k_accuracy", "topkaccuracy",
    ]

    /// A metric with MXNet's defaults for `name` (case-insensitive): `"acc"` → `Accuracy`,
    /// `"top_k_accuracy"` → `TopKAccuracy(topK: 5)`, `"ce"` → `CrossEntropy`, `"nll_loss"` →
    /// `NegativeLogLikelihood`, `"perplexity"` → `Perplexity(ignoreLabel: -1)`, `"f1"`, `"mse"`,
    /// `"mae"`, `"rmse"`, `"mcc"`, `"pearsonr"` (`PearsonCorrelation`), `"pcc"`, `"loss"` (the
    /// outputs' mean, for `MakeLoss` networks), `"composite"` (empty); `"top_k_accuracy:3"` sets k
    /// (MXNet's `top_k=3`). F1, MCC and PearsonCorrelation take MXNet's default `average="macro"`.
    /// Unknown names throw `MetricError.unknownMetric` listing the valid ones.
    public static func create(_ spec: String) throws -> any EvalMetric {
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let name = String(parts[0])
        let topKNames = ["top_k_accuracy", "top_k_acc", "topkaccuracy"]
        if parts.count > 1 {
            guard topKNames.contains(name.lowercased()) else {
                throw MetricError.invalidArgument("metric '\(spec)': only top_k_accuracy takes an argument (its k)")
            }
            guard let k = Int(parts[1]) else {
                throw MetricError.invalidArgument("metric '\(spec)': k '\(parts[1])' is not a whole number")
            }
            return try TopKAccuracy(topK: k)
        }
        switch name.lowercased() {
        case "acc", "accuracy": return Accuracy()
        case let name where topKNames.contains(name): return try TopKAccuracy()
        case "ce", "crossentropy", "cross-entropy": return CrossEntropy()
        case "nll_loss", "negativeloglikelihood", "nll-loss": return NegativeLogLikelihood()
        case "f1": return F1()
        case "mcc": return MCC()
        case "pearsonr", "pearsoncorrelation": return PearsonCorrelation()
        case "pcc": return PCC()
        case "perplexity": return Perplexity()
        case "mse": return MSE()
        case "mae": return MAE()
        case "rmse": return RMSE()
        case "loss": return Loss()
        case "composite": return CompositeEvalMetric()
        default: throw MetricError.unknownMetric(name: name, valid: validNames)
        }
    }

    /// A `CompositeEvalMetric` of the named metrics, in order (MXNet's `create([...])`).
    public static func create(_ names: [String]) throws -> CompositeEvalMetric {
        CompositeEvalMetric(try names.map { try create($0) })
    }

    /// Adds the partials of several workers entry by entry: sums and counts are summed, so the
    /// result weights each worker by its counts. Every worker must report the same names in the
    /// same order (the same metric configuration); otherwise `partialsMismatch` names the first
    /// difference. Turn the result into values with `get(fromPartials:)` on a metric of the same
    /// configuration: for F1 and Perplexity that applies their own rule (see those types).
    public static func combine(_ workers: [[MetricPartial]]) throws -> [MetricPartial] {
        guard var total = workers.first else { return [] }
        for (w, partials) in workers.enumerated().dropFirst() {
            guard partials.count == total.count else {
                throw MetricError.partialsMismatch(
                    "worker \(w) reports \(partials.count) partials, worker 0 reports \(total.count)")
            }
            for i in partials.indices {
                guard partials[i].name == total[i].name else {
                    throw MetricError.partialsMismatch(
                        "worker \(w) reports '\(partials[i].name)' at position \(i), worker 0 '\(total[i].name)'")
                }
                total[i].sum += partials[i].sum
                total[i].count += partials[i].count
            }
        }
        return total
    }
}
