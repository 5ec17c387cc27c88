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
        let refused = cluster.start(stranger, against: scheduler)
        guard case .authenticationRefused? = refused?.failure else {
            Issue.record("expected an authentication refusal, got \(String(describing: refused))")
            return
        }
    }

    @Test func aSchedulerWithoutTheSecretIsRefusedByTheNode() throws {
        let cluster = InMemoryCluster()
        defer { cluster.stopAll() }
        let scheduler = cluster.add(cluster.config(.scheduler, workers: 1, servers: 0))
        let node = cluster.add(cluster.config(.worker, workers: 1, servers: 0, secret: "s"))
        let refused = cluster.start(node, against: scheduler)
        guard case .authenticationRefused? = refused?.failure else {
            Issue.record("expected an authentication refusal, got \(String(describing: refused))")
            return
        }
    }

    /// While a node waits for its table it has no session key, so the scheduler's refusals and
    /// TERMINATE cannot carry tags: they echo the node's ADD_NODE nonce instead and, with a secret, are
    /// signed. A process that reaches the node's port without them cannot stop it.
    @Test(arguments: [true, false]) func forgedVerdictsDuringRendezvousAreDropped(withSecret: Bool) throws {
        let cluster = InMemoryCluster()
        defer { cluster.stopAll() }
        let secret = withSecret ? "cluster secret" : nil
        let scheduler = cluster.add(cluster.config(.scheduler, workers: 2, servers: 0, secret: secret))
        let waiting = cluster.add(cluster.config(.worker, workers: 2, servers: 0, secret: secret))
        let results = Inbox<[Result<Void, ClusterError>?]>()
        let starter = JoinableThread(name: "test-start") {
            results.put(cluster.concurrently([scheduler, waiting]) { try $0.start() })
        }
        defer { starter.join(timeout: 40) }
        #expect(eventually { scheduler.locked { scheduler.arrivals.count == 1 } })
        let (port, nonce) = waiting.locked { (Int(waiting.me.port), waiting.me.nonce) }

        let intruder = cluster.network.makeTransport(host: "127.0.0.2")
        defer { intruder.stop() }
        _ = try intruder.start(bind: BindOptions(host: "127.0.0.2", port: 0)) { _ in }
        try intruder.connect(to: 9, host: "127.0.0.1", port: port)
        func send(_ cmd: ControlCommand, head: Int32 = 0, nonce: [UInt8] = [], auth: [UInt8] = []) throws {
            try intruder.send(
                Message(
                    head: head, control: Control(cmd: cmd, auth: auth, nonce: nonce), request: false,
                    sender: NodeID.scheduler, error: "forged"), to: 9)
        }
        try send(.terminate)
        try send(.addNode, head: RefusalCode.clusterFull.rawValue)
        try send(.addNode, head: RefusalCode.authentication.rawValue, nonce: [UInt8](repeating: 0, count: 16))
        var forged = 3
        if withSecret {
            // One who saw the request (and so its nonce) on the way, but has not the secret.
            let guess = Authenticator(secret: Array("guess".utf8))
            try send(
                .terminate, nonce: nonce,
                auth: guess.sign(verdict: RefusalCode.terminate, reason: "forged", nonce: nonce))
            try send(.addNode, head: RefusalCode.clusterFull.rawValue, nonce: nonce)
            forged += 2
        }
        #expect(eventually { waiting.tagDrops.count == forged }, "\(waiting.tagDrops.count) of \(forged) dropped")
        #expect(waiting.locked { waiting.phase == .rendezvous && waiting.terminalError == nil })

        let late = cluster.add(cluster.config(.worker, workers: 2, servers: 0, secret: secret))
        #expect(cluster.concurrently([late]) { try $0.start() }[0]?.succeeded == true)
        let started = results.wait(count: 1, timeout: 30).first ?? []
        #expect(started.count == 2 && started.allSatisfy { $0?.succeeded == true }, "\(started)")
    }

    @Test func hmacCoversEveryField() {
        let auth = Authenticator(secret: Array("k".utf8))
        var node = NodeInfo(role: .worker, hostname: "10.0.0.1", port: 5, shardSize: 7, nonce: [1, 2])
        node.settings = ["--num-epochs": "10", "--batch-size": "128"]
        node.auth = auth.sign(request: node)
        #expect(auth.verify(request: node))
        var tampered = node
        tampered.port = 6
        #expect(!auth.verify(request: tampered))
        tampered = node
        tampered.nonce = [1, 3]
        #expect(!auth.verify(request: tampered))
        tampered = node
        tampered.job = "another"
        #expect(!auth.verify(request: tampered))
        tampered = node
        tampered.protocolVersion += 1
        #expect(!auth.verify(request: tampered))
        // The table reply: each entry's address, rank and protocol.
        let table = [NodeInfo(role: .scheduler, id: 1, hostname: "h", port: 9), node]
        let signed = auth.sign(table: table, nonce: [1], session: [2], encrypted: false)
        #expect(auth.verify(table: table, nonce: [1], session: [2], encrypted: false, auth: signed))
        var other = table
        other[0].protocolVersion += 1
        #expect(!auth.verify(table: other, nonce: [1], session: [2], encrypted: false, auth: signed))
        tampered = node
        tampered.settings["--num-epochs"] = "1"
        #expect(!auth.verify(request: tampered))
        tampered = node
        tampered.settings["--resume"] = "yes"
        #expect(!auth.verify(request: tampered))
        tampered = node
        tampered.settings = ["--num-epochs": "10", "--batch-size=": "128"]
        #expect(!auth.verify(request: tampered))
        // A setting moved across the name/value boundary: written "name|value|" one after another,
        // both requests are the text "--batch-size|128|--num-epochs|10|"; only the lengths before each
        // name and value keep them apart.
        tampered = node
        tampered.settings = ["--batch-size|128|--num-epochs": "10"]
        #expect(!auth.verify(request: tampered))
        #expect(!Authenticator(secret: Array("other".utf8)).verify(request: node))
    }
}
