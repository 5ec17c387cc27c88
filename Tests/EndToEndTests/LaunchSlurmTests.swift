import Foundation
import Testing

/// `--launcher slurm` and `--slurm-task` without Slurm: a stand-in `srun` runs the step's tasks on this host the
/// way a one-node srun does (task i with `SLURM_PROCID=i`), so the launcher's side of what broke under a real
/// Slurm is checked here; `scripts/slurm-local` runs the same against a real one.
@Suite(.serialized, .enabled(if: LaunchBinary.path != nil, "\(LaunchBinary.missing)"))
struct LaunchSlurmTests {
    let binary = LaunchBinary.path ?? ""

    /// A directory holding a stand-in `srun`; removed by the caller.
    static func fakeSrun() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fake-srun-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let script = """
            #!/bin/bash
            # Stands in for srun: runs --ntasks=N copies of the command at once, task i with SLURM_PROCID=i, and
            # exits 1 when one fails.
            n=1
            while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do
              case $1 in --ntasks=*) n=${1#--ntasks=} ;; esac
              shift
            done
            pids=()
            for ((i = 0; i < n; i++)); do
              SLURM_PROCID=$i SLURMD_NODENAME=127.0.0.1 "$@" &
              pids+=($!)
            done
            status=0
            for pid in "${pids[@]}"; do wait "$pid" || status=1; done
            exit $status

            """
        let path = directory.appendingPathComponent("srun").path
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        guard chmod(path, 0o755) == 0 else { throw LaunchTestError("chmod 755 \(path) failed: errno \(errno)") }
        return directory.path
    }

    /// The environment of an allocation of one node, 127.0.0.1, with the stand-in srun first on `PATH`.
    static func allocation(srun directory: String, tasks: Int) -> [String: String] {
        [
            "SLURM_JOB_ID": "77", "SLURM_JOB_NODELIST": "127.0.0.1", "SLURM_NTASKS": String(tasks),
            "PATH": "\(directory):/usr/bin:/bin",
        ]
    }

    @Test func srunsOutputGoesToItsOwnLogNotWorkerZeros() throws {
        try #require(LaunchBinary.hasClusterCommands, "the scheduler/server commands are not in this binary")
        let srun = try Self.fakeSrun()
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("slurm-logs-\(UUID())").path
        defer {
            try? FileManager.default.removeItem(atPath: srun)
            try? FileManager.default.removeItem(atPath: logs)
        }
        let result = try LaunchCommand.run(
            [
                binary, "launch", "--launcher", "slurm", "-n", "1", "-s", "1", "--scheduler-port",
                String(try ProcessCluster.freePort()), "--log-dir", logs, "--timeout", "240", "--grace", "3", "--",
                binary, "train", "--kv-store", "dist_sync", "--num-epochs", "1", "--num-batches", "5",
                "--no-progress",
            ],
            environment: Self.allocation(srun: srun, tasks: 3), deadline: .seconds(300))
        #expect(result.status == 0, "\(result.all)")
        #expect(result.standardOutput.contains("[worker 0] final validation accuracy"), "\(result.all)")
        #expect(result.standardError.contains("srun exited 0: job done"), "\(result.standardError)")
        let srunLog = (try? String(contentsOfFile: logs + "/srun.log", encoding: .utf8)) ?? ""
        let workerLog = (try? String(contentsOfFile: logs + "/worker-0.log", encoding: .utf8)) ?? ""
        #expect(srunLog.contains("[scheduler]") && srunLog.contains("[worker 0]"), "srun.log: \(srunLog)")
        #expect(workerLog.contains("final validation accuracy"), "worker-0.log: \(workerLog)")
        #expect(!workerLog.contains("[scheduler]"), "worker-0.log holds srun's output: \(workerLog)")
    }

    @Test func theFirstFailedTaskIsNamedNotOnlySrunsStatus() throws {
        let srun = try Self.fakeSrun()
        defer { try? FileManager.default.removeItem(atPath: srun) }
        let result = try LaunchCommand.run(
            [
                binary, "launch", "--launcher", "slurm", "-n", "2", "-s", "0", "--scheduler-port", "9400",
                "--scheduler-command", "true", "--", "sh", "-c", "exit $DMLC_TASK_ID",
            ],
            environment: Self.allocation(srun: srun, tasks: 3), deadline: .seconds(60))
        #expect(result.status == 1, "\(result.all)")
        #expect(result.standardError.contains("swiftps launch (worker 1): worker 1 on "), "task messages name the task")
        #expect(
            result.standardError.contains("the first task to fail: worker 1 on ")
                && result.standardError.contains("failed: exited with status 1"), "\(result.standardError)")
    }

    @Test func maxRestartsRunsTheStepAgainResumingTrain() throws {
        let srun = try Self.fakeSrun()
        defer { try? FileManager.default.removeItem(atPath: srun) }
        // Worker 0 fails on the first attempt and reports its attempt and arguments on the second.
        let worker = "test -n \"$SWIFTPS_RESTART\" || exit 3; echo \"attempt=$SWIFTPS_RESTART args=$*\""
        let result = try LaunchCommand.run(
            [
                binary, "launch", "--launcher", "slurm", "-n", "1", "-s", "0", "--scheduler-port", "9400",
                "--max-restarts", "1", "--scheduler-command", "true", "--", "sh", "-c", worker, "sh", "train",
                "--model-prefix", "ck",
            ],
            environment: Self.allocation(srun: srun, tasks: 2), deadline: .seconds(60))
        #expect(result.status == 0, "\(result.all)")
        #expect(
            result.standardOutput.contains("[worker 0] attempt=1 args=train --model-prefix ck --resume"),
            "\(result.all)")
        #expect(result.standardError.contains("restart 1 of 1: worker 0 on "), "\(result.standardError)")
        #expect(result.standardError.contains(" failed: exited with status 3; starting"), "\(result.standardError)")
    }

    @Test func anAllocationWithTooFewTasksIsRefusedWithTheCount() throws {
        let arguments = [binary, "launch", "--launcher", "slurm", "-n", "2", "-s", "1", "--dry-run", "--", "true"]
        var environment = ["SLURM_JOB_ID": "42", "SLURM_JOB_NODELIST": "node1", "SLURM_NTASKS": "2"]
        let refused = try LaunchCommand.run(arguments, environment: environment, deadline: .seconds(30))
        #expect(refused.status != 0)
        #expect(refused.standardError.contains("needs 4 Slurm tasks"), "\(refused.standardError)")
        #expect(refused.standardError.contains("--ntasks=4"), "\(refused.standardError)")
        environment["SLURM_OVERCOMMIT"] = "1"
        let overcommitted = try LaunchCommand.run(arguments, environment: environment, deadline: .seconds(30))
        #expect(overcommitted.status == 0, "\(overcommitted.all)")
    }

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
