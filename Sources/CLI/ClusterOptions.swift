import ArgumentParser
import Foundation
import Logging
import SwiftPS

/// The cluster flags shared by `swiftps scheduler`, `swiftps server` and `swiftps train`. Each one
/// overrides the environment variable MXNet's launchers set (named in its help), so both
/// `DMLC_*`-style launches and explicit flags work.
struct ClusterOptions: ParsableArguments {
    @Option(help: "The scheduler's address (default: DMLC_PS_ROOT_URI).")
    var schedulerHost: String?

    @Option(parsing: .unconditional, help: "The scheduler's port (default: DMLC_PS_ROOT_PORT).")
    var schedulerPort: Int?

    @Option(parsing: .unconditional, help: "Number of workers (default: DMLC_NUM_WORKER).")
    var numWorkers: Int?

    @Option(parsing: .unconditional, help: "Number of servers (default: DMLC_NUM_SERVER).")
    var numServers: Int?

    @Option(help: "The interface address to bind (default: SWIFTPS_BIND, else 0.0.0.0).")
    var bind: String?

    @Option(help: "The address peers use to reach this node (default: DMLC_NODE_HOST).")
    var advertise: String?

    @Option(help: "The interface whose IPv4 address is advertised (default: DMLC_INTERFACE).")
    var interface: String?

    @Option(help: "Ports workers and servers may bind, LOW-HIGH (default: SWIFTPS_PORT_RANGE).")
    var portRange: String?

    @Option(help: "A file holding the cluster's shared secret (default: SWIFTPS_SECRET_FILE).")
    var secretFile: String?

    @Option(
        parsing: .unconditional,
        help: "Seconds between heartbeats, 0 = off (default: SWIFTPS_HEARTBEAT_INTERVAL, else 1).")
    var heartbeatInterval: Double?

    @Option(
        parsing: .unconditional,
        help: "Seconds of silence before a node is declared dead (default: SWIFTPS_HEARTBEAT_TIMEOUT, else 10).")
    var heartbeatTimeout: Double?

    @Option(
        parsing: .unconditional,
        help: "Seconds a request to a server may take (default: SWIFTPS_REQUEST_TIMEOUT, else 120).")
    var requestTimeout: Double?

    @Option(
        help: """
            none: the kernel places the processes; cores: workers sharing a host bind themselves to \
            their share of its CPUs, and servers to the CPUs left, unless already bound (e.g. by \
            taskset) (default: SWIFTPS_CPU_BIND, which a local swiftps launch job sets to cores, else \
            none).
            """)
    var cpuBind: String?

    /// Each variable a flag stands for: the variable, the flag, and the flag's value when given.
    private var overrides: [(variable: String, flag: String, value: String?)] {
        [
            ("DMLC_PS_ROOT_URI", "--scheduler-host", schedulerHost),
            ("DMLC_PS_ROOT_PORT", "--scheduler-port", schedulerPort.map(String.init)),
            ("DMLC_NUM_WORKER", "--num-workers", numWorkers.map(String.init)),
            ("DMLC_NUM_SERVER", "--num-servers", numServers.map(String.init)),
            ("SWIFTPS_BIND", "--bind", bind), ("DMLC_NODE_HOST", "--advertise", advertise),
            ("DMLC_INTERFACE", "--interface", interface), ("SWIFTPS_PORT_RANGE", "--port-range", portRange),
            ("SWIFTPS_SECRET_FILE", "--secret-file", secretFile),
            ("SWIFTPS_HEARTBEAT_INTERVAL", "--heartbeat-interval", heartbeatInterval.map { "\($0)" }),
            ("SWIFTPS_HEARTBEAT_TIMEOUT", "--heartbeat-timeout", heartbeatTimeout.map { "\($0)" }),
            ("SWIFTPS_REQUEST_TIMEOUT", "--request-timeout", requestTimeout.map { "\($0)" }),
            (HostCPUs.variable, "--cpu-bind", cpuBind),
        ]
    }

    /// The process environment with the given flags written over the variables they stand for.
    func environment(role: NodeRole) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        for case (let name, _, let value?) in overrides { env[name] = value }
        env["DMLC_ROLE"] = role.description
        return env
    }

    /// The configuration of a node of `role` from the flags and the environment. A bad value is
    /// reported under the flag when the flag gave it, else under the variable (and the flag to pass).
    func config(role: NodeRole, shardSize: Int64 = 0, settings: [String: String] = [:]) throws -> ClusterConfig {
        do {
            var config = try ClusterConfig.fromEnvironment(environment(role: role))
            config.shardSize = shardSize
            config.sharedSettings = settings
            return config
        } catch {
            guard case .invalidConfiguration(let variable, let value, let reason) = error,
                let override = overrides.first(where: { $0.variable == variable })
            else { throw error }
            if override.value != nil {
                throw ClusterError.invalidConfiguration(variable: override.flag, value: value, reason: reason)
            }
            throw ClusterError.invalidConfiguration(
                variable: variable, value: value, reason: reason + " (or pass \(override.flag))")
        }
    }

    /// The role `DMLC_ROLE` names, if any (MXNet decides a process's role from it at import).
    static var environmentRole: NodeRole? {
        ProcessInfo.processInfo.environment["DMLC_ROLE"].flatMap(NodeRole.init(name:))
    }
}

