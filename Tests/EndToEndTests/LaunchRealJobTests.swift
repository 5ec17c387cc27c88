import Foundation
import SwiftPSTensor
import Testing

/// `swiftps launch` with the real `swiftps scheduler`, `swiftps server` and `swiftps train --kv-store dist_sync`.
/// Skipped until those commands exist in the binary under test (`swiftps scheduler --help` must succeed).
@Suite(
    .serialized, .enabled(if: LaunchBinary.path != nil, "\(LaunchBinary.missing)"),
    .enabled(
        if: LaunchBinary.hasClusterCommands,
        "`swiftps scheduler --help` fails: the scheduler/server commands are not in this binary yet"))
struct LaunchRealJobTests {
    let binary = LaunchBinary.path ?? ""

    /// A short dist_sync training run: one epoch of a few batches.
    func train(batches: Int, epochs: Int = 1) -> [String] {
        [
            binary, "train", "--kv-store", "dist_sync", "--network", "mlp", "--num-epochs", String(epochs),
            "--num-batches", String(batches), "--batch-size", "64", "--blas-threads", "1", "--no-progress",
        ]
    }

    @Test func localJobWithTwoServersAndTwoWorkersSucceeds() throws {
        let result = try LaunchCommand.run(
            [binary, "launch", "-n", "2", "-s", "2", "--timeout", "600", "--"] + train(batches: 20),
            deadline: .seconds(660))
        #expect(result.status == 0, "\(result.all)")
        #expect(result.standardError.contains("all 2 workers exited 0"))
    }

    /// A worker not told its compute threads takes its host's CPUs shared among the job's workers
    /// there (all of them alone, one each for two workers on two CPUs), and says so.
    @Test(arguments: [1, 2]) func workersShareTheirHostsCPUs(workers: Int) throws {
        let environment = ProcessInfo.processInfo.environment
        let expected =
            (environment["SWIFTPS_BLAS_THREADS"] ?? environment["OPENBLAS_NUM_THREADS"]).flatMap { Int($0) }
            ?? BLAS.automaticThreads(sharing: workers)
        let result = try LaunchCommand.run(
            [
                binary, "launch", "-n", String(workers), "-s", "1", "--timeout", "300", "--", binary, "train",
                "--kv-store", "dist_sync", "--network", "mlp", "--num-epochs", "1", "--num-batches", "3",
                "--batch-size", "64", "--no-progress",
            ], deadline: .seconds(330))
        #expect(result.status == 0, "\(result.all)")
        for rank in 0..<workers {
            let line = "worker \(rank) of \(workers), \(expected) compute thread(s)"
            #expect(result.all.contains(line), "no '\(line)' in:\n\(result.all.suffix(3000))")
        }
    }

