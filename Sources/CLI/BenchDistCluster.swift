import Foundation
import SwiftPS

#if canImport(Glibc)
    import Glibc
#endif

/// A dist_sync cluster of child processes of this same binary on 127.0.0.1, for the distributed
/// benchmarks: a scheduler, servers and workers, each with its output in a log file of a fresh
/// directory and its peak resident memory (`VmHWM`) sampled while it runs.
///
/// Children are killed on every exit path: `killAll()` (call it in a `defer`), and a SIGINT/SIGTERM
/// handler that kills whatever this process started before it dies.
final class BenchDistCluster {
    struct Child {
        var name: String
        var process: Process
        var log: URL
        var peakKB = 0
    }

    let binary: String
    let directory: URL
    let port: Int
    let workers: Int
    let servers: Int
    private(set) var children: [Child] = []

    /// A cluster of `workers` and `servers` with the scheduler on a free port.
    init(workers: Int, servers: Int) throws {
        binary = try Self.selfExecutable()
        self.workers = workers
        self.servers = servers
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        port = try Self.freePort()
        ChildRegistry.installSignalHandlers()
    }

    /// Records in `out` what changes the figures besides the code: whether the nodes talk over Unix
    /// sockets (`SWIFTPS_IPC`), whether messages carry tags (`SWIFTPS_SECRET_FILE`), whether their
    /// data frames are encrypted (`SWIFTPS_ENCRYPT`, read as the cluster reads it), and the CPU wake-up
    /// latency asked for (`SWIFTPS_CPU_DMA_LATENCY`, only when set), and the CPUs each worker and
    /// server bound itself to (`SWIFTPS_CPU_BIND`; read from their logs, so call it after the run).
    func describeSetup(into out: inout JSONObject) {
        let env = ProcessInfo.processInfo.environment
        out.set("same_host_transport", LocalIPC.defaultDirectory(environment: env) == nil ? "tcp" : "ipc")
        let tagged = !(env["SWIFTPS_SECRET_FILE"] ?? "").isEmpty
        out.set("message_tags", tagged)
        out.set(
            "message_encryption",
            tagged && ["1", "true", "yes", "on"].contains(env["SWIFTPS_ENCRYPT"]?.lowercased() ?? ""))
        if case .success(let microseconds?) = CPUWakeLatency.requested(environment: env) {
            out.set("cpu_dma_latency_us", Int(microseconds))
        }
        out.set("cpu_bind", (try? ClusterConfig.cpuBind(environment(role: "worker"))) == true ? "cores" : "none")
        var cpus = JSONObject()
        for child in children where child.name != "scheduler" {
            cpus.set(child.name, HostCPUs.boundCPUs(log: log(child.name)) ?? "unbound")
        }
        out.set("node_cpus", cpus)
    }

