import Foundation

/// This machine's memory, for the checks made before large allocations whose size comes from input:
/// an allocation that cannot succeed becomes an error naming what needed it, not a trap that kills
/// the process (Swift's allocator aborts when the system refuses memory).
public enum MachineMemory {
    /// Bytes of physical memory (see `limit` for what this process may use).
    public static var physicalBytes: UInt64 { ProcessInfo.processInfo.physicalMemory }

    /// Bytes that can be allocated and touched now without the kernel's OOM killer ending the
    /// process: `MemAvailable` plus `SwapFree` from `/proc/meminfo` (nil where it cannot be read).
    public static var availableBytes: UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        return available(meminfo: text)
    }

    /// `MemAvailable` plus `SwapFree` of a `/proc/meminfo` text, nil without `MemAvailable`.
    static func available(meminfo: String) -> UInt64? {
        var fields: [Substring: UInt64] = [:]
        for line in meminfo.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == ":" || $0 == " " })
            guard parts.count >= 2, let kilobytes = UInt64(parts[1]) else { continue }
            fields[parts[0]] = times(kilobytes, 1024)
        }
        guard let available = fields["MemAvailable"] else { return nil }
        return plus(available, fields["SwapFree"] ?? 0)
    }

    /// The most memory this process may use: this machine's physical memory, or its control group's
    /// limit when that is smaller (`CgroupMemory`), with words for an error ("this machine's 25.3 GB
    /// of memory", "the 2.0 GB memory limit of control group /slurm/job_7").
    public static var limit: (bytes: UInt64, description: String) {
        limit(physical: physicalBytes, cgroup: CgroupMemory.current)
    }

    static func limit(physical: UInt64, cgroup: CgroupMemory?) -> (bytes: UInt64, description: String) {
        if let cgroup, cgroup.limitBytes < physical {
            return (cgroup.limitBytes, "the \(format(cgroup.limitBytes)) memory limit of control group \(cgroup.group)")
        }
        return (physical, "this machine's \(format(physical)) of memory")
    }

    /// Nil when `bytes` fit, else why not: more than the physical memory or the control group's limit,
    /// or than what is available now under either (a zero-filled array is touched at once, so what
    /// does not fit now ends the process).
    public static func shortfall(_ bytes: UInt64) -> String? {
        shortfall(bytes, physical: physicalBytes, available: availableBytes, cgroup: CgroupMemory.current)
    }

    static func shortfall(_ bytes: UInt64, physical: UInt64, available: UInt64?, cgroup: CgroupMemory?) -> String? {
        let most = limit(physical: physical, cgroup: cgroup)
        if bytes > most.bytes { return "needs \(format(bytes)), more than \(most.description)" }
        if let available, bytes > available {
            return
                "needs \(format(bytes)), more than the \(format(available)) of memory available now (of this machine's \(format(physical)))"
        }
        if let cgroup, bytes > cgroup.headroomBytes {
            return
                "needs \(format(bytes)), more than the \(format(cgroup.headroomBytes)) left now under the \(format(cgroup.headroomLimitBytes)) memory limit of control group \(cgroup.headroomGroup)"
        }
        return nil
    }

    /// The float32 arrays about to be allocated, added up (saturating) with the largest among them,
    /// for a check before they are: `total` against `physicalBytes`, `largest` to name in the error.
    public struct Footprint {
        /// Bytes of everything added.
        public private(set) var total: UInt64 = 0
        /// The largest named array added: its name, shape and bytes.
        public private(set) var largest: (name: String, shape: [Int], bytes: UInt64)?

        /// An empty footprint.
        public init() {}

        /// Adds `copies` arrays of `shape` (an array and its gradient: 2) named `name`; a shape whose
        /// count overflows counts as the most bytes there are.
        public mutating func add(_ name: String, shape: [Int], copies: UInt64 = 1) {
            let bytes = floatBytes(NDArray.checkedElementCount(shape) ?? .max)
            total = plus(total, times(bytes, copies))
            if bytes > largest?.bytes ?? 0 { largest = (name, shape, bytes) }
        }

        /// Adds `count` float32 values that are never named as the largest (arrays already made).
        public mutating func add(count: Int) { total = plus(total, floatBytes(count)) }

        /// Whether the total is more than this process may use (`MachineMemory.limit`).
        public var exceedsMemory: Bool { total > limit.bytes }
    }

    /// The bytes of `count` float32 values (saturating at `UInt64.max`).
    public static func floatBytes(_ count: Int) -> UInt64 {
        times(UInt64(max(count, 0)), UInt64(MemoryLayout<Float>.stride))
    }

    /// `a × b`, saturating at `UInt64.max`.
    public static func times(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? .max : product
    }

    /// `a + b`, saturating at `UInt64.max`.
    public static func plus(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? .max : sum
    }

    /// `3.4 TB`, `24.0 GB`, `512 MB`: bytes in powers of 1000.
    public static func format(_ bytes: UInt64) -> String {
        let units = ["bytes", "KB", "MB", "GB", "TB", "PB", "EB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(bytes) bytes" : String(format: "%.1f", value) + " " + units[unit]
    }
}
