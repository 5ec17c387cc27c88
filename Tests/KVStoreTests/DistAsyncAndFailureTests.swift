import Foundation
import PSTestSupport
import SwiftPSCluster
import SwiftPSOptimizer
import SwiftPSTensor
import SwiftPSTransport
import Testing

@testable import SwiftPSKVStore

/// dist_async, deadlines and bad input over an in-process cluster.
@Suite(.serialized) struct DistAsyncAndFailureTests {
    @Test func distAsyncAppliesEachPushAtOnce() throws {
        let cluster = try KVCluster(workers: 2, servers: 1, type: .distAsync)
        defer { cluster.stop() }
        let done = Inbox<Int>()
        let results = cluster.onWorkers { rank, store in
            try store.initialize(["w"], values: [NDArray([0])])
            try store.setOptimizer(OptimizerConfig(name: "sgd", learningRate: 1, wd: 0, rescaleGrad: 1))
            let out = NDArray(shape: [1])
            if rank == 0 {
                // Applied without waiting for worker 1: w = 0 - 1 * 1.
                try store.pushPull("w", NDArray([1]), into: out, priority: 0)
                try store.wait("w")
                try expectClose(out.toArray(), [-1], "first push")
                done.put(0)
            } else {
                guard done.wait(count: 1, timeout: 10).count == 1 else {
                    throw HarnessError(description: "worker 0 never finished")
                }
                try store.pushPull("w", NDArray([2]), into: out, priority: 0)
                try store.wait("w")
                try expectClose(out.toArray(), [-3], "second push")
            }
        }
        #expect(results == [nil, nil])
        #expect(cluster.servers[0].isSyncMode == false)
        #expect(cluster.shutdown().allSatisfy { $0 == nil })
    }

    @Test func waitDeadlineNamesTheSilentServer() throws {
        let cluster = try KVCluster(workers: 1, servers: 2, timeout: 0.5)
        defer { cluster.stop() }
        let store = cluster.stores[0]
        // Key 1 ("b") lives on server 1 * 9973 % 2 = 1.
        try store.initialize(["a", "b"], values: [NDArray([1]), NDArray([2])])
        let server1 = try #require(store.postOffice.node(NodeID.server(1)))
        cluster.network.isolate(server1.address)
        try store.pull("b", into: NDArray(shape: [1]), priority: 0)
        let error = #expect(throws: KVStoreError.self) { try store.wait("b") }
        guard case .timeout(let text) = error else {
            Issue.record("expected a timeout, got \(String(describing: error))")
            return
        }
        #expect(text.contains("server 1 (id 10)"))
        #expect(text.contains(server1.address))
        #expect(!text.contains("server 0"))
        // The other server still answers.
        let a = NDArray(shape: [1])
        try store.pull("a", into: a, priority: 0)
        try store.wait("a")
        #expect(a.toArray() == [1])
    }

    /// The server gives up on a stalled round before the waiting workers' deadlines: 90% of it, at
    /// least 2 s short of it (stalls are checked once a second), never under half of it.
    @Test func theStallLimitLeavesTheWorkersDeadlineMargin() {
        #expect(KVServer.defaultStallLimit(requestTimeout: 120) == 108)
        #expect(KVServer.defaultStallLimit(requestTimeout: 10) == 8)
        #expect(KVServer.defaultStallLimit(requestTimeout: 20) == 18)
        #expect(KVServer.defaultStallLimit(requestTimeout: 3) == 1.5)
    }

