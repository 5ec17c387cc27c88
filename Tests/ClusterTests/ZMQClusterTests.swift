import Foundation
import PSTestSupport
import SwiftPSTransport
import Testing

@testable import SwiftPSCluster

@Suite struct ZMQClusterTests {
    @Test func schedulerServerAndWorkerOverZeroMQ() throws {
        // Find a free scheduler port by binding a van to an ephemeral port and releasing it.
        let probe = ZMQVan()
        let port = try probe.start(bind: BindOptions(host: "127.0.0.1")) { _ in }
        probe.stop()
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
        let (scheduler, server, worker) = (offices[0], offices[1], offices[2])
        server.setAppHandler { [server] request in
            let keys = (try? request.data[0].toArray(of: UInt64.self)) ?? []
            _ = try? server.respond(
                to: request, with: Message(head: request.head, data: [Payload(copying: keys.map { $0 + 1 })]))
        }
        let results = Inbox<(NodeRole, Result<Void, ClusterError>)>()
        var threads: [JoinableThread] = []
        for office in offices {
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
        #expect(finished.count == 3)
        for (role, result) in finished { #expect(result.succeeded, "\(role): \(result)") }
        #expect(scheduler.nodes.map(\.id) == [1, 8, 9])
        #expect(server.myID == 8 && worker.myID == 9)
        #expect(terminations.wait(count: 1, timeout: 0).isEmpty)
    }
}
