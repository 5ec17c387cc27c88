import ArgumentParser
import Foundation

/// `swiftps launch`: starts a whole job (the scheduler, S servers, W workers) and owns its processes' lifetimes,
/// like MXNet's `tools/launch.py` with the local, ssh and Slurm launchers.
struct Launch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a job: the scheduler, S servers and W workers running COMMAND (local, ssh or Slurm).",
        usage: "swiftps launch -n W [-s S] [options] -- COMMAND [ARG ...]",
        discussion: """
            Every process gets its cluster through MXNet's environment variables (DMLC_ROLE, DMLC_PS_ROOT_URI, \
            DMLC_PS_ROOT_PORT, DMLC_NUM_WORKER, DMLC_NUM_SERVER, DMLC_NODE_HOST, DMLC_TASK_ID) plus SWIFTPS_BIND, \
            SWIFTPS_PORT_RANGE and SWIFTPS_SECRET_FILE; a local job's processes also get SWIFTPS_CPU_BIND=cores \
            (they divide this host's CPUs) unless it is set (--env SWIFTPS_CPU_BIND=none turns it off). Output is \
            streamed with a [role rank] prefix. The job \
            succeeds when every worker exits 0; the first process that fails, Ctrl-C or --timeout stops every \
            process on every host (SIGTERM to its process group, then SIGKILL). Exit status: 0, 1 when a process \
            failed, 124 on timeout, 128+N on signal N. See cluster/README.md.
            """)

    /// The flags; shared with the code that runs the job.
    @OptionGroup var options: LaunchOptions

    func run() async throws {
        let signals = LaunchSignals()
        // Everything said reaches the terminal (or is given up on) before the launcher exits.
        defer { LaunchConsole.flush(seconds: 10) }
        let status: Int32
        do {
            status = try await LaunchJob(options: options, signals: signals).run()
        } catch let error as LaunchError {
            LaunchConsole().say("\(error)")
            throw ExitCode.failure
        }
        if status != 0 { throw ExitCode(status) }
    }
}

/// Where the processes run.
enum LaunchKind: String, ExpressibleByArgument, CaseIterable, Sendable {
    case local, ssh, slurm
}

/// The flags of `swiftps launch`.
struct LaunchOptions: ParsableArguments {
    @Option(name: [.customShort("n"), .long], parsing: .unconditional, help: "Number of workers.")
    var numWorkers: Int

    @Option(
        name: [.customShort("s"), .long], parsing: .unconditional,
        help: "Number of servers (default: as many as workers, as MXNet).")
    var numServers: Int?

    @Option(
        name: .customLong("launcher"),
        help:
            "Where processes run: local (this host), ssh (the hostfile's hosts) or slurm (srun). Default: ssh with -H, else local."
    )
    var requestedLauncher: LaunchKind?

    @Option(
        name: [.customShort("H"), .long],
        help: "Hosts for --launcher ssh: one a line, [user@]host[:ssh-port] [slots=N] (cluster/hostfile.example).")
    var hostfile: String?

    /// Where processes run: as asked, else ssh when a hostfile is given (MXNet's launch.py defaults to
    /// ssh), else this host.
    var launcher: LaunchKind { requestedLauncher ?? (hostfile != nil && !slurmTask ? .ssh : .local) }

    @Option(name: .customLong("env"), help: "KEY=VALUE for every process (repeatable).")
    var env: [String] = []

    @Option(help: "KEY=VALUE for the servers only (repeatable).")
    var envServer: [String] = []

    @Option(help: "KEY=VALUE for the workers only (repeatable).")
    var envWorker: [String] = []

    @Option(help: "Ports for the scheduler and the nodes, LOW-HIGH (default: scheduler in 9091-9999, nodes any).")
    var portRange: String?

    @Option(help: "Address every process binds (SWIFTPS_BIND; default all interfaces).")
    var bind: String?

