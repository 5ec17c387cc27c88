import Foundation
import Testing

/// Workers that disagree on what they train (release binary, real processes). MXNet checks none of
/// these: it pushes one network's gradients into another's weights and scales every worker's
/// gradients by worker 0's batch size. Here each fails at once, naming what differs, and every
/// process exits non-zero saying so.
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

    /// Worker process 1 runs with --batch-size 64, the other with 128: the optimizer's gradient scale
    /// would be worker 0's for both (MXNet's silent behaviour); the job is refused naming rescaleGrad
    /// and --batch-size.
    @Test func workersWithDifferentBatchSizesAreRefused() throws {
        let job = try DistJob.run(
            workers: 2, servers: 1, args: Self.job + ["--network", "mlp"],
            workerArgs: [1: Self.job + ["--network", "mlp", "--batch-size", "64"]], timeout: 120)
        defer { job.removeFiles() }
        job.cluster.expectFailed(
            Self.everyone, job.statuses,
            saying: ["optimizer differs from worker 0's: ", "rescaleGrad 0.0", "the same --batch-size"])
    }
}
