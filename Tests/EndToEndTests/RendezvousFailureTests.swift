import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Jobs that cannot assemble as configured (release binary, real processes on 127.0.0.1): a node
/// started for another cluster size, one worker too many, the scheduler's port held by another
/// program. Each fails (or is refused) with a message naming the node or the address, within its
/// deadline, and a job already running goes on.
@Suite(.serialized, .enabled(if: SwiftPSBinary.path != nil, "\(SwiftPSBinary.missing)"))
struct RendezvousFailureTests {
    static let job = ["--kv-store", "dist_sync", "--network", "mlp", "--no-progress", "--disp-batches", "20"]

    /// Worker process 1 has DMLC_NUM_WORKER=3 where the rest of the job has 2. It used to join and
    /// train as worker 0 of 3 (its shard and gradient scaling wrong, silently); now the scheduler
    /// refuses it naming both sizes and fails the rendezvous at once for the nodes already there.
    @Test func aWorkerStartedForAnotherClusterSizeStopsTheJobAtOnce() throws {
        try ProcessCluster.with(workers: 2, servers: 1) { cluster in
            let train = ["train"] + Self.job + ["--num-epochs", "1", "--num-batches", "20"]
            try cluster.startSchedulerAndServers()
            try cluster.spawn("worker0", train, env: cluster.environment(role: "worker"))
            // The odd worker comes last, so every other node is waiting when it is refused.
            let waiting = cluster.waitForLog(of: ["scheduler"], containing: "registered (2 of 3)", timeout: 60)
            try #require(waiting != nil, "the server and worker 0 never registered: \(cluster.allLogs())")
            try cluster.spawn(
                "worker1", train, env: cluster.environment(role: "worker", extra: ["DMLC_NUM_WORKER": "3"]))

            let statuses = cluster.waitAll(timeout: 60)
            cluster.expectFailed(
                ["worker1"], statuses,
                saying: ["runs a job of 2 workers and 1 server, this node was started for 3 workers and 1 server"])
            cluster.expectFailed(
                ["scheduler", "server0", "worker0"], statuses,
                saying: [
                    "rendezvous failed: worker at 127.0.0.1:", "was started for 3 workers and 1 server",
                    "DMLC_NUM_WORKER",
                ])
        }
    }

    /// A worker advertises a name the scheduler cannot resolve: the scheduler fails the rendezvous at
    /// once, and the server hears why, naming the worker and its address (it used to wait out its
    /// deadline for a table). The worker, which cannot be told, says the scheduler may not reach it.
    @Test func aWorkerTheSchedulerCannotReachIsNamedAtOnce() throws {
        try ProcessCluster.with(workers: 1, servers: 1) { cluster in
            let train = ["train"] + Self.job + ["--num-epochs", "1", "--num-batches", "20"]
            try cluster.startSchedulerAndServers(extra: ["SWIFTPS_RENDEZVOUS_TIMEOUT": "5"])
            try cluster.spawn(
                "worker0", train,
                env: cluster.environment(
                    role: "worker",
                    extra: ["DMLC_NODE_HOST": "no-such-host.invalid", "SWIFTPS_RENDEZVOUS_TIMEOUT": "5"]))
            let statuses = cluster.waitAll(timeout: 60)
            cluster.expectFailed(
                ["scheduler", "server0"], statuses,
                saying: ["the scheduler cannot connect to worker 0 (id 9) at no-such-host.invalid:", "DMLC_NODE_HOST"])
            cluster.expectFailed(
                ["worker0"], statuses, saying: ["or can it not reach this node at no-such-host.invalid:"])
        }
    }

    /// Two more workers arrive while a 2-worker job trains: one like the others, one started for 3
    /// workers. Both are refused with a message saying why, and the job trains to the end.
    @Test func workersTooManyAreRefusedAndTheJobGoesOn() throws {
        try ProcessCluster.with(workers: 2, servers: 1) { cluster in
            try cluster.startJob(Self.job + ["--num-epochs", "2", "--num-batches", "150"])
            let training = cluster.waitForLog(of: ["worker0", "worker1"], containing: "Epoch[0] Batch", timeout: 60)
            try #require(training != nil, "the job never trained: \(cluster.allLogs())")
            let train = ["train"] + Self.job + ["--num-epochs", "1"]
            try cluster.spawn("third", train, env: cluster.environment(role: "worker"))
            try cluster.spawn("odd", train, env: cluster.environment(role: "worker", extra: ["DMLC_NUM_WORKER": "3"]))

            let statuses = cluster.waitAll(timeout: 120)
            for name in ["scheduler", "server0", "worker0", "worker1"] {
                #expect(
                    statuses[name] == 0,
                    "\(name) exited with \(String(describing: statuses[name]))\n\(cluster.allLogs())")
            }
            cluster.expectFailed(
                ["third"], statuses, saying: ["the scheduler refused this node", "already has its 2 workers"])
            cluster.expectFailed(["odd"], statuses, saying: ["this node was started for 3 workers and 1 server"])
        }
    }

    /// Another program listens on the scheduler's port: the scheduler exits at once naming the address,
    /// and the server and worker, which reach that program instead, give up at their rendezvous
    /// deadline naming the scheduler's address.
    @Test func theSchedulersPortTakenByAnotherProgramFailsNamingTheAddress() throws {
        try ProcessCluster.with(workers: 1, servers: 1) { cluster in
            let squatter = try #require(Self.listen(port: cluster.schedulerPort), "cannot listen on the test's port")
            defer { close(squatter) }
            try cluster.startJob(
                Self.job + ["--num-epochs", "1"],
                extra: ["SWIFTPS_RENDEZVOUS_TIMEOUT": "2", "SWIFTPS_HEARTBEAT_TIMEOUT": "3"])

            let statuses = cluster.waitAll(timeout: 60)
            let address = "127.0.0.1:\(cluster.schedulerPort)"
            cluster.expectFailed(["scheduler"], statuses, saying: ["cannot listen on \(address)", "already in use"])
            cluster.expectFailed(
                ["server0", "worker0"], statuses, saying: ["no node table from the scheduler at \(address)"])
        }
    }

    /// A TCP socket listening on 127.0.0.1:`port` that never accepts (connections wait in its
    /// backlog, as with a program that does not speak ZeroMQ), or nil.
    static func listen(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        guard withLoopbackAddress(port: port, { bind(fd, $0, $1) == 0 }), Glibc.listen(fd, 16) == 0 else {
            close(fd)
            return nil
        }
        return fd
    }
}
