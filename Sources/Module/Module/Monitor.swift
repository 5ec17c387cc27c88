import Logging
import SwiftPSTensor

/// Watches intermediate outputs every `interval` batches (MXNet's `mx.monitor.Monitor`).
///
/// Install it on a module (`fit(monitor:)` or `installMonitor`); between `tic()` and `tocPrint()` it
/// records a statistic (default: the L2 norm divided by sqrt(size), as MXNet) of every output whose
/// name matches `pattern`.
public final class Monitor: @unchecked Sendable {
    /// Log every `interval` batches.
    public let interval: Int
    /// Only outputs whose name contains this substring (empty: all) are recorded.
    public let pattern: String
    /// The statistic computed per array.
    public let statistic: @Sendable (NDArray) -> Float
    private var step = 0
    private var active = false
    private var records: [(step: Int, name: String, value: Float)] = []

    /// A monitor logging every `interval` batches.
    public init(
        interval: Int, pattern: String = "",
        statistic: @escaping @Sendable (NDArray) -> Float = { $0.norm() / Float($0.count).squareRoot() }
    ) {
        self.interval = max(1, interval)
        self.pattern = pattern
        self.statistic = statistic
    }

    /// Starts collecting for this batch if it is a logging batch.
    public func tic() {
        if step % interval == 0 {
            active = true
            records.removeAll(keepingCapacity: true)
        }
        step += 1
    }

    /// Called by the executor with each output as it is computed.
    public func observe(_ name: String, _ array: NDArray) {
        guard active, pattern.isEmpty || name.contains(pattern) else { return }
        records.append((step, name, statistic(array)))
    }

    /// Stops collecting and returns what was recorded this batch.
    @discardableResult
    public func toc() -> [(step: Int, name: String, value: Float)] {
        guard active else { return [] }
        active = false
        return records
    }

    /// Stops collecting and logs each record as MXNet does: `Batch: N name value`.
    public func tocPrint(_ logger: Logger) {
        for r in toc() { logger.info("Batch: \(r.step) \(r.name) \(r.value)") }
    }
}
