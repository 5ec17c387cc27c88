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
/// With `autoReset` the metric is read, then reset, and the range is `[nbatch-frequent-nbatch]`;
/// without it the range is `[0-nbatch]`. Without a metric the line is
/// `Iter[0] Batch [100]\tSpeed: 1234.56 samples/sec`. An elapsed time of 0 gives speed `inf`
/// (MXNet #11504). Resetting the metric here means the epoch-end "Train-" line covers only the
/// batches since the last log, as in MXNet before global metric statistics existed (≤ 1.3).
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
            tic = clock()
            return
        }
        guard count % frequent == 0 else { return }
        let elapsed = clock() - tic
        let speed = elapsed > 0 ? Double(frequent * batchSize) / elapsed : .infinity
        let speedText = String(format: "%.2f", speed)
        if let metric = param.evalMetric {
            let values = metric.get()
            let range: String
            if autoReset {
                metric.reset()
                range = "\(count - frequent)-\(count)"
            } else {
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
}
