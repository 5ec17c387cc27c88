import Foundation
import Testing

/// `--slurm-task` without Slurm: the launcher's side of what broke under a real Slurm (`scripts/slurm-local` runs
/// the same against a real one).
@Suite(.serialized, .enabled(if: LaunchBinary.path != nil, "\(LaunchBinary.missing)"))
struct LaunchSlurmTests {
    let binary = LaunchBinary.path ?? ""

    @Test func aSlurmTasksProcessWatchesItsTaskLauncher() throws {
        let report = "echo launcher=$SWIFTPS_LAUNCHER_PID parent=$PPID"
        let result = try LaunchCommand.run(
            [
                binary, "launch", "--slurm-task", "-n", "1", "-s", "0", "--scheduler-host", "n0", "--scheduler-port",
                "9300", "--", "sh", "-c", report,
            ],
            environment: ["SLURM_PROCID": "1"], deadline: .seconds(30))
        #expect(result.status == 0, "\(result.all)")
        let line = result.standardOutput.split(separator: "\n").first { $0.contains("launcher=") } ?? ""
        let values = line.split(separator: " ").filter { $0.contains("=") }.map {
            $0.split(separator: "=", omittingEmptySubsequences: false).last
        }
        #expect(values.count == 2 && values[0]?.isEmpty == false && values[0] == values[1], "\(result.all)")
    }

    @Test func killingATaskLauncherLeavesNoOrphan() throws {
        try #require(LaunchBinary.hasClusterCommands, "the scheduler/server commands are not in this binary")
        let marker = launchMarker("slurm-task")
        // The scheduler of a 1-worker job waits for a worker that never comes: only its launcher can end it.
        let task = try LaunchCommand(
            [
                binary, "launch", "--slurm-task", "-n", "1", "-s", "0", "--scheduler-host", "127.0.0.1",
                "--scheduler-port", String(try ProcessCluster.freePort()), "--env", "SWIFTPS_TEST_MARKER=\(marker)",
                "--", "true",
            ], environment: ["SLURM_PROCID": "0"])
        defer {
            task.kill()
            for pid in LaunchKillTests.processes(marker) { kill(pid, SIGKILL) }
        }
        let started = LaunchPoll.until(.seconds(30)) { LaunchKillTests.processes(marker).count == 1 }
        try #require(started, "the scheduler did not start: \(task.standardError)")
        _ = kill(task.pid, SIGKILL)
        _ = task.wait(deadline: .seconds(5))  // reaped, as slurmstepd does: a zombie still answers kill(pid, 0)
        let gone = LaunchPoll.until(.seconds(5)) { LaunchKillTests.processes(marker).isEmpty }
        #expect(gone, "the scheduler outlived its killed task launcher: \(LaunchKillTests.processes(marker))")
    }
}
