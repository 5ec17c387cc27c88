import Foundation

extension LaunchJob {
    /// `--launcher slurm`: inside an allocation, runs one `srun` of W+S+1 `--slurm-task`s. The scheduler runs on
    /// the allocation's first node, on a free port of `--port-range` when this launcher runs there, else on the
    /// range's port picked by the job id (`LaunchSlurm.schedulerPort(jobID:range:)`). Attempt `restart` > 0 of
    /// `--max-restarts` tells every task the attempt (`SWIFTPS_RESTART`) and resumes `swiftps train` from the
    /// latest complete checkpoint. Returns how the step ended and, when it failed, how.
    func runSlurm(restart: Int, run: String, deadline: ContinuousClock.Instant?) async throws -> (
        LaunchOutcome, String?
    ) {
        let environment = ProcessInfo.processInfo.environment
        guard let jobID = environment["SLURM_JOB_ID"] else {
            throw LaunchError(
                "--launcher slurm runs inside a Slurm allocation (salloc or sbatch): SLURM_JOB_ID is not set")
        }
        guard let nodeList = environment["SLURM_JOB_NODELIST"] ?? environment["SLURM_NODELIST"] else {
            throw LaunchError("SLURM_JOB_NODELIST is not set: run inside salloc or an sbatch script")
        }
        let numServers = options.numServers ?? options.numWorkers
        try LaunchSlurm.checkAllocation(
            numWorkers: options.numWorkers, numServers: numServers, environment: environment)
        let nodes = try await LaunchSlurm.nodes(of: nodeList)
        let schedulerHost = options.schedulerHost ?? nodes[0]
        let port: Int
        // Whether the port was chosen without seeing the scheduler's node (the launcher runs elsewhere).
        var portUnseen = false
        if let chosen = options.schedulerPort {
            port = chosen
        } else if LaunchSlurm.runsOn(nodes[0], environment: environment) {
            port = try schedulerPort()
        } else {
            let range = try options.portRange.map(LaunchParse.portRange) ?? 9091...9999
            port = LaunchSlurm.schedulerPort(jobID: jobID, range: range)
            portUnseen = true
        }
        // Every task must carry the same job id, so it comes from here, new for each attempt.
        var arguments =
            try taskArguments(schedulerHost: schedulerHost, schedulerPort: port)
            + ["--env", "SWIFTPS_JOB_ID=\(LaunchCluster.newJobID())", "--env", "\(ResumePoint.runVariable)=\(run)"]
        var command = options.command
        if restart > 0 {
            for (name, value) in LaunchCluster.restartVariables(attempt: restart, command: command, run: run) {
                arguments += ["--env", "\(name)=\(value)"]
            }
            command = LaunchCluster.resuming(command)
        }
        let srun = LaunchSlurm.srunCommand(
            numWorkers: options.numWorkers, numServers: numServers, binary: try options.binary ?? localBinary(),
            taskArguments: arguments, command: command)
        if options.dryRun {
            console.write(srun.map(LaunchParse.shellQuote).joined(separator: " "))
            return (.succeeded, nil)
        }
        console.say(
            "Slurm job \(jobID): scheduler at \(schedulerHost):\(port), \(options.numWorkers + numServers + 1) tasks "
                + "(1 scheduler, \(numServers) servers, \(options.numWorkers) workers) over \(nodes.count) node(s)")
        let task = LaunchTask(role: .worker, rank: 0, host: nil, command: srun, environment: [], name: "srun")
        let runner = LaunchSrunRunner(task: task)
        let (outcome, _) = try await supervise([runner], prefixed: false, restart: restart, deadline: deadline)
        guard case .failed(_, let exit) = outcome else { return (outcome, nil) }
        // srun's status is its tasks' worst (143 once the others were stopped); the first failure is the cause.
        guard let first = runner.firstFailure.value else { return (outcome, "srun \(exit.description)") }
        console.say("the first task to fail: \(first)")
        if portUnseen, first.hasPrefix("scheduler ") {
            console.say(
                "the scheduler's port \(port) was picked by job id, not seen free on \(schedulerHost) (this launcher "
                    + "runs on \(LaunchNetwork.hostName())): if the scheduler could not listen on it, pass a free "
                    + "--scheduler-port or run the launcher on \(schedulerHost) (as sbatch does)")
        }
        return (outcome, first)
    }

