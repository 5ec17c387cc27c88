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
            if line.hasPrefix(LaunchRemoteScript.marker) {
                remote.record(line)
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
        return .lost("lost the ssh connection to \(host.label) (ssh \(exit.description))")
    }

    /// Closes ssh's standard input (the remote program then stops its process group); if ssh has not ended
    /// after the grace period, kills the remote group over a second ssh and then the local ssh client.
    func stop(grace: Duration) async {
        process.handle.closeStandardInput()
        if await process.handle.waitUntilFinished(within: grace + .seconds(2)) { return }
        if let group = remote.processGroup {
            let killer = LaunchLocalProcess(
                command: sshPrefix + [host.destination, "kill -KILL -\(group)"], environment: [], standardInput: nil)
            await withTaskGroup(of: Void.self) { tasks in
                tasks.addTask { _ = await killer.run { _ in } }
                tasks.addTask {
                    if !(await killer.handle.waitUntilFinished(within: .seconds(12))) {
                        await killer.stop(grace: .zero)
                    }
                }
                await tasks.waitForAll()
            }
        }
        await process.stop(grace: .seconds(1))
    }
}
