import Foundation
import Subprocess

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How a process of the job ended.
enum LaunchExit: Sendable, Equatable {
    /// It exited with this status.
    case exited(Int32)
    /// A signal ended it.
    case signaled(Int32)
    /// It could not be started or its host was lost; the text says why.
    case lost(String)

    /// Whether it ended well (status 0).
    var isSuccess: Bool { self == .exited(0) }

    /// "exited with status 3", "killed by signal 9 (SIGKILL)".
    var description: String {
        switch self {
        case .exited(let status): "exited with status \(status)"
        case .signaled(let signal): "killed by signal \(signal) (\(LaunchExit.signalName(signal)))"
        case .lost(let reason): reason
        }
    }

    /// The usual name of a signal number.
    static func signalName(_ signal: Int32) -> String {
        let names: [Int32: String] = [
            SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGABRT: "SIGABRT",
            SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV", SIGPIPE: "SIGPIPE",
            SIGTERM: "SIGTERM", SIGTRAP: "SIGTRAP",
        ]
        return names[signal] ?? "signal \(signal)"
    }
}

/// A process of the job that the supervisor can run and stop.
protocol LaunchRunner: Sendable {
    /// The task it runs.
    var task: LaunchTask { get }
    /// Runs the task to its end, handing every output line to `output`.
    func run(output: LaunchTaskOutput) async -> LaunchExit
    /// Stops the task and everything it started: asks politely, waits up to `grace`, then forces.
    func stop(grace: Duration) async
}

/// The state a running local process shares with whoever stops it. The process leads its own process group,
/// so signals go to `-pid` and reach its children too.
final class LaunchProcessHandle: @unchecked Sendable {
    private let lock = NSLock()
    private var pid: pid_t?
    private var finished = false
    private var stopRequested = false
    /// Set once `LaunchLocalProcess.stop` began: what outlives the leader then gets the rest of the
    /// grace period, not an immediate SIGKILL (a child saving its state on SIGTERM).
    private var stopping = false
    /// When the stop under way gives up on the group (SIGKILL).
    private var stopDeadline: ContinuousClock.Instant?
    private var stdinClosers: [CheckedContinuation<Void, Never>] = []
    private var stdinClosed = false

    /// Records the started process; returns whether a stop was asked for before it started.
    func started(pid: pid_t) -> Bool {
        lock.withLock {
            self.pid = pid
            return stopRequested
        }
    }

    /// Sends `signal` to the whole process group while the process is running; returns whether it was sent.
    @discardableResult
    func signalGroup(_ signal: Int32) -> Bool {
        lock.withLock {
            if pid == nil { stopRequested = true }
            guard let pid, !finished else { return false }
            return kill(-pid, signal) == 0
        }
    }

    /// Marks the process as ended, after killing what is left of its group (children that outlived it),
    /// unless a stop is under way: that stop gives them the rest of its grace period.
    func finish() {
        lock.withLock {
            if let pid, !finished, !stopping { _ = kill(-pid, SIGKILL) }
            finished = true
        }
        closeStandardInput()
    }

    /// Sends SIGTERM to the group as a stop of `grace` begins; returns whether the process was running.
    func beginStop(grace: Duration) -> Bool {
        lock.withLock {
            if pid == nil { stopRequested = true }
            guard let pid, !finished else { return false }
            stopping = true
            stopDeadline = ContinuousClock.now + grace
            return kill(-pid, SIGTERM) == 0
        }
    }

    /// How long what the process started may still write once it has ended: until a stop under way
    /// gives up on the group, else nothing; plus 2 s for the pipe to drain (a process that left the
    /// group holding it must not hold the launcher).
    var outputDeadline: ContinuousClock.Instant {
        lock.withLock { max(stopDeadline ?? .now, .now) } + .seconds(2)
    }

    /// Whether the process has ended and nothing of its group is left.
    var groupGone: Bool {
        lock.withLock {
            guard let pid else { return true }
            return finished && kill(-pid, 0) != 0 && errno == ESRCH
        }
    }

    /// SIGKILL to whatever is left of the group, the leader ended or not.
    func killGroup() {
        lock.withLock {
            if let pid { _ = kill(-pid, SIGKILL) }
        }
    }

