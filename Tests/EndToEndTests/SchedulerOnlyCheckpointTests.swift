import Foundation
import SwiftPSKVStore
import SwiftPSModule
import SwiftPSTensor
import Testing

/// Checkpoints need no shared file system: every server and worker runs in a mount namespace of its
/// own where the checkpoint directory is a private, empty tmpfs, so only the scheduler (on the
/// host) sees `--model-prefix`. Needs root (mount namespaces) and `unshare`.
@Suite(
    .serialized, .enabled(if: SwiftPSBinary.path != nil, "no release swiftps binary: set SWIFTPS_BIN"),
    .enabled(if: MountNamespace.available, "needs root and unshare(1) for private mount namespaces"))
struct SchedulerOnlyCheckpointTests {
    static let dataDir = FashionMNIST.defaultDirectory

    /// Train 2 epochs with the nodes isolated, then `--resume` for a 3rd, isolated again: the
    /// complete checkpoints are on the host (written by the scheduler alone), the workers resume
    /// from what the scheduler sends, and the final weights equal an uninterrupted 3-epoch run's.
    @Test func checkpointsAndResumeWorkWithoutASharedFileSystem() throws {
        let suite = CheckpointResumeTests()
        let dir = try suite.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The nodes see `private` as an empty tmpfs; the final weights go next to it, visible to all.
        let isolated = dir + "/private"
        try FileManager.default.createDirectory(atPath: isolated, withIntermediateDirectories: true)
        let prefix = isolated + "/p"
        let wrapper = MountNamespace.wrapper(privateDirectory: isolated)
        let training = CheckpointResumeTests.training
        let env = CheckpointResumeTests.split

        let straight = try DistJob.run(
            workers: 2, servers: 2, args: training + ["--num-epochs", "3", "--save-final", dir + "/straight.params"],
            env: env)
        defer { straight.removeFiles() }
        try #require(straight.succeeded, "uninterrupted run failed: \(straight.logs)")

        let first = try DistJob.run(
            workers: 2, servers: 2, args: training + ["--num-epochs", "2", "--model-prefix", prefix], env: env,
            nodeWrapper: wrapper)
        defer { first.removeFiles() }
        try #require(first.succeeded, "first 2 epochs (isolated nodes) failed: \(first.logs)")
        for epoch in [1, 2] {
            let layout = CheckpointLayout(prefix: prefix, epoch: epoch)
            let manifest = try CheckpointManifest.read(layout)
            try manifest.verify(layout)
            #expect(manifest.numServers == 2 && manifest.files.count == 6, "\(manifest.files.map(\.name))")
        }
        #expect(FileManager.default.fileExists(atPath: prefix + "-symbol.json"))
        // The isolation is real: inside such a namespace the checkpoint the host holds is not there.
        try ProcessCluster.with(workers: 1, servers: 0) { probe in
            try probe.spawn(
                "score", ["score", "--model-prefix", prefix, "--load-epoch", "2", "--data-dir", Self.dataDir],
                env: ProcessInfo.processInfo.environment, wrapper: wrapper)
            let status = probe.waitAll(timeout: 60)["score"] ?? nil
            #expect(status != nil && status != 0, "score saw the host's checkpoint: \(probe.allLogs())")
            #expect(probe.log("score").contains(prefix + "-symbol.json"), "\(probe.allLogs())")
        }

        let second = try DistJob.run(
            workers: 2, servers: 2,
            args: training + [
                "--num-epochs", "3", "--model-prefix", prefix, "--resume", "--save-final", dir + "/resumed.params",
            ], env: env, nodeWrapper: wrapper)
        defer { second.removeFiles() }
        try #require(second.succeeded, "resume (isolated nodes) failed: \(second.logs)")
        #expect(second.worker(logging: "resuming from \(prefix)-0002.params at epoch 2") != nil, "\(second.logs)")
        #expect(second.cluster.log("server0").contains("restoring from checkpoint 2"), "\(second.logs)")
        let third = CheckpointLayout(prefix: prefix, epoch: 3)
        try CheckpointManifest.read(third).verify(third)
        let difference = try suite.maxDifference(dir + "/straight.params", dir + "/resumed.params")
        #expect(difference == 0, "resumed with isolated nodes: max |Δweight| \(difference)")
    }
}

/// Running a node in a private mount namespace (`unshare --mount`) where one directory is an empty tmpfs.
enum MountNamespace {
    /// Whether this process can create mount namespaces and mount a tmpfs in them (root, unshare(1)).
    static let available: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return false }
        let probe = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-ns-\(UUID().uuidString)")
        guard (try? FileManager.default.createDirectory(at: probe, withIntermediateDirectories: true)) != nil else {
            return false
        }
        defer { try? FileManager.default.removeItem(at: probe) }
        guard
            let probeProcess = try? ChildProcess(
                wrapper(privateDirectory: probe.path) + ["/bin/true"], environment: ProcessInfo.processInfo.environment,
                standardOutput: "/dev/null", standardError: "/dev/null")
        else { return false }
        defer { probeProcess.kill() }
        return probeProcess.wait(.seconds(10)) && probeProcess.status == 0
    }()

    /// The command prefix that runs a command in a new mount namespace where `privateDirectory` is
    /// a fresh tmpfs; the shell execs the command, so its pid is the node's.
    static func wrapper(privateDirectory: String) -> [String] {
        [
            "/usr/bin/unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
            "mount -t tmpfs tmpfs \"$1\" && shift && exec \"$@\"", "sh", privateDirectory,
        ]
    }
}
