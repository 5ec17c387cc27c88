import Foundation
import Testing

@testable import SwiftPSTensor

@Suite struct CgroupMemoryTests {
    /// This machine's layout: cgroup v1 with the memory controller mounted at its own point, the
    /// process in a group below it, and cgroup v2 mounted (without controllers) beside it.
    static let v1Cgroup = """
        9:name=systemd:/
        4:memory:/process_api/f980
        3:cpuset:/
        2:cpu,cpuacct:/
        0::/
        """
    static let v1Mountinfo = """
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        40 31 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """

    @Test func findsTheV1MemoryGroupBeforeAnEmptyV2Hierarchy() {
        let location = CgroupMemory.locate(cgroup: Self.v1Cgroup, mountinfo: Self.v1Mountinfo) { _ in true }
        #expect(
            location
                == .init(
                    group: "/process_api/f980", directory: "/sys/fs/cgroup/memory/process_api/f980",
                    mountPoint: "/sys/fs/cgroup/memory", version: 1))
    }

    /// cgroup v2 only: a systemd or Slurm group under the mount, or a container with a cgroup
    /// namespace that sees itself as the root; a group under another root (a container without a
    /// namespace) falls back to the mount point, its own group; mountinfo's octal escapes are undone.
    @Test func findsV2GroupsAsHostsAndContainersShowThem() {
        let mountinfo = "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
        let slurm = CgroupMemory.locate(cgroup: "0::/system.slice/slurmstepd.scope/job_7\n", mountinfo: mountinfo) {
            _ in true
        }
        #expect(slurm?.directory == "/sys/fs/cgroup/system.slice/slurmstepd.scope/job_7" && slurm?.version == 2)
        let namespaced = CgroupMemory.locate(cgroup: "0::/\n", mountinfo: mountinfo) { _ in true }
        #expect(namespaced?.directory == "/sys/fs/cgroup" && namespaced?.group == "/")

        let docker = "50 40 0:26 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n"
        let inside = CgroupMemory.locate(cgroup: "0::/docker/abc/sub\n", mountinfo: docker) { _ in true }
        #expect(inside?.directory == "/sys/fs/cgroup/sub")
        let elsewhere = CgroupMemory.locate(cgroup: "0::/other\n", mountinfo: docker) { _ in true }
        #expect(elsewhere?.directory == "/sys/fs/cgroup")
        let missing = CgroupMemory.locate(cgroup: "0::/gone\n", mountinfo: mountinfo) { $0 == "/sys/fs/cgroup" }
        #expect(missing?.directory == "/sys/fs/cgroup")

        let escaped = "30 23 0:26 / /mnt/cg\\040v2 rw - cgroup2 cgroup2 rw\n"
        #expect(CgroupMemory.locate(cgroup: "0::/a\n", mountinfo: escaped) { _ in true }?.directory == "/mnt/cg v2/a")
        #expect(CgroupMemory.locate(cgroup: "0::/a\n", mountinfo: "") { _ in true } == nil)
        #expect(CgroupMemory.locate(cgroup: "", mountinfo: mountinfo) { _ in true } == nil)
    }

    /// The tightest headroom over the group and its ancestors wins; "no limit" (v2's `max`, v1's
    /// huge number) is skipped; the page cache of files does not count as used.
    @Test func readsTheTightestLimitUpTheHierarchy() {
        let v2 = CgroupMemory.Location(
            group: "/a/b", directory: "/cg/a/b", mountPoint: "/cg", version: 2)
        var files = [
            "/cg/a/b/memory.max": "max\n", "/cg/a/b/memory.current": "100\n",
            "/cg/a/memory.max": "1000\n", "/cg/a/memory.current": "900\n",
            "/cg/a/memory.stat": "anon 500\ninactive_file 300\nactive_file 100\nshmem 7\n",
            "/cg/memory.max": "5000\n", "/cg/memory.current": "4000\n",
        ]
        #expect(
            CgroupMemory.read(v2) { files[$0] }
                == CgroupMemory(group: "/a", limitBytes: 1000, headroomBytes: 500))
        // The root, nearly full, has the least headroom; /a keeps the smallest limit.
        files["/cg/memory.current"] = "4900\n"
        #expect(
            CgroupMemory.read(v2) { files[$0] }
                == CgroupMemory(
                    group: "/a", limitBytes: 1000, headroomBytes: 100, headroomGroup: "/", headroomLimitBytes: 5000))
        files["/cg/a/b/memory.max"] = "50\n"  // over its limit already: no headroom, not an underflow
        #expect(CgroupMemory.read(v2) { files[$0] } == CgroupMemory(group: "/a/b", limitBytes: 50, headroomBytes: 0))
        #expect(CgroupMemory.read(v2) { $0.hasSuffix("memory.max") ? "max" : "7" } == nil)
        #expect(CgroupMemory.read(v2) { _ in nil } == nil)

        let v1 = CgroupMemory.Location(
            group: "/job", directory: "/sys/fs/cgroup/memory/job", mountPoint: "/sys/fs/cgroup/memory", version: 1)
        let v1Files = [
            "/sys/fs/cgroup/memory/job/memory.limit_in_bytes": "2000000000\n",
            "/sys/fs/cgroup/memory/job/memory.usage_in_bytes": "500000000\n",
            "/sys/fs/cgroup/memory/job/memory.stat":
                "cache 10\ninactive_file 999\ntotal_inactive_file 100000000\ntotal_active_file 50000000\n",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes": "9000000000\n",
        ]
        #expect(
            CgroupMemory.read(v1) { v1Files[$0] }
                == CgroupMemory(group: "/job", limitBytes: 2_000_000_000, headroomBytes: 1_650_000_000))
    }

    /// The checks name the control group when its limit, or what is left under it, is what a size
    /// does not fit; the machine's figures otherwise.
    @Test func shortfallNamesTheControlGroup() {
        let gb: UInt64 = 1_000_000_000
        let cgroup = CgroupMemory(group: "/slurm/job_7", limitBytes: 2 * gb, headroomBytes: gb / 2)
        #expect(
            MachineMemory.shortfall(3 * gb, physical: 24 * gb, available: 20 * gb, cgroup: cgroup)
                == "needs 3.0 GB, more than the 2.0 GB memory limit of control group /slurm/job_7")
        #expect(
            MachineMemory.shortfall(gb, physical: 24 * gb, available: 20 * gb, cgroup: cgroup)
                == "needs 1.0 GB, more than the 500.0 MB left now under the 2.0 GB memory limit of control group /slurm/job_7"
        )
        #expect(MachineMemory.shortfall(gb / 4, physical: 24 * gb, available: 20 * gb, cgroup: cgroup) == nil)
        #expect(
            MachineMemory.shortfall(gb, physical: 24 * gb, available: gb / 10, cgroup: cgroup)
                == "needs 1.0 GB, more than the 100.0 MB of memory available now (of this machine's 24.0 GB)")
        // A limit above the machine's memory changes nothing.
        let loose = CgroupMemory(group: "/big", limitBytes: 64 * gb, headroomBytes: 60 * gb)
        #expect(
            MachineMemory.shortfall(30 * gb, physical: 24 * gb, available: 20 * gb, cgroup: loose)
                == "needs 30.0 GB, more than this machine's 24.0 GB of memory")
        #expect(MachineMemory.limit(physical: 24 * gb, cgroup: loose).bytes == 24 * gb)
        #expect(
            MachineMemory.limit(physical: 24 * gb, cgroup: cgroup)
                == (2 * gb, "the 2.0 GB memory limit of control group /slurm/job_7"))
        // The least headroom in a parent with a larger limit: that parent is named with its limit.
        let parent = CgroupMemory(
            group: "/slurm/job_7", limitBytes: 2 * gb, headroomBytes: gb / 10, headroomGroup: "/slurm",
            headroomLimitBytes: 8 * gb)
        #expect(
            MachineMemory.shortfall(gb, physical: 24 * gb, available: 20 * gb, cgroup: parent)
                == "needs 1.0 GB, more than the 100.0 MB left now under the 8.0 GB memory limit of control group /slurm"
        )
        #expect(
            MachineMemory.shortfall(3 * gb, physical: 24 * gb, available: 20 * gb, cgroup: parent)
                == "needs 3.0 GB, more than the 2.0 GB memory limit of control group /slurm/job_7")
    }

    /// Whatever this machine has: a limit read from the live files is consistent.
    @Test func theLiveFiguresAreConsistent() {
        if let cgroup = CgroupMemory.current {
            #expect(cgroup.limitBytes > 0 && cgroup.headroomBytes <= cgroup.limitBytes)
            #expect(cgroup.group.hasPrefix("/"))
        }
        #expect(MachineMemory.limit.bytes <= MachineMemory.physicalBytes)
    }
}
