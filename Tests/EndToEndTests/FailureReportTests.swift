import Foundation
import SwiftPSModule
import Testing

/// A worker that cannot go on says so before it leaves (release binary, real processes): its data
/// missing or damaged, or a SIGTERM/SIGINT mid-epoch. It tells the scheduler why, and every other
/// process exits non-zero at once naming it and the reason, not after a heartbeat or rendezvous
/// deadline with "silent" or "never registered" (those deadlines are left long here, so a test that
/// only passed by waiting for them would fail on the message).
@Suite(.serialized, .enabled(if: SwiftPSBinary.path != nil, "\(SwiftPSBinary.missing)"))
struct FailureReportTests {
    static let job = ["--kv-store", "dist_sync", "--network", "mlp", "--no-progress", "--disp-batches", "20"]
    static let dataDir = FashionMNIST.defaultDirectory

    /// Worker process 1 is given a data directory that does not exist: it fails before it can
    /// declare its shard, joins only to say so, and every process exits naming it and the file.
    @Test func aWorkerWithoutItsDataStopsTheJobNamingItAndTheFile() throws {
        try withBrokenData(
            prepare: { _ in }, expecting: { dir in "stopped: \(dir)/train-labels-idx1-ubyte.gz: no such file" })
    }

    /// Worker process 1's training images are cut short: the job stops naming it and the file.
    @Test func aWorkerWithDamagedDataStopsTheJobNamingItAndTheFile() throws {
        try withBrokenData(
            prepare: { dir in
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                for name in try FileManager.default.contentsOfDirectory(atPath: Self.dataDir) {
                    try FileManager.default.createSymbolicLink(
                        atPath: "\(dir)/\(name)", withDestinationPath: "\(Self.dataDir)/\(name)")
                }
                let images = "\(dir)/train-images-idx3-ubyte.gz"
                let whole = try Data(contentsOf: URL(fileURLWithPath: "\(Self.dataDir)/train-images-idx3-ubyte.gz"))
                try FileManager.default.removeItem(atPath: images)
                try whole.prefix(100_000).write(to: URL(fileURLWithPath: images))
            },
            expecting: { dir in
                "stopped: \(dir)/train-images-idx3-ubyte.gz: the gzip data ends early: the file is truncated"
            })
    }

    /// A dist_sync job whose learning rate overflows the weights: the workers find NaN weights at the
    /// end of epoch 0 and every process exits non-zero at once with the reason, before any
    /// checkpoint of them is written.
    @Test func aDivergedJobStopsEveryProcessSayingSo() throws {
        try ProcessCluster.with(workers: 2, servers: 1) { cluster in
            let prefix = cluster.directory.appendingPathComponent("ckpt/mlp").path
            try cluster.startJob(
                Self.job + ["--lr", "1000", "--num-epochs", "3", "--num-batches", "20"] + [
                    "--model-prefix", prefix,
                ])
            let statuses = cluster.waitAll(timeout: 120)
            cluster.expectFailed(
                ["scheduler", "server0", "worker0", "worker1"], statuses,
                saying: ["training diverged: after epoch 0", "fc1_weight"])
            let written =
                (try? FileManager.default.contentsOfDirectory(atPath: (prefix as NSString).deletingLastPathComponent))
                ?? []
            #expect(!written.contains { $0.hasSuffix(".params") }, "\(written)")
        }
    }

    /// SIGTERM, then SIGINT, to one worker mid-epoch: it exits at once with 128 + the signal, and the
    /// scheduler, the server and the other worker exit non-zero naming it and the signal.
    @Test(arguments: [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")])
    func aSignalledWorkerStopsTheJobNamingIt(signal: Int32, name: String) throws {
        try ProcessCluster.with(workers: 2, servers: 1) { cluster in
            try cluster.startJob(Self.job + ["--num-epochs", "50"])
            let training = cluster.waitForLog(of: ["worker1"], containing: "Epoch[0] Batch", timeout: 60)
            try #require(training != nil, "worker 1 never trained: \(cluster.allLogs())")
            let rank = cluster.log("worker1").contains("worker 1 of 2") ? 1 : 0
            cluster.signal("worker1", signal)

            let statuses = cluster.waitAll(timeout: 60)
            #expect(statuses["worker1"] == 128 + signal, "the signalled worker: \(statuses)\n\(cluster.log("worker1"))")
            #expect(cluster.log("worker1").contains("stopped by \(name)"), "\(cluster.log("worker1").suffix(2000))")
            cluster.expectFailed(
                ["scheduler", "server0", "worker0"], statuses,
                saying: ["worker \(rank) (id", "stopped: received \(name)"])
        }
    }

    /// Runs a job of 2 workers and 1 server where worker process 1 reads its data from a directory
    /// that `prepare` makes (or leaves missing), and expects every process to exit non-zero, the
    /// others naming a worker and saying the text `expected` gives for the directory.
    private func withBrokenData(
        prepare: (String) throws -> Void, expecting expected: (String) -> String
    ) throws {
        try ProcessCluster.with(workers: 2, servers: 1) { cluster in
            let dir = cluster.directory.appendingPathComponent("data").path
            try prepare(dir)
            try cluster.startSchedulerAndServers()
            let train = ["train"] + Self.job + ["--num-epochs", "1"]
            try cluster.spawn("worker0", train, env: cluster.environment(role: "worker"))
            try cluster.spawn("worker1", train + ["--data-dir", dir], env: cluster.environment(role: "worker"))

            let statuses = cluster.waitAll(timeout: 120)
            let texts = expected(dir)
            let worker1 = statuses["worker1"] ?? nil
            #expect(worker1 != nil && worker1 != 0, "worker1 exited with \(String(describing: worker1))")
            #expect(cluster.log("worker1").contains(dir), "worker 1 does not name its data:\n\(cluster.log("worker1"))")
            cluster.expectFailed(["scheduler", "server0", "worker0"], statuses, saying: [texts, "worker ", "(id "])
        }
    }
}
