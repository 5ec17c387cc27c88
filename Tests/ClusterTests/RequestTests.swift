import Foundation
import PSTestSupport
import SwiftPSTransport
import Testing

@testable import SwiftPSCluster

@Suite struct RequestTests {
    @Test func requestsGetTheirResponseOrExpire() throws {
        let clock = ManualClock()
        let cluster = InMemoryCluster(clock: clock)
        defer { cluster.stopAll() }
        let (_, servers, workers) = cluster.addJob(workers: 1, servers: 1)
        let (server, worker) = (servers[0], workers[0])
        #expect(cluster.startAll().allSatisfy { $0?.succeeded == true })
        server.setAppHandler { [server] request in
            switch request.head {
            case 1:
                let doubled = (try? request.data[0].toArray(of: Float.self))?.map { $0 * 2 } ?? []
                _ = try? server.respond(to: request, with: Message(head: 1, data: [Payload(copying: doubled)]))
            case 3: _ = try? server.respond(to: request, with: Message(head: 3, error: "no such key 42"))
            default: break  // head 2: never answered
            }
        }
        let response = try worker.request(Message(head: 1, data: [Payload(copying: [Float(1), 2])]), to: 8, timeout: 5)
        #expect(try response.data[0].toArray(of: Float.self) == [2, 4])
        #expect(response.sender == 8 && !response.request)

        #expect(
            throws: ClusterError.remoteError(
                peer: "server 0 (id 8) at \(server.myNode.address)", message: "no such key 42")
        ) {
            try worker.request(Message(head: 3), to: 8, timeout: 5)
        }

        let outcome = Inbox<ClusterError>()
        let thread = JoinableThread(name: "test-request") {
            do { _ = try worker.request(Message(head: 2), to: 8, timeout: 5) } catch let error as ClusterError {
                outcome.put(error)
            } catch {}
        }
        #expect(eventually { worker.locked { worker.pending.count == 1 } })
        #expect(outcome.wait(count: 1, timeout: 0.2).isEmpty, "the deadline is on the cluster clock")
        clock.advance(by: 6)
        let error = outcome.wait(count: 1).first
        thread.join(timeout: 10)
        #expect(error == .requestTimeout(peer: "server 0 (id 8) at \(server.myNode.address)", seconds: 5))
        #expect(throws: ClusterError.unknownNode(99)) { try worker.send(Message(), to: 99) }
    }
}
