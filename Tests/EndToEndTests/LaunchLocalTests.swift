import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `swiftps launch` on this host, with `sh -c` stand-ins for the scheduler, servers and workers.
@Suite(.serialized, .enabled(if: LaunchBinary.path != nil, "\(LaunchBinary.missing)"))
struct LaunchLocalTests {
    let binary = LaunchBinary.path ?? ""
    let report =
        "echo role=$DMLC_ROLE rank=$DMLC_TASK_ID uri=$DMLC_PS_ROOT_URI port=$DMLC_PS_ROOT_PORT"
        + " nw=$DMLC_NUM_WORKER ns=$DMLC_NUM_SERVER node=$DMLC_NODE_HOST all=$ALL only=$ONLY range=$SWIFTPS_PORT_RANGE"

    @Test func prefixesLogFilesAndEnvironment() throws {
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("launch-logs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: logs) }
        let low = Int.random(in: 20000...40000)
        let result = try LaunchCommand.run(
            [
                binary, "launch", "-n", "2", "-s", "1", "--grace", "1", "--port-range", "\(low)-\(low + 99)",
                "--log-dir", logs.path, "--env", "ALL=a", "--env-server", "ONLY=s", "--env-worker", "ONLY=w",
                "--scheduler-command", report, "--server-command", report, "--", "sh", "-c", report,
            ], deadline: .seconds(60))
        #expect(result.status == 0, "\(result.all)")
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        let port = lines.first { $0.hasPrefix("[scheduler] ") }?.components(separatedBy: "port=").last?
            .split(separator: " ").first.flatMap { Int($0) }
        let schedulerPort = try #require(port, "no scheduler line in \(result.all)")
        #expect((low...(low + 99)).contains(schedulerPort))
        let common = "uri=127.0.0.1 port=\(schedulerPort) nw=2 ns=1 node=127.0.0.1 all=a"
        let expected = [
            ("scheduler", "scheduler-0.log", "role=scheduler rank=0 \(common) only="),
            ("server 0", "server-0.log", "role=server rank=0 \(common) only=s"),
            ("worker 0", "worker-0.log", "role=worker rank=0 \(common) only=w"),
            ("worker 1", "worker-1.log", "role=worker rank=1 \(common) only=w"),
        ]
        for (label, file, text) in expected {
            let line = "\(text) range=\(low)-\(low + 99)"
            #expect(lines.contains("[\(label)] \(line)"), "\(label) printed: \(result.all)")
            let log = try String(contentsOf: logs.appendingPathComponent(file), encoding: .utf8)
            #expect(log == line + "\n")
        }
        #expect(result.standardError.contains("all 2 workers exited 0"))
    }

    @Test func firstFailureStopsEveryProcessAndIsNamed() throws {
        let marker = launchMarker("fail")
        defer { LaunchProcesses.killAll(marker) }
        let sleeper = "echo pid=$$; exec sleep 300 # \(marker)"
        let worker =
            "if [ $DMLC_TASK_ID = 1 ]; then i=1; while [ $i -le 12 ]; do echo line $i; i=$((i+1)); done; "
            + "sleep 1; exit 3; fi; \(sleeper)"
        let result = try LaunchCommand.run(
            [
                binary, "launch", "-n", "3", "-s", "2", "--grace", "2", "--scheduler-command", sleeper,
                "--server-command", sleeper, "--", "sh", "-c", worker,
            ], deadline: .seconds(60))
        #expect(result.status == 1, "\(result.all)")
        #expect(result.standardError.contains("worker 1 on "), "\(result.standardError)")
        #expect(result.standardError.contains("exited with status 3"), "\(result.standardError)")
        #expect(result.standardError.contains("| line 12"))
        #expect(result.standardError.contains("| line 3"))
        #expect(!result.standardError.contains("| line 2\n"), "only the last 10 lines are shown")
        let pids = result.standardOutput.components(separatedBy: "pid=").dropFirst().compactMap {
            $0.split(separator: "\n").first.flatMap { pid_t($0) }
        }
        #expect(pids.count == 5, "the scheduler, 2 servers, workers 0 and 2 print their pids: \(result.all)")
        for pid in pids { #expect(!LaunchProcesses.isAlive(pid), "process \(pid) outlived the job") }
        #expect(LaunchProcesses.matching(marker).isEmpty)
    }

    @Test func timeoutStopsTheJob() throws {
        let marker = launchMarker("timeout")
        defer { LaunchProcesses.killAll(marker) }
        let result = try LaunchCommand.run(
            [
                binary, "launch", "-n", "1", "-s", "1", "--timeout", "1", "--grace", "1",
                "--scheduler-command", "exec sleep 300 # \(marker)", "--server-command", "exec sleep 300 # \(marker)",
                "--", "sh", "-c", "sleep 300 # \(marker)",
            ], deadline: .seconds(60))
        #expect(result.status == 124, "\(result.all)")
        #expect(result.standardError.contains("timeout"))
        #expect(LaunchProcesses.matching(marker).isEmpty)
    }

    @Test func interruptStopsEverything() throws {
        let marker = launchMarker("sigint")
        defer { LaunchProcesses.killAll(marker) }
        let ready = "echo ready; exec sleep 300 # \(marker)"
        let launcher = try LaunchCommand([
            binary, "launch", "-n", "2", "-s", "1", "--grace", "2", "--scheduler-command", ready,
            "--server-command", ready, "--", "sh", "-c", "trap '' TERM; echo ready; sleep 300; # \(marker)",
        ])
        defer { launcher.kill() }
        let started = LaunchPoll.until(.seconds(30)) {
            launcher.standardOutput.components(separatedBy: "ready").count == 5
        }
        #expect(started, "not every process started: \(launcher.standardOutput)")
        kill(launcher.pid, SIGINT)
        let result = try #require(launcher.wait(deadline: .seconds(60)), "the launcher ignored SIGINT")
        #expect(result.status == 130, "\(result.all)")
        #expect(result.standardError.contains("interrupted by SIGINT"))
        #expect(LaunchProcesses.matching(marker).isEmpty, "a process survived: workers ignoring SIGTERM get SIGKILL")
    }

    /// `--max-restarts`: a restarted `train` with a `--model-prefix` resumes from the latest checkpoint
    /// (`--resume`); one that loads an epoch itself starts from it again (the newest checkpoint under
    /// the prefix may be an abandoned run's); without a prefix there is nothing to resume from, and
    /// the command runs again as it was (`--resume` was appended, and refused at every restart).
    @Test func aRestartResumesOnlyWithAPrefixAndNoEpochOfItsOwn() throws {
        let script = "echo attempt=${SWIFTPS_RESTART:-0} args=\"$*\"; [ \"${SWIFTPS_RESTART:-0}\" = 1 ]"
        let cases: [([String], String)] = [
            (["train", "--model-prefix", "ck", "--lr", "0.1"], "train --model-prefix ck --lr 0.1 --resume"),
            (
                ["train", "--model-prefix", "ck", "--load-epoch", "2", "--lr", "0.1"],
                "train --model-prefix ck --load-epoch 2 --lr 0.1"
            ),
            (["train", "--lr", "0.1"], "train --lr 0.1"),
        ]
        for (arguments, restarted) in cases {
            let result = try LaunchCommand.run(
                [
                    binary, "launch", "-n", "1", "-s", "0", "--grace", "1", "--max-restarts", "1",
                    "--scheduler-command", "exec sleep 300", "--", "sh", "-c", script, "sh",
                ] + arguments, deadline: .seconds(60))
            #expect(result.status == 0, "\(result.all)")
            #expect(
                result.standardOutput.contains("attempt=0 args=\(arguments.joined(separator: " "))"), "\(result.all)")
            let lines = result.standardOutput.split(separator: "\n").map(String.init)
            #expect(lines.contains("[worker 0] attempt=1 args=\(restarted)"), "\(result.all)")
            let warned = result.standardError.contains("without --model-prefix")
            #expect(warned == !arguments.contains("--model-prefix"), "\(result.all)")
        }
    }

    /// A restart that resumes a job which started from scratch takes only the job's own checkpoints:
    /// the newer ones an earlier run left under the same prefix would otherwise be resumed (here the
    /// earlier run's last epoch, past which the restarted job would train nothing).
    @Test func aRestartDoesNotResumeAnEarlierRunsCheckpoint() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("restart-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let train = [
            binary, "train", "--kv-store", "dist_sync", "--num-epochs", "2", "--num-batches", "5", "--no-progress",
            "--model-prefix", dir + "/ck",
        ]
        let earlier = try LaunchCommand.run(
            [binary, "launch", "-n", "1", "-s", "1", "--grace", "2", "--"] + train, deadline: .seconds(120))
        try #require(earlier.status == 0, "\(earlier.all)")
        let hourAgo = Date(timeIntervalSinceNow: -3600)
        for epoch in [1, 2] {
            try FileManager.default.setAttributes(
                [.modificationDate: hourAgo], ofItemAtPath: dir + "/ck-000\(epoch).manifest.json")
        }
        // The first attempt's worker fails at once; the restart runs the real command, with --resume.
        let failFirst = "test -n \"$SWIFTPS_RESTART\" || exit 3; exec \"$@\""
        let result = try LaunchCommand.run(
            [
                binary, "launch", "-n", "1", "-s", "1", "--grace", "2", "--max-restarts", "1", "--", "sh", "-c",
                failFirst, "sh",
            ]
                + train, deadline: .seconds(180))
        #expect(result.status == 0, "\(result.all)")
        #expect(result.all.contains("skipping checkpoint 2: written before this job started"), "\(result.all)")
        #expect(result.all.contains("--resume: no complete checkpoint under"), "\(result.all)")
        #expect(result.all.contains("Epoch[1] Validation-accuracy"), "the restarted job trained nothing: \(result.all)")
    }

    @Test func badInputsAreRejectedWithActionableErrors() throws {
        let missingCommand = try LaunchCommand.run([binary, "launch", "-n", "1"], deadline: .seconds(30))
        #expect(missingCommand.status != 0)
        #expect(missingCommand.standardError.contains("after --"))
        let noHostfile = try LaunchCommand.run(
            [binary, "launch", "-n", "1", "--launcher", "ssh", "--", "true"], deadline: .seconds(30))
        #expect(noHostfile.standardError.contains("--hostfile"))
        let badRange = try LaunchCommand.run(
            [binary, "launch", "-n", "1", "--port-range", "9-3", "--", "true"], deadline: .seconds(30))
        #expect(badRange.status != 0)
        #expect(badRange.standardError.contains("--port-range '9-3'"))
    }
}
