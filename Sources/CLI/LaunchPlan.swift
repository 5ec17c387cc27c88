import Foundation
import SwiftPS

/// The role of one process of a job, as in MXNet's `DMLC_ROLE`.
enum LaunchRole: String, Sendable {
    case scheduler, server, worker
}

/// One environment variable handed to a process.
struct LaunchVariable: Equatable, Sendable {
    /// The variable's name.
    var name: String
    /// Its value.
    var value: String
}

/// One process of the job: what runs, where, and with which environment.
struct LaunchTask: Sendable {
    /// scheduler, server or worker.
    var role: LaunchRole
    /// The index within the role (the scheduler is 0).
    var rank: Int
    /// The host it runs on; `nil` is this host.
    var host: LaunchHost?
    /// The program and its arguments.
    var command: [String]
    /// Variables set on top of the inherited (local) or remote login environment.
    var environment: [LaunchVariable]
    /// A name that replaces the role and rank in messages (`srun`).
    var name: String? = nil

    /// `scheduler`, `server 0`, `worker 1`: the output prefix and the name in summaries.
    var label: String { name ?? Self.label(role: role, rank: rank) }
    /// `scheduler`, `server 0`, `worker 1`: how messages name a task of `role` and `rank`.
    static func label(role: LaunchRole, rank: Int) -> String {
        role == .scheduler ? "scheduler" : "\(role.rawValue) \(rank)"
    }
    /// The log file name under `--log-dir`: `<role>-<rank>.log`, or `<name>.log` for a named task (`srun.log`,
    /// which must not take the name of a process the srun step writes its own log for).
    var logName: String { name.map { "\($0).log" } ?? "\(role.rawValue)-\(rank).log" }
    /// Where it runs, for messages.
    var hostName: String { host?.label ?? LaunchNetwork.hostName() }
}

/// What every process of a job shares: sizes, the scheduler's address, and the launcher's settings.
struct LaunchCluster: Sendable {
    var numWorkers: Int
    var numServers: Int
    /// What nodes connect to: `DMLC_PS_ROOT_URI` and `DMLC_PS_ROOT_PORT`.
    var schedulerURI: String
    var schedulerPort: Int
    /// local, ssh or slurm (`DMLC_JOB_CLUSTER`).
    var launcher: String
    var bind: String?
    var portRange: String?
    /// The secret's path as the processes see it (`SWIFTPS_SECRET_FILE`); ssh sets its own per host.
    var secretPath: String?
    /// The job's id (`SWIFTPS_JOB_ID`), new for every attempt: the scheduler refuses a process that
    /// carries another, such as one of a second job given the same port, or of an earlier attempt.
    var jobID = LaunchCluster.newJobID()
    /// The run's id (`SWIFTPS_RUN_ID`), the same for every attempt of one launch: checkpoint manifests
    /// record it, so a restart resumes only from this run's checkpoints.
    var runID: String?
    /// Variables every process gets before the launcher's own (forwarded from the launcher's environment).
    var forwarded: [LaunchVariable] = []
    var env: [LaunchVariable] = []
    var envServer: [LaunchVariable] = []
    var envWorker: [LaunchVariable] = []
    /// The scheduler's and servers' programs.
    var schedulerCommand: [String]
    var serverCommand: [String]
    /// The workers' program (the command after `--`).
    var workerCommand: [String]

    /// Prepares a restarted job: every process learns the attempt (`SWIFTPS_RESTART`), and a worker
    /// command that runs `swiftps train` with a `--model-prefix` and no checkpoint of its own to start
    /// from resumes from the latest complete checkpoint (`--resume`) that `run`, this launch, wrote
    /// (`SWIFTPS_RESUME_RUN`; others under the prefix are an earlier run's).
    mutating func restartWorkerCommand(attempt: Int, run: String) {
        for (name, value) in Self.restartVariables(attempt: attempt, command: workerCommand, run: run) {
            env.removeAll { $0.name == name }
            env.append(LaunchVariable(name: name, value: value))
        }
        jobID = Self.newJobID()
        workerCommand = Self.resuming(workerCommand)
    }

