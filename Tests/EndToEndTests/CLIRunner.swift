import Foundation
import Testing

/// Runs the release `swiftps` binary as a user would, with a deadline.
enum CLIRunner {
    /// The binary: `SWIFTPS_BIN` (set by scripts/test), else the usual release build paths.
    static let binary: String? = {
        let env = ProcessInfo.processInfo.environment
        let candidates = [env["SWIFTPS_BIN"], ".build-test/release/swiftps", ".build/release/swiftps"].compactMap { $0 }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// Whether end-to-end tests can run (a release binary exists).
    static var available: Bool { binary != nil }

    struct Result {
        let status: Int32
        let stdout: Data
        let stderr: String
        var text: String { String(decoding: stdout, as: UTF8.self) }
    }

    /// Runs `swiftps args…` with `stdin` and returns its exit status and output; the process is
    /// stopped when `timeout` seconds pass (and the call throws). Spawned like the launcher tests'
    /// processes (posix_spawn, output in files, `waitpid` polling), so every wait has a deadline.
    /// `wrapper` goes before the binary (a command that sets up and then execs it).
    static func run(
        _ args: [String], stdin: Data? = nil, timeout: Double = 120, env: [String: String] = [:],
        wrapper: [String] = []
    ) throws -> Result {
        guard let binary else { throw CLIError.noBinary }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-cli-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var inputPath: String?
        if let stdin {
            let url = dir.appendingPathComponent("in")
            try stdin.write(to: url)
            inputPath = url.path
        }
        let command = try LaunchCommand(wrapper + [binary] + args, environment: env, standardInput: inputPath)
        defer { command.kill() }
        guard let result = command.wait(deadline: .milliseconds(Int64(timeout * 1000))) else {
            throw CLIError.timeout(args, command.standardError)
        }
        return Result(status: result.status, stdout: command.standardOutputData, stderr: result.standardError)
    }

    enum CLIError: Error, CustomStringConvertible {
        case noBinary
        case timeout([String], String)
        var description: String {
            switch self {
            case .noBinary: return "no release swiftps binary: run scripts/test (it sets SWIFTPS_BIN)"
            case .timeout(let args, let err): return "swiftps \(args.joined(separator: " ")) timed out; stderr:\n\(err)"
            }
        }
    }

    /// A fresh temporary directory, removed by the caller.
    static func temporaryDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-e2e-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}
