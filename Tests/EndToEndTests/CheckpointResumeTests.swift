import Foundation
import SwiftPSKVStore
import SwiftPSModule
import SwiftPSTensor
import Testing

/// One distributed `swiftps train` job as real processes: a scheduler, servers and workers.
struct DistJob {
    let cluster: ProcessCluster
    let statuses: [String: Int32?]

    /// Runs a job to its end (or `timeout`), killing whatever is left. `serverEnv[i]` is added to
    /// server process i's environment, `workerEnv[i]` to worker process i's; `workerArgs[i]`, when
    /// given, replaces the arguments of worker i;
    /// `nodeWrapper`, when given, wraps every server and worker command (see `ProcessCluster.spawn`);
    /// `schedulerDirectory` and `nodeDirectory` are the working directories of the scheduler and of
    /// the other nodes (default: the test's).
    static func run(
        workers: Int, servers: Int, args: [String], env: [String: String] = [:],
        serverEnv: [Int: [String: String]] = [:], workerEnv: [Int: [String: String]] = [:],
        workerArgs: [Int: [String]] = [:], nodeWrapper: [String] = [],
        schedulerDirectory: String? = nil, nodeDirectory: String? = nil, timeout: Double = 240
    ) throws -> DistJob {
        let cluster = try ProcessCluster(binary: try #require(SwiftPSBinary.path), workers: workers, servers: servers)
        defer { cluster.killAll() }
        try cluster.spawn(
            "scheduler", ["scheduler"], env: cluster.environment(role: "scheduler", extra: env),
            workingDirectory: schedulerDirectory)
        for i in 0..<servers {
            try cluster.spawn(
                "server\(i)", ["server"],
                env: cluster.environment(role: "server", extra: env.merging(serverEnv[i] ?? [:]) { $1 }),
                wrapper: nodeWrapper, workingDirectory: nodeDirectory)
        }
        for i in 0..<workers {
            try cluster.spawn(
                "worker\(i)", ["train", "--kv-store", "dist_sync"] + (workerArgs[i] ?? args),
                env: cluster.environment(role: "worker", extra: env.merging(workerEnv[i] ?? [:]) { $1 }),
                wrapper: nodeWrapper,
                workingDirectory: nodeDirectory)
        }
        return DistJob(cluster: cluster, statuses: cluster.waitAll(timeout: timeout))
    }

    /// Removes the logs.
    func removeFiles() { cluster.removeFiles() }

    /// Whether every process exited 0.
    var succeeded: Bool { statuses.values.allSatisfy { $0 == 0 } }

    /// Every log, for a failure message.
    var logs: String { "\(statuses)\n\(cluster.allLogs())" }

    /// The name of the worker process whose log contains `text`.
    func worker(logging text: String) -> String? {
        cluster.nodes.map(\.name).filter { $0.hasPrefix("worker") }.first { cluster.log($0).contains(text) }
    }
}

/// Scheduler-coordinated checkpoints and exact resume (release binary, real processes).
@Suite(.serialized, .enabled(if: SwiftPSBinary.path != nil, "no release swiftps binary: set SWIFTPS_BIN"))
struct CheckpointResumeTests {
    static let quiet = ["--network", "mlp", "--no-progress", "--disp-batches", "100000"]
    /// Shuffled, 5 batches of 32 per epoch, an LR step at epoch 3 (so the restored update counts matter).
    static let training = ["--batch-size", "32", "--num-batches", "5", "--seed", "7", "--lr-step-epochs", "3"] + quiet
    /// fc1_weight (100,352 elements) is split over the servers, so restoring on one server re-slices
    /// it; checkpoint files travel in 64 KiB chunks, so most take several CHECKPOINT_READs.
    static let split = ["SWIFTPS_BIGARRAY_BOUND": "50000", "SWIFTPS_CHECKPOINT_CHUNK_BYTES": "65536"]

