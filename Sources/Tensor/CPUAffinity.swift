import CShims
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The CPUs this process may run on, and binding it to some of them (`CPUPlacement` says which).
public enum CPUAffinity {
    /// The CPUs in this process's affinity mask, ascending; nil when it cannot be read.
    public static func allowed() -> [Int]? {
        readFile("/proc/self/status").flatMap(allowed(status:))
    }

    /// The CPUs set in the `Cpus_allowed` mask of a `/proc/<pid>/status` text (comma-separated 32-bit
    /// hexadecimal words, the highest CPUs first), ascending; nil when absent, malformed or empty.
    static func allowed(status: String) -> [Int]? {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else {
            return nil
        }
        let words = line.dropFirst("Cpus_allowed:".count).trimmingCharacters(in: .whitespaces).split(separator: ",")
        var cpus: [Int] = []
        for (index, word) in words.reversed().enumerated() {
            guard let bits = UInt32(word, radix: 16) else { return nil }
            for bit in 0..<32 where bits & (1 << UInt32(bit)) != 0 { cpus.append(index * 32 + bit) }
        }
        return cpus.isEmpty ? nil : cpus.sorted()
    }

    /// The CPUs of a list such as `0-3,8,10-11` (cpuset files, `/sys/devices/system/cpu/online`),
    /// ascending and without repeats; nil when malformed or empty.
    static func parseList(_ text: String) -> [Int]? {
        var cpus = Set<Int>()
        for part in text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",") {
            let ends = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(ends.count), let low = Int(ends[0]), let high = Int(ends[ends.count - 1]),
                low >= 0, low <= high, high < 1 << 20
            else { return nil }
            cpus.formUnion(low...high)
        }
        return cpus.isEmpty ? nil : cpus.sorted()
    }

    /// `cpus` as a list in the kernel's style: `0-3,8`.
    public static func listText(_ cpus: [Int]) -> String {
        var ranges: [String] = []
        var index = 0
        let sorted = Array(Set(cpus)).sorted()
        while index < sorted.count {
            var end = index
            while end + 1 < sorted.count && sorted[end + 1] == sorted[end] + 1 { end += 1 }
            ranges.append(end == index ? "\(sorted[index])" : "\(sorted[index])-\(sorted[end])")
            index = end + 1
        }
        return ranges.joined(separator: ",")
    }

    /// The CPUs this process's cpuset offers: the effective CPUs of its cpuset control group, or of
    /// the nearest ancestor that says (v1 `cpuset.effective_cpus`, v2 `cpuset.cpus.effective`), else
    /// the online CPUs; nil when none can be read.
    static func offered() -> [Int]? {
        if let location = CgroupMemory.ownLocation(controller: "cpuset") {
            let name = location.version == 2 ? "cpuset.cpus.effective" : "cpuset.effective_cpus"
            for level in location.levels {
                if let cpus = readFile(level.directory + "/" + name).flatMap(parseList) { return cpus }
            }
        }
        return readFile("/sys/devices/system/cpu/online").flatMap(parseList)
    }

    /// Whether something bound this process, whose mask allows `allowed` (default: read now), to
    /// fewer CPUs than its cpuset offers (`taskset`, `numactl`, `srun --cpu-bind`, `mpirun
    /// --bind-to`): that placement is then someone's decision to keep. False when either side cannot
    /// be read.
    public static func isNarrowed(allowed: [Int]? = allowed()) -> Bool {
        guard let allowed, let offered = offered() else { return false }
        return isNarrowed(allowed: allowed, offered: offered)
    }

    /// Whether `allowed` lacks a CPU of `offered`.
    static func isNarrowed(allowed: [Int], offered: [Int]) -> Bool {
        !Set(offered).isSubset(of: Set(allowed))
    }

    /// Restricts every thread of this process to `cpus`; threads started later inherit it from the
    /// thread that starts them. Reads the mask back and returns it.
    @discardableResult
    public static func bindProcess(to cpus: [Int]) throws(AffinityError) -> [Int] {
        guard !cpus.isEmpty else { throw AffinityError("no CPUs to bind to") }
        let list = cpus.map(Int32.init)
        var done = Set<Int32>()
        // A thread started while the first pass runs may have copied the old mask: a second pass
        // catches it.
        for _ in 0..<2 {
            for tid in threadIDs() where !done.contains(tid) {
                let rc = list.withUnsafeBufferPointer {
                    swiftps_set_thread_affinity(tid, $0.baseAddress, Int32($0.count))
                }
                if rc != 0 {
                    let code = errno
                    if code == ESRCH { continue }  // the thread ended meanwhile
                    throw AffinityError(
                        "sched_setaffinity(thread \(tid), CPUs \(listText(cpus))) failed: \(String(cString: strerror(code)))"
                    )
                }
                done.insert(tid)
            }
        }
        guard let now = allowed() else { throw AffinityError("cannot read back this process's CPU mask") }
        return now
    }

    /// The ids of this process's threads (`/proc/self/task`), the caller's first.
    private static func threadIDs() -> [Int32] {
        let others = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? [])
            .compactMap(Int32.init)
        let me = swiftps_gettid()
        return [me] + others.filter { $0 != me }
    }

    private static func readFile(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    /// A binding that could not be made.
    public struct AffinityError: Error, CustomStringConvertible, Sendable {
        /// What failed.
        public let description: String
        init(_ description: String) { self.description = description }
    }
}

