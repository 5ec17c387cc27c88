import SwiftPSTensor

/// Several metrics updated together, MXNet 1.x's `mx.metric.CompositeEvalMetric` (`"composite"`).
///
/// `update` and `reset` go to every child in order; `get` concatenates the children's values.
/// As in MXNet, the composite keeps no sums of its own: `sumMetric` and `numInst` are 0.
/// `partials()` concatenates the children's partials, and `get(fromPartials:)` splits combined
/// partials back by each child's layout, so a composite combines across workers like its children.
public final class CompositeEvalMetric: EvalMetric {
    /// The display name; MXNet's is `"composite"`.
    public let name: String
    /// The child metrics, in the order their values are reported.
    public private(set) var metrics: [any EvalMetric]
    /// Always 0: the children hold the sums (as in MXNet).
    public var sumMetric: Double { 0 }
    /// Always 0: the children hold the counts (as in MXNet).
    public var numInst: Int { 0 }

    /// A composite of `metrics` (MXNet's `CompositeEvalMetric(metrics)`).
    public init(_ metrics: [any EvalMetric] = [], name: String = "composite") {
        self.metrics = metrics
        self.name = name
    }

    /// Appends a child metric (MXNet's `add`).
    public func add(_ metric: any EvalMetric) { metrics.append(metric) }

    /// The child at `index` (MXNet's `get_metric`), or `invalidArgument` when out of range.
    public func metric(at index: Int) throws -> any EvalMetric {
        guard metrics.indices.contains(index) else {
            throw MetricError.invalidArgument("metric index \(index) is out of range 0..<\(metrics.count)")
        }
        return metrics[index]
    }

    /// Updates every child with the same labels and predictions.
    public func update(labels: [NDArray], preds: [NDArray]) throws {
        for metric in metrics { try metric.update(labels: labels, preds: preds) }
    }

    /// Resets every child.
    public func reset() {
        for metric in metrics { metric.reset() }
    }

    /// The children's values, concatenated.
    public func get() -> [(name: String, value: Double)] { metrics.flatMap { $0.get() } }

    /// The children's partials, concatenated.
    public func partials() -> [MetricPartial] { metrics.flatMap { $0.partials() } }

    /// Splits `partials` by each child's layout and concatenates the children's values.
    public func get(fromPartials partials: [MetricPartial]) throws -> [(name: String, value: Double)] {
        var values: [(name: String, value: Double)] = []
        var start = 0
        for metric in metrics {
            let width = metric.partials().count
            guard start + width <= partials.count else {
                throw MetricError.partialsMismatch(
                    "composite expects \(self.partials().count) partials, got \(partials.count)")
            }
            values += try metric.get(fromPartials: Array(partials[start..<start + width]))
            start += width
        }
        guard start == partials.count else {
            throw MetricError.partialsMismatch("composite expects \(start) partials, got \(partials.count)")
        }
        return values
    }
}
