import Foundation
import SwiftPSKVStore
import Testing

/// The scheduler cannot write a checkpoint (release binary, real processes). The job fails at that
/// epoch end, as MXNet's `fit` does when `do_checkpoint` raises: every process exits non-zero at once
/// with the scheduler's reason, which names the file and the system's error, and no process is
/// blamed for the scheduler's disk. The checkpoints written before stay whole and loadable.
@Suite(.serialized, .enabled(if: SwiftPSBinary.path != nil, "\(SwiftPSBinary.missing)"))
struct CheckpointWriteFailureTests {
    static let job = CheckpointResumeTests.training + ["--kv-store", "dist_sync", "--num-epochs", "3"]

    /// Runs the job with `flags(file)`, where `file` is a regular file under which the output is
    /// asked for, and expects every process to stop before the first epoch saying `words(file)`,
    /// with no node blamed for the scheduler's disk.
    private func expectStopBeforeTraining(_ flags: (String) -> [String], saying words: (String) -> [String]) throws {
        try ProcessCluster.with(workers: 2, servers: 1) { cluster in
            let file = cluster.directory.appendingPathComponent("a-file").path
            try Data("not a directory".utf8).write(to: URL(fileURLWithPath: file))
            try cluster.startJob(Self.job + flags(file))
            let statuses = cluster.waitAll(timeout: 120)
            let names = ["scheduler", "server0", "worker0", "worker1"]
            cluster.expectFailed(names, statuses, saying: words(file))
            for name in names {
                #expect(!cluster.log(name).contains("no heartbeat"), "\(name) blames a node for the scheduler's disk")
                #expect(
                    !cluster.log(name).contains("Epoch[0] Train-"), "\(name) trained an epoch before the job stopped")
            }
        }
    }

    /// `--model-prefix` lies under a regular file, so its directory cannot be made. The scheduler
    /// tries it as soon as the cluster is up, and the job stops before the first epoch (it used to
    /// train the epoch first), naming the prefix, the directory and "Not a directory" (no root needed).
    @Test func aPrefixWhoseDirectoryCannotBeMadeStopsTheJobNamingIt() throws {
        try expectStopBeforeTraining(
            { ["--model-prefix", "\($0)/sub/m"] },
            saying: { file in
                [
                    "the scheduler cannot write checkpoints under --model-prefix \(file)/sub/m: ",
                    "cannot create directory \(file): Not a directory",
                ]
            })
    }

    /// The workers' `--metrics-out`, which the scheduler appends to, lies under a regular file: the
    /// scheduler tries it once the cluster is up and the job stops before the first epoch (it used
    /// to train the epoch first), naming the file.
    @Test func aMetricsFileTheSchedulerCannotWriteStopsTheJobAtOnce() throws {
        try expectStopBeforeTraining(
            { ["--metrics-out", "\($0)/m.jsonl"] },
            saying: { ["the scheduler cannot append to the workers' --metrics-out \($0)/m.jsonl"] })
    }

    /// The scheduler's checkpoint directory is a tmpfs with room for one checkpoint only (a private
    /// mount namespace; root): checkpoint 1 is written, checkpoint 2 fails with "No space left on
    /// device" naming the file, every process exits with that reason, checkpoint 2's partial files
    /// are removed, and checkpoint 1 still verifies, scores, and is what `--resume` picks.
    @Test(.enabled(if: MountNamespace.available, "needs root and unshare(1) for a private mount namespace"))
    func aFullDiskStopsTheJobAndKeepsThePreviousCheckpoint() throws {
        try ProcessCluster.with(workers: 2, servers: 1) { cluster in
            let full = cluster.directory.appendingPathComponent("full").path
            let copy = cluster.directory.appendingPathComponent("copy").path
            for dir in [full, copy] {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            }
            // The scheduler runs in a mount and pid namespace of its own where `full` is a 1800 KiB tmpfs
            // (one mlp checkpoint takes about 1.3 MB); when it exits, the tmpfs is copied out to `copy`.
            // Killing the wrapper (unshare) kills every process of its pid namespace.
            let script =
                "mount -t tmpfs -o size=1800k tmpfs \"$1\" || exit 99; d=$1; out=$2; shift 2; \"$@\"; status=$?; cp -a \"$d\"/. \"$out\"/; exit $status"
            let wrapper = [
                "/usr/bin/unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--",
                "/bin/sh", "-c", script, "sh", full, copy,
            ]
            try cluster.spawn("scheduler", ["scheduler"], env: cluster.environment(role: "scheduler"), wrapper: wrapper)
            try cluster.spawn("server0", ["server"], env: cluster.environment(role: "server"))
            for i in 0..<2 {
                try cluster.spawn(
                    "worker\(i)", ["train"] + Self.job + ["--model-prefix", "\(full)/m"],
                    env: cluster.environment(role: "worker"))
            }

            let statuses = cluster.waitAll(timeout: 120)
            cluster.expectFailed(
                ["scheduler", "server0", "worker0", "worker1"], statuses,
                saying: [
                    "the end of epoch 1 failed on the scheduler: cannot write checkpoint file \(full)/m-0002.",
                    "No space left on device",
                ])
            let first = CheckpointLayout(prefix: "\(copy)/m", epoch: 1)
            try CheckpointManifest.read(first).verify(first)
            #expect(
                !FileManager.default.fileExists(atPath: CheckpointLayout(prefix: "\(copy)/m", epoch: 2).manifestPath))
            // The failed checkpoint's files that were written are removed again.
            let left = try FileManager.default.contentsOfDirectory(atPath: copy).filter { $0.hasPrefix("m-0002") }
            #expect(left.isEmpty, "the failed checkpoint left \(left)")
            #expect(
                CheckpointManifest.latestComplete(prefix: "\(copy)/m")?.0.epoch == 1,
                "--resume would not take checkpoint 1"
            )
            let score = try CLIRunner.run(
                [
                    "score", "--model-prefix", "\(copy)/m", "--load-epoch", "1", "--data-dir",
                    SchedulerOnlyCheckpointTests.dataDir,
                ],
                timeout: 120)
            #expect(
                score.status == 0 && score.text.contains("accuracy"), "checkpoint 1 does not score: \(score.stderr)")
        }
    }
}
