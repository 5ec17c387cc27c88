import Foundation
import Testing

@testable import SwiftPSTensor

@Suite struct CPUAffinityTests {
    @Test func readsTheMaskOfAStatusFile() {
        #expect(CPUAffinity.allowed(status: "Name:\tx\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\n") == [0, 1])
        #expect(CPUAffinity.allowed(status: "Cpus_allowed:\tff,00000001\n") == [0] + Array(32...39))
        #expect(CPUAffinity.allowed(status: "Cpus_allowed:\t00000000,00000004\n") == [2])
        #expect(CPUAffinity.allowed(status: "Cpus_allowed:\t0\n") == nil)
        #expect(CPUAffinity.allowed(status: "Cpus_allowed:\tzz\n") == nil)
        #expect(CPUAffinity.allowed(status: "Name:\tx\n") == nil)
        let mine = CPUAffinity.allowed() ?? []
        #expect(!mine.isEmpty && mine == mine.sorted())
        #expect(CPUBudget.affinityCount() == mine.count)
    }

    @Test func readsAndWritesCPULists() {
        #expect(CPUAffinity.parseList("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11])
        #expect(CPUAffinity.parseList("5") == [5])
        #expect(CPUAffinity.parseList("1,0,1") == [0, 1])
        for bad in ["", "\n", "3-1", "a", "0-", "-2", "1-2-3", "0,,2x"] {
            #expect(CPUAffinity.parseList(bad) == nil, "'\(bad)'")
        }
        #expect(CPUAffinity.listText([0, 1, 2, 3, 8, 10, 11]) == "0-3,8,10-11")
        #expect(CPUAffinity.listText([7, 5, 5, 6]) == "5-7")
        #expect(CPUAffinity.listText([4]) == "4")
        #expect(CPUAffinity.listText([]) == "")
        for text in ["0", "0-1", "0,2,4-6", "1-3,9-12,31"] {
            #expect(CPUAffinity.parseList(text).map(CPUAffinity.listText) == text)
        }
    }

    @Test func aMaskNarrowerThanTheCpusetIsSomeonesBinding() {
        #expect(!CPUAffinity.isNarrowed(allowed: [0, 1], offered: [0, 1]))
        #expect(CPUAffinity.isNarrowed(allowed: [0], offered: [0, 1]))
        #expect(!CPUAffinity.isNarrowed(allowed: [0, 1, 2], offered: [0, 1]), "a mask naming offline CPUs")
        #expect((CPUAffinity.offered() ?? []).count >= 1)
    }

    /// Binding to the CPUs it already has changes nothing and reads them back; a CPU that does not
    /// exist is refused with the kernel's reason, and the mask stays as it was.
    @Test func bindsEveryThreadAndRefusesMissingCPUs() throws {
        let mine = try #require(CPUAffinity.allowed())
        #expect(try CPUAffinity.bindProcess(to: mine) == mine)
        let error = #expect(throws: CPUAffinity.AffinityError.self) { try CPUAffinity.bindProcess(to: [60_000]) }
        #expect(error?.description.contains("60000") == true, "\(String(describing: error))")
        #expect(throws: CPUAffinity.AffinityError.self) { try CPUAffinity.bindProcess(to: []) }
        #expect(CPUAffinity.allowed() == mine)
    }

    typealias Slot = CPUPlacement.Slot

    func plan(_ allowed: [Int], workers: Int, servers: Int) -> [String] {
        let slots: [Slot] = (0..<workers).map { .worker($0) } + (0..<servers).map { .server($0) }
        return slots.map {
            CPUPlacement.cpus(for: $0, allowed: allowed, workers: workers, servers: servers)
                .map(CPUAffinity.listText) ?? "all"
        }
    }

    @Test func workersTakeBlocksAndServersTheRest() {
        // This machine's shape: two workers and a server on two CPUs.
        // The server, with no CPU left to itself, stays where the kernel puts it.
        #expect(plan([0, 1], workers: 2, servers: 1) == ["0", "1", "all"])
        #expect(plan([0, 1, 2, 3], workers: 2, servers: 1) == ["0-1", "2-3", "all"])
        #expect(plan([0, 1, 2], workers: 2, servers: 1) == ["0", "1", "2"], "the server takes the CPU left over")
        #expect(plan([0, 1, 2, 3, 4], workers: 2, servers: 2) == ["0-1", "2-3", "4", "4"])
        #expect(plan(Array(0..<8), workers: 2, servers: 2) == ["0-3", "4-7", "all", "all"])
        #expect(plan(Array(0..<10), workers: 2, servers: 1) == ["0-4", "5-9", "all"])
        #expect(plan(Array(0..<10), workers: 3, servers: 1) == ["0-2", "3-5", "6-8", "9"])
        #expect(plan(Array(0..<12), workers: 2, servers: 0) == ["0-5", "6-11"])
        // More workers than CPUs wrap around.
        #expect(plan([0, 1], workers: 4, servers: 1) == ["0", "1", "0", "1", "all"])
        // A worker whose share is everything stays unbound, and so does its server.
        #expect(plan([0, 1], workers: 1, servers: 1) == ["all", "all"])
        // Servers alone on a host split it.
        #expect(plan(Array(0..<4), workers: 0, servers: 2) == ["0-1", "2-3"])
        // The CPUs are the allowed ones, in order, not 0…C-1.
        #expect(plan([2, 3, 6, 7], workers: 2, servers: 1) == ["2-3", "6-7", "all"])
        #expect(plan([2, 3, 6, 7, 9], workers: 2, servers: 1) == ["2-3", "6-7", "9"])
        // Nothing to share, or one CPU for everyone: nothing to bind.
        #expect(plan([0, 1], workers: 1, servers: 0) == ["all"])
        #expect(plan([0, 1], workers: 0, servers: 1) == ["all"])
        #expect(plan([5], workers: 2, servers: 1) == ["all", "all", "all"])
    }

    /// With no more workers than CPUs, the workers' blocks never overlap, are equal in size, and are
    /// each as large as the compute threads a worker takes (CPUs / workers).
    @Test func workersNeverShareACPUWhileThereAreEnough() {
        for cpus in 1...16 {
            let allowed = Array(0..<cpus)
            for workers in 1...cpus {
                let blocks = (0..<workers).map {
                    CPUPlacement.cpus(for: .worker($0), allowed: allowed, workers: workers, servers: 1) ?? allowed
                }
                let taken = blocks.flatMap { $0 }
                #expect(Set(taken).count == taken.count, "\(cpus) CPUs, \(workers) workers: \(blocks)")
                #expect(blocks.allSatisfy { $0.count == max(1, cpus / workers) }, "\(cpus) CPUs, \(workers) workers")
                // A server gets CPUs no worker has, or stays unbound.
                let server = CPUPlacement.cpus(for: .server(0), allowed: allowed, workers: workers, servers: 1)
                #expect(server.map { !$0.isEmpty && Set($0).isSubset(of: Set(allowed).subtracting(taken)) } ?? true)
                #expect(
                    (server == nil) == (taken.count == cpus),
                    "\(cpus) CPUs, \(workers) workers: \(String(describing: server))")
            }
        }
    }
}
