import CShims
import Foundation

/// A named OS thread that can be joined with a deadline.
///
/// ps-lite runs its receiver and heartbeat loops on `std::thread`s joined in `Van::Stop`; SwiftPS does
/// the same with dedicated threads (never the Swift concurrency pool, which blocking zmq calls starve),
/// and a join that gives up after a deadline instead of hanging.
public final class JoinableThread: Sendable {
    private let finished = DispatchSemaphore(value: 0)
    private let joined = JoinOnce()

    /// The thread's name, as shown by `top -H` (at most 15 characters are kept by the kernel).
    public let name: String

    private let token = UUID().uuidString

    /// Starts `body` on a new thread named `name`.
    public init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        let finished = self.finished
        let token = self.token
        let thread = Thread {
            Thread.current.threadDictionary[threadTokenKey] = token
            swiftps_set_thread_name(name)
            body()
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Whether the calling thread is this thread (a thread must never join itself).
    public var isCurrent: Bool { (Thread.current.threadDictionary[threadTokenKey] as? String) == token }

    /// Waits up to `timeout` real seconds for the thread to finish. Returns `false` if it did not.
    /// Joining again after a successful join returns `true` at once.
    @discardableResult
    public func join(timeout: Double) -> Bool {
        if joined.isDone { return true }
        let ok = finished.wait(timeout: .now() + timeout) == .success
        if ok { joined.markDone() }
        return ok
    }
}

private let threadTokenKey = "swiftps.JoinableThread.token"

private final class JoinOnce: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false
    var isDone: Bool {
        lock.lock()
        defer { lock.unlock() }
        return done
    }
    func markDone() {
        lock.lock()
        done = true
        lock.unlock()
    }
}