/// How the processes of one job that share a host divide its CPUs, as `mpirun --bind-to core` and
/// `srun --cpu-bind=cores` do: each worker gets its own block of CPUs (as many as its compute
/// threads), and each server the CPUs left over; when the workers take them all, the servers stay
/// where the kernel puts them. Binding keeps a worker's threads (its compute threads, its ZeroMQ
/// I/O thread, its receive thread) together, so the hand-offs of a pushPull wake a thread on a CPU
/// that is running rather than one that halted, and stops the kernel from moving a worker onto its
/// neighbour's CPU. A server left free runs on whichever worker's CPU is waiting for it: bound to
/// one worker's CPU instead, its summing and updates would delay that worker while the other CPU
/// waited (measured: mlp dist_sync training 10–15% slower, where free it is 5–15% faster than
/// unbound workers).
public enum CPUPlacement {
    /// A process's place among the job's processes on its host, by rank.
    public enum Slot: Equatable, Sendable {
        /// The `index`-th worker on the host.
        case worker(Int)
        /// The `index`-th server on the host.
        case server(Int)
    }

    /// The CPUs `slot` is bound to when `workers` workers and `servers` servers of the job share
    /// `allowed` (ascending); nil when it keeps them all (it is alone on its host, or its share is
    /// all of them).
    ///
    /// With W workers on C CPUs each worker takes a block of max(1, C/W) CPUs (worker j from the
    /// (j·k)-th CPU, wrapping when W > C). Servers take the CPUs the workers left, split evenly, else
    /// stay unbound (nil). Servers alone on a host split it evenly.
    public static func cpus(for slot: Slot, allowed: [Int], workers: Int, servers: Int) -> [Int]? {
        let count = allowed.count
        guard workers + servers >= 2, count > 0 else { return nil }
        func block(from start: Int, size: Int) -> [Int] {
            Array(Set((0..<size).map { allowed[(start + $0) % count] })).sorted()
        }
        let result: [Int]
        switch slot {
        case .worker(let index):
            let size = max(1, count / max(1, workers))
            result = block(from: index * size, size: size)
        case .server(let index) where workers == 0:
            let size = max(1, count / max(1, servers))
            result = block(from: index * size, size: size)
        case .server(let index):
            let taken = max(1, count / workers) * workers
            let left = count - taken
            if left <= 0 {
                return nil
            } else {
                let size = max(1, left / max(1, servers))
                result = block(from: taken + (index * size) % left, size: size)
            }
        }
        return result == allowed ? nil : result
    }
}