    func directory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-ckpt-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func maxDifference(_ a: String, _ b: String) throws -> Float {
        let x = try ParamsFile.loadCheckpointParams(a).args
        let y = try ParamsFile.loadCheckpointParams(b).args
        #expect(Set(x.keys) == Set(y.keys) && x.count == 6)
        var worst: Float = 0
        for (name, array) in x { worst = max(worst, array.maxAbsDifference(try #require(y[name]))) }
        return worst
    }

    /// 4 epochs straight vs 2 epochs, then a second job resuming from checkpoint 2 to epoch 4: the
    /// final weights are bit-identical (servers restore weights, momentum and update counts; the
    /// workers replay the shuffles). Resuming the same checkpoint on one server matches as well.
    @Test func resumedRunEndsBitIdenticalToAnUninterruptedOne() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prefix = dir + "/ck/mlp"
        let straight = dir + "/straight.params"
        let resumed = dir + "/resumed.params"
        let oneServer = dir + "/one-server.params"

        let a = try DistJob.run(
            workers: 2, servers: 2, args: Self.training + ["--num-epochs", "4", "--save-final", straight],
            env: Self.split)

        defer { a.removeFiles() }
        try #require(a.succeeded, "uninterrupted run failed: \(a.logs)")

        let b1 = try DistJob.run(
            workers: 2, servers: 2, args: Self.training + ["--num-epochs", "2", "--model-prefix", prefix],
            env: Self.split)

        defer { b1.removeFiles() }
        try #require(b1.succeeded, "first half failed: \(b1.logs)")
        let manifest = try CheckpointManifest.read(CheckpointLayout(prefix: prefix, epoch: 2))
        #expect(manifest.numServers == 2 && manifest.numWorkers == 2)
        #expect(manifest.updates == 10, "2 epochs of 5 batches")
        #expect(manifest.files.filter { $0.role.hasPrefix("server") }.count == 4)
        #expect(b1.cluster.log("scheduler").contains("checkpoint 2 complete"))

        let b2 = try DistJob.run(
            workers: 2, servers: 2,
            args: Self.training + [
                "--num-epochs", "4", "--model-prefix", prefix, "--load-epoch", "2", "--save-final", resumed,
            ],
            env: Self.split)

        defer { b2.removeFiles() }
        try #require(b2.succeeded, "resumed run failed: \(b2.logs)")
        #expect(b2.worker(logging: "resuming from \(prefix)-0002.params at epoch 2") != nil)
        // As many servers as wrote it: each reads only its own shard.
        for server in ["server0", "server1"] {
            let log = b2.cluster.log(server)
            #expect(log.contains("restoring from checkpoint 2 (its own shard"), "\(server):\n\(log)")
            #expect(!log.contains("reading every server's shard"), "\(server):\n\(log)")
        }
        let resumedDifference = try maxDifference(straight, resumed)
        #expect(resumedDifference == 0, "resumed on 2 servers: max |Δweight| \(resumedDifference)")

        // Placed otherwise (fc1_weight no longer split): a server whose own shard lacks a slice reads
        // every shard then, and the run is as exact.
        let replaced = dir + "/replaced.params"
        let d = try DistJob.run(
            workers: 2, servers: 2,
            args: Self.training + [
                "--num-epochs", "4", "--model-prefix", prefix, "--load-epoch", "2", "--save-final", replaced,
            ],
            env: ["SWIFTPS_CHECKPOINT_CHUNK_BYTES": "65536"])
        defer { d.removeFiles() }
        try #require(d.succeeded, "resume placed otherwise failed: \(d.logs)")
        let logs = d.cluster.log("server0") + d.cluster.log("server1")
        #expect(logs.contains("reading every server's shard"), "\(logs)")
        let replacedDifference = try maxDifference(straight, replaced)
        #expect(replacedDifference == 0, "resumed placed otherwise: max |Δweight| \(replacedDifference)")

        let c = try DistJob.run(
            workers: 2, servers: 1,
            args: Self.training + [
                "--num-epochs", "4", "--model-prefix", dir + "/ck/mlp", "--load-epoch", "2", "--save-final", oneServer,
            ], env: Self.split)

        defer { c.removeFiles() }
        try #require(c.succeeded, "resume on one server failed: \(c.logs)")
        #expect(c.cluster.log("server0").contains("restoring from checkpoint 2 ("), "\(c.logs)")
        #expect(!c.cluster.log("server0").contains("its own shard"), "another number of servers reads every shard")
        let oneServerDifference = try maxDifference(straight, oneServer)
        print("resume of a 2-server checkpoint on 1 server: max |Δweight| = \(oneServerDifference)")
        #expect(oneServerDifference <= 1e-6)
    }

    /// `MXNET_UPDATE_ON_KVSTORE=0`: the servers only sum, every worker runs the optimizer on the sum.
    /// It trains the same weights, bit for bit, as the servers running it; its checkpoint is worker
    /// 0's weights and optimizer state, laid out as one process's (no server shards), and a resume
    /// from it ends bit-identical to the uninterrupted run, whichever side runs the optimizer in the
    /// resumed job; so does a servers' checkpoint resumed with the workers running it.
    @Test func workersRunningTheOptimizerTrainAndResumeExactly() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let onWorkers = Self.split.merging(["MXNET_UPDATE_ON_KVSTORE": "0"]) { $1 }
        func job(_ args: [String], env: [String: String]) throws -> DistJob {
            try DistJob.run(workers: 2, servers: 2, args: Self.training + args, env: env)
        }
        let servers = try job(["--num-epochs", "4", "--save-final", dir + "/servers.params"], env: Self.split)
        defer { servers.removeFiles() }
        try #require(servers.succeeded, "servers updating: \(servers.logs)")
        let workers = try job(["--num-epochs", "4", "--save-final", dir + "/workers.params"], env: onWorkers)
        defer { workers.removeFiles() }
        try #require(workers.succeeded, "workers updating: \(workers.logs)")
        #expect(workers.worker(logging: "the workers run the optimizer (MXNET_UPDATE_ON_KVSTORE=0)") != nil)
        #expect(workers.cluster.log("server0").contains("the workers update (sgd); this server sums gradients"))
        let difference = try maxDifference(dir + "/servers.params", dir + "/workers.params")
        #expect(difference == 0, "the workers' updates trained other weights: max |Δweight| \(difference)")

        let prefix = dir + "/ck/mlp"
        let first = try job(["--num-epochs", "2", "--model-prefix", prefix], env: onWorkers)
        defer { first.removeFiles() }
        try #require(first.succeeded, "first half: \(first.logs)")
        let manifest = try CheckpointManifest.read(CheckpointLayout(prefix: prefix, epoch: 2))
        #expect(manifest.numServers == 0 && manifest.numWorkers == 2)
        #expect(manifest.optimizer?.name == "sgd" && manifest.optimizer?.momentum == Double(Float(0.9)))
        #expect(manifest.files.map(\.role).sorted() == ["params", "states", "symbol"], "\(manifest.files)")

        let resume = ["--num-epochs", "4", "--model-prefix", prefix, "--load-epoch", "2", "--save-final"]
        let second = try job(resume + [dir + "/resumed.params"], env: onWorkers)
        defer { second.removeFiles() }
        try #require(second.succeeded, "resumed: \(second.logs)")
        let resumed = try maxDifference(dir + "/workers.params", dir + "/resumed.params")
        #expect(resumed == 0, "the resumed run parted from the uninterrupted one: max |Δweight| \(resumed)")

        // The other way of running the optimizer resumes it exactly too: the servers restore from
        // the workers' states file, the workers take the servers' shards joined.
        let onServersResumed = try job(resume + [dir + "/servers-resumed.params"], env: Self.split)
        defer { onServersResumed.removeFiles() }
        try #require(onServersResumed.succeeded, "\(onServersResumed.logs)")
        #expect(onServersResumed.cluster.log("server0").contains("restoring from checkpoint 2"))
        let switched = try maxDifference(dir + "/workers.params", dir + "/servers-resumed.params")
        #expect(switched == 0, "resumed with the servers updating: max |Δweight| \(switched)")

        let serversPrefix = dir + "/ck/servers"
        let serversFirst = try job(["--num-epochs", "2", "--model-prefix", serversPrefix], env: Self.split)
        defer { serversFirst.removeFiles() }
        try #require(serversFirst.succeeded, "\(serversFirst.logs)")
        let onWorkersResumed = try job(
            ["--num-epochs", "4", "--model-prefix", serversPrefix, "--load-epoch", "2", "--save-final"]
                + [dir + "/workers-resumed.params"], env: onWorkers)
        defer { onWorkersResumed.removeFiles() }
        try #require(onWorkersResumed.succeeded, "\(onWorkersResumed.logs)")
        #expect(onWorkersResumed.worker(logging: "starts fresh") == nil, "\(onWorkersResumed.logs)")
        let joined = try maxDifference(dir + "/servers.params", dir + "/workers-resumed.params")
        #expect(joined == 0, "a servers' checkpoint resumed with the workers updating: max |Δweight| \(joined)")

        // Resumed with another optimizer, whose state has as many arrays as momentum SGD's: RMSProp
        // must not take SGD's signed momentum for its mean square, on the servers or the workers.
        let rmsprop = ["--num-epochs", "3", "--load-epoch", "2", "--optimizer", "rmsprop", "--lr", "0.001"]
        let onServersOther = try job(rmsprop + ["--model-prefix", serversPrefix], env: Self.split)
        defer { onServersOther.removeFiles() }
        try #require(onServersOther.succeeded, "\(onServersOther.logs)")
        #expect(
            onServersOther.cluster.log("server0").contains(
                "was written by sgd, this job runs rmsprop: it starts fresh"),
            "\(onServersOther.logs)")
        let onWorkersOther = try job(rmsprop + ["--model-prefix", prefix], env: onWorkers)
        defer { onWorkersOther.removeFiles() }
        try #require(onWorkersOther.succeeded, "\(onWorkersOther.logs)")
        #expect(onWorkersOther.worker(logging: "was written for another optimizer: it starts fresh") != nil)
    }

