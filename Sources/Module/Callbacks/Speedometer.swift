import Foundation
import SwiftPSTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Logs training speed and the metric every `frequent` batches, MXNet 1.x's
/// `mx.callback.Speedometer(batch_size, frequent=50, auto_reset=True)`.
///
/// The first call of an epoch (or any call whose `nbatch` is lower than the previous one) only
/// starts the clock. After that, at every `nbatch` divisible by `frequent`, it logs
/// `frequent × batchSize / elapsed` seconds since the last log, then restarts the clock:
///
///     Epoch[0] Batch [50-100]\tSpeed: 1234.56 samples/sec\taccuracy=0.912500
///
/// With `autoReset` each line gives the metric over the batches since the previous line (the first
/// of an epoch: since the epoch began), and the range is `[nbatch-frequent-nbatch]`, as MXNet ≥ 1.4's
/// `reset_local()`: the metric itself is not reset, so the epoch-end "Train-" line still covers the
/// whole epoch (the window is the difference of the metric's `partials()` between two lines).
/// Without it the line gives the metric so far and the range is `[0-nbatch]`. Without a metric the
/// line is `Iter[0] Batch [100]\tSpeed: 1234.56 samples/sec`. An elapsed time of 0 gives speed
/// `inf` (MXNet #11504).
public final class Speedometer {
    /// The samples per batch (per worker).
    public let batchSize: Int
    /// How many batches between two log lines.
    public let frequent: Int
    /// Whether the metric is reset after each log line.
    public let autoReset: Bool
    private let clock: () -> Double
    private let log: (String) -> Void
    private var started = false
    private var tic = 0.0
    private var lastCount = 0
    /// The metric's partials at the previous line of this epoch (nil: none yet).
    private var baseline: [MetricPartial]?

    /// A speedometer; `clock` returns seconds from a monotonic source (injectable for tests) and
    /// `log` receives each line (default: `info` on the `swiftps.speedometer` logger).
    public init(
        batchSize: Int, frequent: Int = 50, autoReset: Bool = true,
        clock: @escaping () -> Double = Speedometer.monotonicSeconds,
        log: ((String) -> Void)? = nil
    ) throws {
        guard batchSize > 0 else { throw CallbackError.invalidArgument("Speedometer batchSize must be > 0") }
        guard frequent > 0 else { throw CallbackError.invalidArgument("Speedometer frequent must be > 0") }
        self.batchSize = batchSize
        self.frequent = frequent
        self.autoReset = autoReset
        self.clock = clock
        self.log = log ?? infoLog(label: "swiftps.speedometer")
    }

    /// Seconds on `CLOCK_MONOTONIC`: never jumps with wall-clock changes.
    public static func monotonicSeconds() -> Double { MonotonicClock.now() }

    /// This speedometer as a `BatchEndCallback`.
    public var callback: BatchEndCallback { { [self] param in self(param) } }

    /// Handles one batch end; see the type's notes.
    public func callAsFunction(_ param: BatchEndParam) {
        let count = param.nbatch
        if lastCount > count { started = false }
        lastCount = count
        guard started else {
            started = true
            baseline = nil
            tic = clock()
            return
        }
        guard count % frequent == 0 else { return }
        let elapsed = clock() - tic
        let speed = elapsed > 0 ? Double(frequent * batchSize) / elapsed : .infinity
        let speedText = String(format: "%.2f", speed)
        if let metric = param.evalMetric {
            let values: [(name: String, value: Double)]
            let range: String
            if autoReset {
                let now = metric.partials()
                values = (try? Self.window(of: metric, now: now, since: baseline)) ?? metric.get()
                baseline = now
                range = "\(count - frequent)-\(count)"
            } else {
                values = metric.get()
                range = "0-\(count)"
            }
            var line = "Epoch[\(param.epoch)] Batch [\(range)]\tSpeed: \(speedText) samples/sec"
            for (name, value) in values { line += "\t\(name)=" + String(format: "%f", value) }
            log(line)
        } else {
            log("Iter[\(param.epoch)] Batch [\(count)]\tSpeed: \(speedText) samples/sec")
        }
        tic = clock()
    }

    /// The values `metric` would give for the batches between `since` and `now` (its partials at two
    /// lines); everything so far when there is no earlier line, or when the metric was reset in
    /// between (a count went down) or changed its layout.
    static func window(of metric: any EvalMetric, now: [MetricPartial], since: [MetricPartial]?) throws -> [(
        name: String, value: Double
    )] {
        guard let since, since.count == now.count,
            zip(now, since).allSatisfy({ $0.name == $1.name && $0.count >= $1.count })
        else { return try metric.get(fromPartials: now) }
        return try metric.get(fromPartials: zip(now, since).map { ($0.name, $0.sum - $1.sum, $0.count - $1.count) })
    }
}
