import Foundation
import SwiftPS

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Standard output and error shared by every process of a job: whole lines only, never two
/// interleaved, in the order they were given.
///
/// One thread of its own writes them, from a queue, so a reader that stops reading (a paused terminal,
/// `| less` left unscrolled) blocks only that thread: never the tasks that read the processes' output,
/// nor the supervisor, whose Ctrl-C handling and `--timeout` must still run (they share Swift's thread
/// pool, one thread per core). Past `capacity` waiting lines, lines are dropped (the `--log-dir` logs
/// keep them) and a note says how many once writing resumes. A stream that fails (EPIPE once `| tee`
/// died, EIO once the terminal hung up) is given up, and never stops the launcher.
final class LaunchConsole: @unchecked Sendable {
    /// Lines that may wait to be written before new ones are dropped.
    static let capacity = 10_000

    private let name: String

    /// A console whose own messages start `name:` (`swiftps launch (worker 1)` for a task of a Slurm step, whose
    /// messages would otherwise be told apart from its siblings' by nothing).
    init(name: String = "swiftps launch") {
        self.name = name
    }

    /// Writes `line` and a newline to standard output.
    func write(_ line: String) {
        ConsoleWriter.shared.enqueue(STDOUT_FILENO, line + "\n")
    }

    /// Writes a message of the launcher itself to standard error, prefixed with its name (`swiftps launch:`).
    func say(_ message: String) {
        ConsoleWriter.shared.enqueue(STDERR_FILENO, "\(name): \(message)\n")
    }

    /// Waits up to `seconds` for every line given so far to be written: call it before the launcher exits.
    static func flush(seconds: Double) {
        ConsoleWriter.shared.flush(seconds: seconds)
    }
}

/// The queue and thread behind every `LaunchConsole`.
private final class ConsoleWriter: @unchecked Sendable {
    static let shared = ConsoleWriter()

    private let condition = MonotonicCondition()
    private var queue: [(fd: Int32, text: String)] = []
    private var head = 0
    private var dropped = 0
    private var busy = false
    private var failed: Set<Int32> = []

    private init() {
        let thread = Thread { [self] in run() }
        thread.name = "launch-console"
        thread.start()
    }

    func enqueue(_ fd: Int32, _ text: String) {
        condition.lock()
        defer { condition.unlock() }
        guard queue.count - head < LaunchConsole.capacity else {
            dropped += 1
            return
        }
        queue.append((fd, text))
        condition.broadcast()
    }

    func flush(seconds: Double) {
        let deadline = MonotonicCondition.now() + seconds
        condition.lock()
        while head < queue.count || busy {
            guard condition.wait(until: deadline) else { break }
        }
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while head == queue.count {
                busy = false
                condition.broadcast()
                condition.wait()
            }
            let (fd, text) = queue[head]
            head += 1
            if head >= 1024 && head * 2 >= queue.count {
                queue.removeFirst(head)
                head = 0
            }
            let lost = dropped
            dropped = 0
            busy = true
            condition.unlock()
            if lost > 0 {
                put(STDERR_FILENO, "swiftps launch: \(lost) line(s) of output dropped: it was not read fast enough\n")
            }
            put(fd, text)
        }
    }

    /// Writes all of `text` to `fd`, unless `fd` failed before; a failure gives `fd` up.
    private func put(_ fd: Int32, _ text: String) {
        guard !condition.withLock({ failed.contains(fd) }) else { return }
        let path = fd == STDOUT_FILENO ? "standard output" : "standard error"
        let written = Array(text.utf8).withUnsafeBytes { raw in
            do {
                try AtomicFile.writeAll(raw, to: fd, path: path)
                return true
            } catch {
                return false
            }
        }
        if !written { condition.withLock { _ = failed.insert(fd) } }
    }
}

/// The output of one process: streamed to the console with its `[label]` prefix, kept in `--log-dir`, and
/// its last lines remembered for the failure summary.
final class LaunchTaskOutput: @unchecked Sendable {
    /// How many of the last lines a failure summary shows.
    static let tailLength = 10

    private let lock = NSLock()
    private let console: LaunchConsole
    private let prefix: String?
    private var log: FileHandle?
    private let logPath: String?
    private var tail: [String] = []

    /// Output for the process named `label`; `prefixed: false` passes lines through as they are (srun's,
    /// whose tasks prefix their own). Opens `logDirectory/logName` when a directory is given: truncated
    /// for the first attempt, appended to after a line naming the restart for `restart` 1 and on, so
    /// the log of the attempt that failed stays.
    init(
        label: String, prefixed: Bool = true, console: LaunchConsole, logDirectory: String?, logName: String,
        restart: Int = 0
    ) throws {
        self.console = console
        self.prefix = prefixed ? "[\(label)] " : nil
        guard let logDirectory else {
            log = nil
            logPath = nil
            return
        }
        let path = (logDirectory as NSString).appendingPathComponent(logName)
        let exists = FileManager.default.fileExists(atPath: path)
        guard restart > 0 && exists || FileManager.default.createFile(atPath: path, contents: nil),
            let handle = FileHandle(forWritingAtPath: path)
        else { throw LaunchError("cannot write \(path): check that --log-dir \(logDirectory) is writable") }
        log = handle
        logPath = path
        if restart > 0 {
            _ = try? handle.seekToEnd()
            write(log: "--- swiftps launch: restart \(restart) ---")
        }
    }

    deinit { try? log?.close() }

    /// One line the process printed (without its newline).
    func write(_ line: String) {
        lock.lock()
        tail.append(line)
        if tail.count > Self.tailLength { tail.removeFirst(tail.count - Self.tailLength) }
        lock.unlock()
        write(log: line)
        console.write((prefix ?? "") + line)
    }

    /// Appends `line` to the log file; the first failure (a full disk) is told and ends the log.
    private func write(log line: String) {
        lock.lock()
        defer { lock.unlock() }
        guard let log else { return }
        do {
            try log.write(contentsOf: Data((line + "\n").utf8))
        } catch {
            self.log = nil
            try? log.close()
            console.say("cannot write \(logPath ?? "the log"): \(error); that log stops here")
        }
    }

    /// The last lines printed, oldest first.
    var lastLines: [String] {
        lock.lock()
        defer { lock.unlock() }
        return tail
    }
}
