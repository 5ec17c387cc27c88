import Foundation

/// The memory limit of the control group this process runs in (a container's `--memory`, Slurm's
/// `--mem`, a systemd unit's `MemoryMax`), which the kernel enforces by killing the process: a job
/// under such a limit has less memory than the machine shows, and `MachineMemory` checks against
/// the smaller of the two.
///
/// Both cgroup versions are read: v2 (`memory.max`, `memory.current`, `memory.stat`'s
/// `active_file` and `inactive_file`) and v1's memory controller (`memory.limit_in_bytes`,
/// `memory.usage_in_bytes`, `memory.stat`'s `total_active_file` and `total_inactive_file`). The
/// group's directory comes from `/proc/self/cgroup` and the mount's root in `/proc/self/mountinfo`
/// (so a container that sees only its own group finds it), and every ancestor up to the mount is
/// read too: the smallest limit and the least headroom apply, which may be two different groups'
/// (a parent with a larger limit that its other children have nearly filled). Swap under the limit
/// is not counted.
public struct CgroupMemory: Equatable, Sendable {
    /// The group with the smallest limit, as `/proc/self/cgroup` names it.
    public var group: String
    /// That limit in bytes: no array larger than this can ever be made.
    public var limitBytes: UInt64
    /// The group with the least headroom (often `group`).
    public var headroomGroup: String
    /// That group's limit.
    public var headroomLimitBytes: UInt64
    /// Bytes still free under that group's limit: the limit less its usage, not counting the page
    /// cache of files, which the kernel reclaims before it kills (so a check errs on the side of
    /// letting the job run).
    public var headroomBytes: UInt64

    /// A limit and headroom of one group, or of two (see the fields).
    public init(
        group: String, limitBytes: UInt64, headroomBytes: UInt64, headroomGroup: String? = nil,
        headroomLimitBytes: UInt64? = nil
    ) {
        self.group = group
        self.limitBytes = limitBytes
        self.headroomBytes = headroomBytes
        self.headroomGroup = headroomGroup ?? group
        self.headroomLimitBytes = headroomLimitBytes ?? limitBytes
    }

    /// The limit of this process's control group, or nil when it has none (or none can be read).
    /// The group's directory is found once per process; its figures are read at every call.
    public static var current: CgroupMemory? {
        guard let location = location else { return nil }
        return read(location, file: { try? String(contentsOfFile: $0, encoding: .utf8) })
    }

    private static let location = ownLocation(controller: "memory")