    /// Worker 1 is alive (its heartbeats arrive) but never pushes. The server logs one warning naming
    /// it and the keys, then answers worker 0's waiting pushPulls with an error naming it, well before
    /// worker 0's own deadline (which would blame the server).
    @Test func aStalledWorkerIsNamedByTheServer() throws {
        let logs = LogCapture()
        let cluster = try KVCluster(
            workers: 2, servers: 1, timeout: 60, stallWarning: 0.3, stallLimit: 1.5,
            serverLogger: logs.logger("swiftps.server"))
        cluster.serve()
        defer { cluster.stop() }
        let results = cluster.onWorkers { rank, store in
            try store.initialize(["w", "b"], values: [NDArray([0, 0]), NDArray([0])])
            guard rank == 0 else { return }
            try store.pushPull("w", NDArray([1, 1]), into: NDArray(shape: [2]), priority: 0)
            try store.pushPull("b", NDArray([1]), into: NDArray(shape: [1]), priority: 0)
            try store.waitAll()
        }
        #expect(results[1] == nil)
        let error = try #require(results[0], "worker 0's pushPull succeeded without worker 1's push")
        #expect(error.contains("worker 1 (id 11)") && error.contains("does not push"), "\(error)")
        #expect(!error.contains("no answer within"), "the worker's own deadline fired: \(error)")
        let warnings = logs.messages.filter { $0.contains("has waited") }
        #expect(warnings.count == 1, "\(logs.messages)")
        #expect(
            warnings.first.map { $0.contains("worker 1 (id 11)") && $0.contains("'w', 'b'") } == true,
            "\(logs.messages)")
        #expect(cluster.servers[0].isSyncMode)
    }

    /// When the worker's own deadline fires first (here the server's stall limit is longer), its
    /// error says that in dist_sync a stuck worker ends there too, and where that is named.
    @Test func aWorkersDeadlineInDistSyncSaysAnotherWorkerMayBeStuck() throws {
        let cluster = try KVCluster(workers: 2, servers: 1, timeout: 1, stallWarning: 60, stallLimit: 60)
        cluster.serve()
        defer { cluster.stop() }
        let results = cluster.onWorkers { rank, store in
            try store.initialize(["w"], values: [NDArray([0, 0])])
            guard rank == 0 else { return }
            try store.pushPull("w", NDArray([1, 1]), into: NDArray(shape: [2]), priority: 0)
            try store.waitAll()
        }
        let error = try #require(results[0], "worker 0's pushPull succeeded without worker 1's push")
        #expect(error.contains("no answer within 1.0 s from server 0"), "\(error)")
        #expect(error.contains("a stuck or slower worker also ends here"), "\(error)")
    }

    /// A checkpoint restore: every rank learns how long rank 0 may take (its `initialize` barrier waits
    /// that much longer), and rank 0 asks every server at once, reporting the lowest one that fails.
    @Test func restoringAsksEveryServerAndLengthensTheFirstBarrier() throws {
        // No scheduler serves the files here: each server's answer is its timeout, after 1 + 0.1 s.
        let cluster = try KVCluster(workers: 2, servers: 2, timeout: 1)
        defer { cluster.stop() }
        let bytes = 2_000_000
        let results = cluster.onWorkers { rank, store in
            try store.loadCheckpoint(prefix: "/nonexistent/swiftps-test", epoch: 3, checkpointBytes: bytes)
        }
        #expect(results[1] == nil, "rank 1 only records the allowance: \(results)")
        let error = try #require(results[0], "restoring a checkpoint that does not exist succeeded")
        #expect(error.contains("server 0 cannot restore checkpoint 3"), "\(error)")
        let expected = 1 + CheckpointTransfer.allowance(bytes: bytes)
        #expect(cluster.stores.allSatisfy { store in store.locked { store.restoreAllowance } == expected })
    }

    /// With heartbeats off every node says what that costs: a dead node goes unnoticed.
    @Test func nodesWithHeartbeatsOffSaySo() throws {
        let network = InMemoryNetwork()
        let logs = LogCapture()
        let offices = [NodeRole.scheduler, .worker].map { role in
            PostOffice(
                config: ClusterConfig(
                    role: role, schedulerHost: "127.0.0.1", schedulerPort: 9100, numWorkers: 1, numServers: 0,
                    advertisedHost: "127.0.0.1", rendezvousTimeout: 20, barrierTimeout: 20, heartbeatInterval: 0),
                transport: network.makeTransport(), logger: logs.logger("swiftps.cluster")
            ) { _ in }
        }
        defer { for office in offices { office.stop() } }
        let started = KVCluster.concurrently(offices.count) { try offices[$0].start() }
        #expect(started == [nil, nil], "\(started)")
        let warnings = logs.messages.filter { $0.contains("heartbeats are off (SWIFTPS_HEARTBEAT_INTERVAL=0)") }
        #expect(warnings.count == 2, "\(logs.messages)")
    }

    @Test func badInputIsRefusedWithoutCrashing() throws {
        let cluster = try KVCluster(workers: 1, servers: 1)
        defer { cluster.stop() }
        let store = cluster.stores[0]
        try store.initialize(["a"], values: [NDArray([1, 2])])
        #expect(throws: KVStoreError.unknownKey("nope")) { try store.push("nope", NDArray([1]), priority: 0) }
        #expect(throws: KVStoreError.self) { try store.push("a", NDArray([1, 2, 3]), priority: 0) }
        // A malformed request straight to the server: two keys in one message.
        let office = store.postOffice
        let bad = Message(
            request: true, push: true,
            data: [Payload(copying: [UInt64(0), 1]), Payload(copying: [Float(1)]), Payload(copying: [Int32(1)])])
        let error = #expect(throws: ClusterError.self) {
            _ = try office.request(bad, to: NodeID.server(0), timeout: 10)
        }
        #expect("\(String(describing: error))".contains("expected one key"))
        // A push to a key the server never saw.
        let unknown = Message(
            request: true, push: true,
            data: [Payload(copying: [UInt64(7)]), Payload(copying: [Float(1)]), Payload(copying: [Int32(1)])])
        let refused = #expect(throws: ClusterError.self) { _ = try office.request(unknown, to: NodeID.server(0)) }
        #expect("\(String(describing: refused))".contains("key 7 is not initialized"))
        // The server still works.
        let out = NDArray(shape: [2])
        try store.pushPull("a", NDArray([3, 4]), into: out, priority: 0)
        try store.wait("a")
        #expect(out.toArray() == [3, 4])
    }
}