    /// With 2bit gradient compression what each worker's pushes have not sent yet (its residuals) is
    /// part of the checkpoint: 2 epochs, then a resume to 4, ends bit-identical to 4 straight. With
    /// fp16 there are no residuals, and the weights the workers train on between pulls are rounded:
    /// the epoch end pulls them in float32, as the servers checkpoint them, or the resumed run (which
    /// starts from the checkpoint's float32 weights) would part from the uninterrupted one.
    /// The same holds when the workers run the optimizer (`MXNET_UPDATE_ON_KVSTORE=0`), whose
    /// checkpoint is worker 0's weights and state beside the residuals.
    @Test(arguments: ["2bit", "fp16"], [false, true])
    func resumeWithGradientCompressionIsExact(gcType: String, workersUpdate: Bool) throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prefix = dir + "/ck/mlp"
        let training = Self.training + ["--gc-type", gcType]
        let env = workersUpdate ? Self.split.merging(["MXNET_UPDATE_ON_KVSTORE": "0"]) { $1 } : Self.split
        let a = try DistJob.run(
            workers: 2, servers: 2, args: training + ["--num-epochs", "4", "--save-final", dir + "/straight.params"],
            env: env)
        defer { a.removeFiles() }
        try #require(a.succeeded, "uninterrupted run failed: \(a.logs)")

