import Foundation
import Testing

@testable import SwiftPSTransport

@Suite struct MonotonicConditionTests {
    /// A timed wait nobody ends lasts its time on the monotonic clock and reports the deadline.
    @Test func aTimedWaitEndsAtItsDeadline() {
        let condition = MonotonicCondition()
        condition.lock()
        let start = MonotonicCondition.now()
        var woken = true
        while MonotonicCondition.now() - start < 0.05 { woken = condition.wait(until: start + 0.05) }
        let waited = MonotonicCondition.now() - start
        condition.unlock()
        #expect(!woken)
        #expect(waited >= 0.05 && waited < 2, "waited \(waited) s")

        condition.lock()
        #expect(!condition.wait(until: start - 10), "a deadline passed already returns at once")
        #expect(!condition.wait(seconds: -1))
        #expect(!condition.wait(until: -1e300), "a deadline far in the past does not trap")
        #expect(!condition.wait(until: -.infinity))
        condition.unlock()
    }

    /// A broadcast ends a wait early, including an unbounded one and one whose deadline is too large
    /// for a timespec.
    @Test(arguments: [0.0, Double.infinity, 1e300, 30])
    func aBroadcastEndsTheWait(extra: Double) {
        let condition = MonotonicCondition()
        let flag = FlagBox()
        let waker = Thread {
            Thread.sleep(forTimeInterval: 0.02)
            condition.withLock {
                flag.set = true
                condition.broadcast()
            }
        }
        let start = MonotonicCondition.now()
        waker.start()
        condition.lock()
        while !flag.set {
            if extra == 0 {
                condition.wait()
            } else {
                condition.wait(until: extra.isFinite ? start + extra : extra)
            }
        }
        condition.unlock()
        #expect(MonotonicCondition.now() - start < 10)
    }

    /// `now()` is the monotonic clock (seconds since boot), not the wall clock, and never goes back.
    @Test func nowIsMonotonic() {
        var last = MonotonicCondition.now()
        for _ in 0..<10_000 {
            let next = MonotonicCondition.now()
            #expect(next >= last)
            last = next
        }
        #expect(last < Date().timeIntervalSince1970 / 2)
    }
}

private final class FlagBox: @unchecked Sendable {
    var set = false
}
