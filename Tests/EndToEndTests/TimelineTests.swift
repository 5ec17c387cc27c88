import Foundation
import Testing

/// `swiftps train --timeline` (or `SWIFTPS_TIMELINE`): a Chrome trace per worker, read back.
@Suite(.serialized, .enabled(if: CLIRunner.available, "needs the release swiftps binary (scripts/test builds it)"))
struct TimelineTests {
    /// The spans of a trace file by name, with its track names.
    static func trace(_ path: String) throws -> (spans: [String: [[String: Any]]], tracks: [String]) {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let events = try #require(root["traceEvents"] as? [[String: Any]])
        let spans = Dictionary(grouping: events.filter { $0["ph"] as? String == "X" }) { $0["name"] as? String ?? "" }
        let tracks = events.filter { $0["name"] as? String == "thread_name" }.compactMap {
            ($0["args"] as? [String: Any])?["name"] as? String
        }
        return (spans, tracks)
    }

    /// One process: every step's forward, backward and update, the scoring forwards, and one span per
    /// epoch, in the file named by the flag (its directory made).
    @Test func oneProcessRecordsEveryStepAndEpoch() throws {
        let dir = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try CLIRunner.run([
            "train", "--num-epochs", "2", "--num-batches", "20", "--no-progress", "--timeline", dir + "/t/trace.json",
        ])
        try #require(run.status == 0, "\(run.stderr)")
        let (spans, tracks) = try Self.trace(dir + "/t/trace.json")
        for name in ["forward", "backward", "update"] { #expect(spans[name]?.count == 40, "\(name)") }
        #expect((spans["forward (inference)"]?.count ?? 0) > 0)
        #expect(spans["epoch 0"]?.count == 1 && spans["epoch 1"]?.count == 1)
        #expect(tracks == ["epochs", "compute"])
        #expect(run.stderr.contains("timeline written to \(dir)/t/trace.json"))
    }

    /// A dist_sync job with `SWIFTPS_TIMELINE`: each worker writes its own file (`.workerK` before the
    /// extension), with its rank as the process, a track per key and every step's pushpulls on it; the
    /// server writes `.server0` with every round.
    @Test func eachWorkerRecordsItsStepsAndRequests() throws {
        let dir = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let job = try DistJob.run(
            workers: 2, servers: 1,
            args: ["--num-epochs", "1", "--num-batches", "5", "--no-progress", "--disp-batches", "1000"],
            env: ["SWIFTPS_TIMELINE": dir + "/trace.json"])
        defer { job.removeFiles() }
        try #require(job.succeeded, "\(job.logs)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/trace.json"))
        for rank in 0..<2 {
            let (spans, tracks) = try Self.trace(dir + "/trace.worker\(rank).json")
            #expect(spans["backward"]?.count == 5, "worker \(rank)")
            for key in ["fc1_weight", "fc1_bias", "fc2_weight", "fc3_bias"] {
                #expect(spans["pushPull \(key)"]?.count == 5, "worker \(rank): \(key)")
                #expect(tracks.contains("key \(key)"), "worker \(rank): \(tracks)")
            }
            #expect(spans["pushPull fc1_weight"]?.allSatisfy { $0["pid"] as? Int == rank } == true)
        }
        // The server's rounds, written when it stops: one per step and key, with the sum and update.
        let (spans, tracks) = try Self.trace(dir + "/trace.server0.json")
        for key in ["fc1_weight", "fc3_bias"] {
            #expect(spans["round \(key)"]?.count == 5 && spans["update \(key)"]?.count == 5, "\(key)")
            #expect(tracks.contains("key \(key)"), "\(tracks)")
        }
        let detail = (spans["round fc1_weight"]?.first?["args"] as? [String: Any])?["detail"] as? String
        #expect(
            detail?.contains("came") == true && detail?.contains("2 answers") == true, "\(String(describing: detail))")
    }
}
