import Foundation

/// Slurm support: inside an allocation, one `srun` starts W+S+1 tasks of `swiftps launch --slurm-task`, and
/// each task takes its role from `SLURM_PROCID` (0 = scheduler, 1...S = servers, the rest workers), as dmlc's
/// sge/yarn launchers map a task id to a role.
enum LaunchSlurm {
    /// The role and rank of Slurm task `procid` in a job of `numServers` servers and `numWorkers` workers.
    static func role(procid: Int, numServers: Int, numWorkers: Int) throws -> (LaunchRole, Int) {
        if procid == 0 { return (.scheduler, 0) }
        if procid >= 1, procid <= numServers { return (.server, procid - 1) }
        if procid > numServers, procid <= numServers + numWorkers { return (.worker, procid - 1 - numServers) }
        throw LaunchError(
            "SLURM_PROCID \(procid) is outside the job's \(numServers + numWorkers + 1) tasks: "
                + "run srun with --ntasks=\(numServers + numWorkers + 1)")
    }

    /// Expands a Slurm node list such as `node[01-03,07],gpu5` into host names (what `scontrol show hostnames`
    /// prints; used when scontrol is not on this host).
    static func expandNodeList(_ list: String) throws -> [String] {
        var names: [String] = []
        var entry = ""
        var depth = 0
        for character in list + "," {
            if character == "[" { depth += 1 }
            if character == "]" { depth -= 1 }
            if character == ",", depth == 0 {
                if !entry.isEmpty { names += try expandEntry(entry) }
                entry = ""
            } else {
                entry.append(character)
            }
        }
        guard depth == 0, !names.isEmpty else {
            throw LaunchError("cannot read the Slurm node list '\(list)': expected names like node[01-03,07],gpu5")
        }
        return names
    }

    private static func expandEntry(_ entry: String) throws -> [String] {
        guard let open = entry.firstIndex(of: "["), let close = entry[open...].firstIndex(of: "]") else {
            return [entry]
        }
        let prefix = String(entry[..<open])
        let rest = try expandEntry(String(entry[entry.index(after: close)...]))
        var names: [String] = []
        for part in entry[entry.index(after: open)..<close].split(separator: ",") {
            let bounds = part.split(separator: "-", maxSplits: 1).map(String.init)
            guard let low = Int(bounds[0]), let high = Int(bounds.last ?? bounds[0]), low <= high else {
                throw LaunchError("cannot read the Slurm node range '[\(part)]' in '\(entry)'")
            }
            let width = bounds[0].count
            for number in low...high {
                let digits = String(number)
                let padded = String(repeating: "0", count: max(0, width - digits.count)) + digits
                names += rest.map { prefix + padded + $0 }
            }
        }
        return names
    }

    /// Refuses a job that needs more tasks than the allocation has (`SLURM_NTASKS`, set when salloc or sbatch was
    /// given `--ntasks`), where srun would fail with "More processors requested than permitted"; an allocation
    /// with `--overcommit` may run more.
    static func checkAllocation(numWorkers: Int, numServers: Int, environment: [String: String]) throws {
        let needed = numWorkers + numServers + 1
        guard let text = environment["SLURM_NTASKS"] ?? environment["SLURM_NPROCS"], let allocated = Int(text),
            allocated < needed, (environment["SLURM_OVERCOMMIT"] ?? "0") == "0"
        else { return }
        throw LaunchError(
            "the job needs \(needed) Slurm tasks (1 scheduler, \(numServers) servers, \(numWorkers) workers) but the "
                + "allocation has \(allocated) (SLURM_NTASKS): allocate with --ntasks=\(needed) "
                + "(salloc -n \(needed), sbatch --ntasks=\(needed)) or lower -n/-s")
    }

    /// The host a task advertises (`DMLC_NODE_HOST`): `advertise` (`--advertise`); else none when `DMLC_INTERFACE`
    /// is set, in the task's `environment` or by the job's `--env`s (`jobEnvironment`, `NAME=VALUE`), so that the
    /// process advertises that interface's address (a `DMLC_NODE_HOST` would win over it), which is the way out
    /// when the nodes' Slurm names do not resolve; else its node's Slurm name (`SLURMD_NODENAME`); else this
    /// host's name.
    static func advertisedHost(advertise: String?, environment: [String: String], jobEnvironment: [String])
        -> String?
    {
        if let advertise { return advertise }
        let interfaceSet =
            !(environment["DMLC_INTERFACE"] ?? "").isEmpty
            || jobEnvironment.contains { $0.hasPrefix("DMLC_INTERFACE=") && $0 != "DMLC_INTERFACE=" }
        if interfaceSet { return nil }
        return environment["SLURMD_NODENAME"] ?? LaunchNetwork.hostName()
    }

