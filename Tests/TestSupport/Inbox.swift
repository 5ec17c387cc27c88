import Foundation

/// Collects values from other threads; every wait has a real-time deadline so tests never hang.
/// Shared by the transport, cluster and kvstore tests.
public final class Inbox<T: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [T] = []

    /// An empty inbox.
    public init() {}

    /// Adds an item and wakes the waiters.
    public func put(_ item: T) {
        condition.lock()
        items.append(item)
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until `count` items arrived or `timeout` seconds passed; returns what arrived.
    public func wait(count: Int, timeout: Double = 30) -> [T] {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while items.count < count {
            if !condition.wait(until: deadline) { break }
        }
        return items
    }

    /// What arrived so far.
    public var snapshot: [T] {
        condition.lock()
        defer { condition.unlock() }
        return items
    }
}
