import Foundation
import PSTestSupport
import SwiftPSTransport

@testable import SwiftPSCluster

/// Polls `condition` every millisecond for up to `timeout` real seconds.
func eventually(timeout: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date(timeIntervalSinceNow: timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(1000)
    }
    return condition()
}

/// A whole cluster on an `InMemoryNetwork`: one `PostOffice` per node, each started on its own thread.
final class InMemoryCluster: @unchecked Sendable {
    let network: InMemoryNetwork
    let clock: any DeadlineClock
    let schedulerPort = 9100
    private(set) var offices: [PostOffice] = []
    let terminations = Inbox<(role: NodeRole, error: ClusterError)>()

    init(clock: any DeadlineClock = SystemDeadlineClock()) {
        self.clock = clock
        network = InMemoryNetwork(clock: clock)
    }

    func config(_ role: NodeRole, workers: Int, servers: Int, secret: String? = nil, shardSize: Int64 = 0)
        -> ClusterConfig
    {
        ClusterConfig(
            role: role, schedulerHost: "127.0.0.1", schedulerPort: schedulerPort, numWorkers: workers,
            numServers: servers, advertisedHost: "127.0.0.1", rendezvousTimeout: 60, barrierTimeout: 60,
            heartbeatInterval: 1, heartbeatTimeout: 10, requestTimeout: 30, secret: secret.map { Array($0.utf8) },
            shardSize: shardSize)
    }

    /// Adds a scheduler, `servers` servers and `workers` workers (in that order), each configured for
    /// a job of that size with `secret`; returns them by role.
    @discardableResult
    func addJob(workers: Int, servers: Int, secret: String? = nil)
        -> (scheduler: PostOffice, servers: [PostOffice], workers: [PostOffice])
    {
        func node(_ role: NodeRole) -> PostOffice {
            add(config(role, workers: workers, servers: servers, secret: secret))
        }
        let scheduler = node(.scheduler)
        let serverOffices = (0..<servers).map { _ in node(.server) }
        return (scheduler, serverOffices, (0..<workers).map { _ in node(.worker) })
    }

    func add(_ config: ClusterConfig) -> PostOffice {
        let terminations = self.terminations
        let role = config.role
        let office = PostOffice(config: config, transport: network.makeTransport(), clock: clock) { error in
            terminations.put((role, error))
        }
        offices.append(office)
        return office
    }

    /// Runs `body` for each office on its own thread; returns each result (or a timeout marker).
    func concurrently(
        _ offices: [PostOffice], timeout: Double = 30, _ body: @escaping @Sendable (PostOffice) throws -> Void
    )
        -> [Result<Void, ClusterError>?]
    {
        let results = Inbox<(Int, Result<Void, ClusterError>)>()
        var threads: [JoinableThread] = []
        for (i, office) in offices.enumerated() {
            threads.append(
                JoinableThread(name: "test-node-\(i)") {
                    do {
                        try body(office)
                        results.put((i, .success(())))
                    } catch let error as ClusterError {
                        results.put((i, .failure(error)))
                    } catch {
                        results.put((i, .failure(.transport("\(error)"))))
                    }
                })
        }
        let got = results.wait(count: offices.count, timeout: timeout)
        if got.count < offices.count { for office in offices { office.stop() } }
        for thread in threads { thread.join(timeout: 15) }
        var ordered = [Result<Void, ClusterError>?](repeating: nil, count: offices.count)
        for (i, result) in got { ordered[i] = result }
        return ordered
    }

    /// Starts `scheduler` on a thread of its own, then `node`; returns how `node`'s start ended. The
    /// scheduler is stopped and its thread joined on the way out.
    func start(_ node: PostOffice, against scheduler: PostOffice) -> Result<Void, ClusterError>? {
        let thread = JoinableThread(name: "test-scheduler") {
            _ = self.concurrently([scheduler], timeout: 5) { try $0.start() }
        }
        defer {
            scheduler.stop()
            thread.join(timeout: 10)
        }
        return concurrently([node]) { try $0.start() }[0]
    }

    /// Starts every office concurrently (the scheduler first so nothing waits on an unbound address).
    func startAll(timeout: Double = 30) -> [Result<Void, ClusterError>?] {
        concurrently(offices, timeout: timeout) { try $0.start() }
    }

    func stopAll() {
        for office in offices { office.stop() }
    }
}

extension Result where Success == Void {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
    var succeeded: Bool {
        if case .success = self { return true }
        return false
    }
}
