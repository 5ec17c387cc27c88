import Foundation

/// Automatic node names, MXNet's `mx.name.NameManager`: an unnamed node gets its lowercased operator
/// name plus a counter per hint (`fullyconnected0`, `fullyconnected1`, `activation0`).
///
/// `NameManager.current` is task-local. By default it is one process-wide manager, so (as in MXNet)
/// names keep counting across graph builds. Wrap a build in `NameManager.withScope { … }` to count
/// from zero, which makes the names of that build deterministic regardless of what ran before.
public final class NameManager: @unchecked Sendable {
    private let lock = NSLock()
    private var counters: [String: Int] = [:]

    /// A manager whose counters all start at zero.
    public init() {}

    /// The next name for `hint`: `hint0`, `hint1`, … (MXNet's `NameManager.get(None, hint)`).
    public func nextName(hint: String) -> String {
        lock.lock()
        defer { lock.unlock() }
        let n = counters[hint, default: 0]
        counters[hint] = n + 1
        return hint + String(n)
    }

    /// The manager that names unnamed nodes in the current task (a process-wide one by default).
    @TaskLocal public static var current = NameManager()

    /// Runs `body` with a fresh manager, so that automatic names in it start at `…0` (MXNet's
    /// `with mx.name.NameManager():`).
    public static func withScope<R>(_ body: () throws -> R) rethrows -> R {
        try $current.withValue(NameManager()) { try body() }
    }
}
