import CShims

/// Seconds on a monotonic clock (CLOCK_MONOTONIC), for timing steps and epochs.
public enum MonotonicClock {
    /// The current monotonic time in seconds.
    public static func now() -> Double { swiftps_monotonic_seconds() }
}
