import CShims

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A mutex with a condition variable, like `NSCondition`, whose timed waits are measured on the
/// monotonic clock (`MonotonicCondition.now()`). `NSCondition.wait(until:)` takes a wall-clock `Date`: a clock
/// stepped back while a thread waits (NTP, a resumed virtual machine) stretched that wait by the
/// step, so a heartbeat or a deadline of one second could last an hour.
public final class MonotonicCondition: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    /// A new, unlocked condition.
    public init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        #if canImport(Glibc)
            pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Takes the mutex.
    public func lock() { pthread_mutex_lock(mutex) }

    /// Releases the mutex.
    public func unlock() { pthread_mutex_unlock(mutex) }

    /// Wakes one waiter.
    public func signal() { pthread_cond_signal(condition) }

    /// Wakes every waiter.
    public func broadcast() { pthread_cond_broadcast(condition) }

    /// Releases the mutex until woken (or a spurious wake-up), then takes it again. The caller holds it.
    public func wait() { pthread_cond_wait(condition, mutex) }

    /// As `wait()`, but returns by `deadline` (seconds on `MonotonicCondition.now()`) at the latest: `false`
    /// when the deadline passed, `true` when woken before it (which may be spurious: check the state).
    @discardableResult
    public func wait(until deadline: Double) -> Bool {
        guard deadline.isFinite else {
            if deadline > 0 { wait() }
            return deadline > 0
        }
        // Beyond a year the wait is as good as unbounded (and the seconds still fit an Int).
        let capped = max(0, min(deadline, Self.now() + 3e7))
        let seconds = capped.rounded(.down)
        var at = timespec(tv_sec: Int(seconds), tv_nsec: Int((capped - seconds) * 1e9))
        if at.tv_nsec >= 1_000_000_000 { (at.tv_sec, at.tv_nsec) = (at.tv_sec + 1, at.tv_nsec - 1_000_000_000) }
        #if canImport(Glibc)
            return pthread_cond_timedwait(condition, mutex, &at) != ETIMEDOUT
        #else
            // Darwin's conditions cannot take the monotonic clock: wait for the time left instead.
            let left = max(0, capped - Self.now())
            var relative = timespec(tv_sec: Int(left), tv_nsec: Int((left - left.rounded(.down)) * 1e9))
            _ = at
            return pthread_cond_timedwait_relative_np(condition, mutex, &relative) != ETIMEDOUT
        #endif
    }

    /// As `wait(until:)`, `seconds` from now.
    @discardableResult
    public func wait(seconds: Double) -> Bool { wait(until: Self.now() + max(0, seconds)) }

    /// Seconds on the monotonic clock (CLOCK_MONOTONIC), the clock of `wait(until:)`.
    public static func now() -> Double { swiftps_monotonic_seconds() }

    /// Runs `body` holding the mutex.
    public func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}