    /// Whether this process runs on Slurm node `node`: by the node's Slurm name (`SLURMD_NODENAME`, set in a batch
    /// script, which runs on the allocation's first node, and in srun's tasks) when Slurm gave one, since a node's
    /// `NodeName` need not be its host name; else by this host's name, domains aside.
    static func runsOn(_ node: String, environment: [String: String]) -> Bool {
        if let name = environment["SLURMD_NODENAME"], !name.isEmpty { return name == node }
        return LaunchNetwork.hostName().split(separator: ".").first == node.split(separator: ".").first
    }

    /// The scheduler's port when the launcher runs on another node than the scheduler and so cannot see which of
    /// `range`'s ports are free there: the job id picks one, so that jobs whose schedulers share a node (several
    /// allocations started from one login node) do not all take the range's first port, and a restarted step of
    /// the same job gets the same port.
    static func schedulerPort(jobID: String, range: ClosedRange<Int>) -> Int {
        let number = Int(jobID.prefix { $0.isNumber }) ?? 0
        return range.lowerBound + number % range.count
    }

    /// The `srun` command that starts every task: one task per process, `--kill-on-bad-exit` so Slurm ends
    /// the step when one fails, each running `binary launch --slurm-task` with the job's flags.
    static func srunCommand(
        numWorkers: Int, numServers: Int, binary: String, taskArguments: [String], command: [String]
    ) -> [String] {
        [
            "srun", "--ntasks=\(numWorkers + numServers + 1)", "--kill-on-bad-exit=1", "--unbuffered",
            "--export=ALL", binary, "launch", "--slurm-task",
        ] + taskArguments + ["--"] + command
    }

    /// The allocation's nodes, from `scontrol show hostnames` when it works, else by expanding the list here.
    static func nodes(of nodeList: String) async throws -> [String] {
        let scontrol = LaunchLocalProcess(
            command: ["scontrol", "show", "hostnames", nodeList], environment: [], standardInput: nil)
        let collected = LaunchLines()
        if case .exited(0) = await scontrol.run(line: { collected.append($0) }), !collected.lines.isEmpty {
            return collected.lines
        }
        return try expandNodeList(nodeList)
    }
}

extension LaunchSlurm {
    /// The failure a task's launcher reported in `line` of srun's output (`swiftps launch (worker 0): worker 0 on
    /// node3 failed: killed by signal 9 (SIGKILL)` gives `worker 0 on node3 failed: killed by signal 9 (SIGKILL)`),
    /// or `nil`.
    static func taskFailure(in line: String) -> String? {
        guard line.hasPrefix("swiftps launch ("), let close = line.range(of: "): "), line.contains(" failed: ") else {
            return nil
        }
        return String(line[close.upperBound...])
    }
}

/// The `srun` of `--launcher slurm`, run on this host like any local process, noting the first failure a task
/// reported: srun's own exit status does not say which task failed first, or how.
struct LaunchSrunRunner: LaunchRunner {
    let task: LaunchTask
    private let local: LaunchLocalRunner
    /// The first failure a task reported, as `LaunchSlurm.taskFailure(in:)` reads it.
    let firstFailure = LaunchFirstValue()

    init(task: LaunchTask) {
        self.task = task
        local = LaunchLocalRunner(task: task)
    }

    func run(output: LaunchTaskOutput) async -> LaunchExit {
        await local.process.run { [firstFailure] line in
            if let failure = LaunchSlurm.taskFailure(in: line) { firstFailure.offer(failure) }
            output.write(line)
        }
    }

    func stop(grace: Duration) async {
        await local.stop(grace: grace)
    }
}

/// The first of the values offered to it, from any thread.
final class LaunchFirstValue: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: String?

    /// Keeps `value` unless one was kept already.
    func offer(_ value: String) { lock.withLock { if stored == nil { stored = value } } }
    /// The first value offered, if any.
    var value: String? { lock.withLock { stored } }
}

/// Lines collected from a short helper process.
final class LaunchLines: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []

    /// Adds a line.
    func append(_ line: String) { lock.withLock { stored.append(line) } }
    /// The lines so far.
    var lines: [String] { lock.withLock { stored } }
}
