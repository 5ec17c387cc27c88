import Foundation
import Testing

/// Scheduler-coordinated epoch ends: global metrics, the metrics file, uneven shards.
@Suite(.serialized, .enabled(if: SwiftPSBinary.path != nil, "no release swiftps binary: set SWIFTPS_BIN"))
struct EpochMetricsTests {
    static let quiet = ["--network", "mlp", "--no-progress", "--disp-batches", "100000"]

    /// The scheduler writes one JSON line per epoch with the global train and validation metrics
    /// and each worker's samples/sec and time waiting for the servers, and logs the global figures.
    @Test func metricsFileHoldsGlobalMetricsAndEachWorkersSpeed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-metrics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("metrics.jsonl").path
        let job = try DistJob.run(
            workers: 2, servers: 1,
            args: [
                "--num-epochs", "2", "--num-batches", "10", "--batch-size", "64", "--metrics-out", path, "--metrics",
                "acc,ce",
            ]
                + Self.quiet)
        defer { job.removeFiles() }
        try #require(job.succeeded, "job failed: \(job.logs)")
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2, "\(lines)")
        for (epoch, line) in lines.enumerated() {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["epoch"] as? Int == epoch)
            let train = try #require(object["train"] as? [String: Double], "\(line)")
            let validation = try #require(object["validation"] as? [String: Double], "\(line)")
            for metrics in [train, validation] {
                let accuracy = try #require(metrics["accuracy"])
                #expect(accuracy > 0.1 && accuracy <= 1, "\(line)")
                #expect(metrics["cross-entropy"] != nil, "\(line)")
            }
            let speeds = try #require(object["samples_per_sec_per_worker"] as? [String: Double], "\(line)")
            #expect(Set(speeds.keys) == ["worker 0", "worker 1"])
            #expect(speeds.values.allSatisfy { $0 > 0 })
            #expect((object["samples_per_sec"] as? Double ?? 0) > 0)
            let seconds = try #require(object["seconds"] as? Double, "\(line)")
            #expect(seconds > 0)
            // Every step waits for at least the first layer's weights, and never longer than the epoch.
            let waits = try #require(object["kvstore_wait_seconds_per_worker"] as? [String: Double], "\(line)")
            #expect(Set(waits.keys) == ["worker 0", "worker 1"])
            #expect(waits.values.allSatisfy { $0 > 0 && $0 <= seconds }, "\(line)")
            #expect(job.cluster.log("scheduler").contains("% of the time waiting for the servers"))
            #expect(job.cluster.log("scheduler").contains("Epoch[\(epoch)] Train-accuracy="))
            #expect(job.cluster.log("scheduler").contains("Epoch[\(epoch)] Validation-accuracy="))
        }
    }

    /// Workers whose shards differ by several batches (320 vs 192 samples at batch 32) all run the
    /// largest shard's 10 batches per epoch, say so, and finish every epoch together.
    @Test func unevenShardsDoNotHang() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-uneven-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let big = dir.appendingPathComponent("big").path
        let small = dir.appendingPathComponent("small").path
        try IdxData.write(to: big, train: 640, test: 100)
        try IdxData.write(to: small, train: 384, test: 60)
        let args = ["--num-epochs", "3", "--batch-size", "32"] + Self.quiet
        let job = try DistJob.run(
            workers: 2, servers: 1, args: args,
            workerArgs: [0: args + ["--data-dir", big], 1: args + ["--data-dir", small]], timeout: 120)
        defer { job.removeFiles() }
        try #require(job.succeeded, "job failed: \(job.logs)")
        let padded = job.cluster.log("worker1")
        let exact = job.cluster.log("worker0")
        #expect(padded.contains("shard of 192 samples (6 batches of 32) padded to 10 batches per epoch"), "\(padded)")
        #expect(exact.contains("shard of 320 samples (10 batches of 32) exactly 10 batches per epoch"), "\(exact)")
        #expect(job.cluster.log("scheduler").contains("Epoch[2] Train-accuracy="))
    }
}

/// Writes small random MNIST-format (idx) data sets, uncompressed under the `.gz` names (zlib
/// reads plain files too).
enum IdxData {
    static func write(to dir: String, train: Int, test: Int) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var generator = SystemRandomNumberGenerator()
        for (name, count) in [("train", train), ("t10k", test)] {
            var images = header(0x0803, [count, 28, 28])
            images += (0..<(count * 784)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var labels = header(0x0801, [count])
            labels += (0..<count).map { _ in UInt8.random(in: 0...9, using: &generator) }
            try Data(images).write(to: URL(fileURLWithPath: "\(dir)/\(name)-images-idx3-ubyte.gz"))
            try Data(labels).write(to: URL(fileURLWithPath: "\(dir)/\(name)-labels-idx1-ubyte.gz"))
        }
    }

    private static func header(_ magic: UInt32, _ dims: [Int]) -> [UInt8] {
        ([magic] + dims.map(UInt32.init)).flatMap { value in
            (0..<4).reversed().map { UInt8((value >> ($0 * 8)) & 0xff) }
        }
    }
}
