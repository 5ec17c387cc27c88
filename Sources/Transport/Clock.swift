import Foundation

/// The time source every deadline in SwiftPS is measured on, in seconds.
///
/// ps-lite reads the wall clock directly (`time(NULL)` for heartbeats) and has no deadlines at all;
/// SwiftPS routes every timeout through a clock so tests can drive heartbeats, rendezvous and request
/// deadlines without sleeping (like NIO's `EmbeddedEventLoop.advanceTime(by:)`).
public protocol DeadlineClock: Sendable {
    /// Monotonic seconds since an arbitrary origin.
    func now() -> Double
    /// How long (real seconds) a waiter should block before checking this clock again, given how much
    /// clock time remains before its deadline.
    func realWaitSlice(remaining: Double) -> Double
}

extension DeadlineClock {
    /// Waits on `condition` (which the caller holds locked) until `isDone()` is true or the clock passes
    /// `deadline`. Returns `true` when `isDone()` became true, `false` on the deadline.
    public func wait(on condition: MonotonicCondition, until deadline: Double, isDone: () -> Bool) -> Bool {
        while !isDone() {
            let remaining = deadline - now()
            if remaining <= 0 { return false }
            let slice = max(0.0005, realWaitSlice(remaining: remaining))
            condition.wait(seconds: slice)
        }
        return true
    }
}

/// The real monotonic clock (process uptime), used outside tests.
public struct SystemDeadlineClock: DeadlineClock {
    /// Creates the system clock.
    public init() {}

    /// Seconds of monotonic uptime.
    public func now() -> Double { MonotonicCondition.now() }

    /// Waits for the whole remaining time (waiters are also woken when their condition is signalled),
    /// capped at one second so stop flags are re-read regularly.
    public func realWaitSlice(remaining: Double) -> Double { min(remaining, 1.0) }
}

/// A clock that only moves when a test calls `advance(by:)`: heartbeats, rendezvous and request
/// deadlines become deterministic. Waiters re-check it every few milliseconds of real time.
public final class ManualClock: DeadlineClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Double

    /// Creates a manual clock reading `start` seconds.
    public init(start: Double = 0) { current = start }

    /// The current reading.
    public func now() -> Double {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    /// Moves the clock forward by `seconds` (negative values are ignored: the clock is monotonic).
    public func advance(by seconds: Double) {
        lock.lock()
        current += max(0, seconds)
        lock.unlock()
    }

    /// Waiters poll every 2 ms of real time, whatever the remaining clock time.
    public func realWaitSlice(remaining: Double) -> Double { 0.002 }
}
