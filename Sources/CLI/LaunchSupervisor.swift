import Foundation

/// How a job ended.
enum LaunchOutcome: Sendable, Equatable {
    /// Every worker exited 0.
    case succeeded
    /// The first process that failed, and how.
    case failed(index: Int, exit: LaunchExit)
    /// The launcher got this signal.
    case interrupted(Int32)
    /// `--timeout` passed.
    case timedOut
    /// A process failed, then the launcher got this signal while it stopped the others: the user
    /// (or the batch system) wants the launcher gone, so the job is not restarted.
    case interruptedAfterFailure(index: Int, exit: LaunchExit, signal: Int32)

    /// The launcher's exit status: 0, 1 for a failed process, 124 for a timeout (as timeout(1)), 128+N for
    /// signal N.
    var exitStatus: Int32 {
        switch self {
        case .succeeded: 0
        case .failed: 1
        case .timedOut: 124
        case .interrupted(let signal), .interruptedAfterFailure(_, _, let signal): LaunchSignals.exitStatus(for: signal)
        }
    }
}

/// Runs the processes of a job and owns their lifetimes, the way MXNet's launcher should have: the job ends
/// when every worker has exited 0 (the scheduler and servers then get `shutdownGrace` to exit on their own);
/// the first process that fails, a signal to the launcher, or the deadline ends it early. Either way every
/// process still running is stopped (SIGTERM to its process group, SIGKILL after `grace`) before `run` returns.
struct LaunchSupervisor {
    var runners: [any LaunchRunner]
    var outputs: [LaunchTaskOutput]
    var console: LaunchConsole
    var signals: LaunchSignals
    var timeout: Duration?
    var grace: Duration
    var shutdownGrace: Duration

    private enum Event: Sendable {
        case exited(Int, LaunchExit)
        case signal(Int32)
        case timeout
        case shutdownGraceOver
        case stopped
        case idle
    }

    /// Runs the job to its end and returns how it ended.
    func run() async -> LaunchOutcome {
        // A signal during the preparations (name lookups, port probes, scontrol): start nothing.
        if let number = signals.pendingSignal {
            console.say("got \(LaunchExit.signalName(number)) before the job started: starting nothing")
            return .interrupted(number)
        }
        let runners = self.runners
        let workers = runners.indices.filter { runners[$0].task.role == .worker }
        let outputs = self.outputs
        let signals = self.signals
        return await withTaskGroup(of: Event.self) { group in
            for index in runners.indices {
                group.addTask { .exited(index, await runners[index].run(output: outputs[index])) }
            }
            group.addTask { await Self.nextSignal(signals) }
            if let timeout {
                group.addTask { (try? await Task.sleep(for: timeout)) == nil ? .idle : .timeout }
            }
            var running = Set(runners.indices)
            var workersLeft = Set(workers)
            var outcome: LaunchOutcome?
            var stopping = false
            var interrupts = 0

            func stopAll(grace: Duration) {
                stopping = true
                let targets = running.sorted()
                group.addTask {
                    await withTaskGroup(of: Void.self) { stops in
                        for index in targets { stops.addTask { await runners[index].stop(grace: grace) } }
                    }
                    return .stopped
                }
            }

            while let event = await group.next() {
                switch event {
                case .exited(let index, let exit):
                    running.remove(index)
                    workersLeft.remove(index)
                    if !stopping, outcome == nil || outcome == .succeeded, !exit.isSuccess {
                        outcome = .failed(index: index, exit: exit)
                        stopAll(grace: grace)
                    } else if outcome == nil, workersLeft.isEmpty {
                        outcome = .succeeded
                        if !running.isEmpty {
                            group.addTask {
                                (try? await Task.sleep(for: shutdownGrace)) == nil ? .idle : .shutdownGraceOver
                            }
                        }
                    }
                case .signal(let number):
                    interrupts += 1
                    if interrupts == 1 {
                        if outcome == nil || outcome == .succeeded {
                            outcome = .interrupted(number)
                        } else if case .failed(let index, let exit) = outcome {
                            outcome = .interruptedAfterFailure(index: index, exit: exit, signal: number)
                        }
                        console.say("got \(LaunchExit.signalName(number)): stopping all processes (again to kill now)")
                        stopAll(grace: grace)
                    } else {
                        stopAll(grace: .zero)
                    }
                    group.addTask { await Self.nextSignal(signals) }
                case .timeout:
                    if outcome == nil {
                        outcome = .timedOut
                        stopAll(grace: grace)
                    }
                case .shutdownGraceOver:
                    if !stopping { stopAll(grace: grace) }
                case .stopped, .idle:
                    break
                }
                if running.isEmpty { group.cancelAll() }
            }
            return outcome ?? .succeeded
        }
    }

    private static func nextSignal(_ signals: LaunchSignals) async -> Event {
        guard let number = await signals.next() else { return .idle }
        return .signal(number)
    }

    /// Tells the user how the job ended: for a failure, which process on which host and how, with its last lines.
    func report(_ outcome: LaunchOutcome, timeout: Duration?) {
        let others = runners.count - 1
        switch outcome {
        case .succeeded:
            if runners.count == 1, let name = runners[0].task.name {
                console.say("\(name) exited 0: job done")
            } else {
                console.say("all \(workerCount) workers exited 0: job done")
            }
        case .failed(let index, let exit):
            reportFailure(index: index, exit: exit, others: others)
        case .interruptedAfterFailure(let index, let exit, let number):
            reportFailure(index: index, exit: exit, others: others)
            console.say("then interrupted by \(LaunchExit.signalName(number)) while stopping: no restart")
        case .timedOut:
            let seconds = timeout.map { "\($0.components.seconds) s" } ?? "the deadline"
            console.say("timeout: the job did not finish within \(seconds) (--timeout); stopped all processes")
        case .interrupted(let number):
            console.say("interrupted by \(LaunchExit.signalName(number)); stopped all processes")
        }
    }

    /// Which process failed, on which host and how, with its last lines.
    private func reportFailure(index: Int, exit: LaunchExit, others: Int) {
        let task = runners[index].task
        let stopped = others > 0 ? "; stopped the other \(others) processes" : ""
        console.say("\(task.label) on \(task.hostName) failed: \(exit.description)\(stopped)")
        let lines = outputs[index].lastLines
        if lines.isEmpty {
            console.say("\(task.label) printed nothing")
        } else {
            console.say("last \(lines.count) lines of \(task.label):")
            for line in lines { console.say("  | \(line)") }
        }
    }

    private var workerCount: Int { runners.filter { $0.task.role == .worker }.count }
}