/// The placement formula and the bound's environment variables.
struct KVPlacementTests {
    @Test func smallArraysGoWholeToKeyTimes9973ModServers() {
        for key in 0..<20 {
            let placement = KVPlacement(key: key, count: 5, numServers: 3, bigArrayBound: 10)
            #expect(placement.slices == [.init(server: key * 9973 % 3, offset: 0, count: 5)])
        }
        #expect(KVPlacement(key: 3, count: 9, numServers: 4, bigArrayBound: 10).slices.map(\.server) == [3])
    }

    @Test func bigArraysSplitByRoundedBoundaries() {
        // 10 over 3: round(3.33) = 3, round(6.67) = 7 → 3, 4, 3 elements.
        #expect(
            KVPlacement(key: 0, count: 10, numServers: 3, bigArrayBound: 10).slices == [
                .init(server: 0, offset: 0, count: 3), .init(server: 1, offset: 3, count: 4),
                .init(server: 2, offset: 7, count: 3),
            ])
        // fc1_weight of the mlp (100,352) over 2 servers at bound 50,000: two halves.
        #expect(
            KVPlacement(key: 0, count: 100_352, numServers: 2, bigArrayBound: 50_000).slices.map(\.count) == [
                50_176, 50_176,
            ])
        let odd = KVPlacement(key: 5, count: 1_000_003, numServers: 4, bigArrayBound: 1_000_000)
        #expect(odd.slices.map(\.count).reduce(0, +) == 1_000_003)
        #expect(odd.slices.map(\.offset) == [0, 250_001, 500_002, 750_002])
    }

    @Test func boundComesFromTheEnvironment() throws {
        #expect(try KVPlacement.bigArrayBound(environment: [:]) == 1_000_000)
        #expect(try KVPlacement.bigArrayBound(environment: ["MXNET_KVSTORE_BIGARRAY_BOUND": "77"]) == 77)
        #expect(
            try KVPlacement.bigArrayBound(environment: [
                "SWIFTPS_BIGARRAY_BOUND": "50000", "MXNET_KVSTORE_BIGARRAY_BOUND": "77",
            ]) == 50_000)
        #expect(throws: KVStoreError.self) {
            try KVPlacement.bigArrayBound(environment: ["SWIFTPS_BIGARRAY_BOUND": "x"])
        }
    }
}
