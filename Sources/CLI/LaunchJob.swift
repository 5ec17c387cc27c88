import Foundation
import SwiftPS

/// One run of `swiftps launch`: turns the flags into a cluster, starts its processes, and reports how it ended.
struct LaunchJob {
    var options: LaunchOptions
    var signals: LaunchSignals
    /// Where the launcher's own messages and the processes' output go.
    var console = LaunchConsole()

    /// Runs the job; returns the launcher's exit status.
    func run() async throws -> Int32 {
        if options.slurmTask { return try await runSlurmTask() }
        guard options.maxRestarts >= 0 else {
            throw LaunchError("--max-restarts must be 0 or more, got \(options.maxRestarts)")
        }
        let restart = LaunchRestart(options.command)
        if options.maxRestarts > 0, restart == .beginning {
            console.say(
                "--max-restarts \(options.maxRestarts) without --model-prefix in the workers' command: a restarted job trains from the beginning"
            )
        }
        // Every attempt is one run: a restart resumes only from checkpoints whose manifest names it.
        let run = LaunchCluster.newJobID()
        // --timeout bounds the whole job, restarts included.
        let deadline = options.timeout.map { ContinuousClock.now + .milliseconds(Int64($0 * 1000)) }
        var restarts: [String] = []
        while true {
            let attempt = restarts.count
            let (outcome, failure) =
                try await options.launcher == .slurm
                ? runSlurm(restart: attempt, run: run, deadline: deadline)
                : runOnce(restart: attempt, run: run, deadline: deadline)
            let timeLeft = deadline.map { ContinuousClock.now < $0 } ?? true
            if case .failed = outcome, attempt < options.maxRestarts, !timeLeft {
                console.say("no restart: the --timeout of \(options.timeout ?? 0) s for the whole job is over")
            }
            guard case .failed = outcome, attempt < options.maxRestarts, let failure, timeLeft else {
                if !restarts.isEmpty {
                    console.say(
                        "\(restarts.count) restart(s) after failures: \(restarts.joined(separator: "; "))"
                            + (outcome == .succeeded ? "; the job then finished" : ""))
                }
                return outcome.exitStatus
            }
            restarts.append(failure)
            console.say(
                "restart \(attempt + 1) of \(options.maxRestarts): \(failure); starting the job again \(restart.phrase)"
            )
        }
    }

    /// Runs the job once; returns how it ended and, when a process failed, which one and how.
    private func runOnce(restart: Int, run: String, deadline: ContinuousClock.Instant?) async throws -> (
        LaunchOutcome, String?
    ) {
        let hosts = try options.launcher == .ssh ? readHostfile() : nil
        var cluster = try cluster(schedulerURI: schedulerURI(hosts: hosts), schedulerPort: schedulerPort())
        cluster.runID = run
        if restart > 0 { cluster.restartWorkerCommand(attempt: restart, run: run) }
        if hosts != nil {
            cluster.forwarded = LaunchCluster.forwardedVariables(from: ProcessInfo.processInfo.environment)
        }
        let advertise = options.advertise ?? (hosts == nil ? "127.0.0.1" : cluster.schedulerURI)
        let tasks = cluster.tasks(hosts: hosts, advertise: advertise)
        if options.dryRun {
            printPlan(tasks, secretOverSSH: hosts != nil && options.secretFile != nil)
            return (.succeeded, nil)
        }
        let secret = try hosts != nil ? readSecret() : nil
        let runners: [any LaunchRunner] = tasks.map { task in
            guard let host = task.host else { return LaunchLocalRunner(task: task) }
            var remote = task
            remote.environment.removeAll { $0.name == "SWIFTPS_SECRET_FILE" }
            return LaunchSSHRunner(
                task: remote, host: host, sshOptions: sshOptions, secret: secret, workdir: options.workdir,
                grace: grace)
        }
        console.say(
            "scheduler at \(cluster.schedulerURI):\(cluster.schedulerPort), \(cluster.numServers) servers, "
                + "\(cluster.numWorkers) workers (\(options.launcher.rawValue))")
        let (outcome, said) = try await supervise(runners, restart: restart, deadline: deadline)
        if case .failed(let index, let exit) = outcome {
            // What the process said last: the first to exit is often not the culprit (after a node
            // froze, the scheduler and the others exit naming it), and this names whom it blamed.
            let reason = said.map { ": \($0.prefix(400))" } ?? ""
            return (outcome, "\(tasks[index].label) on \(tasks[index].hostName) \(exit.description)\(reason)")
        }
        return (outcome, nil)
    }

    /// Runs `runners` under a supervisor and reports the outcome; with it, for a failure, the failed
    /// process's error line (its last line starting `swiftps`), if it printed one.
    /// Attempt `restart` (0: the first) keeps the earlier attempts' logs; `deadline` (`--timeout`, for
    /// the whole job) bounds it.
    func supervise(
        _ runners: [any LaunchRunner], prefixed: Bool = true, quietSuccess: Bool = false, restart: Int = 0,
        deadline: ContinuousClock.Instant? = nil
    ) async throws -> (LaunchOutcome, said: String?) {
        let logDirectory = try prepareLogDirectory()
        let outputs = try runners.map {
            try LaunchTaskOutput(
                label: $0.task.label, prefixed: prefixed, console: console, logDirectory: logDirectory,
                logName: $0.task.logName, restart: restart)
        }
        let supervisor = LaunchSupervisor(
            runners: runners, outputs: outputs, console: console, signals: signals,
            timeout: deadline.map { max(.zero, ContinuousClock.now.duration(to: $0)) }, grace: grace,
            shutdownGrace: grace)
        let outcome = await supervisor.run()
        if !(quietSuccess && outcome == .succeeded) {
            supervisor.report(outcome, timeout: options.timeout.map { Duration.seconds($0) })
        }
        guard case .failed(let index, _) = outcome else { return (outcome, nil) }
        return (outcome, outputs[index].lastLines.last { $0.hasPrefix("swiftps") })
    }

