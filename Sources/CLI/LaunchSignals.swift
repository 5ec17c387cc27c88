import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// SIGINT, SIGTERM and SIGHUP to the launcher, one at a time through `next()`: the launcher stops the job
/// instead of dying and leaving its processes behind. SIGPIPE is ignored so a dead ssh's stdin cannot
/// kill the launcher. (Processes it starts get default signal handling back: swift-subprocess resets it.)
///
/// Not an `AsyncStream`: cancelling a task that waits on a stream's iterator ends the stream, and every
/// attempt of a restarted job cancels its waiter when it ends, so from the first restart on the signals
/// went nowhere. Here a cancelled wait returns nil and a later `next()` still receives signals.
final class LaunchSignals: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: [Int32] = []
    private var waiter: (id: UInt64, continuation: CheckedContinuation<Int32?, Never>)?
    private var waits: UInt64 = 0
    private var sources: [any DispatchSourceSignal] = []

    /// Starts catching the signals; keep the value alive for as long as they should be caught.
    init() {
        signal(SIGPIPE, SIG_IGN)
        sources = [SIGINT, SIGTERM, SIGHUP].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in self?.deliver(number) }
            source.resume()
            return source
        }
    }

    deinit {
        for source in sources { source.cancel() }
    }

    private func deliver(_ number: Int32) {
        lock.lock()
        guard let waiting = waiter else {
            pending.append(number)
            lock.unlock()
            return
        }
        waiter = nil
        lock.unlock()
        waiting.continuation.resume(returning: number)
    }

    /// The first signal received while nobody waited, left for `next()`; nil when there is none.
    var pendingSignal: Int32? { lock.withLock { pending.first } }

    /// The next signal received (one that arrived while nobody waited comes first); nil when the calling
    /// task is cancelled before one arrives. One caller at a time.
    func next() async -> Int32? {
        let id = lock.withLock {
            waits += 1
            return waits
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Int32?, Never>) in
                lock.lock()
                if !pending.isEmpty {
                    let number = pending.removeFirst()
                    lock.unlock()
                    continuation.resume(returning: number)
                } else if Task.isCancelled {
                    lock.unlock()
                    continuation.resume(returning: nil)
                } else {
                    waiter = (id, continuation)
                    lock.unlock()
                }
            }
        } onCancel: {
            lock.lock()
            guard let waiting = waiter, waiting.id == id else {
                lock.unlock()
                return
            }
            waiter = nil
            lock.unlock()
            waiting.continuation.resume(returning: nil)
        }
    }

    /// The launcher's exit status after `signal`: 128 + its number (130 for Ctrl-C, 143 for SIGTERM).
    static func exitStatus(for signal: Int32) -> Int32 { 128 + signal }
}
