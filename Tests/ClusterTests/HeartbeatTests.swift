import Foundation
import SwiftPSTransport
import Testing

@testable import SwiftPSCluster

@Suite struct HeartbeatTests {
    @Test func aSilentServerTerminatesTheJobNamingIt() throws {
        let clock = ManualClock()
        let cluster = InMemoryCluster(clock: clock)
        defer { cluster.stopAll() }
        let (scheduler, servers, workers) = cluster.addJob(workers: 2, servers: 1)
        let server = servers[0]
        #expect(cluster.startAll().allSatisfy { $0?.succeeded == true })
        cluster.network.isolate(server.myNode.address)
        var steps = 0
        while scheduler.terminationError == nil && steps < 15 {
            clock.advance(by: 1)
            steps += 1
            let now = clock.now()
            // Let the live nodes' heartbeats, the scheduler's answers and its check for this second land.
            _ = eventually(timeout: 5) {
                (workers.allSatisfy { scheduler.lastHeard(from: $0.myID) == now && $0.lastHeard(from: 1) == now }
                    && scheduler.locked { scheduler.heartbeatTick == now }) || scheduler.terminationError != nil
            }
        }
        // Its last heartbeat from before the isolation may still land after the first advance (then it
        // counts as heard at 1 s): the server is dead 11 s after whatever the scheduler last heard.
        let heard = try #require(scheduler.lastHeard(from: server.myID))
        #expect(Double(steps) == heard + 11, "the server is dead once silent for more than 10 s (heard at \(heard))")
        // Nodes give the scheduler 1.5 timeouts plus an interval (16 s) before they give up on it.
        for _ in 0..<8 where server.terminationError == nil {
            clock.advance(by: 1)
            let now = clock.now()
            _ = eventually(timeout: 5) {
                server.locked { server.heartbeatTick == now } || server.terminationError != nil
            }
        }
        let events = cluster.terminations.wait(count: 4)
        let informed = events.filter { $0.role != .server }
        #expect(informed.count == 3, "\(events)")
        for event in informed {
            guard case .nodeFailed(let text) = event.error else {
                Issue.record("expected NODE_FAILED, got \(event.error)")
                continue
            }
            #expect(text.contains("server 0 (id 8) at \(server.myNode.address)"), "\(text)")
        }
        // The isolated server hears nothing from the scheduler and ends itself, naming the scheduler.
        let own = events.first { $0.role == .server }
        guard case .schedulerLost(let text)? = own?.error else {
            Issue.record("expected the server to lose the scheduler, got \(String(describing: own))")
            return
        }
        #expect(text.contains("scheduler (id 1) at 127.0.0.1:9100"), "\(text)")
        // Pending waits fail at once with the termination.
        #expect(throws: ClusterError.self) { try workers[0].barrier(group: .workers, timeout: 100) }
    }

    /// Every process paused for 12 s at once (the clock jumps past the 10 s timeout between two
    /// ticks, as for a stopped or suspended process): each sees that it did not run itself, so nobody
    /// is declared dead for it and the job goes on. A server that is really gone is still found, one
    /// timeout after the pause, and the scheduler's message mentions its own pause.
    @Test func aPauseOfTheProcessItselfDeclaresNobodyDead() throws {
        let clock = ManualClock()
        let cluster = InMemoryCluster(clock: clock)
        defer { cluster.stopAll() }
        let (scheduler, servers, workers) = cluster.addJob(workers: 1, servers: 1)
        let (server, worker) = (servers[0], workers[0])
        #expect(cluster.startAll().allSatisfy { $0?.succeeded == true })
        func step(_ seconds: Double) {
            clock.advance(by: seconds)
            let now = clock.now()
            _ = eventually(timeout: 5) {
                [scheduler, worker].allSatisfy { office in office.locked { office.heartbeatTick == now } }
                    || scheduler.terminationError != nil
            }
        }
        step(1)
        step(12)
        for _ in 0..<3 { step(1) }
        #expect(scheduler.terminationError == nil && worker.terminationError == nil && server.terminationError == nil)
        #expect(scheduler.locked { scheduler.ownStall?.seconds } == 12)

        cluster.network.isolate(server.myNode.address)
        var steps = 0
        while scheduler.terminationError == nil && steps < 15 {
            step(1)
            steps += 1
        }
        guard case .nodeFailed(let text)? = scheduler.terminationError else {
            Issue.record(
                "expected the server to be declared dead, got \(String(describing: scheduler.terminationError))")
            return
        }
        #expect(text.contains("server 0 (id 8)"), "\(text)")
        #expect(text.contains("this scheduler itself did not run for 12 s until"), "\(text)")
    }

