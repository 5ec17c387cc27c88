import Foundation
import Testing

/// Failures of real `swiftps` processes on 127.0.0.1 (release binary): a server or the scheduler killed
/// mid-epoch, a node that never starts, a worker with the wrong secret. Every other process must exit non-zero
/// within its deadline, naming what failed, and none may be left behind.
@Suite(
    .serialized,
    .enabled(
        if: SwiftPSBinary.path != nil,
        "no release swiftps binary: set SWIFTPS_BIN or build one (swift build -c release); scripts/test does both"))
struct FailureTests {
    static let quiet = DistTrainingTests.quiet
    /// A dist_sync job long enough to be killed in the middle, logging every 20 batches.
    static let longJob = [
        "--kv-store", "dist_sync", "--num-epochs", "50", "--network", "mlp", "--no-progress", "--disp-batches", "20",
    ]

    /// `kill -9` of server 0 while 2 workers train against 2 servers: the scheduler notices the missing
    /// heartbeats and every surviving process exits non-zero naming "server 0 (id 8)".
    @Test func aServerKilledMidEpochStopsEveryProcessNamingIt() throws {
        try ProcessCluster.with(workers: 2, servers: 2) { cluster in
            try startMidEpoch(cluster)
            let rank0 = ["server0", "server1"].first { cluster.log($0).contains("server 0 (id 8)") }
            let victim = try #require(rank0, "no server logged that it is server 0: \(cluster.allLogs())")
            cluster.kill(victim)

            // The heartbeat timeout is 3 s; allow generous slack for a loaded machine (a deadline, not a timing).
            let statuses = cluster.waitAll(timeout: 45)
            let others = ["scheduler", "server0", "server1", "worker0", "worker1"].filter { $0 != victim }
            cluster.expectFailed(others, statuses, saying: ["server 0 (id 8)", "failed"])
        }
    }

    /// `kill -9` of the scheduler while 2 workers train: nobody answers the heartbeats any more, and
    /// every server and worker exits non-zero within its deadline saying it lost the scheduler.
    @Test func theSchedulerKilledMidEpochStopsEveryProcessNamingIt() throws {
        try ProcessCluster.with(workers: 2, servers: 1) { cluster in
            try startMidEpoch(cluster)
            cluster.kill("scheduler")

            let statuses = cluster.waitAll(timeout: 45)
            cluster.expectFailed(
                ["server0", "worker0", "worker1"], statuses,
                saying: ["lost contact with scheduler (id 1)", "is it still running?"])
        }
    }

    /// A server, then the scheduler, frozen with SIGSTOP mid-epoch: alive, its connections open, but
    /// silent. Every other process exits non-zero within the heartbeat deadline naming it. Thawed once
    /// they are gone, the frozen one sees that it did not run itself: it fails too, saying so, rather
    /// than blaming the others for its own pause.
    @Test(arguments: [("server0", "server 0 (id 8)"), ("scheduler", "lost contact with scheduler (id 1)")])
    func aFrozenNodeStopsEveryOtherProcessNamingIt(victim: String, named: String) throws {
        try ProcessCluster.with(workers: 2, servers: 1) { cluster in
            try startMidEpoch(cluster)
            cluster.signal(victim, SIGSTOP)
            let others = ["scheduler", "server0", "worker0", "worker1"].filter { $0 != victim }
            let deadline = Date(timeIntervalSinceNow: 45)
            while Date() < deadline, others.contains(where: { cluster.isRunning($0) }) { usleep(50_000) }
            cluster.signal(victim, SIGCONT)
            let statuses = cluster.waitAll(timeout: 30)
            cluster.expectFailed(others, statuses, saying: [named])
            cluster.expectFailed([victim], statuses, saying: ["itself did not run for"])
        }
    }

    /// Starts `longJob` on `cluster` with a 3 s heartbeat timeout and returns mid-epoch: once a worker
    /// has logged its first Speedometer line of epoch 0.
    private func startMidEpoch(_ cluster: ProcessCluster) throws {
        try cluster.startJob(Self.longJob, extra: ["SWIFTPS_HEARTBEAT_TIMEOUT": "3"])
        let training = cluster.waitForLog(of: ["worker0", "worker1"], containing: "Epoch[0] Batch", timeout: 60)
        try #require(training != nil, "no worker reached training: \(cluster.allLogs())")
    }

