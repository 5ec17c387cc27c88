import Foundation
import Testing

/// `swiftps launch --launcher ssh` across network-namespace "machines", each with its own sshd,
/// with `sh -c` stand-ins for the scheduler, servers and workers.
@Suite(
    .serialized, .enabled(if: LaunchBinary.path != nil, "\(LaunchBinary.missing)"),
    .enabled(if: LaunchLab.unavailable == nil, "\(LaunchLab.unavailable ?? "")"))
struct LaunchSSHTests {
    let binary = LaunchBinary.path ?? ""

    @Test func processesLandOnTheirHostsWithEnvironmentAndSecret() throws {
        let lab = try LaunchLab(hosts: 2)
        defer { lab.tearDown() }
        let marker = launchMarker("ssh")
        defer { LaunchProcesses.killAll(marker) }
        let secretValue = "secret-\(UUID().uuidString)"
        let secret = lab.directory.appendingPathComponent("secret")
        try secretValue.write(to: secret, atomically: true, encoding: .utf8)
        let report =
            "echo role=$DMLC_ROLE rank=$DMLC_TASK_ID on=$(hostname -I | tr -d ' ') node=$DMLC_NODE_HOST"
            + " root=$DMLC_PS_ROOT_URI:$DMLC_PS_ROOT_PORT env=$ALL;"
            + " echo secret-mode=$(stat -c %a \"$SWIFTPS_SECRET_FILE\") secret-dir=$(dirname \"$SWIFTPS_SECRET_FILE\");"
            + " echo secret-sha=$(sha256sum < \"$SWIFTPS_SECRET_FILE\" | cut -c1-16);"
            + " echo in-cmdlines=$(cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -c -F -f \"$SWIFTPS_SECRET_FILE\")"
        let result = try LaunchCommand.run(
            lab.onLauncher(
                [
                    // No --launcher: a hostfile means ssh, as MXNet's launch.py.
                    binary, "launch", "-H", lab.hostfile, "-n", "2", "-s", "1", "--grace", "2",
                    "--secret-file", secret.path, "--env", "ALL=yes", "--workdir", "/tmp",
                    "--scheduler-command", "echo scheduler root=$DMLC_PS_ROOT_URI; exec sleep 300 # \(marker)",
                    "--server-command", "\(report); exec sleep 300 # \(marker)",
                ]
                    + lab.sshOptions + ["--", "sh", "-c", "\(report); printf 'last words, no newline' # \(marker)"]),
            deadline: .seconds(120))
        // A worker whose output does not end with a newline still reports its status (the script's
        // status line then follows the text on the same line).
        #expect(result.status == 0, "\(result.all)")
        let output = result.standardOutput
        #expect(output.components(separatedBy: "] last words, no newline\n").count == 3, "\(result.all)")
        #expect(!output.contains("@@swiftps-launch"), "\(result.all)")
        let root = "root=10.213.\(lab.subnet).1:"
        #expect(output.contains("[scheduler] scheduler root=10.213.\(lab.subnet).1"), "\(result.all)")
        // Servers first, round robin: server 0 on host 1, worker 0 on host 2, worker 1 on host 1.
        for (label, role, rank, host) in [
            ("server 0", "server", 0, 1), ("worker 0", "worker", 0, 2), ("worker 1", "worker", 1, 1),
        ] {
            let address = lab.address(host)
            let line = "[\(label)] role=\(role) rank=\(rank) on=\(address) node=\(address) \(root)"
            #expect(output.contains(line), "\(label) is not on \(address): \(result.all)")
            #expect(output.contains("[\(label)] secret-mode=600"), "\(result.all)")
            #expect(output.contains("[\(label)] in-cmdlines=0"), "the secret is on a command line: \(result.all)")
        }
        #expect(output.components(separatedBy: "env=yes").count == 4)
        let digest = try LaunchCommand.run(
            ["/bin/sh", "-c", "sha256sum < '\(secret.path)' | cut -c1-16"], deadline: .seconds(10)
        ).standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(output.components(separatedBy: "secret-sha=\(digest)").count == 4, "\(result.all)")
        #expect(!output.contains(secretValue) && !result.standardError.contains(secretValue))
        let secretDirectories = output.components(separatedBy: "secret-dir=").dropFirst().compactMap {
            $0.split(separator: "\n").first.map(String.init)
        }
        #expect(secretDirectories.count == 3)
        let gone = LaunchPoll.until(.seconds(20)) {
            LaunchProcesses.matching(marker).isEmpty
                && secretDirectories.allSatisfy { !FileManager.default.fileExists(atPath: $0) }
        }
        #expect(gone, "left behind: \(LaunchProcesses.matching(marker)) or a secret directory")
    }

