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

    /// A lenet job of `epochs` epochs (long enough to kill a process inside one), checkpointing every
    /// epoch, with `env` (`NAME=value`) set on every process.
    func job(_ dir: String, marker: String, restarts: Int, epochs: Int = 4, env: [String] = []) -> [String] {
        [
            binary, "launch", "-n", "2", "-s", "1", "--timeout", "900", "--grace", "3", "--max-restarts",
            String(restarts), "--env", "SWIFTPS_TEST_MARKER=\(marker)", "--env", "SWIFTPS_HEARTBEAT_TIMEOUT=4",
        ] + env.flatMap { ["--env", $0] } + [
            "--",
            binary, "train", "--kv-store", "dist_sync", "--network", "lenet", "--lr", "0.01", "--num-epochs",
            String(epochs), "--num-batches", "30", "--disp-batches", "5", "--no-progress", "--model-prefix",
            dir + "/ck", "--save-final", dir + "/final.params",
        ]
    }

    /// The job's process whose command line ends with `role` (" server ", " scheduler ") or holds it
    /// (" train "), if one is running.
    func process(_ marker: String, _ role: String) -> pid_t? {
        LaunchKillTests.processes(marker).first { pid in
            let cmd = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()
            let line = String(decoding: cmd.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            return role == " train " ? line.contains(role) && !line.contains(" launch ") : line.hasSuffix(role)
        }
    }

    /// Expects the final weights in `a` and `b` to be the same, bit for bit.
    func expectSameWeights(_ a: String, _ b: String) throws {
        let x = try ParamsFile.load(a)
        let y = try ParamsFile.load(b)
        #expect(x.map(\.0) == y.map(\.0))
        for ((name, u), (_, v)) in zip(x, y) {
            let differing = zip(u.toArray(), v.toArray()).filter { $0.0.bitPattern != $0.1.bitPattern }.count
            #expect(differing == 0, "\(name): \(differing) values differ from the uninterrupted run")
        }
    }

    /// Runs the uninterrupted job of `epochs` epochs, then the same job with `--max-restarts restarts`
    /// while `disturb` (given the running launcher and the job's marker) kills or freezes its
    /// processes; expects the disturbed job to finish by itself with the uninterrupted run's weights,
    /// bit for bit, and returns its standard error. Every process of the job is killed on every way out.
    func runRecovering(
        epochs: Int, restarts: Int, env: [String] = [], disturb: (LaunchCommand, String) throws -> Void
    ) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-restart-\(UUID())").path
        let straight = root + "/straight"
        let recovered = root + "/recovered"
        for dir in [straight, recovered] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        defer { try? FileManager.default.removeItem(atPath: root) }
        let reference = try LaunchCommand.run(
            job(straight, marker: launchMarker("straight"), restarts: 0, epochs: epochs, env: env),
            deadline: .seconds(900))
        #expect(reference.status == 0, "the uninterrupted job failed: \(reference.standardError)")

        let marker = launchMarker("recover")
        let launcher = try LaunchCommand(
            job(recovered, marker: marker, restarts: restarts, epochs: epochs, env: env))
        defer {
            launcher.kill()
            for pid in LaunchKillTests.processes(marker) { kill(pid, SIGKILL) }
        }
        try disturb(launcher, marker)
        let result = try #require(launcher.wait(deadline: .seconds(900)), "the restarted job did not finish")
        #expect(result.status == 0, "the job did not finish on its own: \(result.standardError)")
        try expectSameWeights(straight + "/final.params", recovered + "/final.params")
        return result.standardError
    }

    @Test func aKilledServerIsRecoveredFromTheLastCheckpointExactly() throws {
        let stderr = try runRecovering(epochs: 4, restarts: 1) { launcher, marker in
            // Epoch 3 (index 2) has started on worker 0: kill -9 the server.
            let inEpoch3 = LaunchPoll.until(.seconds(600)) { launcher.standardOutput.contains("Epoch[2] Batch") }
            #expect(inEpoch3, "the job never reached epoch 3: \(launcher.standardError)")
            let victim = try #require(process(marker, " server "), "no server process found")
            _ = kill(victim, SIGKILL)
        }
        #expect(stderr.contains("restart 1 of 1: server 0"), "the restart names the killed server")
        #expect(stderr.contains("1 restart(s) after failures: server 0"), "the summary reports it")
    }

    /// When the workers run the optimizer (`MXNET_UPDATE_ON_KVSTORE=0`) the checkpoint is worker 0's
    /// weights and optimizer state: a worker killed mid-epoch, the job restarted from it, and every
    /// worker resumes with that state, ending where the uninterrupted run does, bit for bit.
    @Test func aKilledWorkerIsRecoveredExactlyWhenTheWorkersUpdate() throws {
        let stderr = try runRecovering(epochs: 4, restarts: 1, env: ["MXNET_UPDATE_ON_KVSTORE=0"]) { launcher, marker in
            let inEpoch3 = LaunchPoll.until(.seconds(600)) { launcher.standardOutput.contains("Epoch[2] Batch") }
            #expect(inEpoch3, "the job never reached epoch 3: \(launcher.standardError)")
            let victim = try #require(process(marker, " train "), "no worker process found")
            _ = kill(victim, SIGKILL)
        }
        #expect(stderr.contains("restart 1 of 1: worker "), "the restart names the killed worker: \(stderr)")
    }

    /// The scheduler (which alone holds the checkpoints) killed, then a worker frozen (SIGSTOP: the
    /// others find it by heartbeat and leave naming it), then the server killed, each in a later epoch
    /// of one job: three restarts, each from the latest complete checkpoint, and the final weights
    /// still equal an uninterrupted run's, bit for bit. The freeze's restart line names the frozen
    /// worker, though the first process to exit was another.
    @Test func everyRoleKilledInTurnStillEndsExactly() throws {
        let stderr = try runRecovering(epochs: 6, restarts: 3) { launcher, marker in
            let steps = [(" scheduler ", 1, SIGKILL), (" train ", 3, SIGSTOP), (" server ", 4, SIGKILL)]
            for (attempt, (role, epoch, signal)) in steps.enumerated() {
                // After the previous restart, the attempt's own output reaches the epoch, then the kill.
                let seen = launcher.standardOutput.count
                let reached = LaunchPoll.until(.seconds(600)) {
                    (attempt == 0 || launcher.standardError.contains("restart \(attempt) of 3"))
                        && launcher.standardOutput.dropFirst(seen).contains("Epoch[\(epoch)] Batch")
                }
                try #require(reached, "attempt \(attempt) never reached epoch \(epoch): \(launcher.standardError)")
                let victim = try #require(process(marker, role), "no\(role)process in attempt \(attempt)")
                _ = kill(victim, signal)
            }
        }
        #expect(stderr.contains("3 restart(s) after failures"), "\(stderr)")
        let frozen = stderr.split(separator: "\n").first { $0.contains("restart 2 of 3: ") } ?? ""
        #expect(frozen.contains("worker ") && frozen.contains("silent for"), "\(frozen)")
    }
}