    @Option(
        help:
            "Address the processes advertise with --launcher local (default 127.0.0.1) or under Slurm (default: each task's node name); over ssh each advertises its host's address."
    )
    var advertise: String?

    @Option(help: "File holding the shared secret; passed by path, or over ssh's stdin to a 0600 file.")
    var secretFile: String?

    @Option(help: "Directory for each process's output, as <role>-<rank>.log (restarts append to it).")
    var logDir: String?

    @Option(
        parsing: .unconditional,
        help:
            "Seconds the whole job may take, restarts included; then everything is stopped and the launcher exits 124."
    )
    var timeout: Double?

    @Option(
        parsing: .unconditional,
        help: "Seconds between SIGTERM and SIGKILL, and for the scheduler and servers to exit after the workers.")
    var grace: Double = 10

    @Option(help: "Address the nodes reach the scheduler at (default: this host's address toward the hosts).")
    var schedulerHost: String?

    @Option(
        parsing: .unconditional, help: "The scheduler's port (default: a free port of --port-range, picked at random).")
    var schedulerPort: Int?

    @Option(help: "Path of swiftps on the remote hosts or Slurm nodes (default: this binary's path).")
    var binary: String?

    @Option(help: "Working directory on the remote hosts (default: the login directory).")
    var workdir: String?

    @Option(
        parsing: .unconditionalSingleValue,
        help: "Option for ssh, split at spaces: '-i KEY', '-p PORT', '-o UserKnownHostsFile=F' (repeatable).")
    var sshOption: [String] = []

    @Option(help: "Shell command run as the scheduler instead of `swiftps scheduler` (sh -c).")
    var schedulerCommand: String?

    @Option(help: "Shell command run as each server instead of `swiftps server` (sh -c).")
    var serverCommand: String?

    @Flag(help: "Print every process's host, environment and command (or the srun command) without running.")
    var dryRun = false

    @Option(
        parsing: .unconditional,
        help: """
            When a process fails, stop the job and start it again up to this many times; a worker command \
            `swiftps train` with --model-prefix gets --resume, so it continues from the latest complete \
            checkpoint (with --load-epoch E it starts from E again; without a prefix, from the beginning).
            """)
    var maxRestarts: Int = 0

    @Flag(help: .hidden)
    var slurmTask = false

    @Argument(
        parsing: .postTerminator,
        help: "The workers' command, after --. A bare `swiftps` runs this binary (--binary on remote hosts).")
    var command: [String] = []

    mutating func validate() throws {
        guard numWorkers >= 1 else { throw ValidationError("-n must be at least 1 worker") }
        guard (numServers ?? numWorkers) >= 0 else { throw ValidationError("-s must be 0 or more servers") }
        guard !command.isEmpty else {
            throw ValidationError("give the workers' command after --, e.g. swiftps launch -n 2 -- swiftps train ...")
        }
        // Finite and at most about 31 years, so that milliseconds fit the clocks' 64-bit counts.
        let longest = 1e9
        if let timeout, !(timeout > 0 && timeout <= longest) {
            throw ValidationError(
                "--timeout must be a positive number of seconds, at most \(Int(longest)), got \(timeout)")
        }
        guard grace >= 0 && grace <= longest else {
            throw ValidationError("--grace must be 0 or more seconds, at most \(Int(longest)), got \(grace)")
        }
        guard maxRestarts >= 0 else { throw ValidationError("--max-restarts must be 0 or more") }
        if launcher == .ssh, hostfile == nil, !slurmTask {
            throw ValidationError("--launcher ssh needs -H/--hostfile: one host a line")
        }
        if let requestedLauncher, requestedLauncher != .ssh, hostfile != nil, !slurmTask {
            throw ValidationError(
                "-H/--hostfile lists hosts for --launcher ssh; --launcher \(requestedLauncher.rawValue) would ignore it: drop one of them"
            )
        }
        if let schedulerPort, !(1...65535).contains(schedulerPort) {
            throw ValidationError("--scheduler-port must be within 1-65535")
        }
    }
}