/// Runs the roles that carry no training: the scheduler and the servers.
enum ClusterRoles {
    /// MXNet's scheduler (`RunServer` without a server object): rendezvous, barriers and heartbeats
    /// until the final barrier, then exits; in between it runs the epoch ends and checkpoints
    /// (`EpochCoordinator`). A failed node ends the process through `PostOffice.exitProcess`, which
    /// names it. `metricsOut` and `stragglerTimeout` override the workers' `--metrics-out` and
    /// `SWIFTPS_STRAGGLER_TIMEOUT` (default 30 s).
    static func runScheduler(_ options: ClusterOptions, metricsOut: String? = nil, stragglerTimeout: Double? = nil)
        throws
    {
        let logger = LogSetup.logger("swiftps.scheduler")
        let chunkBytes = try CheckpointTransfer.chunkBytes(environment: ProcessInfo.processInfo.environment)
        // The scheduler's own metrics file must be writable before anyone trains.
        if let path = metricsOut.map(ResumePoint.absolute) {
            try OutputPath.createParentDirectory(of: path)
            try AppendFile.checkAppendable(path)
        }
        let office = try join(as: .scheduler, options, logger: logger)
        logger.info("all \(office.numWorkers) workers and \(office.numServers) servers joined")
        if let prefix = office.workerSettings[TrainOptions.modelPrefixSetting] {
            do { try SchedulerCheckpoint.probe(prefix: prefix) } catch {
                logger.error("\(error)")
                office.terminateJob("\(error)")
            }
            if office.workerSettings["--load-epoch"] == nil, office.workerSettings["--resume"] == nil {
                ResumePoint.warnAboutEarlierCheckpoints(prefix: ResumePoint.absolute(prefix), logger: logger)
            }
        }
        // The workers' metrics files, which this process appends to at every epoch end: writable now,
        // or the job stops before the first epoch instead of at its end.
        for path in metricsOut == nil ? office.workerDeclarations(TrainOptions.metricsOutSetting) : [] {
            let absolute = ResumePoint.absolute(path)
            do {
                try OutputPath.createParentDirectory(of: absolute)
                try AppendFile.checkAppendable(absolute)
            } catch {
                let reason = "the scheduler cannot append to the workers' --metrics-out \(path): \(error)"
                logger.error("\(reason)")
                office.terminateJob(reason)
                break
            }
        }
        let settings = EpochCoordinator.Settings(
            metricsOut: metricsOut,
            stragglerSeconds: try stragglerTimeout ?? EpochCoordinator.stragglerFromEnvironment(),
            deadline: office.config.barrierTimeout, chunkBytes: chunkBytes)
        let epochs = EpochCoordinator(office: office, settings: settings, logger: logger)
        epochs.start()
        defer { epochs.stop() }
        // The job lasts as long as the workers train: no deadline here; heartbeats catch failures.
        try office.finalize(timeout: .infinity)
    }

    /// MXNet's `KVStoreDistServer` process: joins, serves until worker 0 sends STOP_SERVER, then
    /// leaves with the final barrier. A dist_sync step that waits more than `SWIFTPS_STRAGGLER_TIMEOUT`
    /// for a worker's push names the worker in a warning.
    static func runServer(_ options: ClusterOptions, timeline path: String? = nil) throws {
        let logger = LogSetup.logger("swiftps.server")
        let stallWarning = try EpochCoordinator.stragglerFromEnvironment()
        let office = try join(as: .server, options, logger: logger)
        let server = try KVServer(postOffice: office, stallWarning: stallWarning, logger: logger)
        let timeline = path.map { _ in Timeline(processName: "server \(office.rank)", processID: 1000 + office.rank) }
        server.timeline = timeline
        try server.run()
        if let timeline, let path {
            let file = Timeline.path(path, node: "server\(office.rank)")
            try timeline.write(to: file)
            logger.info("timeline written to \(file)")
        }
        try office.finalize()
        logger.info("server \(office.rank) stopped")
    }

    /// Joins the cluster over ZeroMQ as `role` (rendezvous included), then binds a worker or server to
    /// its share of its host's CPUs (`HostCPUs`). A later cluster failure ends the
    /// process with a one-line message naming the node (`PostOffice.exitProcess`); SIGTERM, SIGINT
    /// and SIGHUP make it leave the job telling the others why (`NodeSignals`).
    static func join(
        as role: NodeRole, _ options: ClusterOptions, shardSize: Int64 = 0, settings: [String: String] = [:],
        logger: Logger
    ) throws -> PostOffice {
        LauncherWatch.startIfLaunched(logger: logger)
        let office = PostOffice(
            config: try options.config(role: role, shardSize: shardSize, settings: settings), transport: ZMQVan(),
            logger: logger,
            onTermination: PostOffice.exitProcess)
        NodeSignals.install(office, logger: logger)
        try office.start()
        HostCPUs.bind(office, logger: logger)
        return office
    }

    /// Runs `body`, turning any error into one line on standard error and exit status 1.
    static func reportingErrors(_ command: String, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as ExitCode {
            throw error
        } catch {
            NodeSignals.parkIfLeaving()
            printError("swiftps \(command): \(error)")
            throw ExitCode.failure
        }
    }
}
