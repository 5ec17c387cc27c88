import Foundation

/// Standard output shared by every process of a job: whole lines only, never two interleaved.
final class LaunchConsole: @unchecked Sendable {
    private let lock = NSLock()
    private let name: String

    /// A console whose own messages start `name:` (`swiftps launch (worker 1)` for a task of a Slurm step, whose
    /// messages would otherwise be told apart from its siblings' by nothing).
    init(name: String = "swiftps launch") {
        self.name = name
    }

    /// Writes `line` and a newline to standard output.
    func write(_ line: String) {
        lock.lock()
        defer { lock.unlock() }
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Writes a message of the launcher itself to standard error, prefixed with its name (`swiftps launch:`).
    func say(_ message: String) {
        lock.lock()
        defer { lock.unlock() }
        FileHandle.standardError.write(Data("\(name): \(message)\n".utf8))
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
    private let log: FileHandle?
    private var tail: [String] = []

    /// Output for the process named `label`; `prefixed: false` passes lines through as they are (srun's,
    /// whose tasks prefix their own). Opens (truncates) `logDirectory/logName` when a directory is given.
    init(label: String, prefixed: Bool = true, console: LaunchConsole, logDirectory: String?, logName: String) throws {
        self.console = console
        self.prefix = prefixed ? "[\(label)] " : nil
        if let logDirectory {
            let path = (logDirectory as NSString).appendingPathComponent(logName)
            guard FileManager.default.createFile(atPath: path, contents: nil),
                let handle = FileHandle(forWritingAtPath: path)
            else { throw LaunchError("cannot write \(path): check that --log-dir \(logDirectory) is writable") }
            log = handle
        } else {
            log = nil
        }
    }

    deinit { try? log?.close() }

    /// One line the process printed (without its newline).
    func write(_ line: String) {
        lock.lock()
        tail.append(line)
        if tail.count > Self.tailLength { tail.removeFirst(tail.count - Self.tailLength) }
        log?.write(Data((line + "\n").utf8))
        lock.unlock()
        console.write((prefix ?? "") + line)
    }

    /// The last lines printed, oldest first.
    var lastLines: [String] {
        lock.lock()
        defer { lock.unlock() }
        return tail
    }
}