    /// Sizes, the scheduler's address, the flags' environment and the three roles' commands.
    func cluster(schedulerURI: String, schedulerPort: Int) throws -> LaunchCluster {
        let local = try localBinary()
        let remote = options.binary ?? local
        func assignments(_ values: [String], _ flag: String) throws -> [LaunchVariable] {
            try values.map {
                let pair = try LaunchParse.assignment($0, flag: flag)
                return LaunchVariable(name: pair.key, value: pair.value)
            }
        }
        let secretPath = try options.secretFile.map { try absolutePath($0, checkedAs: "--secret-file") }
        return LaunchCluster(
            numWorkers: options.numWorkers, numServers: options.numServers ?? options.numWorkers,
            schedulerURI: schedulerURI, schedulerPort: schedulerPort, launcher: options.launcher.rawValue,
            bind: options.bind,
            portRange: try options.portRange.map {
                _ = try LaunchParse.portRange($0)
                return $0
            },
            secretPath: secretPath, env: try assignments(options.env, "--env"),
            envServer: try assignments(options.envServer, "--env-server"),
            envWorker: try assignments(options.envWorker, "--env-worker"),
            schedulerCommand: options.schedulerCommand.map { ["/bin/sh", "-c", $0] } ?? [local, "scheduler"],
            serverCommand: options.serverCommand.map { ["/bin/sh", "-c", $0] }
                ?? [options.launcher == .local ? local : remote, "server"],
            workerCommand: workerCommand(local: local, remote: remote))
    }

    /// The workers' command; a bare `swiftps` in front means this binary (on remote hosts `--binary`), the one
    /// the scheduler and servers run, not whatever `swiftps` the hosts' `PATH` finds first: a different build
    /// would be refused by the scheduler for its wire protocol, or fail to start where none is installed.
    func workerCommand(local: String, remote: String) -> [String] {
        guard options.command.first == "swiftps" else { return options.command }
        return [options.launcher == .local ? local : remote] + options.command.dropFirst()
    }

    /// `--advertise` or 127.0.0.1 for local jobs; for ssh, `--scheduler-host` or the address this host uses to
    /// reach the first host of the hostfile.
    func schedulerURI(hosts: [LaunchHost]?) throws -> String {
        guard let hosts else { return options.advertise ?? "127.0.0.1" }
        if let host = options.schedulerHost { return host }
        guard let address = LaunchNetwork.localAddress(toReach: hosts[0].address) else {
            throw LaunchError(
                "cannot find this host's address toward \(hosts[0].address): check the hostfile or pass --scheduler-host"
            )
        }
        return address
    }

    /// `--scheduler-port`, or the first port of the range (default 9091-9999, as dmlc) free on this host.
    func schedulerPort() throws -> Int {
        if let port = options.schedulerPort { return port }
        let range = try options.portRange.map(LaunchParse.portRange) ?? 9091...9999
        guard let port = PortProbe.freePort(in: range, host: options.bind) else {
            throw LaunchError(
                "no free port in \(range.lowerBound)-\(range.upperBound) on this host for the scheduler: widen --port-range"
            )
        }
        return port
    }

    var grace: Duration { .milliseconds(Int64(options.grace * 1000)) }

    /// `--ssh-option` values split at spaces (`-i KEY` becomes two arguments).
    var sshOptions: [String] {
        options.sshOption.flatMap { $0.split(separator: " ").map(String.init) }
    }

    func readHostfile() throws -> [LaunchHost] {
        guard let path = options.hostfile else { throw LaunchError("--launcher ssh needs -H/--hostfile") }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw LaunchError("cannot read hostfile \(path): check the path given to -H")
        }
        return try LaunchHostfile.parse(text, name: path)
    }

    func readSecret() throws -> [UInt8]? {
        guard let path = options.secretFile else { return nil }
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else {
            throw LaunchError("cannot read --secret-file \(path), or it is empty: write the secret there, chmod 600")
        }
        return [UInt8](data)
    }

    /// This executable's absolute path (what the scheduler and servers run on this host).
    func localBinary() throws -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        return try absolutePath(CommandLine.arguments[0], checkedAs: "swiftps")
    }

    func absolutePath(_ path: String, checkedAs flag: String) throws -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        guard FileManager.default.isReadableFile(atPath: absolute) else {
            throw LaunchError("\(flag) \(path) does not exist or is not readable")
        }
        return (absolute as NSString).standardizingPath
    }

    func prepareLogDirectory() throws -> String? {
        guard let directory = options.logDir else { return nil }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw LaunchError("cannot create --log-dir \(directory): \(error.localizedDescription)")
        }
        return directory
    }

    /// `--dry-run`: one line a process, its host, environment and command. The secret's content is never shown.
    func printPlan(_ tasks: [LaunchTask], secretOverSSH: Bool) {
        for task in tasks {
            var variables = task.environment.map { "\($0.name)=\(LaunchParse.shellQuote($0.value))" }
            if secretOverSSH, task.host != nil {
                variables.removeAll { $0.hasPrefix("SWIFTPS_SECRET_FILE=") }
                variables.append("SWIFTPS_SECRET_FILE=<0600 temporary file on \(task.hostName), sent over ssh stdin>")
            }
            let command = task.command.map(LaunchParse.shellQuote).joined(separator: " ")
            console.write("[\(task.label)] on \(task.hostName): \(variables.joined(separator: " ")) \(command)")
        }
    }
}
