import Foundation
import Synchronization
import Testing

@testable import SwiftPSTensor

@Suite struct ComputeThreadsTests {
    /// The chunks cover `0..<count` in order, without gaps or overlap, their sizes differing by at most one.
    @Test func rangesSplitEvenly() {
        for count in [1, 2, 5, 7, 128, 1000] {
            for chunks in 1...min(count, 6) {
                let ranges = (0..<chunks).map { ComputeThreads.range($0, of: chunks, count: count) }
                #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == count)
                for (a, b) in zip(ranges, ranges.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
                let sizes = ranges.map(\.count)
                #expect(sizes.max()! - sizes.min()! <= 1 && sizes.allSatisfy { $0 > 0 })
            }
        }
    }

    /// Every chunk runs once, each on its own thread; inside one, a region does not split again.
    @Test func forEachRunsEveryChunkOnItsOwnThread() {
        let seen = Mutex<[Int: (range: Range<Int>, thread: UInt)]>([:])
        let nestedChunks = Mutex<Set<Int>>([])
        ComputeThreads.withThreads(3) {
            #expect(ComputeThreads.chunks(for: 10) == 3)
            #expect(ComputeThreads.chunks(for: 2) == 2)
            ComputeThreads.forEach(10, chunks: 3) { range, chunk in
                let me = UInt(pthread_self())
                seen.withLock { $0[chunk] = (range, me) }
                nestedChunks.withLock { _ = $0.insert(ComputeThreads.chunks(for: 100)) }
                var inner: [Range<Int>] = []
                ComputeThreads.forEach(4, chunks: 2) { r, c in
                    #expect(c == 0)
                    inner.append(r)
                }
                #expect(inner == [0..<4])
            }
        }
        let runs = seen.withLock { $0 }
        #expect(runs.keys.sorted() == [0, 1, 2])
        #expect(runs.values.map(\.range).sorted { $0.lowerBound < $1.lowerBound } == [0..<4, 4..<7, 7..<10])
        #expect(Set(runs.values.map(\.thread)).count == 3)
        #expect(runs[0]?.thread == UInt(pthread_self()))
        #expect(nestedChunks.withLock { $0 } == [1])
        #expect(ComputeThreads.chunks(for: 10) == BLAS.threads)
    }

    /// A product large enough to split gives the same values, to rounding, whether its rows or
    /// columns are split over threads or not (OpenBLAS blocks the sum over k by the size of the part,
    /// so the bits can differ), and the same bits every time with the same threads; for every
    /// transposition, with strides wider than the rows.
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func splitProductsMatchOneThread(transA: Bool, transB: Bool) {
        for (m, n, k) in [(150, 40, 400), (40, 170, 400)] {
            #expect(m * n * k >= BLAS.splitThreshold)
            let lda = (transA ? m : k) + 3
            let ldb = (transB ? k : n) + 5
            let ldc = n + 2
            let a = (0..<((transA ? k : m) * lda)).map { Float(($0 * 37) % 101) / 50 - 1 }
            let b = (0..<((transB ? n : k) * ldb)).map { Float(($0 * 53) % 97) / 48 - 1 }
            let start = (0..<(m * ldc)).map { Float($0 % 13) / 13 }
            func product(threads: Int) -> [Float] {
                var c = start
                ComputeThreads.withThreads(threads) {
                    c.withUnsafeMutableBufferPointer { cp in
                        BLAS.gemm(
                            transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda, b: b,
                            ldb: ldb, beta: 0.25, c: cp.baseAddress!, ldc: ldc)
                    }
                }
                return c
            }
            let one = product(threads: 1)
            for threads in [2, 3] {
                let split = product(threads: threads)
                let worst = zip(split, one).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
                #expect(worst < 1e-5, "m \(m) n \(n) k \(k), \(threads) threads: off by \(worst)")
                #expect(split == product(threads: threads), "m \(m) n \(n) k \(k), \(threads) threads: not repeatable")
            }
            // The padding between rows of c is never written.
            #expect(zip(one, start).enumerated().allSatisfy { i, pair in i % ldc < n || pair.0 == pair.1 })
        }
    }
}

@Suite struct CPUBudgetTests {
    @Test func affinityMaskIsCounted() {
        #expect(CPUBudget.affinityCount(status: "Name:\tx\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\n") == 2)
        #expect(CPUBudget.affinityCount(status: "Cpus_allowed:\tff,00000001\n") == 9)
        #expect(CPUBudget.affinityCount(status: "Cpus_allowed:\t0\n") == nil)
        #expect(CPUBudget.affinityCount(status: "Cpus_allowed:\tzz\n") == nil)
        #expect(CPUBudget.affinityCount(status: "Name:\tx\n") == nil)
        #expect((CPUBudget.affinityCount() ?? 0) >= 1)
        #expect(CPUBudget.current >= 1)
    }

