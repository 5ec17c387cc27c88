import Foundation
import PSTestSupport
import SwiftPSTransport
import Testing

@testable import SwiftPSCluster

@Suite struct AuthenticationTests {
    @Test func aWrongSecretIsRefusedAndTheRightOneAccepted() throws {
        let cluster = InMemoryCluster()
        defer { cluster.stopAll() }
        let scheduler = cluster.add(cluster.config(.scheduler, workers: 1, servers: 0, secret: "right secret"))
        let intruder = cluster.add(cluster.config(.worker, workers: 1, servers: 0, secret: "wrong secret"))
        let results = Inbox<Result<Void, ClusterError>>()
        let schedulerThread = JoinableThread(name: "test-scheduler") {
            results.put(cluster.concurrently([scheduler]) { try $0.start() }[0] ?? .failure(.transport("no result")))
        }
        let refused = cluster.concurrently([intruder]) { try $0.start() }[0]
        guard case .authenticationRefused(let text)? = refused?.failure else {
            Issue.record("expected an authentication refusal, got \(String(describing: refused))")
            return
        }
        #expect(text.contains("check --secret-file"))
        #expect(scheduler.locked { scheduler.arrivals.isEmpty }, "a refused node does not count")
        let member = cluster.add(cluster.config(.worker, workers: 1, servers: 0, secret: "right secret"))
        let joined = cluster.concurrently([member]) { try $0.start() }[0]
        #expect(joined?.succeeded == true, "\(String(describing: joined))")
        #expect(results.wait(count: 1).first?.succeeded == true)
        schedulerThread.join(timeout: 10)
        #expect(member.myID == 9)
    }

    @Test func aNodeWithoutTheSecretIsRefused() throws {
        let cluster = InMemoryCluster()
        defer { cluster.stopAll() }
        let scheduler = cluster.add(cluster.config(.scheduler, workers: 1, servers: 0, secret: "s"))
        let stranger = cluster.add(cluster.config(.worker, workers: 1, servers: 0))
        let thread = JoinableThread(name: "test-scheduler") {
            _ = cluster.concurrently([scheduler], timeout: 5) { try $0.start() }
        }
        let refused = cluster.concurrently([stranger]) { try $0.start() }[0]
        guard case .authenticationRefused? = refused?.failure else {
            Issue.record("expected an authentication refusal, got \(String(describing: refused))")
            scheduler.stop()
            thread.join(timeout: 10)
            return
        }
        scheduler.stop()
        thread.join(timeout: 10)
    }

    @Test func aSchedulerWithoutTheSecretIsRefusedByTheNode() throws {
        let cluster = InMemoryCluster()
        defer { cluster.stopAll() }
        let scheduler = cluster.add(cluster.config(.scheduler, workers: 1, servers: 0))
        let node = cluster.add(cluster.config(.worker, workers: 1, servers: 0, secret: "s"))
        let thread = JoinableThread(name: "test-scheduler") {
            _ = cluster.concurrently([scheduler], timeout: 5) { try $0.start() }
        }
        let refused = cluster.concurrently([node]) { try $0.start() }[0]
        #expect(
            {
                if case .authenticationRefused? = refused?.failure { return true }
                return false
            }(), "\(String(describing: refused))")
        scheduler.stop()
        thread.join(timeout: 10)
    }

    @Test func hmacCoversEveryField() {
        let auth = Authenticator(secret: Array("k".utf8))
        var node = NodeInfo(role: .worker, hostname: "10.0.0.1", port: 5, shardSize: 7, nonce: [1, 2])
        node.auth = auth.sign(request: node)
        #expect(auth.verify(request: node))
        var tampered = node
        tampered.port = 6
        #expect(!auth.verify(request: tampered))
        tampered = node
        tampered.nonce = [1, 3]
        #expect(!auth.verify(request: tampered))
        #expect(!Authenticator(secret: Array("other".utf8)).verify(request: node))
    }
}
