import SwiftPSTensor

/// Pearson correlation of predictions and labels, MXNet 1.x's `mx.metric.PearsonCorrelation`
/// (registered as `"pearsoncorrelation"`, alias `"pearsonr"`; display name `"pearsonr"`).
///
/// Each label must have exactly its prediction's shape (MXNet refuses anything else); both are
/// flattened. With `average: .macro` (MXNet's default) every (label, prediction) pair adds its own
/// correlation (numpy's `corrcoef`, NaN when either side is constant) and counts one, so the value
/// is the mean over pairs. With `.micro` the value is the correlation of all samples seen, kept
/// with MXNet's running (Welford) means and sums of squares; it is NaN for fewer than two samples
/// or a constant side. In `.micro` mode `numInst` counts pairs and `sumMetric` is value × pairs.
///
/// Combining workers: `.macro` partials are `[("pearsonr", Σcorrelations, pairs)]`. `.micro`
/// partials are the sample count and the raw sums Σl, Σp, Σl², Σp², Σl·p (`pearsonr.l`, `.p`,
/// `.ll`, `.pp`, `.lp`, each with the sample count), which add over workers; the combined value is
/// the correlation of the pooled samples.
public final class PearsonCorrelation: EvalMetric {
    /// The display name; MXNet's default is `"pearsonr"`.
    public let name: String
    /// The aggregation mode.
    public let average: MetricAverage
    /// `.macro`: the summed per-pair correlations; `.micro`: the value × `numInst`.
    public private(set) var sumMetric: Double = 0
    /// The number of (label, prediction) pairs so far.
    public private(set) var numInst: Int = 0
    /// `.micro`'s running state: samples, means, sums of squared deviations and the co-moment.
    private var moments = Moments()

    /// A Pearson correlation metric (MXNet's `PearsonCorrelation(name='pearsonr', average='macro')`).
    public init(name: String = "pearsonr", average: MetricAverage = .macro) {
        self.name = name
        self.average = average
    }

    /// Adds every (label, prediction) pair; see the type's notes.
    public func update(labels: [NDArray], preds: [NDArray]) throws {
        try MetricInput.checkCounts(name, labels, preds)
        for (label, pred) in zip(labels, preds) where label.shape != pred.shape {
            throw MetricError.shapeMismatch(
                metric: name, label: label.shape, pred: pred.shape,
                expected: "labels and predictions must have one shape")
        }
        for (label, pred) in zip(labels, preds) {
            let l = UnsafeBufferPointer(start: label.data, count: label.count).map(Double.init)
            let p = UnsafeBufferPointer(start: pred.data, count: pred.count).map(Double.init)
            switch average {
            case .macro: sumMetric += PearsonCorrelation.correlation(l, p)
            case .micro: moments.add(labels: l, preds: p)
            }
            numInst += 1
        }
        if average == .micro { sumMetric = moments.correlation * Double(numInst) }
    }

    /// Clears the sums and the running state.
    public func reset() {
        sumMetric = 0
        numInst = 0
        moments = Moments()
    }

    /// `[(name, value)]`, NaN before the first update.
    public func get() -> [(name: String, value: Double)] {
        guard numInst > 0 else { return [(name, .nan)] }
        return [(name, average == .macro ? sumMetric / Double(numInst) : moments.correlation)]
    }

    private var sumNames: [String] { [".l", ".p", ".ll", ".pp", ".lp"].map { name + $0 } }

    /// `.macro`: one `(name, Σcorrelations, pairs)`; `.micro`: the raw sums (see the type's notes).
    public func partials() -> [MetricPartial] {
        averagedPartials(average, micro: zip(sumNames, moments.rawSums), count: moments.count)
    }

    /// The mean correlation (`.macro`) or the correlation of the pooled raw sums (`.micro`).
    public func get(fromPartials partials: [MetricPartial]) throws -> [(name: String, value: Double)] {
        let count = partials.first?.count ?? 0
        return try averagedValue(partials, average, micro: sumNames) { Moments(count: count, rawSums: $0).correlation }
    }

    /// numpy's `corrcoef(x, y)[0, 1]`: the centred co-moment over the root of the centred sums of
    /// squares, clipped to [-1, 1]; NaN when either side is constant or empty.
    static func correlation(_ x: [Double], _ y: [Double]) -> Double {
        guard !x.isEmpty else { return .nan }
        let n = Double(x.count)
        let mx = x.reduce(0, +) / n
        let my = y.reduce(0, +) / n
        var (sxy, sxx, syy) = (0.0, 0.0, 0.0)
        for i in x.indices {
            sxy += (x[i] - mx) * (y[i] - my)
            sxx += (x[i] - mx) * (x[i] - mx)
            syy += (y[i] - my) * (y[i] - my)
        }
        let r = sxy / (sxx.squareRoot() * syy.squareRoot())
        return r.isNaN ? r : min(1, max(-1, r))
    }

    /// MXNet's running statistics of `.micro` mode.
    struct Moments {
        var count = 0
        var meanLabel = 0.0
        var meanPred = 0.0
        var squaresLabel = 0.0
        var squaresPred = 0.0
        var coMoment = 0.0

        init() {}

        /// The state whose raw sums are `[Σl, Σp, Σl², Σp², Σl·p]` over `count` samples.
        init(count: Int, rawSums s: [Double]) {
            let n = Double(count)
            self.count = count
            meanLabel = s[0] / n
            meanPred = s[1] / n
            squaresLabel = s[2] - n * meanLabel * meanLabel
            squaresPred = s[3] - n * meanPred * meanPred
            coMoment = s[4] - n * meanLabel * meanPred
        }

        /// `[Σl, Σp, Σl², Σp², Σl·p]`.
        var rawSums: [Double] {
            let n = Double(count)
            return [
                n * meanLabel, n * meanPred, squaresLabel + n * meanLabel * meanLabel,
                squaresPred + n * meanPred * meanPred, coMoment + n * meanLabel * meanPred,
            ]
        }

        /// Adds a batch in MXNet's order: the label statistics, then the co-moment (new label mean,
        /// old prediction mean), then the prediction statistics; exact for any batch size.
        mutating func add(labels l: [Double], preds p: [Double]) {
            let total = count + l.count
            Moments.welford(l, count: total, mean: &meanLabel, squares: &squaresLabel)
            for i in l.indices { coMoment += (l[i] - meanLabel) * (p[i] - meanPred) }
            Moments.welford(p, count: total, mean: &meanPred, squares: &squaresPred)
            count = total
        }

        /// MXNet's `update_variance`: the batched Welford step.
        private static func welford(_ values: [Double], count: Int, mean: inout Double, squares: inout Double) {
            let old = mean
            mean += values.reduce(0) { $0 + ($1 - old) / Double(count) }
            for v in values { squares += (v - old) * (v - mean) }
        }

        /// MXNet's micro value `C / ((n-1)·sqrt(Sp/(n-1))·sqrt(Sl/(n-1)))`.
        var correlation: Double {
            let m = Double(count - 1)
            return coMoment / (m * (squaresPred / m).squareRoot() * (squaresLabel / m).squareRoot())
        }
    }
}
