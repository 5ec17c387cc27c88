import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A process a test starts with `posix_spawn` and reaps itself by polling `waitpid(pid, WNOHANG)`: the
/// one way the end-to-end tests start processes.
///
/// Foundation's `Process` is not used, because on Linux it learns that a child ended when a socket the
/// child holds reaches end of file. That socket is created without close-on-exec, so a process another
/// test spawns at the same moment (suites run in parallel) can inherit it, and `isRunning` then stays
/// true after the child has exited, until that other process ends: a node that exited 0 looked hung.
/// `waitpid` on the child's own pid cannot be fooled that way.
final class ChildProcess: @unchecked Sendable {
    /// The child's process id (the command's own, since wrappers must exec it).
    let pid: pid_t
    private let lock = NSLock()
    private var reaped: Int32?

    /// Starts `arguments` (`arguments[0]` a path, or a name looked up in `PATH`) with exactly
    /// `environment`, reading `standardInput` and writing to `standardOutput` and `standardError`
    /// (created or truncated; the same path for both puts them in one file, in order). With
    /// `workingDirectory` the command runs there (through `/bin/sh`, which execs it).
    init(
        _ arguments: [String], environment: [String: String], standardInput: String = "/dev/null",
        standardOutput: String, standardError: String, workingDirectory: String? = nil
    ) throws {
        guard !arguments.isEmpty else { throw LaunchTestError("no command to start") }
        var command = arguments
        if let workingDirectory {
            command = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", workingDirectory] + arguments
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, standardInput, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, standardOutput, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if standardError == standardOutput {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, standardError, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        }
        var argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0)=\($1)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var child: pid_t = 0
        let rc = posix_spawnp(&child, command[0], &actions, nil, &argv, &envp)
        guard rc == 0 else {
            throw LaunchTestError("cannot start \(command[0]): \(String(cString: strerror(rc)))")
        }
        pid = child
    }

    /// Whether it still runs; reaps it when it has ended.
    var isRunning: Bool { status == nil }

    /// Its exit status once it ended (a shell's convention: 128 + the signal that killed it), else nil.
    var status: Int32? {
        lock.lock()
        defer { lock.unlock() }
        return reapIfEnded()
    }

    /// The status, reaping the child if it has ended; call with `lock` held.
    private func reapIfEnded() -> Int32? {
        if let reaped { return reaped }
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, WNOHANG)
        if result == pid {
            reaped = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        } else if result == -1 && errno == ECHILD {
            reaped = -1  // reaped by someone else: gone, its status unknown
        }
        return reaped
    }

    /// Waits up to `limit` for it to end; true when it did.
    func wait(_ limit: Duration) -> Bool {
        LaunchPoll.until(limit) { !self.isRunning }
    }

    /// Sends `signal` if it still runs. The check and the signal happen under one lock, so the pid
    /// cannot be reaped (and reused by another process) in between.
    func signal(_ signal: Int32) {
        lock.lock()
        defer { lock.unlock() }
        if reapIfEnded() == nil { _ = Glibc.kill(pid, signal) }
    }

    /// Kills it (SIGKILL) if it still runs, and reaps it (waiting at most a minute, for a process stuck
    /// in the kernel).
    func kill() {
        guard isRunning else { return }
        signal(SIGKILL)
        _ = wait(.seconds(60))
    }
}
