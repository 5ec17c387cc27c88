import Foundation

/// What the remote program reported about itself: its process group and its exit status.
final class LaunchRemoteState: @unchecked Sendable {
    private let lock = NSLock()
    private var pgid: Int?
    private var status: Int32?

    /// Takes a `@@swiftps-launch key=value` line.
    func record(_ line: String) {
        let fields = line.dropFirst(LaunchRemoteScript.marker.count).split(separator: "=", maxSplits: 1)
        guard fields.count == 2 else { return }
        lock.withLock {
            switch fields[0] {
            case "pgid": pgid = Int(fields[1])
            case "exit": status = Int32(fields[1])
            default: break
            }
        }
    }

    /// Splits a line of the remote output into the program's text and a status line of the script
    /// (`@@swiftps-launch key=value`), which follows the text on the same line when the program's
    /// last output did not end with a newline.
    static func split(_ line: String) -> (text: Substring, status: Substring?) {
        guard let range = line.range(of: LaunchRemoteScript.marker, options: .backwards) else {
            return (line[...], nil)
        }
        return (line[..<range.lowerBound], line[range.lowerBound...])
    }

    /// The remote process group, once started.
    var processGroup: Int? { lock.withLock { pgid } }
    /// The remote command's status, once it ended.
    var exitStatus: Int32? { lock.withLock { status } }
}

/// A task run on another host through `ssh HOST /bin/sh -s`, with `LaunchRemoteScript` on its standard input.
/// The ssh client runs here in its own process group; closing its standard input stops the remote side.
struct LaunchSSHRunner: LaunchRunner {
    let task: LaunchTask
    let host: LaunchHost
    private let sshPrefix: [String]
    private let process: LaunchLocalProcess
    private let remote = LaunchRemoteState()

    /// The `ssh` arguments before the destination: the host's port from the hostfile, then the user's
    /// `--ssh-option`s (ssh keeps the first value of an option, so the more specific wins), then BatchMode
    /// (never prompt), a connect timeout and keep-alives that notice a dead host. Host keys are checked as
    /// the user's ssh configuration says.
    static func sshArguments(port: Int? = nil, userOptions: [String]) -> [String] {
        ["ssh"] + (port.map { ["-p", String($0)] } ?? []) + userOptions + [
            "-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=3",
        ]
    }

    init(task: LaunchTask, host: LaunchHost, sshOptions: [String], secret: [UInt8]?, workdir: String?, grace: Duration)
    {
        self.task = task
        self.host = host
        sshPrefix = Self.sshArguments(port: host.sshPort, userOptions: sshOptions)
        let script = LaunchRemoteScript(
            command: task.command, environment: task.environment, secret: secret, workingDirectory: workdir,
            graceSeconds: max(1, Int(grace.components.seconds)))
        process = LaunchLocalProcess(
            command: sshPrefix + [host.destination, "/bin/sh -s"], environment: [], standardInput: script.text)
    }

    func run(output: LaunchTaskOutput) async -> LaunchExit {
        let remote = self.remote
        let exit = await process.run { line in
            let (text, status) = LaunchRemoteState.split(line)
            if let status {
                if !text.isEmpty { output.write(String(text)) }
                remote.record(String(status))
            } else {
                output.write(line)
            }
        }
        if let status = remote.exitStatus {
            // A shell reports a child killed by signal N as 128+N.
            return status > 128 && status < 160 ? .signaled(status - 128) : .exited(status)
        }
        if remote.processGroup == nil {
            return .lost(
                "could not start on \(host.label) over ssh (ssh \(exit.description)): check that "
                    + "`ssh \(host.sshPort.map { "-p \($0) " } ?? "")\(host.destination) true` works without a password prompt, and its host key"
            )
        }
        // The remote side may live on (sshd can keep a dead client's session for hours): kill its
        // process group over a second connection, which may fail too when the host is cut off.
        let killed = await killRemoteGroup()
        return .lost(
            "lost the ssh connection to \(host.label) (ssh \(exit.description)); "
                + (killed
                    ? "killed its processes there"
                    : "could not kill its processes there (process group \(remote.processGroup ?? 0)): they may still run")
        )
    }

    /// Kills the remote process group over a second ssh, within 12 s; returns whether that ssh
    /// succeeded (false too when the group is not known).
    @discardableResult
    private func killRemoteGroup() async -> Bool {
        guard let group = remote.processGroup else { return false }
        let killer = LaunchLocalProcess(
            command: sshPrefix + [host.destination, "kill -KILL -\(group)"], environment: [], standardInput: nil)
        return await withTaskGroup(of: Bool?.self) { tasks in
            tasks.addTask { await killer.run { _ in }.isSuccess }
            tasks.addTask {
                if !(await killer.handle.waitUntilFinished(within: .seconds(12))) {
                    await killer.stop(grace: .zero)
                }
                return nil
            }
            var succeeded = false
            for await result in tasks { if let result { succeeded = result } }
            return succeeded
        }
    }

    /// Closes ssh's standard input (the remote program then stops its process group); if ssh has not ended
    /// after the grace period, kills the remote group over a second ssh and then the local ssh client.
    func stop(grace: Duration) async {
        process.handle.closeStandardInput()
        if await process.handle.waitUntilFinished(within: grace + .seconds(2)) { return }
        await killRemoteGroup()
        await process.stop(grace: .seconds(1))
    }
}
