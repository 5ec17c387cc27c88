/// How a metric aggregates over mini-batches (MXNet's `average` argument of `F1`, `MCC` and
/// `PearsonCorrelation`).
public enum MetricAverage: String, Sendable, CaseIterable {
    /// The mean of per-update scores (MXNet's default).
    case macro
    /// One score over all samples seen.
    case micro
}

extension EvalMetric {
    /// The partials of a metric with an `average`: `.macro` → `[(name, sumMetric, numInst)]`;
    /// `.micro` → the `micro` entries (additive sums), each with `count`.
    func averagedPartials(
        _ average: MetricAverage, micro: some Sequence<(String, Double)>, count: Int
    ) -> [MetricPartial] {
        switch average {
        case .macro: return [(name, sumMetric, numInst)]
        case .micro: return micro.map { ($0.0, $0.1, count) }
        }
    }

    /// The value of combined `averagedPartials`: `.macro` → the mean of the one partial; `.micro` →
    /// `pooled` of the sums named `micro`, NaN when their count is 0. Throws `partialsMismatch` on
    /// another layout.
    func averagedValue(
        _ partials: [MetricPartial], _ average: MetricAverage, micro: [String], pooled: ([Double]) -> Double
    ) throws -> [(name: String, value: Double)] {
        switch average {
        case .macro:
            try checkLayout(partials, names: [name])
            return [(name, meanOrNaN(partials[0].sum, partials[0].count))]
        case .micro:
            try checkLayout(partials, names: micro)
            guard partials[0].count > 0 else { return [(name, .nan)] }
            return [(name, pooled(partials.map(\.sum)))]
        }
    }
}
