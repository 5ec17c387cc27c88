import Logging
import SwiftPS

/// Binds a worker or server to its share of its host's CPUs (`CPUPlacement`) once the node table says
/// which of the job's processes advertise the same host, when `SWIFTPS_CPU_BIND=cores` (`--cpu-bind`).
///
/// `swiftps launch` turns it on for a local job's processes, which are its children in one cpuset (as
/// mpirun binds its own), and so does the distributed bench; a process started otherwise (by hand,
/// over ssh, by Slurm) binds only when asked, since other jobs may share its host. Measured on 2
/// vCPUs with 2 workers + 1 server (each worker on one CPU, the server free): the 4 KB pushPull
/// round takes 0.106–0.117 ms against 0.124–0.147 unbound (a pushPull's thread hand-offs wake a
/// thread on a CPU that is running, not one that halted), and mlp dist_sync training runs 5–8%
/// faster.
enum HostCPUs {
    /// The variable that asks for binding (`--cpu-bind` sets it).
    static let variable = "SWIFTPS_CPU_BIND"
    /// What `swiftps launch` gives a local job's processes, and the bench its children, unless the
    /// variable is set.
    static let launcherDefault = "cores"

    /// Binds this node's process as `office`'s table places it, and logs what it did. Leaves the
    /// process alone unless `SWIFTPS_CPU_BIND=cores`, for the scheduler, when the process is alone on its
    /// host, or when something already bound it to fewer CPUs than its cpuset offers (taskset,
    /// numactl, `srun --cpu-bind`): that placement was someone's choice. A failed binding is a
    /// warning; the job runs unbound.
    static func bind(_ office: PostOffice, logger: Logger) {
        let me = office.myNode
        guard office.config.cpuBind, me.role == .worker || me.role == .server else { return }
        let neighbours = office.nodes.filter { $0.hostname == me.hostname }
        let workers = neighbours.filter { $0.role == .worker }.count
        let servers = neighbours.filter { $0.role == .server }.count
        guard
            let index = neighbours.filter({ $0.role == me.role }).sorted(by: { $0.rank < $1.rank })
                .firstIndex(where: { $0.id == me.id }),
            let allowed = CPUAffinity.allowed()
        else { return }
        let list = CPUAffinity.listText
        if CPUAffinity.isNarrowed(allowed: allowed) {
            logger.info(
                "CPU binding left as it is: this process was started bound to CPU(s) \(list(allowed)) (taskset, numactl or srun)"
            )
            return
        }
        let slot: CPUPlacement.Slot = me.role == .worker ? .worker(index) : .server(index)
        guard let cpus = CPUPlacement.cpus(for: slot, allowed: allowed, workers: workers, servers: servers) else {
            return
        }
        do {
            let bound = try CPUAffinity.bindProcess(to: cpus)
            logger.info(
                "\(boundPrefix)\(list(bound)): \(me.role) \(index) of the \(workers) worker(s) and \(servers) server(s) sharing CPU(s) \(list(allowed)) on this host (SWIFTPS_CPU_BIND=cores; none leaves placement to the kernel)"
            )
        } catch {
            logger.warning("cannot bind to CPU(s) \(list(cpus)): \(error); the kernel places this process")
        }
    }

    /// How the log line of a binding starts; the CPU list and a colon follow.
    static let boundPrefix = "bound to CPU(s) "

    /// The CPU list a node's log says it bound itself to, or nil.
    static func boundCPUs(log: String) -> String? {
        guard let range = log.range(of: boundPrefix) else { return nil }
        return log[range.upperBound...].prefix { $0 != ":" && !$0.isNewline }.description
    }
}
