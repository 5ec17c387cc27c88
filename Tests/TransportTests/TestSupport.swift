import Foundation

/// Collects values from other threads; every wait has a real-time deadline so tests never hang.
final class Inbox<T: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [T] = []

    func put(_ item: T) {
        condition.lock()
        items.append(item)
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until `count` items arrived or `timeout` seconds passed; returns what arrived.
    func wait(count: Int, timeout: Double = 10) -> [T] {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while items.count < count {
            if !condition.wait(until: deadline) { break }
        }
        return items
    }

    var snapshot: [T] {
        condition.lock()
        defer { condition.unlock() }
        return items
    }
}

/// A flag set from another thread, awaited with a deadline.
final class Flag: @unchecked Sendable {
    private let condition = NSCondition()
    private var value = false

    func set() {
        condition.lock()
        value = true
        condition.broadcast()
        condition.unlock()
    }

    func wait(timeout: Double = 10) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while !value {
            if !condition.wait(until: deadline) { break }
        }
        return value
    }
}