        let b1 = try DistJob.run(
            workers: 2, servers: 2, args: training + ["--num-epochs", "2", "--model-prefix", prefix], env: env)
        defer { b1.removeFiles() }
        try #require(b1.succeeded, "first half failed: \(b1.logs)")
        let layout = CheckpointLayout(prefix: prefix, epoch: 2)
        let manifest = try CheckpointManifest.read(layout)
        try manifest.verify(layout)
        #expect(manifest.numServers == (workersUpdate ? 0 : 2))
        if gcType == "2bit" {
            #expect(manifest.residuals(ofWorker: 0)?.name == "mlp-0002.worker0.residuals")
            #expect(manifest.residuals(ofWorker: 1) != nil)
        } else {
            #expect(manifest.residuals(ofWorker: 0) == nil && manifest.residuals(ofWorker: 1) == nil)
        }

        let b2 = try DistJob.run(
            workers: 2, servers: 2,
            args: training + [
                "--num-epochs", "4", "--model-prefix", prefix, "--load-epoch", "2", "--save-final",
                dir + "/resumed.params",
            ], env: env)
        defer { b2.removeFiles() }
        try #require(b2.succeeded, "resumed run failed: \(b2.logs)")
        // What a node logs when saved residuals are missing or do not fit ("they start at zero", "it
        // starts at zero"), searched in whole logs (`allLogs` keeps only each one's end).
        for name in ["scheduler", "server0", "server1", "worker0", "worker1"] {
            let log = b2.cluster.log(name)
            #expect(!log.contains("start at zero") && !log.contains("starts at zero"), "\(name): \(log)")
        }
        let difference = try maxDifference(dir + "/straight.params", dir + "/resumed.params")
        #expect(difference == 0, "resumed with compression: max |Δweight| \(difference)")
    }

