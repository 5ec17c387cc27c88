import Foundation
import PSTestSupport
import SwiftPSTransport
import Testing

@testable import SwiftPSCluster

@Suite struct ZMQClusterTests {
    /// A free port for a scheduler: bound by a van on an ephemeral port, then released.
    static func freePort() throws -> Int {
        let probe = ZMQVan()
        defer { probe.stop() }
        return try probe.start(bind: BindOptions(host: "127.0.0.1")) { _ in }
    }

    /// A scheduler, a server and a worker with a secret over ZeroMQ on 127.0.0.1:`port`, each on its
    /// own thread: rendezvous, a barrier, one request from the worker to the server (which answers
    /// each key plus one), and the final barrier. `startingOthers` runs once the scheduler thread has
    /// started and before the others do. Returns the offices (stopped) and each role's outcome.
    static func runJob(port: Int, startingOthers: () -> Void = {}) -> (
        offices: [PostOffice], results: [(NodeRole, Result<Void, ClusterError>)], terminations: [ClusterError]
    ) {
        func config(_ role: NodeRole) -> ClusterConfig {
            ClusterConfig(
                role: role, schedulerHost: "127.0.0.1", schedulerPort: port, numWorkers: 1, numServers: 1,
                bindHost: "127.0.0.1", advertisedHost: "127.0.0.1", rendezvousTimeout: 20, barrierTimeout: 20,
                heartbeatInterval: 0.2, heartbeatTimeout: 10, requestTimeout: 10, secret: Array("zmq secret".utf8))
        }
        let terminations = Inbox<ClusterError>()
        let offices = [NodeRole.scheduler, .server, .worker].map { role in
            PostOffice(config: config(role), transport: ZMQVan()) { terminations.put($0) }
        }
        defer { for office in offices { office.stop() } }
        let server = offices[1]
        server.setAppHandler { [server] request in
            let keys = (try? request.data[0].toArray(of: UInt64.self)) ?? []
            _ = try? server.respond(
                to: request, with: Message(head: request.head, data: [Payload(copying: keys.map { $0 + 1 })]))
        }
        let results = Inbox<(NodeRole, Result<Void, ClusterError>)>()
        var threads: [JoinableThread] = []
        for (index, office) in offices.enumerated() {
            if index == 1 { startingOthers() }
            threads.append(
                JoinableThread(name: "test-\(office.role)") {
                    do {
                        try office.start()
                        try office.barrier(group: .all, timeout: 20)
                        if office.isWorker {
                            let reply = try office.request(
                                Message(head: 4, data: [Payload(copying: [UInt64(41)])]), to: NodeID.server(0),
                                timeout: 10)
                            guard (try? reply.data[0].toArray(of: UInt64.self)) == [42] else {
                                throw ClusterError.protocolViolation("wrong reply \(reply.debugDescription)")
                            }
                        }
                        try office.finalize(timeout: 20)
                        results.put((office.role, .success(())))
                    } catch let error as ClusterError {
                        results.put((office.role, .failure(error)))
                    } catch {
                        results.put((office.role, .failure(.transport("\(error)"))))
                    }
                })
        }
        let finished = results.wait(count: 3, timeout: 60)
        if finished.count < 3 { for office in offices { office.stop() } }
        for thread in threads { #expect(thread.join(timeout: 20)) }
        return (offices, finished, terminations.wait(count: 1, timeout: 0))
    }

    @Test func schedulerServerAndWorkerOverZeroMQ() throws {
        let (offices, finished, terminations) = Self.runJob(port: try Self.freePort())
        let (scheduler, server, worker) = (offices[0], offices[1], offices[2])
        #expect(finished.count == 3)
        for (role, result) in finished { #expect(result.succeeded, "\(role): \(result)") }
        #expect(scheduler.nodes.map(\.id) == [1, 8, 9])
        #expect(server.myID == 8 && worker.myID == 9)
        #expect(terminations.isEmpty)
    }

    /// A process without the secret connects to the scheduler first under worker 0's identity
    /// (`ps9`, predictable). With identities, ZeroMQ then turned the real worker's connection away,
    /// and the scheduler, never hearing it, failed the job blaming a healthy node. A job with a
    /// secret connects without identities (tags prove who sent what), so the squatter changes nothing.
    @Test func aStrangerHoldingAWorkersIdentityDoesNotSilenceIt() throws {
        let port = try Self.freePort()
        let squatter = ZMQVan()
        defer { squatter.stop() }
        _ = try squatter.start(bind: BindOptions(host: "127.0.0.1")) { _ in }
        squatter.setLocalID(NodeID.worker(0))
        try squatter.connect(to: NodeID.scheduler, host: "127.0.0.1", port: port)
        // ZeroMQ connects the squatter as soon as the scheduler listens, before the others start.
        let (_, finished, terminations) = Self.runJob(port: port) { usleep(500_000) }
        #expect(finished.count == 3)
        for (role, result) in finished { #expect(result.succeeded, "\(role): \(result)") }
        #expect(terminations.isEmpty, "\(terminations)")
    }
}
