import Foundation
import SwiftPSKVStore
import Testing

/// Workers that disagree on what they train, and resumes from a checkpoint that does not fit
/// (release binary, real processes). MXNet checks neither of the first two: it pushes one network's
/// gradients into another's weights and scales every worker's gradients by worker 0's batch size.
/// Here each fails at once, naming what differs, and every process exits non-zero saying so.
@Suite(.serialized, .enabled(if: SwiftPSBinary.path != nil, "\(SwiftPSBinary.missing)"))
struct MismatchTests {
    static let job = ["--kv-store", "dist_sync", "--no-progress", "--num-epochs", "1", "--num-batches", "10"]
    static let everyone = ["scheduler", "server0", "worker0", "worker1"]

    /// Worker process 0 builds the mlp, worker process 1 lenet: the worker that is not rank 0 checks
    /// its keys against rank 0's and fails naming the key and both shapes (either may be rank 0).
    /// Before, lenet's conv1_weight was answered with fc1_weight's 100,352 values ("expected key 0
    /// with 500") and the others blamed the worker as silent 10 s later.
    @Test func workersWithDifferentNetworksFailNamingTheKeyAndBothShapes() throws {
        let job = try DistJob.run(
            workers: 2, servers: 1, args: Self.job,
            workerArgs: [0: Self.job + ["--network", "mlp"], 1: Self.job + ["--network", "lenet"]],
            timeout: 120)
        defer { job.removeFiles() }
        job.cluster.expectFailed(
            Self.everyone, job.statuses,
            saying: [
                "key 0 is '", "'fc1_weight' of shape (128, 784)", "'conv1_weight' of shape (20, 1, 5, 5)",
                "every worker must train the same network (--network)",
            ])
    }

    /// Worker process 1 is given another value of a flag every worker must share than worker process
    /// 0 (its default). The scheduler refuses the second worker to register, naming the flag, and the
    /// rendezvous fails for every process with both values.
    /// - `--batch-size 64` against 128: the optimizer's gradient scale would be worker 0's for both
    ///   (MXNet's silent behaviour).
    /// - `--num-epochs 2` against 1: the first worker left after its epoch while the second pushed
    ///   alone; it waited until the servers' stall limit (108 s), and the error named the worker that
    ///   had left, never the flag.
    @Test(arguments: [("--batch-size", "64", "128"), ("--num-epochs", "2", "1")])
    func workersGivenAnotherSharedFlagAreRefusedAtRendezvous(flag: String, odd: String, usual: String) throws {
        let job = try DistJob.run(
            workers: 2, servers: 1, args: Self.job + ["--network", "mlp"],
            workerArgs: [1: Self.job + ["--network", "mlp", flag, odd]], timeout: 120)
        defer { job.removeFiles() }
        job.cluster.expectFailed(
            Self.everyone, job.statuses, saying: ["\(flag) ", "give every worker the same settings"])
        // Either worker may register first; the other is refused, and the rest hear both values.
        for name in ["scheduler", "server0"] {
            let log = job.cluster.log(name)
            #expect(log.contains("rendezvous failed: the worker at 127.0.0.1:"), "\(name): \(log.suffix(1500))")
            #expect(
                log.contains("\(flag) \(odd) against \(usual)") || log.contains("\(flag) \(usual) against \(odd)"),
                "\(name): \(log.suffix(1500))")
        }
    }

    /// A worker given another big-array bound would split keys the others keep whole, each on
    /// another server: it is refused at rendezvous, naming the variable and both values.
    @Test func workersWithAnotherBigArrayBoundAreRefusedAtRendezvous() throws {
        let job = try DistJob.run(
            workers: 2, servers: 1, args: Self.job + ["--network", "mlp"],
            workerEnv: [1: ["SWIFTPS_BIGARRAY_BOUND": "50000"]], timeout: 120)
        defer { job.removeFiles() }
        job.cluster.expectFailed(
            Self.everyone, job.statuses,
            saying: ["SWIFTPS_BIGARRAY_BOUND ", "give every worker the same settings"])
        let log = job.cluster.log("scheduler")
        #expect(
            log.contains("SWIFTPS_BIGARRAY_BOUND 50000 against 1000000")
                || log.contains("SWIFTPS_BIGARRAY_BOUND 1000000 against 50000"), "\(log.suffix(1500))")
    }

    /// A 1-epoch mlp checkpoint, then resumes in a cluster that must fail: with --network lenet, and
    /// with the checkpoint's params file cut short. The workers said so before, but the scheduler
    /// and the server blamed them as silent 10 s later; now every process names the reason.
    @Test func resumingAnotherNetworkOrADamagedCheckpointFailsNamingTheFile() throws {
        let dir = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prefix = dir + "/m"
        let first = try DistJob.run(
            workers: 2, servers: 1, args: Self.job + ["--network", "mlp", "--model-prefix", prefix], timeout: 120)
        defer { first.removeFiles() }
        try #require(first.succeeded, "the first job failed: \(first.logs)")
        let resume = Self.job + ["--num-epochs", "2", "--model-prefix", prefix, "--load-epoch", "1"]
        let symbol = "--network lenet is not the network of the checkpoint \(prefix)-0001.params"

        let lenet = try DistJob.run(workers: 2, servers: 1, args: resume + ["--network", "lenet"], timeout: 120)
        defer { lenet.removeFiles() }
        lenet.cluster.expectFailed(Self.everyone, lenet.statuses, saying: [symbol])

        let params = CheckpointLayout(prefix: prefix, epoch: 1).paramsPath
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: params))
        try handle.truncate(atOffset: 1000)
        try handle.close()
        let damaged = try DistJob.run(workers: 2, servers: 1, args: resume + ["--network", "mlp"], timeout: 120)
        defer { damaged.removeFiles() }
        damaged.cluster.expectFailed(
            Self.everyone, damaged.statuses,
            saying: ["checkpoint file \(params) is damaged: 1000 bytes, the manifest says"])

        // --resume does not start over on top of checkpoints none of which verifies: it says why.
        let resumeAny = Self.job + ["--num-epochs", "2", "--model-prefix", prefix, "--resume", "--network", "mlp"]
        let restarted = try DistJob.run(workers: 2, servers: 1, args: resumeAny, timeout: 120)
        defer { restarted.removeFiles() }
        restarted.cluster.expectFailed(
            Self.everyone, restarted.statuses,
            saying: ["no checkpoint under \(prefix) verifies (epochs 1)", "\(params) is damaged"])
    }
}
