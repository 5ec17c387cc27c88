import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// How many CPUs this process may keep busy: the CPUs its affinity mask allows (`taskset`, a Slurm
/// or container cpuset), or fewer when its control group has a CPU quota (a container's `--cpus`, a
/// systemd unit's `CPUQuota`, Slurm's cgroup CPU limit): the quota of the group or of any ancestor,
/// whichever is tightest, in whole CPUs (v2 `cpu.max`; v1 `cpu.cfs_quota_us` over
/// `cpu.cfs_period_us`). This is how many compute threads a process that has the machine to itself
/// should run (`BLAS.automaticThreads`).
public enum CPUBudget {
    /// This process's budget, at least 1. Read at every call (a job can be moved between cpusets).
    public static var current: Int {
        combine(affinity: affinityCount(), quota: location.flatMap { quota($0, file: readFile) }, online: online)
    }

    /// The budget from its parts: the affinity count, at most the online CPUs (the mask can name CPUs
    /// that are offline or not there), lowered to the quota rounded down (threads that spin would
    /// spend a fraction of a CPU's quota and be throttled); never below 1.
    static func combine(affinity: Int?, quota: Double?, online: Int) -> Int {
        var cpus = min(affinity ?? online, online)
        if let quota, quota > 0 { cpus = min(cpus, Int(min(quota, 1e6).rounded(.down))) }
        return max(1, cpus)
    }

    /// CPUs in this process's affinity mask (`/proc/self/status`'s `Cpus_allowed`), or nil when it
    /// cannot be read.
    static func affinityCount() -> Int? {
        readFile("/proc/self/status").flatMap(affinityCount(status:))
    }

    /// The number of CPUs in the `Cpus_allowed` mask of a `/proc/<pid>/status` text; nil when
    /// absent, malformed or empty.
    static func affinityCount(status: String) -> Int? {
        CPUAffinity.allowed(status: status)?.count
    }

    private static var online: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    private static func readFile(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    private static let location = CgroupMemory.ownLocation(controller: "cpu")

    /// The tightest CPU quota (in CPUs) from `location.directory` up to its mount point, reading files
    /// with `file`; nil when no level has one (v2's `max`, v1's -1).
    static func quota(_ location: CgroupMemory.Location, file: (String) -> String?) -> Double? {
        location.levels.compactMap { groupQuota($0.directory, version: location.version, file: file) }.min()
    }

    /// One group's quota in CPUs, or nil when it has none.
    private static func groupQuota(_ directory: String, version: Int, file: (String) -> String?) -> Double? {
        func words(_ name: String) -> [Substring] {
            file(directory + "/" + name).map { $0.split(whereSeparator: \.isWhitespace) } ?? []
        }
        let quota: Double?
        let period: Double?
        if version == 2 {
            let fields = words("cpu.max")  // "max 100000" or "150000 100000"
            quota = fields.first.flatMap { Double($0) }
            period = fields.count > 1 ? Double(fields[1]) : nil
        } else {
            quota = words("cpu.cfs_quota_us").first.flatMap { Double($0) }
            period = words("cpu.cfs_period_us").first.flatMap { Double($0) }
        }
        guard let quota, let period, quota > 0, period > 0 else { return nil }
        return quota / period
    }
}