    /// The scheduler runs in one directory, the servers and workers in another, and the prefix and
    /// metrics file are relative: they land under the scheduler's directory (the only host that needs
    /// to see them), none under the nodes', and `--resume` from the nodes' directory finds them.
    /// A prefix the workers spell otherwise than the scheduler resolves it (`./`, a doubled slash)
    /// still carries the files only workers hold: their residuals and, when they run the optimizer,
    /// worker 0's state; they are offered under the workers' spelling and written under the
    /// scheduler's, and the job resumes from them. A prefix ending in "/" names files inside that
    /// directory (`ck/-0001.params`), as on one host.
    @Test(arguments: [("ck/", "/ck/"), ("./ck//p", "/ck/p")])
    func aPrefixSpelledOtherwiseStillCarriesTheWorkersFiles(prefix: String, resolved: String) throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = Self.split.merging(["MXNET_UPDATE_ON_KVSTORE": "0"]) { $1 }
        func run(_ args: [String]) throws -> DistJob {
            try DistJob.run(
                workers: 2, servers: 1, args: Self.training + ["--gc-type", "2bit", "--model-prefix", prefix] + args,
                env: env, schedulerDirectory: dir, nodeDirectory: dir)
        }
        let first = try run(["--num-epochs", "1"])
        defer { first.removeFiles() }
        try #require(first.succeeded, "first epoch failed: \(first.logs)")
        let layout = CheckpointLayout(prefix: dir + resolved, epoch: 1)
        let manifest = try CheckpointManifest.read(layout)
        try manifest.verify(layout)
        #expect(
            manifest.files.map(\.role).sorted() == [
                "params", "states", "symbol", "worker-residuals", "worker-residuals",
            ])
        let second = try run(["--num-epochs", "2", "--resume"])
        defer { second.removeFiles() }
        try #require(second.succeeded, "resumed epoch failed: \(second.logs)")
        let next = CheckpointLayout(prefix: dir + resolved, epoch: 2)
        try CheckpointManifest.read(next).verify(next)
    }

    @Test func aRelativePrefixIsRelativeToTheSchedulersDirectory() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let here = dir + "/scheduler"
        let there = dir + "/nodes"
        for path in [here, there] {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        let relative = ["--model-prefix", "ck/p", "--metrics-out", "m.jsonl"]
        func run(_ args: [String]) throws -> DistJob {
            try DistJob.run(
                workers: 2, servers: 1, args: Self.training + relative + args, schedulerDirectory: here,
                nodeDirectory: there)
        }
        let first = try run(["--num-epochs", "1"])
        defer { first.removeFiles() }
        try #require(first.succeeded, "first epoch failed: \(first.logs)")
        let layout = CheckpointLayout(prefix: here + "/ck/p", epoch: 1)
        try CheckpointManifest.read(layout).verify(layout)
        #expect(FileManager.default.fileExists(atPath: here + "/m.jsonl"))
        #expect(!FileManager.default.fileExists(atPath: there + "/ck"), "a node wrote under its own directory")
        #expect(!FileManager.default.fileExists(atPath: there + "/m.jsonl"))

        let second = try run(["--num-epochs", "2", "--resume"])
        defer { second.removeFiles() }
        try #require(second.succeeded, "resumed epoch failed: \(second.logs)")
        #expect(second.cluster.log("worker0").contains("resuming from ck/p-0001.params at epoch 1"), "\(second.logs)")
        let next = CheckpointLayout(prefix: here + "/ck/p", epoch: 2)
        try CheckpointManifest.read(next).verify(next)
        #expect(!FileManager.default.fileExists(atPath: there + "/ck"))
    }

    /// Local mode: 2 epochs, then `--resume` to 4, ends bit-identical to 4 epochs straight
    /// (`Module.saveCheckpoint` with the optimizer state, plus the manifest `--resume` looks for).
    @Test func localResumeIsExact() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prefix = dir + "/local"
        let run = { (args: [String]) throws -> CLIRunner.Result in
            try CLIRunner.run(["train", "--kv-store", "local"] + Self.training + args, timeout: 120)
        }
        let straight = try run(["--num-epochs", "4", "--save-final", dir + "/straight.params"])
        try #require(straight.status == 0, "\(straight.stderr)")
        let first = try run(["--num-epochs", "2", "--model-prefix", prefix])
        try #require(first.status == 0, "\(first.stderr)")
        let second = try run([
            "--num-epochs", "4", "--model-prefix", prefix, "--resume", "--save-final", dir + "/resumed.params",
        ])
        try #require(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("resuming from \(prefix)-0002.params at epoch 2"), "\(second.stderr)")
        #expect(try maxDifference(dir + "/straight.params", dir + "/resumed.params") == 0)
    }

    /// One process resumes a cluster checkpoint with the state its servers saved (their shards joined),
    /// and never takes a `P-000E.states` that the checkpoint's manifest does not list (a stale file of
    /// another run under the same prefix; here garbage, which would fail the resume if read).
    @Test func oneProcessResumesAClusterCheckpointWithTheServersState() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prefix = dir + "/mlp"
        let cluster = try DistJob.run(
            workers: 2, servers: 1, args: Self.training + ["--num-epochs", "2", "--model-prefix", prefix])
        defer { cluster.removeFiles() }
        try #require(cluster.succeeded, "\(cluster.logs)")
        let stale = CheckpointLayout(prefix: prefix, epoch: 2).localStatesPath
        try AtomicFile.write(Array("not an optimizer state".utf8), to: stale)
        let resumed = try CLIRunner.run(
            ["train", "--kv-store", "local"] + Self.training + [
                "--num-epochs", "3", "--model-prefix", prefix, "--resume",
            ],
            timeout: 120)
        try #require(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming from \(prefix)-0002.params at epoch 2"), "\(resumed.stderr)")
        #expect(!resumed.stderr.contains("starts fresh"), "\(resumed.stderr)")
        #expect(try CheckpointManifest.read(CheckpointLayout(prefix: prefix, epoch: 3)).updates == 15)

        // Back on the cluster with 3 batches an epoch: the workers learn the count from the scheduler
        // and place the schedule from it.
        var shorter = Self.training
        let index = try #require(shorter.firstIndex(of: "--num-batches"))
        shorter[index + 1] = "3"
        let again = try DistJob.run(
            workers: 2, servers: 1, args: shorter + ["--num-epochs", "4", "--model-prefix", prefix, "--resume"])
        defer { again.removeFiles() }
        try #require(again.succeeded, "\(again.logs)")
        #expect(again.worker(logging: "was written after 15 updates, not 3 x 3") != nil, "\(again.logs)")
        #expect(try CheckpointManifest.read(CheckpointLayout(prefix: prefix, epoch: 4)).updates == 18)
    }

    /// A server dies (SIGKILL, by the test hook) after encoding its shard of checkpoint 2 and before
    /// answering: the job fails, checkpoint 2 has no manifest nor the dead server's shard, and
    /// `--resume` continues from checkpoint 1, whose params `swiftps score` reads.
    @Test func aCrashDuringACheckpointLeavesThePreviousOneLoadable() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prefix = dir + "/mlp"
        let args = Self.training + ["--num-epochs", "3", "--model-prefix", prefix]
        let env = ["SWIFTPS_HEARTBEAT_TIMEOUT": "3"]
        let crashed = try DistJob.run(
            workers: 2, servers: 2, args: args, env: env,
            serverEnv: [1: [KVServer.crashHookVariable: "2"]], timeout: 120)
        defer { crashed.removeFiles() }
        #expect(crashed.statuses.values.contains { $0 != nil && $0 != 0 }, "the job did not fail: \(crashed.logs)")
        #expect(crashed.statuses.values.allSatisfy { $0 != nil }, "a process hung: \(crashed.logs)")
        #expect(crashed.cluster.log("server1").contains("dying after encoding its shard of checkpoint 2"))
        let second = CheckpointLayout(prefix: prefix, epoch: 2)
        #expect(!FileManager.default.fileExists(atPath: second.manifestPath))
        // The crashed server (rank 0 or 1, whichever joined first) never sent its shard, so the
        // scheduler wrote none of its files.
        let rank = crashed.cluster.log("server1").contains("server 1: \(KVServer.crashHookVariable)") ? 1 : 0
        #expect(!FileManager.default.fileExists(atPath: second.serverParamsPath(rank)))
        #expect(!FileManager.default.fileExists(atPath: second.serverStatesPath(rank)))
        let first = CheckpointLayout(prefix: prefix, epoch: 1)
        try CheckpointManifest.read(first).verify(first)

        let resumed = try DistJob.run(
            workers: 2, servers: 2, args: Self.training + ["--num-epochs", "2", "--model-prefix", prefix, "--resume"],
            env: env)

        defer { resumed.removeFiles() }
        try #require(resumed.succeeded, "resume failed: \(resumed.logs)")
        #expect(resumed.worker(logging: "resuming from \(prefix)-0001.params at epoch 1") != nil, "\(resumed.logs)")
        // Both workers asked; the scheduler read and checked the checkpoint's files once.
        let checks = resumed.cluster.log("scheduler").components(separatedBy: "resume point: checkpoint 1").count - 1
        #expect(checks == 1, "\(resumed.cluster.log("scheduler"))")

        let score = try CLIRunner.run(
            [
                "score", "--model-prefix", prefix, "--load-epoch", "1", "--data-dir",
                FashionMNIST.defaultDirectory,
            ],
            timeout: 120)
        #expect(score.status == 0, "score failed: \(score.stderr)")
        #expect(score.text.contains("accuracy"), "score printed: \(score.text)")
    }
}
