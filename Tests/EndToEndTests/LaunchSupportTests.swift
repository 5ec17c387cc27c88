import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The `swiftps` binary the launcher tests run: `SWIFTPS_BIN`, else a release or debug build in the package.
enum LaunchBinary {
    static let path: String? = {
        if let path = ProcessInfo.processInfo.environment["SWIFTPS_BIN"], !path.isEmpty {
            return FileManager.default.isExecutableFile(atPath: path) ? path : nil
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        return [".build-test/release/swiftps", ".build/release/swiftps", ".build/debug/swiftps"]
            .map { root + "/" + $0 }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    static let missing = "no swiftps binary: set SWIFTPS_BIN or build .build/release/swiftps (scripts/test does both)"

    /// Whether `swiftps scheduler` and `swiftps server` exist (the real-job tests need them). `--help` of an
    /// unknown subcommand prints the top-level help, so the usage line is what tells.
    static let hasClusterCommands: Bool = {
        guard let path else { return false }
        return ["scheduler", "server"].allSatisfy { role in
            let result = try? LaunchCommand.run([path, role, "--help"], deadline: .seconds(30))
            return result?.status == 0 && result?.standardOutput.contains("USAGE: swiftps \(role)") == true
        }
    }()
}

/// The result of a finished command.
struct LaunchCommandResult {
    var status: Int32
    var standardOutput: String
    var standardError: String
    /// Both streams.
    var all: String { standardOutput + "\n" + standardError }
}

/// A command started by a test (a `ChildProcess`), its output in temporary files (never a pipe that could
/// fill up), reaped with `waitpid` polling so every wait has a deadline. `kill` must run on every path:
/// use `defer`.
final class LaunchCommand: @unchecked Sendable {
    private let child: ChildProcess
    private let directory: URL
    private let outputURL: URL
    private let errorURL: URL

    /// The process id.
    var pid: pid_t { child.pid }

    init(_ arguments: [String], environment: [String: String] = [:], standardInput: String? = nil) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("launch-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        outputURL = directory.appendingPathComponent("stdout")
        errorURL = directory.appendingPathComponent("stderr")
        child = try ChildProcess(
            arguments, environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
            standardInput: standardInput ?? "/dev/null", standardOutput: outputURL.path,
            standardError: errorURL.path)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// What it printed so far.
    var standardOutput: String { (try? String(contentsOf: outputURL, encoding: .utf8)) ?? "" }
    var standardError: String { (try? String(contentsOf: errorURL, encoding: .utf8)) ?? "" }
    /// Standard output as bytes.
    var standardOutputData: Data { (try? Data(contentsOf: outputURL)) ?? Data() }

    /// Whether it is still running (reaps it when it ended).
    var isRunning: Bool { child.isRunning }

    /// Waits for the process to exit; past `deadline`, stops it (see `kill`) and returns nil.
    func wait(deadline: Duration) -> LaunchCommandResult? {
        if child.wait(deadline) {
            return LaunchCommandResult(
                status: child.status ?? -1, standardOutput: standardOutput, standardError: standardError)
        }
        kill()
        return nil
    }

    /// Stops the process if it still runs: SIGTERM, then SIGKILL after 20 s, and reaps it.
    func kill() {
        guard isRunning else { return }
        child.signal(SIGTERM)
        if !child.wait(.seconds(20)) { child.kill() }
    }

    /// Runs `arguments` to completion within `deadline`; throws when it does not finish.
    static func run(
        _ arguments: [String], environment: [String: String] = [:], deadline: Duration
    ) throws -> LaunchCommandResult {
        let command = try LaunchCommand(arguments, environment: environment)
        defer { command.kill() }
        guard let result = command.wait(deadline: deadline) else {
            throw LaunchTestError("\(arguments.joined(separator: " ")) did not finish within \(deadline)")
        }
        return result
    }
}

/// A failure of the tests' own machinery.
struct LaunchTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Bounded polling: every wait in these tests has a deadline.
enum LaunchPoll {
    /// Checks `condition` every 50 ms until it holds (true) or `limit` passes (false).
    static func until(_ limit: Duration, _ condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + limit
        while !condition() {
            if ContinuousClock.now >= deadline { return false }
            usleep(50_000)
        }
        return true
    }
}

/// Processes found by a marker in their command line (the tests put a unique one in every stand-in command).
enum LaunchProcesses {
    /// Live (not zombie) processes whose command line contains `marker`, other than this one.
    static func matching(_ marker: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard pid != getpid(), isAlive(pid),
                let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
            else { return false }
            return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(marker)
        }
    }

    /// Whether `pid` exists and is not a zombie (whose parent, the launcher, is gone and may not be reaped).
    static func isAlive(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).prefix(1)
        return state != "Z" && state != "X"
    }

    /// Kills every process with `marker` (cleanup on a failing path; the launcher should have done it).
    static func killAll(_ marker: String) {
        for pid in matching(marker) { kill(pid, SIGKILL) }
    }
}

/// A unique marker for one test's processes.
func launchMarker(_ name: String) -> String { "swl-\(name)-\(UInt32.random(in: 0...UInt32.max))" }
