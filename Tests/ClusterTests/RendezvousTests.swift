import Foundation
import PSTestSupport
import SwiftPSTransport
import Testing

@testable import SwiftPSCluster

@Suite struct RendezvousTests {
    @Test func schedulerTwoServersTwoWorkersGetIdsRanksAndTable() throws {
        let cluster = InMemoryCluster()
        defer { cluster.stopAll() }
        let scheduler = cluster.add(cluster.config(.scheduler, workers: 2, servers: 2))
        let servers = (0..<2).map { _ in cluster.add(cluster.config(.server, workers: 2, servers: 2)) }
        let workers = (0..<2).map { i in
            cluster.add(cluster.config(.worker, workers: 2, servers: 2, shardSize: Int64(1000 + i)))
        }
        let results = cluster.startAll()
        #expect(results.allSatisfy { $0?.succeeded == true }, "\(results)")
        #expect(scheduler.myID == 1)
        #expect(Set(servers.map(\.myID)) == [8, 10])
        #expect(Set(workers.map(\.myID)) == [9, 11])
        for office in servers + workers {
            #expect(office.myID == (office.isServer ? NodeID.server(office.rank) : NodeID.worker(office.rank)))
        }
        let table = scheduler.nodes
        #expect(table.map(\.id) == [1, 8, 9, 10, 11])
        for office in servers + workers { #expect(office.nodes == table, "every node sees the same table") }
        // Ranks follow (host, port).
        let serverPorts = table.filter { $0.role == .server }.sorted { $0.rank < $1.rank }.map(\.port)
        #expect(serverPorts == serverPorts.sorted())
        // Workers' shard sizes are published.
        let shards = Set(table.filter { $0.role == .worker }.map(\.shardSize))
        #expect(shards == [1000, 1001])
        for worker in workers { #expect(scheduler.node(worker.myID)?.shardSize == worker.config.shardSize) }
    }

    @Test func barriersOverEachGroupAndFinalize() throws {
        let cluster = InMemoryCluster()
        defer { cluster.stopAll() }
        let (scheduler, servers, workers) = cluster.addJob(workers: 2, servers: 2)
        #expect(cluster.startAll().allSatisfy { $0?.succeeded == true })
        for _ in 0..<3 {
            #expect(
                cluster.concurrently(workers) { try $0.barrier(group: .workers, timeout: 20) }.allSatisfy {
                    $0?.succeeded == true
                })
            #expect(
                cluster.concurrently(servers) { try $0.barrier(group: .servers, timeout: 20) }.allSatisfy {
                    $0?.succeeded == true
                })
            let mixed = [scheduler] + servers
            #expect(
                cluster.concurrently(mixed) { try $0.barrier(group: [.scheduler, .servers], timeout: 20) }.allSatisfy {
                    $0?.succeeded == true
                })
        }
        // A node outside the group may not join its barrier.
        #expect(throws: ClusterError.self) { try servers[0].barrier(group: .workers, timeout: 1) }
        let finals = cluster.concurrently(cluster.offices) { try $0.finalize(timeout: 20) }
        #expect(finals.allSatisfy { $0?.succeeded == true }, "\(finals)")
    }

    @Test func aBarrierThatNeverCompletesTimesOutNamingTheMissingNode() throws {
        let clock = ManualClock()
        let cluster = InMemoryCluster(clock: clock)
        defer { cluster.stopAll() }
        let scheduler = cluster.addJob(workers: 1, servers: 1).scheduler
        #expect(cluster.startAll().allSatisfy { $0?.succeeded == true })
        let result = Inbox<ClusterError>()
        let waiter = JoinableThread(name: "test-barrier") {
            do { try scheduler.barrier(group: [.scheduler, .workers], timeout: 30) } catch let error as ClusterError {
                result.put(error)
            } catch {}
        }
        #expect(eventually { scheduler.locked { scheduler.barrierArrived[5]?.count == 1 } })
        // Keep heartbeats flowing (the test is about the barrier), stepping past its deadline.
        for _ in 0..<31 {
            clock.advance(by: 1)
            let now = clock.now()
            _ = eventually(timeout: 5) { [8, 9].allSatisfy { scheduler.lastHeard(from: $0) == now } }
        }
        let error = try #require(result.wait(count: 1).first)
        waiter.join(timeout: 10)
        guard case .barrierTimeout(_, _, let detail) = error else {
            Issue.record("expected a barrier timeout, got \(error)")
            return
        }
        #expect(detail.contains("worker 0 (id 9)"), "\(detail)")
    }

    /// A worker whose final barrier fails (here: the other nodes never finalize) tells the scheduler,
    /// which stops the job naming it, instead of leaving silently (with heartbeats off the scheduler
    /// would then wait for ever; with them on, it would blame the nodes still waiting).
    @Test func aFailedFinalBarrierIsReportedNamingTheNode() throws {
        let cluster = InMemoryCluster()
        defer { cluster.stopAll() }
        let (scheduler, _, workers) = cluster.addJob(workers: 1, servers: 1)
        #expect(cluster.startAll().allSatisfy { $0?.succeeded == true })
        #expect(throws: ClusterError.self) { try workers[0].finalize(timeout: 0.5) }
        #expect(eventually { scheduler.terminationError != nil })
        guard case .nodeFailed(let text)? = scheduler.terminationError else {
            Issue.record("expected the worker to be named, got \(String(describing: scheduler.terminationError))")
            return
        }
        #expect(text.contains("worker 0 (id 9)") && text.contains("final barrier"), "\(text)")
    }

    /// A worker that gives up waiting in a barrier of the workers (where the scheduler is no member, so
    /// its own deadline never names anyone) stops the job; the reason names the worker that never
    /// arrived, not only the one that waited.
    @Test func aBarrierGivenUpOnNamesTheMembersThatNeverCame() throws {
        let cluster = InMemoryCluster()
        defer { cluster.stopAll() }
        let (scheduler, _, workers) = cluster.addJob(workers: 2, servers: 1)
        #expect(cluster.startAll().allSatisfy { $0?.succeeded == true })
        // Ranks follow the addresses, not the order the workers were added in: name them by id.
        let (waiting, absent) = (workers[1], workers[0])
        #expect(throws: ClusterError.self) { try waiting.barrier(group: .workers, timeout: 0.5) }
        waiting.abort("its barrier over workers timed out")
        #expect(eventually { scheduler.terminationError != nil })
        guard case .nodeFailed(let text)? = scheduler.terminationError else {
            Issue.record("expected the job to stop, got \(String(describing: scheduler.terminationError))")
            return
        }
        let name = { (office: PostOffice) in "\(NodeID.name(of: office.myID)) (id \(office.myID))" }
        #expect(text.contains("\(name(waiting)) at") && text.contains("stopped: its barrier"), "\(text)")
        #expect(text.contains("in the barrier over workers, \(name(absent)) at"), "\(text)")
        #expect(text.contains("never arrived"), "\(text)")
    }

    /// A node of another job (another `SWIFTPS_JOB_ID`, as when two launches were given one port) is
    /// refused with a message that says so, and the scheduler's own job still assembles.
    /// Also when the other job has another secret: the refusal then cannot be signed for the node, which
    /// accepts it on its nonce alone.
    @Test(arguments: [(nil, nil), ("s", "s"), ("s", "other")])
    func aNodeOfAnotherJobIsRefused(secret: String?, strangersSecret: String?) throws {
        let cluster = InMemoryCluster()
        defer { cluster.stopAll() }
        func config(_ role: NodeRole, job: String, secret: String?) -> ClusterConfig {
            var config = cluster.config(role, workers: 1, servers: 0, secret: secret)
            config.jobID = job
            return config
        }
        let scheduler = cluster.add(config(.scheduler, job: "job-a", secret: secret))
        let stranger = cluster.add(config(.worker, job: "job-b", secret: strangersSecret))
        let results = Inbox<Result<Void, ClusterError>?>()
        let starter = JoinableThread(name: "test-scheduler") {
            results.put(cluster.concurrently([scheduler]) { try $0.start() }[0])
        }
        defer { starter.join(timeout: 40) }
        let refused = cluster.concurrently([stranger]) { try $0.start() }[0]
        guard case .rendezvousRefused(let text)? = refused?.failure else {
            Issue.record("expected a refusal, got \(String(describing: refused))")
            return
        }
        #expect(text.contains("runs another job (this node's is 'job-b')"), "\(text)")
        #expect(!text.contains("job-a"), "a stranger does not learn the scheduler's job: \(text)")
        #expect(scheduler.locked { scheduler.arrivals.isEmpty }, "a refused node does not count")
        let member = cluster.add(config(.worker, job: "job-a", secret: secret))
        #expect(cluster.concurrently([member]) { try $0.start() }[0]?.succeeded == true)
        #expect(results.wait(count: 1, timeout: 30).first??.succeeded == true)
    }

    /// A worker started for 3 workers joins a scheduler of 2: it is refused naming both sizes, and the
    /// rendezvous fails at once for the nodes already waiting, naming it (not at the deadline: the
    /// job cannot start as configured). Without the check it joined and trained as 1 of 3.
    @Test func aNodeStartedForAnotherClusterSizeFailsTheRendezvousAtOnce() throws {
        let cluster = InMemoryCluster()
        defer { cluster.stopAll() }
        let odd = cluster.add(cluster.config(.worker, workers: 3, servers: 1))
        let (refusal, reasons, _) = Self.lateArrival(odd, in: cluster, early: [[:]])
        #expect(
            refusal.contains("runs a job of 2 workers and 1 server, this node was started for 3 workers and 1 server"))
        for reason in reasons {
            #expect(
                reason.contains("worker at \(odd.myNode.address) was started for 3 workers and 1 server"), "\(reason)")
            #expect(reason.contains("DMLC_NUM_WORKER"), "\(reason)")
        }
    }

    /// A worker of another build (here one from before wire protocol numbers, which sends none) is
    /// refused, naming both protocols, and the rendezvous fails at once for the nodes waiting: one
    /// build would misread the other's messages (an fp16 push read as float32). A node that gets a
    /// table from a scheduler of another protocol (an older scheduler does not check) refuses it.
    @Test func aNodeOfAnotherWireProtocolFailsTheRendezvousAtOnce() throws {
        let cluster = InMemoryCluster()
        defer { cluster.stopAll() }
        var config = cluster.config(.worker, workers: 2, servers: 1)
        config.wireProtocol = 0
        let odd = cluster.add(config)
        let (refusal, reasons, early) = Self.lateArrival(odd, in: cluster, early: [[:]])
        #expect(
            refusal.contains(
                "speaks SwiftPS wire protocol \(NodeInfo.wireProtocol), this node 0 (a build from before wire protocol numbers): run the same swiftps build on every host"
            ), "\(refusal)")
        for reason in reasons {
            #expect(
                reason.contains("worker at \(odd.myNode.address) speaks SwiftPS wire protocol 0 (a build from before"),
                "\(reason)")
        }
        var scheduler = early[0].myNode
        scheduler.id = NodeID.scheduler
        let same = scheduler
        #expect(early[1].locked { early[1].schedulerProtocolMismatch(in: [same]) } == nil)
        scheduler.protocolVersion = NodeInfo.wireProtocol + 1
        let newer = scheduler
        let mismatch = early[1].locked { early[1].schedulerProtocolMismatch(in: [newer]) }
        guard case .rendezvousRefused(let text)? = mismatch else {
            Issue.record("expected a refusal, got \(String(describing: mismatch))")
            return
        }
        #expect(
            text.contains(
                "speaks SwiftPS wire protocol \(NodeInfo.wireProtocol + 1), this node \(NodeInfo.wireProtocol)"))
    }

    /// A worker started with other heartbeat settings than the scheduler's (a flag given to the workers
    /// only) is refused, naming both, and the rendezvous fails at once: the scheduler judges silence
    /// by its own timeout, and would declare a worker that beats every 15 s dead while alive.
    @Test func aNodeWithOtherHeartbeatsFailsTheRendezvousAtOnce() throws {
        let cluster = InMemoryCluster()
        defer { cluster.stopAll() }
        var config = cluster.config(.worker, workers: 2, servers: 1)
        config.heartbeatInterval = 15
        config.heartbeatTimeout = 60
        let slow = cluster.add(config)
        let (refusal, reasons, early) = Self.lateArrival(slow, in: cluster, early: [[:]])
        let mine = PostOffice.describeHeartbeats(early[0].config)
        #expect(
            refusal.contains("this node's heartbeats are interval 15.0 s, timeout 60.0 s, the scheduler's \(mine)"),
            "\(refusal)")
        for reason in reasons {
            #expect(reason.contains("worker at \(slow.myNode.address) times heartbeats interval 15.0 s"), "\(reason)")
        }
    }

    /// Starts the scheduler and the one server of a job of `workers` workers on a thread of their own
    /// (their starts' results arrive in `results`), and waits until the server has registered.
    static func startSchedulerAndServer(in cluster: InMemoryCluster, workers: Int) -> (
        scheduler: PostOffice, starter: JoinableThread, results: Inbox<[Result<Void, ClusterError>?]>
    ) {
        let early = [
            cluster.config(.scheduler, workers: workers, servers: 1),
            cluster.config(.server, workers: workers, servers: 1),
        ]
        .map { cluster.add($0) }
        let results = Inbox<[Result<Void, ClusterError>?]>()
        let starter = JoinableThread(name: "test-early") {
            results.put(cluster.concurrently(early) { try $0.start() })
        }
        let scheduler = early[0]
        #expect(eventually { scheduler.locked { scheduler.arrivals.count == 1 } })
        return (scheduler, starter, results)
    }

    /// Hands `scheduler` an ADD_NODE of a worker at `host:port` with `nonce`, for a job of `workers` and
    /// `servers`, as if it had come over the network.
    static func addNode(
        to scheduler: PostOffice, worker host: String, port: Int32, nonce: [UInt8], workers: Int32, servers: Int32
    ) {
        var node = NodeInfo(role: .worker, hostname: host, port: port, nonce: nonce)
        node.numWorkers = workers
        node.numServers = servers
        node.protocolVersion = NodeInfo.wireProtocol
        let message = Message(control: Control(cmd: .addNode, nodes: [node]), request: true)
        scheduler.locked { scheduler.handleAddNode(message) }
    }

    /// An ADD_NODE whose address no one could reach (a port outside 1-65535, no hostname) is dropped:
    /// it neither registers nor fails the rendezvous, and the job's own nodes then complete it.
    @Test func anAddNodeWithAnUnreachableAddressIsDropped() throws {
        let cluster = InMemoryCluster()
        defer { cluster.stopAll() }
        let (scheduler, starter, results) = Self.startSchedulerAndServer(in: cluster, workers: 1)
        defer { starter.join(timeout: 40) }
        for (host, port) in [("127.0.0.1", Int32(-1)), ("127.0.0.1", 0), ("127.0.0.1", 70_000), ("", 9000)] {
            Self.addNode(to: scheduler, worker: host, port: port, nonce: [1, 2, 3], workers: 1, servers: 1)
        }
        #expect(scheduler.locked { scheduler.arrivals.count == 1 && scheduler.terminalError == nil })
        let worker = cluster.add(cluster.config(.worker, workers: 1, servers: 1))
        #expect(cluster.concurrently([worker]) { try $0.start() }[0]?.succeeded == true)
        let started = results.wait(count: 1, timeout: 30).first ?? []
        #expect(started.count == 2 && started.allSatisfy { $0?.succeeded == true }, "\(started)")
    }

    /// An ADD_NODE repeated by the same process (same nonce) changes nothing; one from a new process
    /// at the address of a node that registered (restarted on the same port) takes its place, rather
    /// than being ignored and left to wait for a table addressed to the old process.
    @Test func aNewProcessAtARegisteredAddressTakesItsPlace() throws {
        let cluster = InMemoryCluster()
        let (scheduler, starter, _) = Self.startSchedulerAndServer(in: cluster, workers: 2)
        defer {
            cluster.stopAll()
            starter.join(timeout: 40)
        }
        func register(nonce: [UInt8]) {
            Self.addNode(to: scheduler, worker: "127.0.0.1", port: 9300, nonce: nonce, workers: 2, servers: 1)
        }
        func workers() -> [[UInt8]] {
            scheduler.locked { scheduler.arrivals.filter { $0.role == .worker }.map(\.nonce) }
        }
        register(nonce: [1])
        register(nonce: [1])
        #expect(workers() == [[1]])
        register(nonce: [2])
        #expect(workers() == [[2]], "the new process replaces the old one, which is not counted twice")
        #expect(scheduler.locked { scheduler.terminalError == nil })
    }

    /// A worker whose shared settings (`ClusterConfig.sharedSettings`) differ from a registered
    /// worker's is refused, naming each differing setting with both values, and the rendezvous fails
    /// at once for the nodes waiting. Equal settings, or a worker that declares none, join.
    @Test func aWorkerWithOtherSettingsFailsTheRendezvousAtOnce() throws {
        let cluster = InMemoryCluster()
        defer { cluster.stopAll() }
        var config = cluster.config(.worker, workers: 2, servers: 1)
        config.sharedSettings = ["--num-epochs": "2", "--batch-size": "128", "--resume": "yes"]
        let odd = cluster.add(config)
        let (refusal, reasons, early) = Self.lateArrival(
            odd, in: cluster, early: [["--num-epochs": "10", "--batch-size": "128"]])
        let first = early[2].myNode.address
        #expect(
            refusal.contains(
                "this worker differs from the worker at \(first): --num-epochs 2 here, 10 there; --resume yes here, (not given) there"
            ), "\(refusal)")
        for reason in reasons {
            #expect(
                reason.contains(
                    "the worker at \(odd.myNode.address) differs from the worker at \(first): --num-epochs 2 against 10; --resume yes against (not given): give every worker the same settings"
                ), "\(reason)")
        }
    }

    /// The two workers differ before the server has started: the scheduler stays (up to
    /// `failureNoticeGrace`) to tell the server why, instead of exiting and leaving it to its own
    /// rendezvous deadline and a message blaming a missing scheduler. With an extra worker arriving
    /// first, that one is told too but does not stand in for the server: the scheduler counts the
    /// nodes told by role (counting them all, three workers made it leave without the server).
    @Test(arguments: [0, 1]) func aNodeArrivingAfterTheRendezvousFailedHearsWhy(extraWorkers: Int) throws {
        let cluster = InMemoryCluster()
        defer { cluster.stopAll() }
        var configs = [cluster.config(.scheduler, workers: 2, servers: 1)]
        for epochs in ["1", "2"] {
            var config = cluster.config(.worker, workers: 2, servers: 1)
            config.sharedSettings = ["--num-epochs": epochs]
            configs.append(config)
        }
        let early = configs.map { cluster.add($0) }
        let results = Inbox<[Result<Void, ClusterError>?]>()
        let starter = JoinableThread(name: "test-early") {
            results.put(cluster.concurrently(early) { try $0.start() })
        }
        defer { starter.join(timeout: 40) }
        #expect(eventually { early[0].locked { early[0].terminalError != nil } })
        for _ in 0..<extraWorkers {
            let extra = cluster.add(cluster.config(.worker, workers: 2, servers: 1))
            let told = cluster.concurrently([extra]) { try $0.start() }[0]
            guard case .rendezvousFailed? = told?.failure else {
                Issue.record("expected the extra worker to hear the failure, got \(String(describing: told))")
                return
            }
        }
        let server = cluster.add(cluster.config(.server, workers: 2, servers: 1))
        let late = cluster.concurrently([server]) { try $0.start() }[0]
        guard case .rendezvousFailed(let reason)? = late?.failure else {
            Issue.record("expected the server to hear the failure, got \(String(describing: late))")
            return
        }
        #expect(reason.contains("--num-epochs 2 against 1") || reason.contains("--num-epochs 1 against 2"), "\(reason)")
        let ended = results.wait(count: 1, timeout: 30).first ?? []
        #expect(ended.count == 3 && ended.allSatisfy { $0?.succeeded == false }, "\(ended)")
    }

    @Test func workersWithEqualSettingsOrNoneJoin() throws {
        let cluster = InMemoryCluster()
        defer { cluster.stopAll() }
        let settings = ["--num-epochs": "10", "--batch-size": "128"]
        var nodes = [cluster.add(cluster.config(.scheduler, workers: 3, servers: 1))]
        nodes.append(cluster.add(cluster.config(.server, workers: 3, servers: 1)))
        for declared in [settings, [:], settings] {
            var config = cluster.config(.worker, workers: 3, servers: 1)
            config.sharedSettings = declared
            nodes.append(cluster.add(config))
        }
        for result in cluster.concurrently(nodes, { try $0.start() }) {
            #expect(result?.succeeded == true, "\(String(describing: result))")
        }
    }

    /// Declared settings (`ClusterConfig.declaredSettingPrefix`) are not compared: workers giving
    /// different values join, and the scheduler reads each value once.
    @Test func declaredSettingsMayDifferAndAreAllRead() throws {
        let cluster = InMemoryCluster()
        defer { cluster.stopAll() }
        let scheduler = cluster.add(cluster.config(.scheduler, workers: 3, servers: 1))
        var nodes = [scheduler, cluster.add(cluster.config(.server, workers: 3, servers: 1))]
        let name = ClusterConfig.declaredSettingPrefix + "--metrics-out"
        for path in ["b.jsonl", "a.jsonl", "b.jsonl"] {
            var config = cluster.config(.worker, workers: 3, servers: 1)
            config.sharedSettings = ["--num-epochs": "10", name: path]
            nodes.append(cluster.add(config))
        }
        for result in cluster.concurrently(nodes, { try $0.start() }) {
            #expect(result?.succeeded == true, "\(String(describing: result))")
        }
        #expect(scheduler.workerDeclarations(name) == ["a.jsonl", "b.jsonl"])
        #expect(scheduler.workerDeclarations("declared:absent").isEmpty)
    }

    /// Starts a scheduler, a server and one worker per entry of `early` (with those shared settings)
    /// for 2 workers and 1 server, waits until they have registered, then starts `late`: returns its
    /// refusal's text, the rendezvous errors of the early nodes and those nodes.
    static func lateArrival(_ late: PostOffice, in cluster: InMemoryCluster, early settings: [[String: String]])
        -> (refusal: String, reasons: [String], early: [PostOffice])
    {
        let workers = settings.map { declared in
            var config = cluster.config(.worker, workers: 2, servers: 1)
            config.sharedSettings = declared
            return config
        }
        let early =
            ([cluster.config(.scheduler, workers: 2, servers: 1), cluster.config(.server, workers: 2, servers: 1)]
            + workers).map { cluster.add($0) }
        let results = Inbox<[Result<Void, ClusterError>?]>()
        let starter = JoinableThread(name: "test-early") {
            results.put(cluster.concurrently(early) { try $0.start() })
        }
        defer { starter.join(timeout: 40) }
        let count = early.count - 1
        #expect(eventually { early[0].locked { early[0].arrivals.count == count } })
        let refused = cluster.concurrently([late]) { try $0.start() }[0]
        guard case .rendezvousRefused(let text)? = refused?.failure else {
            Issue.record("expected a refusal, got \(String(describing: refused))")
            return ("", [], early)
        }
        var reasons: [String] = []
        for result in results.wait(count: 1, timeout: 30).first ?? [] {
            guard case .rendezvousFailed(let reason)? = result?.failure else {
                Issue.record("expected the rendezvous to fail, got \(String(describing: result))")
                continue
            }
            reasons.append(reason)
        }
        #expect(reasons.count == early.count, "every early node fails")
        return (text, reasons, early)
    }

    /// With a secret, the scheduler's TERMINATE is signed for each waiting node (`isGenuineVerdict`).
    @Test(arguments: [nil, "s"]) func aNodeThatNeverArrivesFailsRendezvousNamingIt(secret: String?) throws {
        let clock = ManualClock()
        let cluster = InMemoryCluster(clock: clock)
        defer { cluster.stopAll() }
        let scheduler = cluster.add(cluster.config(.scheduler, workers: 2, servers: 2, secret: secret))
        _ = cluster.add(cluster.config(.server, workers: 2, servers: 2, secret: secret))
        _ = cluster.add(cluster.config(.worker, workers: 2, servers: 2, secret: secret))
        _ = cluster.add(cluster.config(.worker, workers: 2, servers: 2, secret: secret))
        let results = Inbox<Result<Void, ClusterError>>()
        let runner = JoinableThread(name: "test-start") {
            for result in cluster.startAll(timeout: 30) { results.put(result ?? .failure(.transport("no result"))) }
        }
        #expect(eventually { scheduler.locked { scheduler.arrivals.count == 3 } })
        clock.advance(by: 61)
        let all = results.wait(count: 4, timeout: 40)
        runner.join(timeout: 10)
        #expect(all.count == 4)
        for result in all {
            guard case .rendezvousFailed(let text)? = result.failure else {
                Issue.record("expected a rendezvous timeout, got \(result)")
                continue
            }
            #expect(text.contains("1 of 2 servers"), "\(text)")
        }
    }
}