    /// A local job's workers and servers bind themselves to their share of the host's CPUs
    /// (`CPUPlacement`), read back from the kernel into their logs, by default (`nil`: nothing said, so
    /// the launcher's default or the test environment's `SWIFTPS_CPU_BIND`) and with `cores`; with
    /// `none` the kernel places them. The workers keep the compute threads they would have had. Under a
    /// narrower mask than the cpuset (taskset around the test run) the processes leave it as it is.
    @Test(arguments: [nil, "cores", "none"]) func localJobsDivideTheHostsCPUs(setting: String?) throws {
        let allowed = try #require(CPUAffinity.allowed())
        let chosen = setting ?? ProcessInfo.processInfo.environment["SWIFTPS_CPU_BIND"] ?? "cores"
        let binds = chosen.trimmingCharacters(in: .whitespaces).lowercased() == "cores"
        let result = try LaunchCommand.run(
            [binary, "launch", "-n", "2", "-s", "1", "--timeout", "300"]
                + (setting.map { ["--env", "SWIFTPS_CPU_BIND=\($0)"] } ?? []) + [
                    "--", binary, "train", "--kv-store", "dist_sync", "--network", "mlp", "--num-epochs", "1",
                    "--num-batches", "3", "--batch-size", "64", "--no-progress",
                ], deadline: .seconds(330))
        #expect(result.status == 0, "\(result.all)")
        let lines = result.all.split(separator: "\n")
        func boundLine(_ label: String) -> Substring? {
            lines.first { $0.hasPrefix("[\(label)]") && $0.contains("bound to CPU(s) ") }
        }
        let slots: [(String, CPUPlacement.Slot)] = [
            ("worker 0", .worker(0)), ("worker 1", .worker(1)), ("server 0", .server(0)),
        ]
        for (label, slot) in slots {
            let share = CPUPlacement.cpus(for: slot, allowed: allowed, workers: 2, servers: 1)
            if !binds {
                #expect(boundLine(label) == nil, "\(label) is bound under SWIFTPS_CPU_BIND=\(chosen):\n\(result.all)")
            } else if CPUAffinity.isNarrowed() {
                #expect(boundLine(label) == nil && result.all.contains("CPU binding left as it is"), "\(result.all)")
            } else if let share {
                let line = boundLine(label)
                #expect(
                    line?.contains("bound to CPU(s) \(CPUAffinity.listText(share)): ") == true,
                    "\(label) should be bound to \(CPUAffinity.listText(share)):\n\(result.all.suffix(3000))")
            } else {
                #expect(boundLine(label) == nil, "\(label) keeps every CPU:\n\(result.all.suffix(3000))")
            }
        }
        if !binds { #expect(!result.all.contains("bound to CPU(s)"), "\(result.all.suffix(3000))") }
        let environment = ProcessInfo.processInfo.environment
        let threads =
            (environment["SWIFTPS_BLAS_THREADS"] ?? environment["OPENBLAS_NUM_THREADS"]).flatMap { Int($0) }
            ?? BLAS.automaticThreads(sharing: 2)
        for rank in 0..<2 {
            #expect(
                result.all.contains("worker \(rank) of 2, \(threads) compute thread(s)"), "\(result.all.suffix(3000))")
        }
    }

    /// Two jobs launched at once with one scheduler port: one scheduler binds it, the other cannot, and
    /// the losing job's servers and workers, which reach the winner's scheduler, are refused as another
    /// job's (`SWIFTPS_JOB_ID`) instead of taking the winner's places. So one job trains to the end, the
    /// other fails saying why, and nothing of either is left running.
    @Test func twoJobsGivenOneSchedulerPortDoNotMix() throws {
        let port = String(Int.random(in: 20000...40000))
        let marker = launchMarker("one-port")
        defer { LaunchProcesses.killAll(marker) }
        let jobs = try (0..<2).map { _ in
            try LaunchCommand(
                [
                    binary, "launch", "-n", "2", "-s", "1", "--scheduler-port", port, "--timeout", "300", "--env",
                    "SWIFTPS_TEST_MARKER=\(marker)", "--env", "SWIFTPS_RENDEZVOUS_TIMEOUT=20", "--",
                ] + train(batches: 20))
        }
        defer { for job in jobs { job.kill() } }
        let results = jobs.map { $0.wait(deadline: .seconds(320)) }
        let statuses = results.map { $0?.status }
        #expect(statuses.filter { $0 == 0 }.count == 1, "exactly one job trains: \(statuses)")
        let loser = try #require(results.first { $0 != nil && $0?.status != 0 } ?? nil, "\(statuses)")
        #expect(
            loser.all.contains("runs another job") || loser.all.contains("in use"),
            "the failed job does not say why:\n\(loser.all.suffix(3000))")
        #expect(LaunchPoll.until(.seconds(20)) { LaunchKillTests.processes(marker).isEmpty })
    }

    @Test(.enabled(if: LaunchLab.unavailable == nil, "\(LaunchLab.unavailable ?? "")"))
    func sshJobAcrossNamespacesSucceeds() throws {
        let lab = try LaunchLab(hosts: 2)
        defer { lab.tearDown() }
        let secret = lab.directory.appendingPathComponent("secret")
        try "real-job-\(UUID().uuidString)".write(to: secret, atomically: true, encoding: .utf8)
        let result = try LaunchCommand.run(
            lab.onLauncher(
                [
                    binary, "launch", "--launcher", "ssh", "-H", lab.hostfile, "-n", "2", "-s", "2", "--timeout",
                    "600", "--binary", binary, "--secret-file", secret.path,
                ] + lab.sshOptions + ["--"] + train(batches: 20)), deadline: .seconds(660))
        #expect(result.status == 0, "\(result.all)")
    }

    @Test(.enabled(if: LaunchLab.unavailable == nil, "\(LaunchLab.unavailable ?? "")"))
    func cuttingAHostOffARealJobNamesTheHost() throws {
        let lab = try LaunchLab(hosts: 2)
        defer { lab.tearDown() }
        let launcher = try LaunchCommand(
            lab.onLauncher(
                [
                    binary, "launch", "--launcher", "ssh", "-H", lab.hostfile, "-n", "2", "-s", "1", "--timeout",
                    "600", "--binary", binary,
                ] + lab.sshOptions + ["--"] + train(batches: 100_000, epochs: 1000)))
        defer { launcher.kill() }
        let training = LaunchPoll.until(.seconds(120)) { launcher.standardOutput.contains("[worker 0]") }
        #expect(training, "worker 0 printed nothing: \(launcher.standardError)")
        try lab.cut(2)
        let result = try #require(launcher.wait(deadline: .seconds(180)), "the launcher did not notice the lost host")
        #expect(result.status != 0)
        #expect(result.all.contains(lab.address(2)), "the lost host is not named: \(result.all)")
        let gone = LaunchPoll.until(.seconds(30)) { LaunchProcesses.matching(lab.hostfile).isEmpty }
        #expect(gone, "the launcher is still running")
    }
}