    /// Only 1 of 2 workers is started: rendezvous fails at its deadline, and the scheduler, the
    /// server and the worker that did start all exit non-zero saying a worker never registered.
    @Test func aWorkerThatNeverStartsFailsTheRendezvousNamingIt() throws {
        try ProcessCluster.with(workers: 2, servers: 1) { cluster in
            let env = ["SWIFTPS_RENDEZVOUS_TIMEOUT": "4"]
            try cluster.startSchedulerAndServers(extra: env)
            try cluster.spawn(
                "worker0", ["train", "--kv-store", "dist_sync", "--num-epochs", "1"] + Self.quiet,
                env: cluster.environment(role: "worker", extra: env))

            let statuses = cluster.waitAll(timeout: 60)
            cluster.expectFailed(
                ["scheduler", "server0", "worker0"], statuses,
                saying: ["rendezvous failed", "1 of 2 workers never registered"])
        }
    }

    /// One worker holds another secret: the scheduler refuses it with a message pointing at
    /// --secret-file, the job never starts with it, and everyone exits non-zero at the rendezvous
    /// deadline saying the worker is missing.
    @Test func aWorkerWithTheWrongSecretIsRefused() throws {
        try ProcessCluster.with(workers: 2, servers: 1) { cluster in
            let right = [
                "SWIFTPS_SECRET_FILE": try cluster.secretFile("a.secret", secret: "the cluster's secret A"),
                "SWIFTPS_RENDEZVOUS_TIMEOUT": "6",
            ]
            var wrong = right
            wrong["SWIFTPS_SECRET_FILE"] = try cluster.secretFile("b.secret", secret: "another secret B")
            try cluster.startSchedulerAndServers(extra: right)
            let train = ["train", "--kv-store", "dist_sync", "--num-epochs", "1", "--num-batches", "20"] + Self.quiet
            try cluster.spawn("worker0", train, env: cluster.environment(role: "worker", extra: right))
            try cluster.spawn("intruder", train, env: cluster.environment(role: "worker", extra: wrong))

            let statuses = cluster.waitAll(timeout: 60)
            let intruder = statuses["intruder"] ?? nil
            #expect(intruder != nil && intruder != 0, "the intruder exited with \(String(describing: intruder))")
            let refusal = cluster.log("intruder")
            #expect(
                refusal.contains("authentication refused") && refusal.contains("--secret-file"),
                "the intruder's log does not explain the refusal:\n\(refusal.suffix(2000))")
            #expect(
                cluster.log("scheduler").contains("its HMAC does not match"),
                "the scheduler does not log the refusal:\n\(cluster.log("scheduler").suffix(2000))")
            cluster.expectFailed(
                ["scheduler", "server0", "worker0"], statuses, saying: ["1 of 2 workers never registered"])
            for name in ["scheduler", "server0", "worker0"] {
                #expect(!cluster.log(name).contains("Epoch[0]"), "\(name) trained without the second worker")
            }
        }
    }

    /// The same cluster with the right secret on every node trains to the end and exits 0.
    @Test func theRightSecretOnEveryNodeTrains() throws {
        try ProcessCluster.with(workers: 2, servers: 1) { cluster in
            let env = ["SWIFTPS_SECRET_FILE": try cluster.secretFile("a.secret", secret: "the cluster's secret A")]
            try cluster.startJob(
                ["--kv-store", "dist_sync", "--num-epochs", "1", "--num-batches", "20"] + Self.quiet, extra: env)
            let statuses = cluster.waitAll(timeout: 120)
            #expect(
                statuses.values.allSatisfy { $0 == 0 }, "not every process exited 0: \(statuses)\n\(cluster.allLogs())")
            for name in ["scheduler", "server0", "worker0", "worker1"] {
                #expect(!cluster.log(name).contains("unauthenticated"), "\(name) ran without the secret")
                #expect(cluster.log(name).contains("every message carries a tag"), "\(name) ran without message tags")
            }
            #expect(cluster.survivors().isEmpty, "processes left behind: \(cluster.survivors())")
        }
    }

    /// A worker frozen (SIGSTOP) for longer than the straggler threshold, and shorter than the heartbeat
    /// timeout, is named by the scheduler when the other worker waits for it at an epoch end; once
    /// thawed the job finishes and every process exits 0. dist_async, so the other worker is not held
    /// back batch by batch and really reaches the epoch end first.
    @Test func aFrozenWorkerIsNamedAsAStragglerAndTheJobStillFinishes() throws {
        try withWorker1Frozen(
            env: ["SWIFTPS_STRAGGLER_TIMEOUT": "1", "SWIFTPS_HEARTBEAT_TIMEOUT": "20"],
            untilTheSchedulerLogs: { _ in "is more than 1.0 s behind" },
            then: { cluster, rank, named in
                #expect(
                    named, "the scheduler did not name the frozen worker:\n\(cluster.log("scheduler").suffix(3000))")
                // Each such line names the frozen worker, with its id and address, never the waiting one.
                let lines = cluster.log("scheduler").split(separator: "\n").filter {
                    $0.contains("is more than 1.0 s behind")
                }
                #expect(
                    !lines.isEmpty
                        && lines.allSatisfy { $0.contains("worker \(rank) (id \(9 + 2 * rank)) at 127.0.0.1:") },
                    "the waiting worker was blamed: \(lines)")
                let statuses = cluster.waitAll(timeout: 120)
                #expect(
                    statuses.values.allSatisfy { $0 == 0 },
                    "not every process exited 0: \(statuses)\n\(cluster.allLogs())")
                #expect(cluster.survivors().isEmpty, "processes left behind: \(cluster.survivors())")
            })
    }

    /// A worker frozen past the epoch-end deadline (the scheduler's SWIFTPS_BARRIER_TIMEOUT, here 3 s;
    /// heartbeats allow 20 s) ends the job: every process, the frozen one once thawed included, exits
    /// non-zero saying which worker did not reach the end of the epoch, and none is left behind.
    @Test func aWorkerLateForTheEpochEndStopsTheJobNamingIt() throws {
        try withWorker1Frozen(
            env: ["SWIFTPS_HEARTBEAT_TIMEOUT": "20"], schedulerEnv: ["SWIFTPS_BARRIER_TIMEOUT": "3"],
            untilTheSchedulerLogs: { _ in "did not reach the end of epoch" },
            then: { cluster, rank, failed in
                #expect(failed, "the scheduler did not end the job:\n\(cluster.log("scheduler").suffix(3000))")
                let statuses = cluster.waitAll(timeout: 45)
                cluster.expectFailed(
                    ["scheduler", "server0", "worker0", "worker1"], statuses,
                    saying: ["worker \(rank) (id \(9 + 2 * rank)) at 127.0.0.1:", "did not reach the end of epoch"])
            })
    }

    /// Starts a scheduler, a server and 2 dist_async workers (3 epochs of 400 mlp batches) with `env`
    /// (the scheduler also with `schedulerEnv`) and freezes process worker1 with SIGSTOP once it has
    /// trained 10 batches. Waits up to 15 s for the scheduler to log `text(rank)` (ranks follow
    /// arrival at the scheduler), thaws worker1, then runs `body` with the cluster, worker1's rank and
    /// whether the line came. `with` kills every process (frozen or not) on every way out.
    private func withWorker1Frozen(
        env: [String: String], schedulerEnv: [String: String] = [:],
        untilTheSchedulerLogs text: (Int) -> String, then body: (ProcessCluster, Int, Bool) throws -> Void
    ) throws {
        try ProcessCluster.with(workers: 2, servers: 1) { cluster in
            try cluster.spawn(
                "scheduler", ["scheduler"],
                env: cluster.environment(role: "scheduler", extra: env.merging(schedulerEnv) { $1 }))
            try cluster.spawn("server0", ["server"], env: cluster.environment(role: "server", extra: env))
            for i in 0..<2 {
                try cluster.spawn(
                    "worker\(i)",
                    ["train", "--kv-store", "dist_async", "--mom", "0", "--num-epochs", "3", "--num-batches", "400"]
                        + ["--network", "mlp", "--no-progress", "--disp-batches", "10"],
                    env: cluster.environment(role: "worker", extra: env))
            }
            let started = cluster.waitForLog(of: ["worker1"], containing: "Batch [0-10]", timeout: 60)
            try #require(started != nil, "worker1 never trained: \(cluster.allLogs())")
            let rank = cluster.log("worker1").contains("dist_async, worker 1 of 2") ? 1 : 0
            cluster.signal("worker1", SIGSTOP)
            let logged = cluster.waitForLog(of: ["scheduler"], containing: text(rank), timeout: 15) != nil
            cluster.signal("worker1", SIGCONT)
            try body(cluster, rank, logged)
        }
    }
}