    /// The environment of a node of `role`: MXNet's launch variables, loopback, one compute thread,
    /// and CPU binding as `swiftps launch` gives a local job (unless `SWIFTPS_CPU_BIND` is set).
    func environment(role: String) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        if env[HostCPUs.variable] == nil { env[HostCPUs.variable] = HostCPUs.launcherDefault }
        env["DMLC_ROLE"] = role
        env["DMLC_PS_ROOT_URI"] = "127.0.0.1"
        env["DMLC_PS_ROOT_PORT"] = "\(port)"
        env["DMLC_NUM_WORKER"] = "\(workers)"
        env["DMLC_NUM_SERVER"] = "\(servers)"
        env["DMLC_NODE_HOST"] = "127.0.0.1"
        env["SWIFTPS_BIND"] = "127.0.0.1"
        env["OPENBLAS_NUM_THREADS"] = "1"
        return env
    }

    /// Starts the scheduler, the servers, then one worker per element of `workerArguments(rank)`.
    func start(workerArguments: (Int) -> [String]) throws {
        try spawn("scheduler", ["scheduler"], role: "scheduler")
        for i in 0..<servers { try spawn("server\(i)", ["server"], role: "server") }
        for i in 0..<workers { try spawn("worker\(i)", workerArguments(i), role: "worker") }
    }

    private func spawn(_ name: String, _ arguments: [String], role: String) throws {
        let log = directory.appendingPathComponent("\(name).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = environment(role: role)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        ChildRegistry.add(process.processIdentifier)
        children.append(Child(name: name, process: process, log: log))
    }

    /// Waits up to `timeout` seconds for every child to exit, sampling each one's peak memory every
    /// 50 ms. Throws, naming the children and their logs, when one fails or the deadline passes.
    func waitAll(timeout: Double) throws {
        let deadline = MonotonicClock.now() + timeout
        while children.contains(where: { $0.process.isRunning }) {
            for i in children.indices where children[i].process.isRunning {
                children[i].peakKB = max(children[i].peakKB, Self.peakKB(children[i].process.processIdentifier))
            }
            if let failed = children.first(where: { !$0.process.isRunning && $0.process.terminationStatus != 0 }) {
                throw BenchError.childFailed(
                    "\(failed.name) exited with status \(failed.process.terminationStatus)\n\(logs())")
            }
            guard MonotonicClock.now() < deadline else {
                throw BenchError.childFailed("the cluster did not finish within \(Int(timeout)) s\n\(logs())")
            }
            usleep(50_000)
        }
        if let failed = children.first(where: { $0.process.terminationStatus != 0 }) {
            throw BenchError.childFailed(
                "\(failed.name) exited with status \(failed.process.terminationStatus)\n\(logs())")
        }
    }

    /// Peak resident memory of child `name` in MB as sampled (0 when never sampled).
    func peakMB(_ name: String) -> Double {
        Double(children.first { $0.name == name }?.peakKB ?? 0) / 1024
    }

    /// The output of child `name`.
    func log(_ name: String) -> String {
        guard let child = children.first(where: { $0.name == name }),
            let data = FileManager.default.contents(atPath: child.log.path)
        else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    /// The tail of every child's log, for error messages.
    func logs() -> String {
        children.map { "=== \($0.name)\n\(log($0.name).suffix(1500))" }.joined(separator: "\n")
    }

    /// Kills every child still running (SIGKILL), reaps it, and removes the directory. Idempotent.
    func killAll() {
        for child in children where child.process.isRunning {
            kill(child.process.processIdentifier, SIGKILL)
        }
        for child in children {
            child.process.waitUntilExit()
            ChildRegistry.remove(child.process.processIdentifier)
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// `VmHWM` of `/proc/<pid>/status` in kB (0 when unreadable).
    static func peakKB(_ pid: pid_t) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    private static func selfExecutable() throws -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        let path = CommandLine.arguments[0]
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw BenchError.childFailed("cannot find this executable to start the cluster (\(path))")
        }
        return path
    }

    private static func freePort() throws -> Int {
        guard let port = PortProbe.freePortBelowEphemeralRange() else {
            throw BenchError.childFailed("cannot find a free port on 127.0.0.1: errno \(errno)")
        }
        return port
    }
}

/// Why a distributed benchmark failed.
enum BenchError: Error, CustomStringConvertible {
    case childFailed(String)
    case badResult(String)

    var description: String {
        switch self {
        case .childFailed(let text): return "a benchmark process failed: \(text)"
        case .badResult(let text): return "unreadable benchmark result: \(text)"
        }
    }
}

/// The process ids of running children in a fixed buffer, so that a signal handler can kill them
/// without allocating.
enum ChildRegistry {
    private static let capacity = 64
    nonisolated(unsafe) private static let pids: UnsafeMutablePointer<pid_t> = {
        let buffer = UnsafeMutablePointer<pid_t>.allocate(capacity: capacity)
        buffer.initialize(repeating: 0, count: capacity)
        return buffer
    }()
    private static let lock = NSLock()
    private static let installed: Void = {
        _ = pids
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig) { sig in
                for i in 0..<ChildRegistry.capacity where ChildRegistry.pids[i] > 0 {
                    kill(ChildRegistry.pids[i], SIGKILL)
                }
                signal(sig, SIG_DFL)
                raise(sig)
            }
        }
    }()

    static func installSignalHandlers() { _ = installed }

    static func add(_ pid: pid_t) {
        lock.lock()
        defer { lock.unlock() }
        if let slot = (0..<capacity).first(where: { pids[$0] == 0 }) { pids[slot] = pid }
    }

    static func remove(_ pid: pid_t) {
        lock.lock()
        defer { lock.unlock() }
        for i in 0..<capacity where pids[i] == pid { pids[i] = 0 }
    }
}
