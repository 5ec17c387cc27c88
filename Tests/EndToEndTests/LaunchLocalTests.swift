import Foundation
import SwiftPSKVStore
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

    /// Ctrl-C stops every process, also during a restarted attempt (the signals once went nowhere
    /// after the first attempt ended).
    @Test(arguments: [false, true]) func interruptStopsEverything(afterARestart: Bool) throws {
        let marker = launchMarker("sigint")
        defer { LaunchProcesses.killAll(marker) }
        // Each process says which attempt it belongs to; with a restart the first attempt's workers fail.
        let ready = "echo ready${SWIFTPS_RESTART:-0}; exec sleep 300 # \(marker)"
        let failFirst = afterARestart ? "test -n \"$SWIFTPS_RESTART\" || exit 3; " : ""
        let launcher = try LaunchCommand(
            [binary, "launch", "-n", "2", "-s", "1", "--grace", "2"]
                + (afterARestart ? ["--max-restarts", "1"] : []) + [
                    "--scheduler-command", ready, "--server-command", ready, "--", "sh", "-c",
                    "\(failFirst)trap '' TERM; echo ready${SWIFTPS_RESTART:-0}; sleep 300; # \(marker)",
                ])
        defer { launcher.kill() }
        let attempt = afterARestart ? "ready1" : "ready0"
        let started = LaunchPoll.until(.seconds(60)) {
            launcher.standardOutput.components(separatedBy: attempt).count == 5
        }
        #expect(started, "not every process started: \(launcher.standardOutput)")
        kill(launcher.pid, SIGINT)
        let result = try #require(launcher.wait(deadline: .seconds(60)), "the launcher ignored SIGINT")
        #expect(result.status == 130, "\(result.all)")
        #expect(result.standardError.contains("interrupted by SIGINT"))
        #expect(LaunchProcesses.matching(marker).isEmpty, "a process survived: workers ignoring SIGTERM get SIGKILL")
    }

    /// Ctrl-C while a failed attempt's processes are being stopped ends the launcher (128+N, the
    /// failure still reported) instead of being taken as part of the failure and restarting the job.
    @Test func interruptWhileStoppingAFailedAttemptDoesNotRestart() throws {
        let marker = launchMarker("sigint-failed")
        defer { LaunchProcesses.killAll(marker) }
        // Worker 0 fails after a second; worker 1 ignores SIGTERM, so stopping it takes the 6 s grace.
        let worker =
            "echo ready${SWIFTPS_RESTART:-0}; if [ \"$DMLC_RANK\" = 0 ]; then sleep 1; exit 3; fi; "
            + "trap '' TERM; sleep 300; # \(marker)"
        let launcher = try LaunchCommand(
            [
                binary, "launch", "-n", "2", "-s", "0", "--grace", "6", "--max-restarts", "3",
                "--scheduler-command", "exec sleep 300 # \(marker)", "--", "sh", "-c", worker,
            ])
        defer { launcher.kill() }
        let started = LaunchPoll.until(.seconds(60)) {
            launcher.standardOutput.components(separatedBy: "ready0").count == 3
        }
        #expect(started, "the workers did not start: \(launcher.standardOutput)")
        Thread.sleep(forTimeInterval: 3)  // worker 0 has failed; worker 1 is being stopped
        kill(launcher.pid, SIGINT)
        let result = try #require(launcher.wait(deadline: .seconds(60)), "the launcher ignored SIGINT")
        #expect(result.status == 130, "\(result.all)")
        #expect(result.standardError.contains("worker 0"), "the failure is still reported: \(result.all)")
        #expect(result.standardError.contains("then interrupted by SIGINT while stopping: no restart"), "\(result.all)")
        #expect(!result.all.contains("restart 1 of 3") && !result.all.contains("ready1"), "\(result.all)")
        #expect(LaunchPoll.until(.seconds(20)) { LaunchProcesses.matching(marker).isEmpty })
    }

    /// A stop gives everything a worker started the grace period, not only its leader: a child still
    /// saving on SIGTERM after its shell has gone finishes, and what it says meanwhile is shown. It
    /// used to be SIGKILLed the moment the shell was reaped, and its output was no longer read (a
    /// shell writing to the closed pipe died of SIGPIPE).
    @Test func aStopGivesAWorkersChildrenTheGracePeriod() throws {
        let marker = launchMarker("grace-children")
        defer { LaunchProcesses.killAll(marker) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("grace-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let saved = dir + "/saved"
        // Worker 0 is a shell whose child takes a second to save on SIGTERM; worker 1 fails after 2 s,
        // which stops worker 0 with a 6 s grace.
        let child =
            "trap 'echo saving; sleep 1; touch \(saved); echo saved; exit 0' TERM; while :; do sleep 0.1; done # \(marker)"
        let worker =
            "if [ \"$DMLC_RANK\" = 1 ]; then sleep 2; exit 3; fi; sh -c \"\(child)\" & wait # \(marker)"
        let result = try LaunchCommand.run(
            [
                binary, "launch", "-n", "2", "-s", "0", "--grace", "6", "--scheduler-command",
                "exec sleep 300 # \(marker)", "--", "sh", "-c", worker,
            ], deadline: .seconds(60))
        #expect(result.status == 1, "\(result.all)")
        #expect(FileManager.default.fileExists(atPath: saved), "the child was killed within its grace: \(result.all)")
        #expect(result.standardOutput.contains("[worker 0] saved"), "its last words were not read: \(result.all)")
        #expect(LaunchPoll.until(.seconds(20)) { LaunchProcesses.matching(marker).isEmpty })
    }

    /// `--max-restarts`: a restarted `train` with a `--model-prefix` resumes from the latest checkpoint
    /// (`--resume`); one that loads an epoch itself runs as it was (it continues from its own later
    /// checkpoints, through `SWIFTPS_RESUME_RUN`; the newest checkpoint under the prefix may be an
    /// abandoned run's); without a prefix there is nothing to resume from, and
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
    /// earlier run's last epoch, past which the restarted job would train nothing). Their manifests
    /// name the earlier launch's run, so no clock is compared: here they even look newer.
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
        let earlierRun = try CheckpointManifest.read(CheckpointLayout(prefix: dir + "/ck", epoch: 2)).run
        #expect(earlierRun?.count == 16, "the launched job's manifest records its run")
        let hourAhead = Date(timeIntervalSinceNow: 3600)
        for epoch in [1, 2] {
            try FileManager.default.setAttributes(
                [.modificationDate: hourAhead], ofItemAtPath: dir + "/ck-000\(epoch).manifest.json")
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
        #expect(result.all.contains("skipping checkpoint 2: another run wrote it"), "\(result.all)")
        #expect(result.all.contains("--resume: no complete checkpoint under"), "\(result.all)")
        #expect(result.all.contains("Epoch[1] Validation-accuracy"), "the restarted job trained nothing: \(result.all)")
    }

    /// A restarted `--load-epoch E` job continues from the newest checkpoint it wrote itself, not
    /// from E again (which would retrain the epochs since and write their checkpoints over).
    @Test func aRestartedLoadEpochJobContinuesFromItsOwnLaterCheckpoint() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reload-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let train = [
            binary, "train", "--kv-store", "dist_sync", "--num-batches", "300", "--no-progress", "--model-prefix",
            dir + "/ck",
        ]
        let first = try LaunchCommand.run(
            [binary, "launch", "-n", "1", "-s", "1", "--grace", "2", "--"] + train + ["--num-epochs", "1"],
            deadline: .seconds(120))
        try #require(first.status == 0, "\(first.all)")
        // The first attempt dies once it has written checkpoint 2; the restart runs the command as it was.
        let crashAfterTwo =
            "if [ -z \"$SWIFTPS_RESTART\" ]; then \"$@\" & p=$!; "
            + "while [ ! -f '\(dir)/ck-0002.manifest.json' ] && kill -0 $p 2>/dev/null; do sleep 0.05; done; "
            + "kill -9 $p; exit 3; fi; exec \"$@\""
        let result = try LaunchCommand.run(
            [
                binary, "launch", "-n", "1", "-s", "1", "--grace", "2", "--max-restarts", "1", "--", "sh", "-c",
                crashAfterTwo, "sh",
            ] + train + ["--num-epochs", "5", "--load-epoch", "1"], deadline: .seconds(240))
        #expect(result.status == 0, "\(result.all)")
        #expect(
            result.all.contains(
                "from the latest complete checkpoint it wrote, else from the one its --load-epoch names"))
        let resumed = result.all.split(separator: "\n").first { $0.contains("restarted: continuing from checkpoint") }
        let epoch = resumed.flatMap { line in
            line.split(separator: " ").drop { $0 != "checkpoint" }.dropFirst().first.flatMap {
                Int($0.filter(\.isNumber))
            }
        }
        #expect((epoch ?? 0) >= 2 && resumed?.contains("rather than --load-epoch 1") == true, "\(result.all)")
        #expect(FileManager.default.fileExists(atPath: dir + "/ck-0005.manifest.json"), "\(result.all)")
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
        // "inf" parses as a number; it must be refused, not trap when made milliseconds.
        for (flag, value) in [("--grace", "inf"), ("--timeout", "inf"), ("--timeout", "nan"), ("--grace", "1e300")] {
            let bad = try LaunchCommand.run(
                [binary, "launch", "-n", "1", flag, value, "--", "true"], deadline: .seconds(30))
            #expect(bad.status == 64, "\(flag) \(value): \(bad.all)")
            #expect(bad.standardError.contains("\(flag) must be"), "\(flag) \(value): \(bad.all)")
        }
    }

    /// A reader of the launcher's output that goes away (`| head`, a `| tee` killed first by Ctrl-C)
    /// does not stop the launcher: its writes fail (EPIPE) and it goes on supervising the job, which
    /// finishes; it used to trap on the first failed write and leave the processes running.
    @Test func aVanishedReaderDoesNotStopTheLauncher() throws {
        let marker = launchMarker("epipe")
        defer { LaunchProcesses.killAll(marker) }
        let launch = [
            "launch", "-n", "1", "-s", "0", "--grace", "1", "--scheduler-command", "exec sleep 300 # \(marker)", "--",
            "sh", "-c", "for i in 1 2 3 4 5; do echo line $i; sleep 0.2; done # \(marker)",
        ]
        let result = try LaunchCommand.run(
            ["/bin/bash", "-c", "set -o pipefail; \"$@\" | true", "bash", binary] + launch, deadline: .seconds(60))
        #expect(result.status == 0, "\(result.all)")
        #expect(result.standardError.contains("job done"), "\(result.all)")
        #expect(LaunchProcesses.matching(marker).isEmpty)
    }

    /// `--timeout` bounds the whole job, restarts included, and `--log-dir` keeps the log of every
    /// attempt (a restart appends after a line naming it, so the failure that caused it stays).
    @Test func theTimeoutSpansRestartsAndLogsKeepEveryAttempt() throws {
        let marker = launchMarker("attempts")
        defer { LaunchProcesses.killAll(marker) }
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("logs-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: logs) }
        // Every attempt's worker says which it is, then fails after 2 s: with 5 restarts allowed and a
        // 5 s timeout, the job is stopped during its third attempt or so, not after six.
        let worker = "echo attempt=${SWIFTPS_RESTART:-0}; sleep 2; exit 3 # \(marker)"
        let started = ContinuousClock.now
        let result = try LaunchCommand.run(
            [
                binary, "launch", "-n", "1", "-s", "0", "--grace", "1", "--timeout", "5", "--max-restarts", "5",
                "--log-dir", logs, "--scheduler-command", "exec sleep 300 # \(marker)", "--", "sh", "-c", worker,
            ], deadline: .seconds(90))
        let elapsed = ContinuousClock.now - started
        #expect(result.status != 0, "\(result.all)")
        #expect(elapsed < .seconds(30), "the timeout did not bound the restarts: \(elapsed)\n\(result.all)")
        #expect(!result.standardOutput.contains("attempt=5"), "\(result.all)")
        let log = try String(contentsOfFile: logs + "/worker-0.log", encoding: .utf8)
        #expect(log.contains("attempt=0") && log.contains("--- swiftps launch: restart 1 ---\nattempt=1"), "\(log)")
    }
}