    /// The flags each `--slurm-task` gets: the job's own, with the scheduler's address fixed and paths absolute.
    func taskArguments(schedulerHost: String, schedulerPort: Int) throws -> [String] {
        var arguments = [
            "-n", String(options.numWorkers), "-s", String(options.numServers ?? options.numWorkers),
            "--scheduler-host", schedulerHost, "--scheduler-port", String(schedulerPort),
            "--grace", String(options.grace),
        ]
        func add(_ flag: String, _ value: String?) {
            if let value { arguments += [flag, value] }
        }
        add("--port-range", options.portRange)
        add("--bind", options.bind)
        add("--advertise", options.advertise)
        add("--secret-file", try options.secretFile.map { try absolutePath($0, checkedAs: "--secret-file") })
        add(
            "--log-dir",
            options.logDir.map {
                $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0
            })
        add("--scheduler-command", options.schedulerCommand)
        add("--server-command", options.serverCommand)
        for value in options.env { add("--env", value) }
        for value in options.envServer { add("--env-server", value) }
        for value in options.envWorker { add("--env-worker", value) }
        return arguments
    }

    /// `--slurm-task`: one task of the srun step. Takes its role from `SLURM_PROCID`, advertises its node's name
    /// (`SLURMD_NODENAME`) unless `--advertise` or `DMLC_INTERFACE` says otherwise
    /// (`LaunchSlurm.advertisedHost`), and runs that role's command with prefixed output.
    func runSlurmTask() async throws -> Int32 {
        let environment = ProcessInfo.processInfo.environment
        guard let text = environment["SLURM_PROCID"], let procid = Int(text) else {
            throw LaunchError("--slurm-task runs as an srun task: SLURM_PROCID is not set (use --launcher slurm)")
        }
        guard let schedulerHost = options.schedulerHost, let schedulerPort = options.schedulerPort else {
            throw LaunchError("--slurm-task needs --scheduler-host and --scheduler-port (use --launcher slurm)")
        }
        let numServers = options.numServers ?? options.numWorkers
        let (role, rank) = try LaunchSlurm.role(
            procid: procid, numServers: numServers, numWorkers: options.numWorkers)
        do {
            return try await runSlurmTask(
                role: role, rank: rank, schedulerHost: schedulerHost, schedulerPort: schedulerPort,
                environment: environment)
        } catch let error as LaunchError {
            // Said as a task's failure (`LaunchSlurm.taskFailure`), so that the outer launcher names
            // this task and its node rather than only srun's status.
            let label = LaunchTask.label(role: role, rank: rank)
            let node = environment["SLURMD_NODENAME"] ?? LaunchNetwork.hostName()
            LaunchConsole(name: "swiftps launch (\(label))").say("\(label) on \(node) failed: \(error)")
            return 1
        }
    }

    /// The task `role` `rank` of `runSlurmTask`, once its place in the job is known.
    private func runSlurmTask(
        role: LaunchRole, rank: Int, schedulerHost: String, schedulerPort: Int, environment: [String: String]
    ) async throws -> Int32 {
        var cluster = try cluster(schedulerURI: schedulerHost, schedulerPort: schedulerPort)
        cluster.launcher = "slurm"
        let nodeHost = LaunchSlurm.advertisedHost(
            advertise: options.advertise, environment: environment,
            jobEnvironment: options.env + (role == .server ? options.envServer : [])
                + (role == .worker ? options.envWorker : []))
        let task = cluster.task(role: role, rank: rank, host: nil, nodeHost: nodeHost)
        if options.dryRun {
            printPlan([task], secretOverSSH: false)
            return 0
        }
        // Every task's launcher writes to the same srun output: its messages name the task.
        var job = self
        job.console = LaunchConsole(name: "swiftps launch (\(task.label))")
        // Its attempt is the one the outer launcher passed on (`--env SWIFTPS_RESTART=K`): logs of
        // earlier attempts are kept.
        let restart = cluster.env.last { $0.name == "SWIFTPS_RESTART" }.flatMap { Int($0.value) } ?? 0
        return try await job.supervise([LaunchLocalRunner(task: task)], quietSuccess: true, restart: restart).0
            .exitStatus
    }
}
