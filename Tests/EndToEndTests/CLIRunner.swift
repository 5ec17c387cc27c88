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
    /// killed when `timeout` seconds pass (and the result says so).
    static func run(_ args: [String], stdin: Data? = nil, timeout: Double = 120, env: [String: String] = [:])
        throws -> Result
    {
        guard let binary else { throw CLIError.noBinary }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = args
        var environment = ProcessInfo.processInfo.environment
        environment.merge(env) { _, new in new }
        process.environment = environment
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-cli-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let outURL = dir.appendingPathComponent("out")
        let errURL = dir.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        if let stdin {
            let inURL = dir.appendingPathComponent("in")
            try stdin.write(to: inURL)
            process.standardInput = try FileHandle(forReadingFrom: inURL)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            usleep(200_000)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            throw CLIError.timeout(args, (try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
        }
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: (try? Data(contentsOf: outURL)) ?? Data(),
            stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
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
