import Foundation
import Testing

/// Where processes go and what Slurm is asked to run, checked through `--dry-run` and `--slurm-task`.
/// (Slurm itself is not installed here: these tests check the launcher's side only.)
@Suite(.enabled(if: LaunchBinary.path != nil, "\(LaunchBinary.missing)"))
struct LaunchPlanTests {
    let binary = LaunchBinary.path ?? ""

    /// `[label] on host` for every line of a dry run.
    private func placement(_ output: String) -> [String: String] {
        var hosts: [String: String] = [:]
        for line in output.split(separator: "\n") where line.hasPrefix("[") {
            guard let close = line.firstIndex(of: "]"), let colon = line.firstIndex(of: ":") else { continue }
            let label = String(line[line.index(after: line.startIndex)..<close])
            hosts[label] = String(line[line.index(close, offsetBy: 5)..<colon])
        }
        return hosts
    }

    @Test func sshPlacesServersFirstRoundRobinWithSlots() throws {
        let hostfile = FileManager.default.temporaryDirectory.appendingPathComponent("hosts-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: hostfile) }
        try "# the cluster\nalpha slots=2\n\nroot@beta   # one slot\n".write(
            to: hostfile, atomically: true, encoding: .utf8)
        let result = try LaunchCommand.run(
            [
                binary, "launch", "--launcher", "ssh", "-H", hostfile.path, "-n", "3", "-s", "2", "--dry-run",
                "--scheduler-host", "10.0.0.1", "--scheduler-port", "9100", "--", "train",
            ], deadline: .seconds(30))
        #expect(result.status == 0, "\(result.all)")
        let hosts = placement(result.standardOutput)
        #expect(hosts["server 0"] == "alpha")
        #expect(hosts["server 1"] == "alpha")
        #expect(hosts["worker 0"] == "beta")
        #expect(hosts["worker 1"] == "alpha")
        #expect(hosts["worker 2"] == "alpha")
        #expect(result.standardOutput.contains("DMLC_NODE_HOST=beta"))
        #expect(result.standardOutput.contains("DMLC_PS_ROOT_URI=10.0.0.1 DMLC_PS_ROOT_PORT=9100"))
        // One job id for all six processes, so their scheduler refuses another job's nodes.
        let ids = result.standardOutput.split(separator: "\n").compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("SWIFTPS_JOB_ID=") }
        }
        #expect(ids.count == 6 && Set(ids).count == 1 && ids[0].count == "SWIFTPS_JOB_ID=".count + 16, "\(ids)")
        // And one run id, which their checkpoints record (a restart resumes only this run's).
        let runs = result.standardOutput.split(separator: "\n").compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("SWIFTPS_RUN_ID=") }
        }
        #expect(runs.count == 6 && Set(runs).count == 1 && runs[0].count == "SWIFTPS_RUN_ID=".count + 16, "\(runs)")
    }

    /// Remote processes get the launcher's tuning variables, as dmlc's ssh launcher forwards its own:
    /// `SWIFTPS_*` tuning variables, thread counts and the MXNet variables SwiftPS reads, such as
    /// `MXNET_UPDATE_ON_KVSTORE`, which every worker must set alike; nothing else.
    @Test func sshForwardsTheTuningVariables() throws {
        let hostfile = FileManager.default.temporaryDirectory.appendingPathComponent("hosts-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: hostfile) }
        try "alpha\nbeta\n".write(to: hostfile, atomically: true, encoding: .utf8)
        let forwarded = [
            "MXNET_UPDATE_ON_KVSTORE": "0", "MXNET_KVSTORE_BIGARRAY_BOUND": "5000", "SWIFTPS_HEARTBEAT_TIMEOUT": "7",
            "OMP_NUM_THREADS": "1",
        ]
        let result = try LaunchCommand.run(
            [
                binary, "launch", "--launcher", "ssh", "-H", hostfile.path, "-n", "2", "-s", "1", "--dry-run",
                "--scheduler-host", "10.0.0.1", "--", "train",
            ],
            environment: forwarded.merging([
                "UNRELATED_SETTING": "1", "SWIFTPS_TEST_CRASH_AFTER_SHARD_WRITE": "2",
            ]) { $1 },
            deadline: .seconds(30))
        let lines = result.standardOutput.split(separator: "\n").filter { $0.hasPrefix("[") }
        #expect(lines.count == 4, "\(result.all)")
        for line in lines {
            for (name, value) in forwarded { #expect(line.contains(" \(name)=\(value) "), "\(name) missing: \(line)") }
            #expect(!line.contains("UNRELATED_SETTING"), "\(line)")
            // The servers' crash test hook is never spread over a job by the launcher.
            #expect(!line.contains("SWIFTPS_TEST_CRASH_AFTER_SHARD_WRITE"), "\(line)")
        }
    }

    /// MXNet's habits: `-H` alone means ssh (launch.py's default launcher), `host:port` in a hostfile
    /// is the host's ssh port (dmlc's `ip:port`), `--env K:V` splits at the first `:` or `=`, and a
    /// bare `swiftps` in the workers' command is this binary, as the scheduler and servers run it.
    @Test func aHostfileAloneMeansSSHAndHostColonPortIsTheSSHPort() throws {
        let hostfile = FileManager.default.temporaryDirectory.appendingPathComponent("hosts-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: hostfile) }
        try "alpha:2222\nbeta\n".write(to: hostfile, atomically: true, encoding: .utf8)
        let result = try LaunchCommand.run(
            [
                binary, "launch", "-H", hostfile.path, "-n", "2", "-s", "1", "--dry-run", "--scheduler-host",
                "10.0.0.1", "--env", "MXNET_X:a=b", "--", "swiftps", "train",
            ], deadline: .seconds(30))
        #expect(result.status == 0, "\(result.all)")
        let hosts = placement(result.standardOutput)
        #expect(hosts["server 0"] == "alpha (ssh port 2222)", "\(result.all)")
        #expect(hosts["worker 0"] == "beta" && hosts["worker 1"] == "alpha (ssh port 2222)", "\(result.all)")
        #expect(result.standardOutput.contains("DMLC_NODE_HOST=alpha "), "the port is not part of the address")
        #expect(result.standardOutput.contains(" MXNET_X=a=b "), "\(result.all)")
        let worker = result.standardOutput.split(separator: "\n").first { $0.hasPrefix("[worker 0]") } ?? ""
        #expect(worker.hasSuffix("\(binary) train") || worker.hasSuffix("/swiftps train"), "\(worker)")
        #expect(!worker.hasSuffix(" swiftps train"), "a bare swiftps must be this binary: \(worker)")

        let local = try LaunchCommand.run(
            [binary, "launch", "--launcher", "local", "-H", hostfile.path, "-n", "1", "--dry-run", "--", "true"],
            deadline: .seconds(30))
        #expect(local.status != 0 && local.standardError.contains("--launcher local would ignore it"), "\(local.all)")
    }

    @Test func badHostfileLineIsNamed() throws {
        let hostfile = FileManager.default.temporaryDirectory.appendingPathComponent("hosts-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: hostfile) }
        for line in ["beta:zero", "beta:70000", "beta slots"] {
            try "alpha\n\(line)\n".write(to: hostfile, atomically: true, encoding: .utf8)
            let result = try LaunchCommand.run(
                [binary, "launch", "--launcher", "ssh", "-H", hostfile.path, "-n", "1", "--dry-run", "--", "true"],
                deadline: .seconds(30))
            #expect(result.status != 0)
            #expect(result.standardError.contains("\(hostfile.path):2"), "\(line): \(result.standardError)")
        }
    }

    @Test func slurmRunsOneSrunStepWithTheSchedulerOnTheFirstNode() throws {
        let result = try LaunchCommand.run(
            [
                binary, "launch", "--launcher", "slurm", "-n", "2", "-s", "1", "--dry-run", "--port-range", "9200-9299",
                "--binary", "/opt/swiftps", "--env", "A=1", "--", "sh", "-c", "echo hi",
            ],
            environment: ["SLURM_JOB_ID": "42", "SLURM_JOB_NODELIST": "node[08-10],gpu7", "PATH": "/usr/bin:/bin"],
            deadline: .seconds(30))
        #expect(result.status == 0, "\(result.all)")
        let line = result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(line.hasPrefix("srun --ntasks=4 --kill-on-bad-exit=1 "), "\(line)")
        #expect(
            line.contains(" /opt/swiftps launch --slurm-task -n 2 -s 1 --scheduler-host node08 --scheduler-port 92"))
        #expect(line.contains("--port-range 9200-9299"))
        #expect(line.contains("--env A=1"))
        #expect(line.contains("--env SWIFTPS_JOB_ID="), "every task gets the one job id chosen here: \(line)")
        #expect(line.contains("--env SWIFTPS_RUN_ID="), "every task gets the launch's run id: \(line)")
        #expect(line.hasSuffix("-- sh -c 'echo hi'"))
    }

    /// A launcher on another node than the scheduler's (salloc on a login node) cannot see the node's free ports:
    /// the job id picks the port, so two jobs whose schedulers share a node do not both take the range's first.
    @Test func slurmSchedulerPortFromAnotherNodeFollowsTheJobID() throws {
        func port(job: String, node: String? = nil) throws -> String? {
            let result = try LaunchCommand.run(
                [
                    binary, "launch", "--launcher", "slurm", "-n", "1", "-s", "1", "--dry-run", "--port-range",
                    "9200-9299", "--binary", "/opt/swiftps", "--", "true",
                ],
                environment: ["SLURM_JOB_ID": job, "SLURM_JOB_NODELIST": "node[08-10]", "PATH": "/usr/bin:/bin"]
                    .merging(node.map { ["SLURMD_NODENAME": $0] } ?? [:]) { $1 },
                deadline: .seconds(30))
            #expect(result.status == 0, "\(result.all)")
            let words = result.standardOutput.split(separator: " ").map(String.init)
            return words.firstIndex(of: "--scheduler-port").map { words[$0 + 1] }
        }
        #expect(try port(job: "42") == "9242")
        #expect(try port(job: "43") == "9243")
        #expect(try port(job: "1042") == "9242", "the range has 100 ports")
        #expect(try port(job: "42", node: "node09") == "9242", "a batch script on another node than node08")
        // On the first node by its Slurm name (a batch script; the host name may differ), a free port at random.
        let picked = try (0..<3).map { _ in try port(job: "42", node: "node08") }
        #expect(picked.contains { $0 != "9242" }, "\(picked)")
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["SLURM_JOB_ID"] == nil, "runs outside Slurm only"))
    func slurmOutsideAnAllocationIsRefused() throws {
        let result = try LaunchCommand.run(
            [binary, "launch", "--launcher", "slurm", "-n", "1", "--", "true"], deadline: .seconds(30))
        #expect(result.status != 0)
        #expect(result.standardError.contains("SLURM_JOB_ID is not set"))
    }

    @Test(arguments: [
        (0, "role=scheduler rank=0 node=n1"), (1, "role=server rank=0 node=n1"), (2, "role=worker rank=0 node=n1"),
        (3, "role=worker rank=1 node=n1"),
    ])
    func slurmTaskTakesItsRoleFromProcID(procid: Int, expected: String) throws {
        let report =
            "echo role=$DMLC_ROLE rank=$DMLC_TASK_ID node=$DMLC_NODE_HOST at=$DMLC_PS_ROOT_URI:$DMLC_PS_ROOT_PORT"
        let result = try LaunchCommand.run(
            [
                binary, "launch", "--slurm-task", "-n", "2", "-s", "1", "--scheduler-host", "n0", "--scheduler-port",
                "9300", "--scheduler-command", report, "--server-command", report, "--", "sh", "-c", report,
            ],
            environment: ["SLURM_PROCID": String(procid), "SLURMD_NODENAME": "n1"], deadline: .seconds(30))
        #expect(result.status == 0, "\(result.all)")
        #expect(result.standardOutput.contains("] \(expected) at=n0:9300"), "\(result.all)")
    }

    /// `DMLC_INTERFACE` (the way out when the nodes' Slurm names do not resolve) must not be overridden by a
    /// `DMLC_NODE_HOST` of the node's name, which the process would advertise instead of the interface's address.
    @Test(arguments: [true, false])
    func slurmTaskWithAnInterfaceDoesNotAdvertiseTheNodeName(byEnvFlag: Bool) throws {
        let report = "echo role=$DMLC_ROLE node=$DMLC_NODE_HOST interface=$DMLC_INTERFACE"
        var environment = ["SLURM_PROCID": "2", "SLURMD_NODENAME": "n1"]
        if !byEnvFlag { environment["DMLC_INTERFACE"] = "lo" }
        let result = try LaunchCommand.run(
            [
                binary, "launch", "--slurm-task", "-n", "2", "-s", "1", "--scheduler-host", "n0", "--scheduler-port",
                "9300",
            ]
                + (byEnvFlag ? ["--env", "DMLC_INTERFACE=lo"] : []) + ["--", "sh", "-c", report],
            environment: environment, deadline: .seconds(30))
        #expect(result.status == 0, "\(result.all)")
        #expect(result.standardOutput.contains("] role=worker node= interface=lo"), "\(result.all)")
    }

    /// A task that cannot start on its node (a secret or log directory not there) says so as a task's
    /// failure, naming itself and the node, in the form the outer launcher reports first.
    @Test func aSlurmTaskThatCannotStartNamesItselfAndItsNode() throws {
        let result = try LaunchCommand.run(
            [
                binary, "launch", "--slurm-task", "-n", "2", "-s", "1", "--scheduler-host", "n0", "--scheduler-port",
                "9300", "--secret-file", "/nonexistent/swiftps-secret", "--", "true",
            ],
            environment: ["SLURM_PROCID": "2", "SLURMD_NODENAME": "n7"], deadline: .seconds(30))
        #expect(result.status == 1, "\(result.all)")
        #expect(
            result.standardError.contains(
                "swiftps launch (worker 0): worker 0 on n7 failed: --secret-file /nonexistent/swiftps-secret"),
            "\(result.all)")
    }

    @Test func slurmTaskOutsideTheStepIsRefused() throws {
        let result = try LaunchCommand.run(
            [
                binary, "launch", "--slurm-task", "-n", "2", "-s", "1", "--scheduler-host", "n0", "--scheduler-port",
                "9300", "--", "true",
            ],
            environment: ["SLURM_PROCID": "4"], deadline: .seconds(30))
        #expect(result.status != 0)
        #expect(result.standardError.contains("--ntasks=4"), "\(result.standardError)")
    }
}
