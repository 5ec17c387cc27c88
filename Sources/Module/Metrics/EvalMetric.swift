import SwiftPSTensor

/// One metric value's running sum and the count it is divided by, as exchanged between workers.
///
/// MXNet keeps `sum_metric` and `num_inst` per metric; a distributed job sums both over workers
/// before dividing, so the global value weights every worker by its sample (or batch) count.
public typealias MetricPartial = (name: String, sum: Double, count: Int)

/// An evaluation metric, MXNet 1.x's `mx.metric.EvalMetric`.
///
/// A metric accumulates `sumMetric` and `numInst` over `update` calls; `get` returns
/// `sumMetric / numInst` (NaN before the first update), or a transform of it (`Perplexity`
/// returns its exponential). For distributed training, `partials()` exposes the raw sums so a
/// scheduler can add them over workers with `Metrics.combine` and turn the totals into values with
/// `get(fromPartials:)` on a metric of the same configuration.
public protocol EvalMetric: AnyObject {
    /// The display name, as MXNet's `name` (`"accuracy"`, `"top_k_accuracy_5"`).
    var name: String { get }
    /// Adds one batch: `labels[i]` is the label of output `preds[i]` (MXNet's `update(labels, preds)`).
    /// Throws `MetricError` where MXNet raises on mismatched shapes or bad labels.
    func update(labels: [NDArray], preds: [NDArray]) throws
    /// Clears the accumulated state (MXNet's `reset`).
    func reset()
    /// The current `(name, value)` pairs (MXNet's `get_name_value()`).
    func get() -> [(name: String, value: Double)]
    /// The accumulated count (MXNet's `num_inst`).
    var numInst: Int { get }
    /// The accumulated sum (MXNet's `sum_metric`).
    var sumMetric: Double { get }
    /// The raw sums behind `get()`, one entry per value for most metrics (see each metric's notes).
    func partials() -> [MetricPartial]
    /// The values that `get()` would return had this metric accumulated exactly `partials`.
    ///
    /// `partials` must have the layout this metric's `partials()` has (same names, same length).
    func get(fromPartials partials: [MetricPartial]) throws -> [(name: String, value: Double)]
}

/// The value MXNet's `EvalMetric.get` computes: the mean, or NaN when nothing was counted.
@inline(__always) func meanOrNaN(_ sum: Double, _ count: Int) -> Double {
    count == 0 ? .nan : sum / Double(count)
}

extension EvalMetric {
    /// One partial, `(name, sumMetric, numInst)`, as MXNet's `sum_metric`/`num_inst`.
    public func partials() -> [MetricPartial] { [(name, sumMetric, numInst)] }

    /// `[(name, sumMetric / numInst)]`, NaN before the first update (MXNet's `get`).
    public func get() -> [(name: String, value: Double)] { [(name, meanOrNaN(sumMetric, numInst))] }

    /// The mean of one `(name, sum, count)` partial, checked against this metric's name.
    public func get(fromPartials partials: [MetricPartial]) throws -> [(name: String, value: Double)] {
        try checkLayout(partials, names: [name])
        return [(name, meanOrNaN(partials[0].sum, partials[0].count))]
    }
}

extension EvalMetric {
    /// Throws unless `partials` carries exactly `names`, in order.
    func checkLayout(_ partials: [MetricPartial], names: [String]) throws {
        let got = partials.map(\.name)
        guard got == names else {
            throw MetricError.partialsMismatch("metric '\(name)' expects partials \(names), got \(got)")
        }
    }
}