    @Test func aSilentSchedulerIsNoticedByEveryNode() throws {
        let clock = ManualClock()
        let cluster = InMemoryCluster(clock: clock)
        defer { cluster.stopAll() }
        let scheduler = cluster.addJob(workers: 1, servers: 1).scheduler
        #expect(cluster.startAll().allSatisfy { $0?.succeeded == true })
        cluster.network.isolate(scheduler.myNode.address)
        // Nodes give the scheduler 1.5 heartbeat timeouts plus an interval: 16 s here.
        for _ in 0..<18 {
            clock.advance(by: 1)
            usleep(5000)
        }
        let events = cluster.terminations.wait(count: 3)
        let lost = events.filter {
            if case .schedulerLost = $0.error { return true }
            return false
        }
        #expect(Set(lost.map(\.role)) == [.server, .worker], "\(events)")
    }
}

@Suite struct TerminateJobTests {
    /// The scheduler ends the job for everyone with one reason (the epoch-end deadline uses this);
    /// a worker asking the same is ignored.
    @Test func theSchedulerEndsTheJobForEveryNodeWithItsReason() throws {
        let cluster = InMemoryCluster(clock: ManualClock())
        defer { cluster.stopAll() }
        let (scheduler, _, workers) = cluster.addJob(workers: 2, servers: 1)
        #expect(cluster.startAll().allSatisfy { $0?.succeeded == true })
        workers[0].terminateJob("a worker cannot do this")
        #expect(workers[0].terminationError == nil && scheduler.terminationError == nil)
        scheduler.terminateJob("worker 1 did not reach the end of epoch 0")
        let events = cluster.terminations.wait(count: 4)
        #expect(events.count == 4, "\(events)")
        for event in events {
            guard case .terminated(let text) = event.error else {
                Issue.record("expected TERMINATE, got \(event.error)")
                continue
            }
            #expect(text == "worker 1 did not reach the end of epoch 0")
        }
        #expect(throws: ClusterError.self) { try workers[1].barrier(group: .workers, timeout: 100) }
    }
}

@Suite struct AbortTests {
    /// A worker that cannot go on tells the scheduler why and stops; every other node terminates at
    /// once with NODE_FAILED naming that worker and its reason (no clock advance: no heartbeat is
    /// missed), and the aborting worker's own handler does not run.
    @Test func aWorkerThatAbortsStopsTheJobNamingItAndItsReason() throws {
        let cluster = InMemoryCluster(clock: ManualClock())
        defer { cluster.stopAll() }
        let workers = cluster.addJob(workers: 2, servers: 1).workers
        #expect(cluster.startAll().allSatisfy { $0?.succeeded == true })
        let quitter = workers[1]
        let name = quitter.myNode.description
        quitter.abort("cannot read data/train-images-idx3-ubyte.gz")
        let events = cluster.terminations.wait(count: 3)
        #expect(events.map(\.role).sorted { $0.description < $1.description } == [.scheduler, .server, .worker])
        for event in events {
            guard case .nodeFailed(let text) = event.error else {
                Issue.record("expected NODE_FAILED, got \(event.error)")
                continue
            }
            #expect(text == "\(name) stopped: cannot read data/train-images-idx3-ubyte.gz")
        }
        // The three are the other nodes' (one each); a fourth could only be the quitter's own handler.
        let late = cluster.terminations.wait(count: 4, timeout: 0.5)
        #expect(late.count == 3, "the aborting worker's handler ran: \(late)")
        #expect(throws: ClusterError.self) { try quitter.barrier(group: .workers, timeout: 100) }
    }
}