    /// The quota (rounded down) and the online CPUs lower the affinity count, never raise it; the
    /// floor is one CPU.
    @Test func quotaCapsTheAffinityCount() {
        #expect(CPUBudget.combine(affinity: 8, quota: 1.5, online: 16) == 1)
        #expect(CPUBudget.combine(affinity: 8, quota: 2.5, online: 16) == 2)
        #expect(CPUBudget.combine(affinity: 2, quota: 4, online: 16) == 2)
        #expect(CPUBudget.combine(affinity: nil, quota: nil, online: 4) == 4)
        #expect(CPUBudget.combine(affinity: 4, quota: 0.2, online: 4) == 1)
        #expect(CPUBudget.combine(affinity: 64, quota: nil, online: 4) == 4, "a mask naming offline CPUs")
        #expect(CPUBudget.combine(affinity: 64, quota: 1e300, online: 4) == 4)
        #expect(BLAS.automaticThreads(sharing: 1_000_000) == 1)
    }

    /// The tightest quota from the group up to the mount: v2's `cpu.max` ("max" is none), v1's
    /// `cpu.cfs_quota_us` over `cpu.cfs_period_us` (-1 is none).
    @Test func readsTheTightestQuotaUpTheHierarchy() {
        let v2 = CgroupMemory.Location(
            group: "/a/b", directory: "/sys/fs/cgroup/a/b", mountPoint: "/sys/fs/cgroup", version: 2)
        let v2Files = [
            "/sys/fs/cgroup/a/b/cpu.max": "max 100000\n", "/sys/fs/cgroup/a/cpu.max": "250000 100000\n",
            "/sys/fs/cgroup/cpu.max": "max 100000\n",
        ]
        #expect(CPUBudget.quota(v2) { v2Files[$0] } == 2.5)
        #expect(CPUBudget.quota(v2) { _ in "max 100000\n" } == nil)
        #expect(CPUBudget.quota(v2) { _ in nil } == nil)

        let v1 = CgroupMemory.Location(
            group: "/job", directory: "/sys/fs/cgroup/cpu,cpuacct/job", mountPoint: "/sys/fs/cgroup/cpu,cpuacct",
            version: 1)
        let v1Files = [
            "/sys/fs/cgroup/cpu,cpuacct/job/cpu.cfs_quota_us": "50000\n",
            "/sys/fs/cgroup/cpu,cpuacct/job/cpu.cfs_period_us": "100000\n",
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
        ]
        #expect(CPUBudget.quota(v1) { v1Files[$0] } == 0.5)
    }

    /// The v1 cpu controller is found where it is mounted with cpuacct, as on this kind of machine.
    @Test func locatesTheV1CPUController() {
        let location = CgroupMemory.locate(
            cgroup: CgroupMemoryTests.v1Cgroup, mountinfo: CgroupMemoryTests.v1Mountinfo, controller: "cpu"
        ) { _ in true }
        #expect(location?.directory == "/sys/fs/cgroup/cpu,cpuacct" && location?.version == 1)
    }
}