    /// Whether the process has ended.
    var isFinished: Bool { lock.withLock { finished } }

    /// Returns once `closeStandardInput()` has been called.
    func standardInputClosed() async {
        await withCheckedContinuation { continuation in
            let resumeNow = lock.withLock {
                if stdinClosed { return true }
                stdinClosers.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Asks the writer of standard input to close it (and so end a remote shell reading it).
    func closeStandardInput() {
        let waiting = lock.withLock {
            stdinClosed = true
            defer { stdinClosers.removeAll() }
            return stdinClosers
        }
        for continuation in waiting { continuation.resume() }
    }

    /// Waits until the process has ended or `limit` has passed; returns whether it ended.
    func waitUntilFinished(within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while !isFinished {
            if ContinuousClock.now >= deadline { return false }
            await Self.pause()
        }
        return true
    }

    /// 20 ms, cancelled or not: a stop still under way when the supervisor's task group is cancelled
    /// (every process it ran has exited) must keep its pace, not spin on a sleep that returns at once.
    static func pause() async {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(20)) { continuation.resume() }
        }
    }
}

/// Runs one command on this host in its own process group, streaming its output line by line.
/// With `standardInput`, that text is written to the process's standard input, which then stays open until
/// the process ends or `handle.closeStandardInput()` is called (how the ssh runner keeps a remote shell alive).
struct LaunchLocalProcess: Sendable {
    /// The program and its arguments; a program without `/` is looked up in `PATH`.
    var command: [String]
    /// Variables set on top of the launcher's environment.
    var environment: [LaunchVariable]
    /// Text for standard input, or `nil` for `/dev/null`.
    var standardInput: String?
    /// Shared with `stop`.
    let handle = LaunchProcessHandle()

    /// Runs the command to its end, handing each line of standard output and error to `line`.
    func run(line: @escaping @Sendable (String) -> Void) async -> LaunchExit {
        guard let program = command.first else { return .lost("nothing to run: the command is empty") }
        let executable: Executable = program.contains("/") ? .path(.init(program)) : .name(program)
        var overrides: [Environment.Key: String?] = [:]
        for variable in environment {
            if let key = Environment.Key(rawValue: variable.name) { overrides[key] = variable.value }
        }
        var options = PlatformOptions()
        options.processGroupID = 0
        let configuration = Configuration(
            executable: executable, arguments: Arguments(Array(command.dropFirst())),
            environment: .inherit.updating(overrides), platformOptions: options)
        guard let standardInput else { return await runReadingOwnPipe(configuration, program: program, line: line) }
        // With standard input (the ssh runner's remote script), output is read through swift-subprocess:
        // the remote side's own children are the remote script's to wait for.
        do {
            let status = try await Subprocess.run(
                configuration, input: .inputWriter, output: .sequence, error: .sequence
            ) { execution in
                try await drain(execution, line: line) {
                    _ = try? await execution.standardInputWriter.write(standardInput)
                    await handle.standardInputClosed()
                    try? await execution.standardInputWriter.finish()
                }
            }.terminationStatus
            handle.finish()
            switch status {
            case .exited(let code): return .exited(code)
            case .signaled(let signal): return .signaled(signal)
            }
        } catch {
            handle.finish()
            return .lost("could not start \(program): \(error) (is it installed and on PATH?)")
        }
    }

    /// `run` without standard input: the output (standard output and error, in one pipe this
    /// process owns) is read also after the process has ended, while what it started may still
    /// write (during a stop, its grace period; `LaunchProcessHandle.outputDeadline`). Read through
    /// swift-subprocess, it stopped when the process ended, and a child still writing, a shell
    /// reporting on SIGTERM say, died of SIGPIPE.
    private func runReadingOwnPipe(
        _ configuration: Configuration, program: String, line: @escaping @Sendable (String) -> Void
    ) async -> LaunchExit {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            return .lost("could not start \(program): no pipe for its output (\(String(cString: strerror(errno))))")
        }
        // Close-on-exec, so that no other program the launcher starts holds the pipe open.
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        let reader = LaunchPipeReader(fd: ends[0], line: line)
        let exit: LaunchExit
        do {
            let status = try await Subprocess.run(
                configuration, input: .none,
                output: .fileDescriptor(.init(rawValue: ends[1]), closeAfterSpawningProcess: true),
                error: .combinedWithOutput
            ) { execution in
                if handle.started(pid: execution.processIdentifier.value) { _ = handle.signalGroup(SIGKILL) }
            }.terminationStatus
            switch status {
            case .exited(let code): exit = .exited(code)
            case .signaled(let signal): exit = .signaled(signal)
            }
        } catch {
            exit = .lost("could not start \(program): \(error) (is it installed and on PATH?)")
        }
        handle.finish()
        let deadline = handle.outputDeadline
        while !reader.reachedEnd && ContinuousClock.now < deadline { await LaunchProcessHandle.pause() }
        reader.stop()
        handle.closeStandardInput()
        return exit
    }

