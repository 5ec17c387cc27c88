import Foundation
import SwiftPSTransport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Finds the release `swiftps` binary: `SWIFTPS_BIN`, else `.build-test/release/swiftps`, else
/// `.build/release/swiftps` under the package root. Nil when none exists (the tests then skip).
enum SwiftPSBinary {
    static let path: String? = {
        if let path = ProcessInfo.processInfo.environment["SWIFTPS_BIN"], !path.isEmpty {
            return FileManager.default.isExecutableFile(atPath: path) ? path : nil
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return [".build-test/release/swiftps", ".build/release/swiftps"].map { root.appendingPathComponent($0).path }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    static let missing =
        "no release swiftps binary: set SWIFTPS_BIN or build one (swift build -c release); scripts/test does both"
}

struct ClusterFailure: Error, CustomStringConvertible {
    var description: String
}

/// Real SwiftPS processes on 127.0.0.1 for end-to-end tests: a scheduler, servers and workers started
/// with MXNet's `DMLC_*` variables, each writing its output to a file in a fresh directory.
///
/// Every wait has a deadline, and `killAll()` kills whatever is still running, so a test never hangs
/// and never leaves a process behind. `ProcessCluster.with(workers:servers:_:)` does that (and removes
/// the files) on every way out; a cluster made with `init` needs `killAll()` in a `defer`.
final class ProcessCluster {
    struct Node {
        var name: String
        var process: ChildProcess
        var log: URL
    }

    let binary: String
    let directory: URL
    let schedulerPort: Int
    let workers: Int
    let servers: Int
    private(set) var nodes: [Node] = []

    /// A cluster of `workers` and `servers` on a free port, logging under a new temporary directory.
    init(binary: String, workers: Int, servers: Int) throws {
        self.binary = binary
        self.workers = workers
        self.servers = servers
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        schedulerPort = try Self.freePort()
    }

    /// The environment every node gets: the cluster, loopback only, one compute thread.
    func environment(role: String, extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["DMLC_ROLE"] = role
        env["DMLC_PS_ROOT_URI"] = "127.0.0.1"
        env["DMLC_PS_ROOT_PORT"] = "\(schedulerPort)"
        env["DMLC_NUM_WORKER"] = "\(workers)"
        env["DMLC_NUM_SERVER"] = "\(servers)"
        env["DMLC_NODE_HOST"] = "127.0.0.1"
        env["SWIFTPS_BIND"] = "127.0.0.1"
        env["SWIFTPS_RENDEZVOUS_TIMEOUT"] = "60"
        env["OPENBLAS_NUM_THREADS"] = "1"
        for (key, value) in extra { env[key] = value }
        return env
    }

    /// Starts `swiftps arguments…` as node `name` with `env`, its stdout and stderr going to `name.log`.
    /// A non-empty `wrapper` runs `wrapper… swiftps arguments…` instead (for example `unshare …`); it
    /// must exec the command, so that killing the node kills swiftps. `workingDirectory`, when given, is the
    /// node's working directory (else the test's).
    @discardableResult
    func spawn(
        _ name: String, _ arguments: [String], env: [String: String], wrapper: [String] = [],
        workingDirectory: String? = nil
    ) throws -> Node {
        let log = directory.appendingPathComponent("\(name).log")
        let process = try ChildProcess(
            wrapper + [binary] + arguments, environment: env, standardOutput: log.path, standardError: log.path,
            workingDirectory: workingDirectory)
        let node = Node(name: name, process: process, log: log)
        nodes.append(node)
        return node
    }

    /// Starts the scheduler and the servers with `extra` environment variables.
    func startSchedulerAndServers(extra: [String: String] = [:]) throws {
        try spawn("scheduler", ["scheduler"], env: environment(role: "scheduler", extra: extra))
        for i in 0..<servers {
            try spawn("server\(i)", ["server"], env: environment(role: "server", extra: extra))
        }
    }

    /// Starts the scheduler and the servers, then every worker `i` as `swiftps train` with `arguments`,
    /// all with `extra` environment variables.
    func startJob(_ arguments: [String], extra: [String: String] = [:]) throws {
        try startSchedulerAndServers(extra: extra)
        for i in 0..<workers {
            try spawn("worker\(i)", ["train"] + arguments, env: environment(role: "worker", extra: extra))
        }
    }

    /// Waits up to `timeout` seconds for every node to exit; returns each node's status (nil: still
    /// running at the deadline).
    func waitAll(timeout: Double) -> [String: Int32?] {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline, nodes.contains(where: { $0.process.isRunning }) { usleep(50_000) }
        var statuses: [String: Int32?] = [:]
        for node in nodes { statuses[node.name] = node.process.status }
        return statuses
    }

    /// Waits up to `timeout` seconds until the log of one of `names` contains `text`; returns that name.
    func waitForLog(of names: [String], containing text: String, timeout: Double) -> String? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline {
            if let name = names.first(where: { log($0).contains(text) }) { return name }
            usleep(50_000)
        }
        return nil
    }

    /// Kills one node (SIGKILL) and reaps it.
    func kill(_ name: String) {
        nodes.first { $0.name == name }?.process.kill()
    }

    /// Sends `signal` to node `name` if it is running (SIGSTOP freezes it, SIGCONT thaws it).
    func signal(_ name: String, _ signal: Int32) {
        nodes.first { $0.name == name }?.process.signal(signal)
    }

    /// Kills every node still running (SIGKILL) and reaps it. Idempotent.
    func killAll() {
        for node in nodes { node.process.signal(SIGKILL) }
        for node in nodes { node.process.kill() }
    }

    /// The output of node `name` so far.
    func log(_ name: String) -> String {
        guard let node = nodes.first(where: { $0.name == name }),
            let data = FileManager.default.contents(atPath: node.log.path)
        else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Every node's log, for failure messages.
    func allLogs() -> String {
        nodes.map { "=== \($0.name) (\($0.log.path))\n\(log($0.name).suffix(3000))" }.joined(separator: "\n")
    }

    /// Removes the log directory (kept when `SWIFTPS_KEEP_TEST_LOGS` is set, to read after a failure).
    func removeFiles() {
        if ProcessInfo.processInfo.environment["SWIFTPS_KEEP_TEST_LOGS"] != nil {
            print("logs kept in \(directory.path)")
            return
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs `body` with a new cluster of `workers` and `servers` on the release `swiftps` binary, then
    /// kills every node still running and removes the log directory, on every way out of `body`
    /// (a thrown error or a failed `#require` included). Without a binary the test fails (as
    /// `#require` does) saying how to get one.
    static func with<T>(
        workers: Int, servers: Int, sourceLocation: SourceLocation = #_sourceLocation,
        _ body: (ProcessCluster) throws -> T
    ) throws -> T {
        let binary = try #require(
            SwiftPSBinary.path, Comment(rawValue: SwiftPSBinary.missing), sourceLocation: sourceLocation)
        let cluster = try ProcessCluster(binary: binary, workers: workers, servers: servers)
        defer {
            cluster.killAll()
            cluster.removeFiles()
        }
        return try body(cluster)
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago, below the ephemeral range, so that no
    /// node of a test running beside this one, binding port 0, takes it before the scheduler binds it.
    static func freePort() throws -> Int {
        guard let port = PortProbe.freePortBelowEphemeralRange() else {
            throw ClusterFailure(description: "cannot bind a free port on 127.0.0.1: errno \(errno)")
        }
        return port
    }
}

extension ProcessCluster {
    /// The process id of node `name`, if it was started.
    func pid(_ name: String) -> pid_t? {
        nodes.first { $0.name == name }?.process.pid
    }

    /// The nodes whose process still runs (not reaped: `waitpid` on the node's own pid, never a pid
    /// that another process may have taken since): after `waitAll`, this must be empty.
    func survivors() -> [String] {
        nodes.filter { $0.process.isRunning }.map(\.name)
    }

    /// Writes `secret` to a file with mode 0600 in the cluster's directory and returns its path.
    func secretFile(_ name: String, secret: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(secret.utf8).write(to: url)
        guard chmod(url.path, 0o600) == 0 else {
            throw ClusterFailure(description: "chmod 600 \(url.path) failed: errno \(errno)")
        }
        return url.path
    }

    /// The port node `name` reported in its "… at HOST:PORT joined the cluster" line, waiting up to
    /// `timeout` seconds for it.
    func joinedPort(of name: String, timeout: Double) -> Int? {
        guard waitForLog(of: [name], containing: "joined the cluster", timeout: timeout) != nil else { return nil }
        guard let line = log(name).split(separator: "\n").first(where: { $0.contains("joined the cluster") }),
            let range = line.range(of: #":[0-9]+ joined the cluster"#, options: .regularExpression)
        else { return nil }
        return Int(line[range].dropFirst().prefix { $0.isNumber })
    }
}

extension ProcessCluster {
    /// Expects each of `names` to have exited non-zero with every one of `texts` in its log, and no
    /// started process to be left.
    func expectFailed(_ names: [String], _ statuses: [String: Int32?], saying texts: [String]) {
        for name in names {
            let status = statuses[name] ?? nil
            #expect(status != nil && status != 0, "\(name) exited with \(String(describing: status))")
            let log = log(name)
            #expect(texts.allSatisfy { log.contains($0) }, "\(name) does not say \(texts):\n\(log.suffix(2000))")
        }
        #expect(survivors().isEmpty, "processes left behind: \(survivors())")
    }
}