    /// The variables of restart `attempt` of run `run` whose workers run `command`.
    static func restartVariables(attempt: Int, command: [String], run: String) -> [(String, String)] {
        var variables = [("SWIFTPS_RESTART", String(attempt))]
        if [.latestCheckpoint, .loadedCheckpoint].contains(LaunchRestart(command)) {
            variables.append((ResumePoint.resumeRunVariable, run))
        }
        return variables
    }

    /// A random job id: 16 hex digits.
    static func newJobID() -> String {
        let digits = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// A restarted job's worker command: `command` with `--resume` when it continues from the latest
    /// checkpoint (`LaunchRestart.latestCheckpoint`), else as it is.
    static func resuming(_ command: [String]) -> [String] {
        LaunchRestart(command) == .latestCheckpoint ? command + ["--resume"] : command
    }

    /// The environment of one process: MXNet's `DMLC_*` variables, SwiftPS's `SWIFTPS_*` ones (a local
    /// job's `SWIFTPS_CPU_BIND=cores` unless forwarded), then the user's `--env`,
    /// `--env-server`/`--env-worker` (later entries win). `onLauncherHost`: the process
    /// runs on this host as the launcher's child (the ssh launcher's scheduler, every local process).
    func environment(role: LaunchRole, rank: Int, nodeHost: String?, onLauncherHost: Bool) -> [LaunchVariable] {
        var variables = forwarded
        func set(_ name: String, _ value: String?) {
            guard let value else { return }
            variables.removeAll { $0.name == name }
            variables.append(LaunchVariable(name: name, value: value))
        }
        set("DMLC_ROLE", role.rawValue)
        set("DMLC_PS_ROOT_URI", schedulerURI)
        set("DMLC_PS_ROOT_PORT", String(schedulerPort))
        set("DMLC_NUM_WORKER", String(numWorkers))
        set("DMLC_NUM_SERVER", String(numServers))
        set("DMLC_NODE_HOST", nodeHost)
        set("DMLC_TASK_ID", String(rank))
        set("DMLC_RANK", String(rank))
        set("DMLC_JOB_CLUSTER", launcher)
        // Processes on the launcher's host (all of a local job's, the ssh launcher's scheduler) and a Slurm
        // task's process (started by the task's own launcher on its node) stop by themselves if that
        // launcher dies (see LauncherWatch): a process of a Slurm task whose launcher was killed leads its
        // own process group under init, out of reach of Slurm's process tracking.
        if onLauncherHost || launcher == "local" || launcher == "slurm" {
            set("SWIFTPS_LAUNCHER_PID", String(getpid()))
        }
        // A local job's processes are the launcher's children in one cpuset: they divide its CPUs (as
        // mpirun binds its own), unless the launcher's environment or `--env` says otherwise.
        if launcher == "local" && !variables.contains(where: { $0.name == HostCPUs.variable }) {
            set(HostCPUs.variable, HostCPUs.launcherDefault)
        }
        set("SWIFTPS_BIND", bind)
        set("SWIFTPS_PORT_RANGE", portRange)
        set("SWIFTPS_SECRET_FILE", secretPath)
        set("SWIFTPS_JOB_ID", jobID)
        set(ResumePoint.runVariable, runID)
        for variable in env { set(variable.name, variable.value) }
        switch role {
        case .server: for variable in envServer { set(variable.name, variable.value) }
        case .worker: for variable in envWorker { set(variable.name, variable.value) }
        case .scheduler: break
        }
        return variables
    }

    /// The task of `role`/`rank` on `host` (nil: this host), advertising `nodeHost`.
    func task(role: LaunchRole, rank: Int, host: LaunchHost?, nodeHost: String?) -> LaunchTask {
        let command =
            switch role {
            case .scheduler: schedulerCommand
            case .server: serverCommand
            case .worker: workerCommand
            }
        return LaunchTask(
            role: role, rank: rank, host: host, command: command,
            environment: environment(role: role, rank: rank, nodeHost: nodeHost, onLauncherHost: host == nil))
    }

    /// Every task of a job whose scheduler runs on this host: the scheduler, then servers, then workers.
    /// With `hosts`, servers and workers are spread over them servers first, as dmlc's ssh launcher does,
    /// and each advertises its host's address; without, all run here and advertise `advertise`.
    func tasks(hosts: [LaunchHost]?, advertise: String) -> [LaunchTask] {
        var tasks = [task(role: .scheduler, rank: 0, host: nil, nodeHost: advertise)]
        let placed = hosts.map { LaunchHostfile.assign(numServers + numWorkers, over: $0) }
        for index in 0..<(numServers + numWorkers) {
            let role: LaunchRole = index < numServers ? .server : .worker
            let rank = index < numServers ? index : index - numServers
            let host = placed?[index]
            tasks.append(task(role: role, rank: rank, host: host, nodeHost: host?.address ?? advertise))
        }
        return tasks
    }
}

extension LaunchCluster {
    /// The variables of the launcher's own environment that remote processes get too, as dmlc's ssh launcher
    /// forwards `DMLC_INTERFACE`, `OMP_NUM_THREADS` and friends: `DMLC_INTERFACE`, thread counts, the MXNet
    /// variables SwiftPS reads (`MXNET_UPDATE_ON_KVSTORE`, which every worker must set alike, and
    /// `MXNET_KVSTORE_BIGARRAY_BOUND`), and every `SWIFTPS_*` tuning variable (heartbeats, deadlines, log
    /// level) except the secret file, the binary and the servers' crash test hook (a stray export
    /// of which would make every server of the job kill itself; tests give it to one server).
    static func forwardedVariables(from environment: [String: String]) -> [LaunchVariable] {
        let named: Set<String> = [
            "DMLC_INTERFACE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MXNET_UPDATE_ON_KVSTORE",
            "MXNET_KVSTORE_BIGARRAY_BOUND",
        ]
        let excluded: Set<String> = ["SWIFTPS_SECRET_FILE", "SWIFTPS_BIN", KVServer.crashHookVariable]
        return environment.keys.sorted()
            .filter { named.contains($0) || ($0.hasPrefix("SWIFTPS_") && !excluded.contains($0)) }
            .map { LaunchVariable(name: $0, value: environment[$0] ?? "") }
    }
}

/// Where a restarted job's workers start again, from their command.
enum LaunchRestart: Equatable {
    /// `swiftps train` with a `--model-prefix` that names no checkpoint itself: the launcher adds
    /// `--resume`, and the job continues from the latest complete checkpoint it wrote.
    case latestCheckpoint
    /// `swiftps train` with `--resume` of its own: it runs as it was, taking the latest complete
    /// checkpoint under the prefix, which after this run wrote one is this run's.
    case itsOwnCheckpoint
    /// `swiftps train --load-epoch E`: it runs as it was, and `SWIFTPS_RESUME_RUN` makes it continue
    /// from the latest complete checkpoint this run wrote after E, if any, else from E again. (Plain
    /// `--resume` could take a newer checkpoint an earlier, abandoned run left under the prefix, the
    /// very one a user loading E went back from; going back to E would retrain the epochs since and
    /// overwrite their checkpoints.)
    case loadedCheckpoint
    /// `swiftps train` without a `--model-prefix`: nothing to resume from (`--resume` would be
    /// refused), so it trains from the beginning.
    case beginning
    /// Another program: it runs as it was, `SWIFTPS_RESTART` telling it the attempt.
    case asItWas

    init(_ command: [String]) {
        guard command.contains("train") else {
            self = .asItWas
            return
        }
        if !command.contains(where: { $0 == "--model-prefix" || $0.hasPrefix("--model-prefix=") }) {
            self = .beginning
        } else if command.contains(where: { $0.hasPrefix("--load-epoch") }) {
            self = .loadedCheckpoint
        } else if command.contains("--resume") {
            self = .itsOwnCheckpoint
        } else {
            self = .latestCheckpoint
        }
    }

    /// How the launcher's restart line ends.
    var phrase: String {
        switch self {
        case .latestCheckpoint: "from the latest complete checkpoint it wrote"
        case .itsOwnCheckpoint: "from the latest complete checkpoint (its --resume)"
        case .loadedCheckpoint: "from the latest complete checkpoint it wrote, else from the one its --load-epoch names"
        case .beginning: "from the beginning"
        case .asItWas: "as it was (SWIFTPS_RESTART gives the attempt)"
        }
    }
}
