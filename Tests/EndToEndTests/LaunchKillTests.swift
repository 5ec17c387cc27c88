import Foundation
import Testing

/// Killing the launcher, or any one process of a real job, leaves no SwiftPS process running.
@Suite(
    .serialized, .enabled(if: LaunchBinary.path != nil, "\(LaunchBinary.missing)"),
    .enabled(if: LaunchBinary.hasClusterCommands, "the scheduler/server commands are not in this binary"))
struct LaunchKillTests {
    let binary = LaunchBinary.path ?? ""

    /// Live processes whose environment holds `marker` (every process of the job gets it via --env).
    static func processes(_ marker: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard pid != getpid(), LaunchProcesses.isAlive(pid),
                let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ")
            else { return false }
            return String(decoding: data.map { $0 == 0 ? 10 : $0 }, as: UTF8.self).contains(marker)
        }
    }

    /// A long dist_sync job (2 workers, 1 server) tagged with `marker`, already training.
    func startJob(_ marker: String) throws -> LaunchCommand {
        let launcher = try LaunchCommand([
            binary, "launch", "-n", "2", "-s", "1", "--timeout", "600", "--grace", "3", "--env",
            "SWIFTPS_TEST_MARKER=\(marker)", "--env", "SWIFTPS_HEARTBEAT_TIMEOUT=4", "--", binary, "train",
            "--kv-store", "dist_sync", "--num-epochs", "1000", "--disp-batches", "20", "--no-progress",
        ])
        let training = LaunchPoll.until(.seconds(120)) {
            launcher.standardOutput.contains("[worker 1]") && launcher.standardOutput.contains("Speed:")
        }
        #expect(training, "the job did not start training: \(launcher.standardError)")
        #expect(Self.processes(marker).count == 4, "scheduler, server and two workers run")
        return launcher
    }

    @Test func killingTheLauncherLeavesNothingRunning() throws {
        let marker = launchMarker("kill-launcher")
        let launcher = try startJob(marker)
        defer {
            launcher.kill()
            for pid in Self.processes(marker) { kill(pid, SIGKILL) }
        }
        _ = kill(launcher.pid, SIGKILL)  // cannot be caught: the processes must notice on their own
        let gone = LaunchPoll.until(.seconds(20)) { Self.processes(marker).isEmpty }
        #expect(gone, "still running after the launcher was killed: \(Self.processes(marker))")
    }

    @Test func killingOneWorkerEndsTheWholeJob() throws {
        let marker = launchMarker("kill-worker")
        let launcher = try startJob(marker)
        defer {
            launcher.kill()
            for pid in Self.processes(marker) { kill(pid, SIGKILL) }
        }
        // The worker processes are the ones running `train`.
        let workers = Self.processes(marker).filter { pid in
            let cmd = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()
            return String(decoding: cmd.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(" train ")
        }
        let victim = try #require(workers.first, "no worker process found")
        _ = kill(victim, SIGKILL)
        let result = try #require(launcher.wait(deadline: .seconds(60)), "the launcher did not end the job")
        #expect(result.status != 0)
        #expect(result.standardError.contains("worker"), "the summary names the failed worker: \(result.standardError)")
        let gone = LaunchPoll.until(.seconds(20)) { Self.processes(marker).isEmpty }
        #expect(gone, "still running after the job failed: \(Self.processes(marker))")
    }
}
