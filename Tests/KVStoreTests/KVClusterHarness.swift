import Foundation
import Logging
import PSTestSupport
import SwiftPSCluster
import SwiftPSKVStore
import SwiftPSTransport
import Testing

struct HarnessError: Error, CustomStringConvertible {
    var description: String
}

/// A whole SwiftPS cluster in one process over an `InMemoryNetwork`: a scheduler, `servers` servers
/// running `KVServer` and `workers` workers each holding a `DistKVStore`. `stop()` tears everything
/// down; call it in a `defer`.
final class KVCluster: @unchecked Sendable {
    let network = InMemoryNetwork()
    let scheduler: PostOffice
    let serverOffices: [PostOffice]
    let workerOffices: [PostOffice]
    private(set) var servers: [KVServer] = []
    private(set) var stores: [DistKVStore] = []

    /// Starts the cluster and makes the servers (with `stallWarning`/`stallLimit` and `serverLogger`)
    /// and stores (ordered by rank; `workerBounds[rank]`, when given, overrides `bigArrayBound`).
    init(
        workers: Int, servers: Int, type: KVStoreType = .distSync, bigArrayBound: Int = 1_000_000,
        workerBounds: [Int: Int] = [:],
        timeout: Double = 20, stallWarning: Double = 30, stallLimit: Double? = nil,
        serverLogger: Logger = Logger(label: "swiftps.server")
    ) throws {
        let network = self.network
        func office(_ role: NodeRole) -> PostOffice {
            let config = ClusterConfig(
                role: role, schedulerHost: "127.0.0.1", schedulerPort: 9100, numWorkers: workers,
                numServers: servers, advertisedHost: "127.0.0.1", rendezvousTimeout: 20, barrierTimeout: 20,
                heartbeatInterval: 1, heartbeatTimeout: 30, requestTimeout: 20)
            return PostOffice(config: config, transport: network.makeTransport()) { _ in }
        }
        scheduler = office(.scheduler)
        serverOffices = (0..<servers).map { _ in office(.server) }
        workerOffices = (0..<workers).map { _ in office(.worker) }
        let all = [scheduler] + serverOffices + workerOffices
        let started = Self.concurrently(all.count) { try all[$0].start() }
        guard started.allSatisfy({ $0 == nil }) else {
            for office in all { office.stop() }
            throw HarnessError(description: "cluster did not start: \(started)")
        }
        let byServerRank = serverOffices.sorted { $0.rank < $1.rank }
        let byWorkerRank = workerOffices.sorted { $0.rank < $1.rank }
        do {
            self.servers = try byServerRank.map {
                try KVServer(postOffice: $0, stallWarning: stallWarning, stallLimit: stallLimit, logger: serverLogger)
            }
            let made = Inbox<(Int, DistKVStore)>()
            let errors = Self.concurrently(workers) { i in
                let store = try DistKVStore(
                    postOffice: byWorkerRank[i], type: type, bigArrayBound: workerBounds[i] ?? bigArrayBound,
                    timeout: timeout)
                made.put((i, store))
            }
            guard errors.allSatisfy({ $0 == nil }) else { throw HarnessError(description: "stores: \(errors)") }
            self.stores = made.wait(count: workers, timeout: 1).sorted { $0.0 < $1.0 }.map(\.1)
        } catch {
            for office in all { office.stop() }
            throw error
        }
    }

    /// Runs `body(rank, store)` for every worker on its own thread; returns each worker's error (nil
    /// on success). Gives up after `timeout` seconds, stopping the cluster.
    func onWorkers(timeout: Double = 30, _ body: @escaping @Sendable (Int, DistKVStore) throws -> Void) -> [String?] {
        let stores = self.stores
        let results = Self.concurrently(stores.count, timeout: timeout) { try body($0, stores[$0]) }
        if results.contains(where: { $0?.hasPrefix("timed out") ?? false }) { stop() }
        return results
    }

    /// The clean end of a job: workers close (barrier, STOP_SERVER) and finalize, servers return
    /// from `run` and finalize, the scheduler finalizes. Returns each node's error.
    func shutdown() -> [String?] {
        let stores = self.stores
        let servers = self.servers
        let scheduler = self.scheduler
        let count = stores.count + servers.count + 1
        return Self.concurrently(count) { i in
            if i < stores.count {
                try stores[i].close()
                try stores[i].postOffice.finalize(timeout: 20)
            } else if i < count - 1 {
                let server = servers[i - stores.count]
                try server.run(timeout: 20)
                try server.postOffice.finalize(timeout: 20)
            } else {
                try scheduler.finalize(timeout: 20)
            }
        }
    }

    func stop() {
        for office in [scheduler] + serverOffices + workerOffices { office.stop() }
        for thread in serving { _ = thread.join(timeout: 5) }
    }

    /// Runs every server's `run` loop on a thread of its own, as a server process does (it watches
    /// dist_sync rounds for stalls), until `stop()`.
    func serve() {
        serving = servers.map { server in JoinableThread(name: "kv-test-server") { _ = try? server.run(timeout: 60) } }
    }
    private var serving: [JoinableThread] = []

    /// Runs `body(i)` for `i` in `0..<count` on threads; nil for success, else the error's text.
    static func concurrently(
        _ count: Int, timeout: Double = 30, _ body: @escaping @Sendable (Int) throws -> Void
    ) -> [String?] {
        let results = Inbox<(Int, String?)>()
        var threads: [JoinableThread] = []
        for i in 0..<count {
            threads.append(
                JoinableThread(name: "kv-test-\(i)") {
                    do {
                        try body(i)
                        results.put((i, nil))
                    } catch {
                        results.put((i, "\(error)"))
                    }
                })
        }
        let got = results.wait(count: count, timeout: timeout)
        var ordered = [String?](repeating: "timed out after \(timeout) s", count: count)
        for (i, error) in got { ordered[i] = error }
        if got.count == count { for thread in threads { thread.join(timeout: 5) } }
        return ordered
    }
}

/// A logger whose messages at `warning` and above are kept, for tests that check what a node logs.
final class LogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    /// A logger writing into this capture.
    func logger(_ label: String) -> Logger {
        Logger(label: label) { _ in Handler(capture: self) }
    }

    /// The messages captured so far.
    var messages: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }

    fileprivate func append(_ line: String) {
        lock.lock()
        lines.append(line)
        lock.unlock()
    }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .warning

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            capture.append("\(event.level): \(event.message)")
        }
    }
}
