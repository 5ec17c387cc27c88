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
        try Self.withHalfStartedJob(secret: withSecret ? "cluster secret" : nil) { cluster, scheduler, waiting in
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
            // A NODE_FAILED cannot be checked before the node has its table (no nonce, no session key).
            try send(.nodeFailed)
            var forged = 4
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
        }
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
        // The rank asked for is signed, and a nonce cannot absorb settings: the request with one
        // setting and the one with none whose nonce spells that setting out are different bytes.
        tampered = node
        tampered.rank = 3
        #expect(!auth.verify(request: tampered))
        var bare = NodeInfo(role: .worker, hostname: "10.0.0.1", port: 5, nonce: [1])
        var padded = bare
        padded.settings = ["a": "b"]
        bare.nonce = Array("1|a|1|b|".utf8) + [1]
        padded.auth = auth.sign(request: padded)
        bare.auth = padded.auth
        #expect(!auth.verify(request: bare))
    }

    /// With a secret, only a node that proves it can end the rendezvous for everyone: a stranger's
    /// ADD_NODE claiming another wire protocol (which fails a start at once when a member of the job
    /// sends it) is refused alone, and the job's own nodes then complete the rendezvous. An
    /// unproven request (at a host name) is not answered, so no DNS lookup runs for a stranger.
    @Test func aStrangerCannotEndTheRendezvous() throws {
        try Self.withHalfStartedJob(secret: "cluster secret") { _, scheduler, _ in
            for host in ["127.0.0.9", "stranger.invalid"] {
                var node = NodeInfo(role: .worker, hostname: host, port: 9400, nonce: [7])
                (node.numWorkers, node.numServers, node.protocolVersion) = (2, 0, 0)
                node.auth = Authenticator(secret: Array("guess".utf8)).sign(request: node)
                let message = Message(control: Control(cmd: .addNode, nodes: [node]), request: true)
                scheduler.locked { scheduler.handleAddNode(message) }
            }
            #expect(scheduler.locked { scheduler.terminalError == nil && scheduler.arrivals.count == 1 })
        }
    }

    /// Starts the scheduler and one worker of a 2-worker job (with `secret`), runs `body` while the
    /// rendezvous waits for the second worker, then starts that worker and expects all three to join
    /// (what `body` did must not have stopped anyone).
    static func withHalfStartedJob(
        secret: String?, _ body: (InMemoryCluster, PostOffice, PostOffice) throws -> Void
    ) throws {
        let cluster = InMemoryCluster()
        defer { cluster.stopAll() }
        let scheduler = cluster.add(cluster.config(.scheduler, workers: 2, servers: 0, secret: secret))
        let waiting = cluster.add(cluster.config(.worker, workers: 2, servers: 0, secret: secret))
        let results = Inbox<[Result<Void, ClusterError>?]>()
        let starter = JoinableThread(name: "test-start") {
            results.put(cluster.concurrently([scheduler, waiting]) { try $0.start() })
        }
        defer { starter.join(timeout: 40) }
        #expect(eventually { scheduler.locked { scheduler.arrivals.count == 1 } })
        try body(cluster, scheduler, waiting)
        let late = cluster.add(cluster.config(.worker, workers: 2, servers: 0, secret: secret))
        #expect(cluster.concurrently([late]) { try $0.start() }[0]?.succeeded == true)
        let started = results.wait(count: 1, timeout: 30).first ?? []
        #expect(started.count == 2 && started.allSatisfy { $0?.succeeded == true }, "\(started)")
    }

    /// After rendezvous an ADD_NODE is the one message a stranger may send (to be refused); the sender
    /// it claims is not thereby heard from, so a dead worker cannot be kept looking alive with it.
    @Test func aStrangersAddNodeDoesNotKeepANodeAlive() throws {
        let clock = ManualClock()
        let cluster = InMemoryCluster(clock: clock)
        defer { cluster.stopAll() }
        let (scheduler, _, workers) = cluster.addJob(workers: 1, servers: 1)
        #expect(cluster.startAll().allSatisfy { $0?.succeeded == true })
        let worker = workers[0].myID
        let heard = scheduler.lastHeard(from: worker)
        clock.advance(by: 3)
        var node = NodeInfo(role: .worker, hostname: "127.0.0.9", port: 9400, nonce: [7])
        (node.numWorkers, node.numServers, node.protocolVersion) = (1, 1, NodeInfo.wireProtocol)
        var message = Message(control: Control(cmd: .addNode, nodes: [node]), request: true)
        message.sender = worker
        scheduler.receive(message)
        #expect(scheduler.lastHeard(from: worker) == heard)
    }
}