    /// A `--workdir` that does not exist on a host fails the job naming the directory as given, quotes,
    /// `$` and all: the remote script passes it as an argument, never reading it as shell code again.
    @Test func aMissingWorkdirIsNamedAndNeverRunAsCode() throws {
        let lab = try LaunchLab(hosts: 1)
        defer { lab.tearDown() }
        let marker = launchMarker("workdir")
        defer { LaunchProcesses.killAll(marker) }
        let witness = "/tmp/swiftps-workdir-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: witness) }
        let workdir = "/nonexistent/a \"quoted\" $(touch \(witness)) `touch \(witness)`"
        let result = try LaunchCommand.run(
            lab.onLauncher(
                [
                    binary, "launch", "-H", lab.hostfile, "-n", "1", "-s", "0", "--grace", "2", "--workdir", workdir,
                    "--scheduler-command", "exec sleep 300 # \(marker)",
                ] + lab.sshOptions + ["--", "sh", "-c", "echo started # \(marker)"]), deadline: .seconds(120))
        #expect(result.status != 0, "\(result.all)")
        #expect(result.all.contains("cannot cd to \(workdir) on "), "\(result.all)")
        #expect(!FileManager.default.fileExists(atPath: witness), "the directory's name ran as a command")
        #expect(!result.standardOutput.contains("started"), "\(result.all)")
    }

    /// Over ssh too, a stop gives what a worker started the grace period: the remote script waits
    /// for the group (it killed it the moment the worker's shell ended), and what the child says
    /// meanwhile comes back.
    @Test func aStopGivesARemoteWorkersChildrenTheGracePeriod() throws {
        let lab = try LaunchLab(hosts: 1)
        defer { lab.tearDown() }
        let marker = launchMarker("ssh-grace")
        defer { LaunchProcesses.killAll(marker) }
        let saved = lab.directory.appendingPathComponent("saved-\(marker)").path
        let child =
            "trap 'echo saving; sleep 1; touch \(saved); echo saved; exit 0' TERM; while :; do sleep 0.1; done # \(marker)"
        let worker =
            "if [ \"$DMLC_RANK\" = 1 ]; then sleep 3; exit 3; fi; sh -c \"\(child)\" & wait # \(marker)"
        let result = try LaunchCommand.run(
            lab.onLauncher(
                [
                    binary, "launch", "--launcher", "ssh", "-H", lab.hostfile, "-n", "2", "-s", "0", "--grace", "6",
                    "--scheduler-command", "exec sleep 300 # \(marker)",
                ] + lab.sshOptions + ["--", "sh", "-c", worker]), deadline: .seconds(120))
        #expect(result.status == 1, "\(result.all)")
        #expect(
            FileManager.default.fileExists(atPath: saved), "the remote child was killed within its grace: \(result.all)"
        )
        #expect(result.standardOutput.contains("[worker 0] saved"), "its last words were not read: \(result.all)")
        #expect(LaunchPoll.until(.seconds(20)) { LaunchProcesses.matching(marker).isEmpty })
    }

    @Test func cuttingAHostOffFailsTheJobNamingTheHost() throws {
        let before = Self.remoteDirectories()
        try cutAHostOff()
        // The hosts' shells remove their temporary directories even when the connection is gone
        // (they used to die of SIGPIPE at their last line and leave them, one per cut host).
        let left = LaunchPoll.until(.seconds(20)) { Self.remoteDirectories().subtracting(before).isEmpty }
        #expect(left, "left behind: \(Self.remoteDirectories().subtracting(before))")
    }

    /// The `swiftps-launch.*` directories of the hosts' shells (the lab's hosts share this /tmp).
    static func remoteDirectories() -> Set<String> {
        let tmp = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? []
        return Set(names.filter { $0.hasPrefix("swiftps-launch.") })
    }

    private func cutAHostOff() throws {
        let lab = try LaunchLab(hosts: 2)
        defer { lab.tearDown() }
        let marker = launchMarker("cut")
        defer { LaunchProcesses.killAll(marker) }
        let launcher = try LaunchCommand(
            lab.onLauncher(
                [
                    binary, "launch", "--launcher", "ssh", "-H", lab.hostfile, "-n", "2", "-s", "0", "--grace", "2",
                    "--scheduler-command", "exec sleep 300 # \(marker)",
                ] + lab.sshOptions + ["--", "sh", "-c", "echo ready on $(hostname -I); exec sleep 300 # \(marker)"]))
        defer { launcher.kill() }
        let started = LaunchPoll.until(.seconds(60)) {
            launcher.standardOutput.components(separatedBy: "ready on").count == 3
        }
        #expect(started, "the workers did not start: \(launcher.standardOutput) \(launcher.standardError)")
        try lab.cut(2)
        let result = try #require(launcher.wait(deadline: .seconds(90)), "the launcher did not notice the lost host")
        #expect(result.status == 1, "\(result.all)")
        #expect(
            result.standardError.contains("on \(lab.label(2)) failed: lost the ssh connection to \(lab.label(2))"),
            "\(result.all)")
        // It tries to kill what it started there over another connection, and says how that went.
        #expect(result.standardError.contains("its processes there"), "\(result.all)")
        let gone = LaunchPoll.until(.seconds(30)) { LaunchProcesses.matching(marker).isEmpty }
        #expect(gone, "left running: \(LaunchProcesses.matching(marker))")
    }
}
