import Foundation
import Testing

@testable import SwiftPSTensor

/// Recovery: a server killed mid-job, `swiftps launch --max-restarts 1` restarts the job from the
/// latest complete checkpoint, and the final weights equal an uninterrupted run's.
@Suite(
    .serialized, .enabled(if: LaunchBinary.path != nil, "\(LaunchBinary.missing)"),
    .enabled(if: LaunchBinary.hasClusterCommands, "the scheduler/server commands are not in this binary"))
struct LaunchRestartTests {
    let binary = LaunchBinary.path ?? ""

    /// A 4-epoch lenet job (long enough epochs to kill a server inside one), checkpointing every epoch.
    func job(_ dir: String, marker: String, restarts: Int) -> [String] {
        [
            binary, "launch", "-n", "2", "-s", "1", "--timeout", "900", "--grace", "3", "--max-restarts",
            String(restarts), "--env", "SWIFTPS_TEST_MARKER=\(marker)", "--env", "SWIFTPS_HEARTBEAT_TIMEOUT=4", "--",
            binary, "train", "--kv-store", "dist_sync", "--network", "lenet", "--lr", "0.01", "--num-epochs", "4",
            "--num-batches", "30", "--disp-batches", "5", "--no-progress", "--model-prefix", dir + "/ck",
            "--save-final", dir + "/final.params",
        ]
    }

    @Test func aKilledServerIsRecoveredFromTheLastCheckpointExactly() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-restart-\(UUID())").path
        let straight = root + "/straight"
        let recovered = root + "/recovered"
        for dir in [straight, recovered] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        defer { try? FileManager.default.removeItem(atPath: root) }

        let reference = try LaunchCommand.run(
            job(straight, marker: launchMarker("straight"), restarts: 0), deadline: .seconds(900))
        #expect(reference.status == 0, "the uninterrupted job failed: \(reference.standardError)")

        let marker = launchMarker("recover")
        let launcher = try LaunchCommand(job(recovered, marker: marker, restarts: 1))
        defer {
            launcher.kill()
            for pid in LaunchKillTests.processes(marker) { kill(pid, SIGKILL) }
        }
        // Epoch 3 (index 2) has started on worker 0: kill -9 the server.
        let inEpoch3 = LaunchPoll.until(.seconds(600)) { launcher.standardOutput.contains("Epoch[2] Batch") }
        #expect(inEpoch3, "the job never reached epoch 3: \(launcher.standardError)")
        let server = LaunchKillTests.processes(marker).first { pid in
            let cmd = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()
            return String(decoding: cmd.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).hasSuffix(" server ")
        }
        let victim = try #require(server, "no server process found")
        _ = kill(victim, SIGKILL)

        let result = try #require(launcher.wait(deadline: .seconds(900)), "the restarted job did not finish")
        #expect(result.status == 0, "the job did not finish on its own: \(result.standardError)")
        #expect(result.standardError.contains("restart 1 of 1: server 0"), "the restart names the killed server")
        #expect(result.standardError.contains("1 restart(s) after failures: server 0"), "the summary reports it")

        let a = try ParamsFile.load(straight + "/final.params")
        let b = try ParamsFile.load(recovered + "/final.params")
        #expect(a.map(\.0) == b.map(\.0))
        for ((name, x), (_, y)) in zip(a, b) {
            let differing = zip(x.toArray(), y.toArray()).filter { $0.0.bitPattern != $0.1.bitPattern }.count
            #expect(differing == 0, "\(name): \(differing) values differ from the uninterrupted run")
        }
    }
}