    /// Where this process's `controller` is (`locate` on its `/proc/self` files), or nil.
    static func ownLocation(controller: String) -> Location? {
        guard let cgroup = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8),
            let mountinfo = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        else { return nil }
        return locate(cgroup: cgroup, mountinfo: mountinfo, controller: controller) {
            FileManager.default.fileExists(atPath: $0)
        }
    }

    /// Where a process's controller is (memory, or cpu for `CPUBudget`): its group's directory in the
    /// mounted hierarchy, the mount point (the walk up stops there) and the cgroup version.
    struct Location: Equatable {
        var group: String
        var directory: String
        var mountPoint: String
        var version: Int

        /// The group's directory and each ancestor's up to the mount point, with the group each is
        /// (as `/proc/self/cgroup` names it; "/" for the top): where limits are read.
        var levels: [(directory: String, group: String)] {
            var result: [(directory: String, group: String)] = []
            var directory = self.directory
            var group = self.group
            while true {
                result.append((directory, group.isEmpty ? "/" : group))
                guard directory != mountPoint, directory.count > mountPoint.count,
                    let slash = directory.lastIndex(of: "/")
                else { return result }
                directory = String(directory[..<slash])
                if directory.isEmpty { directory = "/" }
                group = group.lastIndex(of: "/").map { String(group[..<$0]) } ?? ""
            }
        }
    }

    /// The location of `controller` (v1's name for it) for a process whose `/proc/self/cgroup` and
    /// `/proc/self/mountinfo` read `cgroup` and `mountinfo`: v1's hierarchy of it when one is
    /// mounted (it then holds the limits), else the v2 one. A group below a mount that shows it under
    /// another root (a container without a cgroup namespace) falls back to the mount point, which is
    /// then the container's own group. `exists` tells whether a directory exists.
    static func locate(
        cgroup: String, mountinfo: String, controller: String = "memory", exists: (String) -> Bool
    ) -> Location? {
        var v1Path: String?
        var v2Path: String?
        for line in cgroup.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            if parts[0] == "0" && parts[1].isEmpty {
                v2Path = String(parts[2])
            } else if parts[1].split(separator: ",").contains(Substring(controller)) {
                v1Path = String(parts[2])
            }
        }
        var v1Mount: (root: String, point: String)?
        var v2Mount: (root: String, point: String)?
        for line in mountinfo.split(separator: "\n") {
            // id parent major:minor root mount-point options [optional…] - fstype source super-options
            let halves = line.components(separatedBy: " - ")
            guard halves.count >= 2 else { continue }
            let fields = halves[0].split(separator: " ")
            let tail = halves[1].split(separator: " ")
            guard fields.count >= 5, let type = tail.first else { continue }
            let mount = (root: unescape(fields[3]), point: unescape(fields[4]))
            if type == "cgroup2", v2Mount == nil {
                v2Mount = mount
            } else if type == "cgroup", tail.count >= 3, tail[2].split(separator: ",").contains(Substring(controller)),
                v1Mount == nil
            {
                v1Mount = mount
            }
        }
        let candidates = [(v1Path, v1Mount, 1), (v2Path, v2Mount, 2)]
        for case (let path?, let mount?, let version) in candidates {
            var directory = mount.point
            if let relative = relative(path, to: mount.root) {
                let inside = mount.point == "/" ? relative : mount.point + relative
                if exists(inside) { directory = inside }
            }
            guard exists(directory) else { continue }
            return Location(group: path, directory: directory, mountPoint: mount.point, version: version)
        }
        return nil
    }

    /// `path` below `root` as a suffix starting with `/` ("" for the root itself), or nil.
    private static func relative(_ path: String, to root: String) -> String? {
        if root == "/" { return path == "/" ? "" : path }
        if path == root { return "" }
        guard path.hasPrefix(root + "/") else { return nil }
        return String(path.dropFirst(root.count))
    }

    /// mountinfo escapes spaces, tabs, newlines and backslashes as octal (`\040`).
    private static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        let raw = Array(field.utf8)
        var i = 0
        while i < raw.count {
            if raw[i] == UInt8(ascii: "\\"), i + 3 < raw.count,
                let code = UInt8(String(decoding: raw[(i + 1)...(i + 3)], as: UTF8.self), radix: 8)
            {
                bytes.append(code)
                i += 4
            } else {
                bytes.append(raw[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The tightest limit from `location.directory` up to its mount point, reading files with `file`;
    /// nil when no level has a limit. v1's "no limit" is a huge page-rounded number, taken as none.
    static func read(_ location: Location, file: (String) -> String?) -> CgroupMemory? {
        let names =
            location.version == 2
            ? (limit: "memory.max", usage: "memory.current", cache: ["active_file", "inactive_file"])
            : (
                limit: "memory.limit_in_bytes", usage: "memory.usage_in_bytes",
                cache: ["total_active_file", "total_inactive_file"]
            )
        var tightest: CgroupMemory?
        for (directory, name) in location.levels {
            guard let limit = number(file(directory + "/" + names.limit)), limit < 1 << 62,
                let usage = number(file(directory + "/" + names.usage))
            else { continue }
            let cache = file(directory + "/memory.stat").map { stats(names.cache, in: $0) } ?? 0
            let used = usage - min(usage, cache)
            let headroom = limit - min(limit, used)
            var found = tightest ?? CgroupMemory(group: name, limitBytes: limit, headroomBytes: headroom)
            if limit < found.limitBytes { (found.group, found.limitBytes) = (name, limit) }
            if headroom < found.headroomBytes {
                (found.headroomGroup, found.headroomLimitBytes, found.headroomBytes) = (name, limit, headroom)
            }
            tightest = found
        }
        return tightest
    }

    private static func number(_ text: String?) -> UInt64? {
        guard let text else { return nil }
        return UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The sum of the `memory.stat` fields named `names` (saturating).
    private static func stats(_ names: [String], in text: String) -> UInt64 {
        var sum: UInt64 = 0
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, names.contains(String(parts[0])), let value = UInt64(parts[1]) {
                sum = MachineMemory.plus(sum, value)
            }
        }
        return sum
    }
}
