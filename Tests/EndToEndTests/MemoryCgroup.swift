import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A memory control group made for a test (root only): cgroup v1's memory hierarchy, or cgroup v2
/// where the memory controller is enabled for children of its root. Removed by `remove()` once
/// every process in it has exited.
struct MemoryCgroup {
    let directory: String
    let version: Int

    /// Where a group can be made, if anywhere: the v1 memory mount, else the v2 root when it hands
    /// the memory controller to its children.
    static let parent: (path: String, version: Int)? = {
        guard getuid() == 0 else { return nil }
        let v1 = "/sys/fs/cgroup/memory"
        if FileManager.default.fileExists(atPath: v1 + "/memory.limit_in_bytes") { return (v1, 1) }
        let v2 = "/sys/fs/cgroup"
        let control = try? String(contentsOfFile: v2 + "/cgroup.subtree_control", encoding: .utf8)
        if control?.split(whereSeparator: \.isWhitespace).contains("memory") == true { return (v2, 2) }
        return nil
    }()

    /// Whether a group with a limit can be made here (tried once).
    static let available: Bool = {
        guard let group = try? MemoryCgroup(limitBytes: 100_000_000) else { return false }
        group.remove()
        return true
    }()

    /// Makes a group whose memory limit is `limitBytes`, with swap off for it where that can be set.
    init(limitBytes: UInt64) throws {
        guard let parent = Self.parent else { throw CocoaError(.featureUnsupported) }
        directory = parent.path + "/swiftps-test-\(UUID().uuidString.prefix(8))"
        version = parent.version
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        do {
            if version == 1 {
                try write("\(limitBytes)", to: "memory.limit_in_bytes")
                try? write("0", to: "memory.swappiness")
            } else {
                try write("\(limitBytes)", to: "memory.max")
                try? write("0", to: "memory.swap.max")
            }
        } catch {
            remove()
            throw error
        }
    }

    private func write(_ value: String, to file: String) throws {
        try value.write(toFile: directory + "/" + file, atomically: false, encoding: .utf8)
    }

    /// The command prefix that moves the shell into the group and then execs the command.
    var wrapper: [String] {
        ["/bin/sh", "-c", "echo $$ > \"$1\" && shift && exec \"$@\"", "sh", directory + "/cgroup.procs"]
    }

    /// Removes the group (its processes must have exited; retried briefly while the kernel lets go).
    func remove() {
        for _ in 0..<50 {
            if rmdir(directory) == 0 || errno == ENOENT { return }
            usleep(20_000)
        }
    }
}