    private func drain<Input: InputProtocol>(
        _ execution: Execution<Input, SequenceOutput, SequenceOutput>, line: @escaping @Sendable (String) -> Void,
        feed: @escaping @Sendable () async -> Void
    ) async throws {
        if handle.started(pid: execution.processIdentifier.value) {
            _ = handle.signalGroup(SIGKILL)
        }
        let feeder = Task { await feed() }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await text in execution.standardOutput.strings(bufferingPolicy: .unbounded) { line(text) }
                }
                group.addTask {
                    for try await text in execution.standardError.strings(bufferingPolicy: .unbounded) { line(text) }
                }
                try await group.waitForAll()
            }
        } catch {
            handle.closeStandardInput()
            await feeder.value
            throw error
        }
        // Output ends when the process (and its group) closed it: stop feeding input then.
        handle.closeStandardInput()
        await feeder.value
    }

    /// SIGTERM to the process group, up to `grace` for the whole group to exit (the leader and what it
    /// started: a child may still be saving when its shell has gone), then SIGKILL.
    func stop(grace: Duration) async {
        guard handle.beginStop(grace: grace) else { return }
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            if handle.groupGone { return }
            await LaunchProcessHandle.pause()
        }
        handle.killGroup()
    }
}

/// A task run on this host.
struct LaunchLocalRunner: LaunchRunner {
    let task: LaunchTask
    let process: LaunchLocalProcess

    init(task: LaunchTask) {
        self.task = task
        process = LaunchLocalProcess(command: task.command, environment: task.environment, standardInput: nil)
    }

    func run(output: LaunchTaskOutput) async -> LaunchExit {
        await process.run { output.write($0) }
    }

    func stop(grace: Duration) async {
        await process.stop(grace: grace)
    }
}

/// Reads a pipe line by line on a thread of its own until every writer has closed it (`reachedEnd`)
/// or `stop()`, which then closes it.
final class LaunchPipeReader: @unchecked Sendable {
    private let fd: Int32
    private let line: @Sendable (String) -> Void
    private let lock = NSLock()
    private var ended = false
    private var stopRequested = false
    private let finished = DispatchSemaphore(value: 0)

    init(fd: Int32, line: @escaping @Sendable (String) -> Void) {
        self.fd = fd
        self.line = line
        Thread.detachNewThread { [self] in
            readLines()
            lock.withLock { ended = true }
            finished.signal()
        }
    }

    /// Whether every writer has closed the pipe (or `stop()` was called) and the last line was handed on.
    var reachedEnd: Bool { lock.withLock { ended } }

    /// Stops reading (within 100 ms), hands on what was read, and closes the pipe. A reader stuck
    /// handing on a line (its log file's disk hung) is left after 5 s with the pipe open, rather than
    /// closed under it.
    func stop() {
        lock.withLock { stopRequested = true }
        if finished.wait(timeout: .now() + 5) == .success { close(fd) }
    }

    private func readLines() {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while !lock.withLock({ stopRequested }) {
            let ready = poll(&poller, 1, 100)
            if ready < 0 && errno != EINTR { break }
            guard ready > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard count > 0 else { break }  // every writer closed it
            pending.append(contentsOf: buffer[0..<count])
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                line(String(decoding: pending[..<newline], as: UTF8.self))
                pending.removeSubrange(...newline)
            }
        }
        if !pending.isEmpty { line(String(decoding: pending, as: UTF8.self)) }
    }
}
