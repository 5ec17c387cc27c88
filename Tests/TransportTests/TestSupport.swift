import Foundation
import PSTestSupport

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
