import Foundation
import PSTestSupport
import SwiftPSCluster
import SwiftPSKVStore
import SwiftPSOptimizer
import SwiftPSTensor
import SwiftPSTransport
import Testing

/// dist_sync over an in-process cluster: values worked out by hand.
@Suite(.serialized) struct DistSyncTests {
    @Test func initPullAndPushPullSumWithoutOptimizer() throws {
        let cluster = try KVCluster(workers: 2, servers: 2)
        defer { cluster.stop() }
        let results = cluster.onWorkers { rank, store in
            // Rank 0's initial values win; rank 1's are ignored.
            try store.initialize(["a", "b"], values: [NDArray(rank == 0 ? [1, 2, 3] : [9, 9, 9]), NDArray([5])])
            let pulled = NDArray(shape: [3])
            try store.pull("a", into: pulled, priority: 0)
            try store.wait("a")
            guard pulled.toArray() == [1, 2, 3] else { throw HarnessError(description: "pulled \(pulled.toArray())") }
            let grad = NDArray(rank == 0 ? [1, 1, 1] : [10, 20, 30])
            let out = NDArray(shape: [3])
            try store.pushPull("a", grad, into: out, priority: 0)
            try store.waitAll()
            // No optimizer: the store becomes the sum of the round's pushes.
            guard out.toArray() == [11, 21, 31] else {
                throw HarnessError(description: "pushPull gave \(out.toArray())")
            }
        }
        #expect(results == [nil, nil])
        #expect(cluster.shutdown().allSatisfy { $0 == nil })
    }

    /// MXNet's `push(key, [v1, v2])` pushes the values' sum, `pull(key, out=[o1, o2])` fills each
    /// output, and `pushpull(key, value)` without an output answers into `value`; the same on a local
    /// store and a distributed one.
    @Test func aListOfValuesPushesTheirSumAndPushPullWithoutOutputIsInPlace() throws {
        let local = LocalKVStore()
        try local.initialize(["a"], values: [NDArray([0, 0])])
        try local.push("a", [NDArray([1, 2]), NDArray([10, 20])])
        let value = NDArray([5, 5])
        try local.pushPull("a", value)
        #expect(value.toArray() == [5, 5], "no optimizer: the store becomes the last push")
        try local.push("a", [NDArray([1, 2]), NDArray([10, 20])])
        let out = NDArray(shape: [2])
        try local.pull("a", into: out)
        #expect(out.toArray() == [11, 22])
        #expect(throws: KVStoreError.self) { try local.push("a", []) }
        #expect(throws: KVStoreError.self) { try local.push("a", [NDArray([1, 2]), NDArray([1])]) }
        #expect(throws: KVStoreError.self) { try local.pull("a", into: [NDArray(shape: [2]), NDArray(shape: [3])]) }

        let cluster = try KVCluster(workers: 2, servers: 1)
        defer { cluster.stop() }
        let results = cluster.onWorkers { rank, store in
            try store.initialize(["a"], values: [NDArray([0, 0])])
            let value = NDArray(rank == 0 ? [1, 2] : [3, 4])
            try store.pushPull("a", value)
            try store.wait("a")
            guard value.toArray() == [4, 6] else { throw HarnessError(description: "pushPull gave \(value.toArray())") }
            try store.push("a", [NDArray([1, 1]), NDArray([Float(rank), 0])])
            let out = NDArray(shape: [2])
            try store.pull("a", into: out)
            try store.wait("a")
            guard out.toArray() == [3, 2] else { throw HarnessError(description: "pulled \(out.toArray())") }
            let outs = [NDArray(shape: [2]), NDArray(shape: [1, 2])]
            try store.pull("a", into: outs)
            guard outs.allSatisfy({ $0.toArray() == [3, 2] }) else {
                throw HarnessError(description: "pulled into several: \(outs.map { $0.toArray() })")
            }
        }
        #expect(results == [nil, nil])
        #expect(cluster.shutdown().allSatisfy { $0 == nil })
    }

    /// With a timeline, each request is a span from its send to its answer on its key's track,
    /// named by kind and key, with the server and the values; a key split over two servers is one span
    /// per part.
    @Test func requestsAreRecordedOnTheTimeline() throws {
        let cluster = try KVCluster(workers: 2, servers: 2, bigArrayBound: 4)
        defer { cluster.stop() }
        let timelines = [Timeline(processName: "worker 0"), Timeline(processName: "worker 1", processID: 1)]
        let results = cluster.onWorkers { rank, store in
            store.timeline = timelines[rank]
            try store.initialize(["small", "big"], values: [NDArray([1]), NDArray(shape: [6])])
            try store.pushPull("big", NDArray([Float](repeating: 1, count: 6)), into: NDArray(shape: [6]), priority: 0)
            try store.waitAll()
            // Recorded before `waitAll` returns: both parts' pushpulls, besides the initializations.
            guard timelines[rank].json().components(separatedBy: #""name":"pushPull big""#).count - 1 == 2 else {
                throw HarnessError(description: "worker \(rank) recorded \(timelines[rank].count) events")
            }
        }
        #expect(results == [nil, nil])
        let data = Data(timelines[0].json().utf8)
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let events = try #require(root["traceEvents"] as? [[String: Any]])
        let spans = events.filter { $0["ph"] as? String == "X" }
        let pushPulls = spans.filter { $0["name"] as? String == "pushPull big" }
        #expect(pushPulls.count == 2, "\(spans)")
        #expect(
            pushPulls.allSatisfy { $0["tid"] as? Int == Timeline.keyTrackBase + 1 && ($0["dur"] as? Int ?? -1) >= 0 })
        let details = Set(pushPulls.compactMap { ($0["args"] as? [String: Any])?["detail"] as? String })
        #expect(details == ["server 0, 3 values", "server 1, 3 values"])
        #expect(spans.contains { $0["name"] as? String == "initialize small" })
        let trackNames = events.filter { $0["name"] as? String == "thread_name" }.compactMap {
            ($0["args"] as? [String: Any])?["name"] as? String
        }
        #expect(Set(trackNames) == ["compute", "key small", "key big"])
        #expect(cluster.shutdown().allSatisfy { $0 == nil })
    }

    /// A server with a timeline records each completed round from its first push to its update,
    /// naming the worker whose push came last, with the sum and update nested in it.
    @Test func serverRoundsAreRecordedOnTheTimeline() throws {
        let cluster = try KVCluster(workers: 2, servers: 1)
        defer { cluster.stop() }
        let timeline = Timeline(processName: "server 0")
        cluster.servers[0].timeline = timeline
        let results = cluster.onWorkers { rank, store in
            try store.initialize(["w"], values: [NDArray([1, 2])])
            // Worker 1 pushes 50 ms after worker 0, so it is the last.
            if rank == 1 { Thread.sleep(forTimeInterval: 0.05) }
            try store.pushPull("w", NDArray([1, 1]), into: NDArray(shape: [2]), priority: 0)
            try store.waitAll()
        }
        #expect(results == [nil, nil])
        let data = Data(timeline.json().utf8)
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let spans = try #require(root["traceEvents"] as? [[String: Any]]).filter { $0["ph"] as? String == "X" }
        let rounds = spans.filter { $0["name"] as? String == "round w" }
        try #require(rounds.count == 1, "\(spans)")
        #expect((rounds[0]["dur"] as? Int ?? 0) >= 40_000, "the round lasts from worker 0's push to worker 1's")
        let detail = (rounds[0]["args"] as? [String: Any])?["detail"] as? String ?? ""
        #expect(detail.hasPrefix("the last push, worker 1's, came") && detail.hasSuffix("2 answers"), "\(detail)")
        #expect(spans.filter { $0["name"] as? String == "update w" }.count == 1)
        #expect(cluster.shutdown().allSatisfy { $0 == nil })
    }

    @Test func sumsInWorkerRankOrderWhateverTheArrivalOrder() throws {
        // In float32 (1e8 + 1) - 1e8 == 0 but (1e8 - 1e8) + 1 == 1: only the rank order gives 0.
        let cluster = try KVCluster(workers: 3, servers: 1)
        defer { cluster.stop() }
        let pushed = Inbox<Int>()
        let grads: [[Float]] = [[1e8], [1], [-1e8]]
        let arrival = [2, 0, 1]
        let results = cluster.onWorkers { rank, store in
            try store.initialize(["k"], values: [NDArray([0])])
            let position = arrival.firstIndex(of: rank)!
            // Wait until the workers before this one in `arrival` have sent their push.
            guard pushed.wait(count: position, timeout: 10).count >= position else {
                throw HarnessError(description: "worker \(rank) was not released")
            }
            let out = NDArray(shape: [1])
            try store.pushPull("k", NDArray(grads[rank]), into: out, priority: 0)
            pushed.put(rank)
            try store.wait("k")
            guard out.toArray() == [0] else { throw HarnessError(description: "sum \(out.toArray()), expected 0") }
        }
        #expect(results == [nil, nil, nil])
    }

    @Test func sgdWithMomentumOnTheServerStepByStep() throws {
        let cluster = try KVCluster(workers: 2, servers: 1)
        defer { cluster.stop() }
        let results = cluster.onWorkers { rank, store in
            try store.initialize(["fc_weight"], values: [NDArray([1, 2])])
            // rescaleGrad 1/2: the mean over the 2 workers; no weight decay to keep the arithmetic short.
            try store.setOptimizer(
                OptimizerConfig(name: "sgd", learningRate: 0.5, wd: 0, rescaleGrad: 0.5, momentum: 0.9))
            guard store.updatesOnStore else { throw HarnessError(description: "no optimizer on the store") }
            let grad = NDArray(rank == 0 ? [2, 4] : [4, 0])
            let weight = NDArray(shape: [2])
            // Step 1: g = (6, 4) / 2 = (3, 2); mom = -0.5 g = (-1.5, -1); w = (1, 2) + mom = (-0.5, 1).
            try store.pushPull("fc_weight", grad, into: weight, priority: 0)
            try store.wait("fc_weight")
            try expectClose(weight.toArray(), [-0.5, 1], "step 1")
            // Step 2: mom = 0.9 (-1.5, -1) - (1.5, 1) = (-2.85, -1.9); w = (-3.35, -0.9).
            try store.pushPull("fc_weight", grad, into: weight, priority: 0)
            try store.wait("fc_weight")
            try expectClose(weight.toArray(), [-3.35, -0.9], "step 2")
        }
        #expect(results == [nil, nil])
        #expect(cluster.servers[0].storedKeys == [0: "fc_weight"])
        #expect(cluster.servers[0].isSyncMode)
    }

    @Test func bigArraySplitOverTwoServersReassembles() throws {
        // Bound 10: 25 elements are split round(12.5) = 13 and 12 over the two servers.
        let cluster = try KVCluster(workers: 2, servers: 2, bigArrayBound: 10)
        defer { cluster.stop() }
        let initial = (0..<25).map { Float($0) }
        let results = cluster.onWorkers { rank, store in
            try store.initialize(["big", "small"], values: [NDArray(initial), NDArray([7, 8])])
            guard let placement = store.placement(of: "big"),
                placement.slices == [.init(server: 0, offset: 0, count: 13), .init(server: 1, offset: 13, count: 12)]
            else { throw HarnessError(description: "placement \(String(describing: store.placement(of: "big")))") }
            let out = NDArray(shape: [25])
            let grad = NDArray((0..<25).map { Float(rank == 0 ? $0 : 100 * $0) })
            try store.pushPull("big", grad, into: out, priority: 0)
            try store.waitAll()
            let expected = (0..<25).map { Float(101 * $0) }
            guard out.toArray() == expected else { throw HarnessError(description: "reassembled \(out.toArray())") }
        }
        #expect(results == [nil, nil])
        #expect(cluster.servers[0].storedValue(0) == (0..<13).map { Float(101 * $0) })
        #expect(cluster.servers[1].storedValue(0) == (13..<25).map { Float(101 * $0) })
        // "small" (key 1, 2 elements) lives whole on server 1 * 9973 % 2 = 1.
        #expect(cluster.servers[1].storedValue(1) == [7, 8])
        #expect(cluster.servers[0].storedValue(1) == nil)
    }

    /// A worker with another big-array bound keeps whole a key that worker 0 split: on server 1
    /// (1 * 9973 % 2) it meets worker 0's second slice, and the server's refusal says where each
    /// slice starts and which setting differs.
    @Test func aKeySplitAtAnotherBoundIsRefusedSayingWhere() throws {
        let cluster = try KVCluster(workers: 2, servers: 2, bigArrayBound: 10, workerBounds: [1: 1_000])
        defer { cluster.stop() }
        let results = cluster.onWorkers { rank, store in
            try store.initialize(["small", "big"], values: [NDArray([7, 8]), NDArray(shape: [25], repeating: 1)])
        }
        #expect(results[0] == nil, "\(results)")
        let error = try #require(results[1], "worker 1's split differs but it was not refused")
        #expect(
            error.contains("worker 0's slice here starts at element 13 and worker 1's at 0")
                && error.contains("SWIFTPS_BIGARRAY_BOUND"), "\(error)")
    }
}

/// Throws when `actual` and `expected` differ by more than 1e-5 anywhere.
func expectClose(_ actual: [Float], _ expected: [Float], _ what: String) throws {
    guard actual.count == expected.count, zip(actual, expected).allSatisfy({ abs($0 - $1) <= 1e-5 }) else {
        throw HarnessError(description: "\(what): got \(actual), expected \(expected)")
    }
}

/// The server's ordering rules for requests that arrive while a dist_sync round is open.
@Suite(.serialized) struct DistSyncOrderingTests {
    @Test func aPullFromAWorkerThatPushedWaitsForTheRound() throws {
        let cluster = try KVCluster(workers: 2, servers: 1)
        defer { cluster.stop() }
        let results = cluster.onWorkers { _, store in try store.initialize(["k"], values: [NDArray([0])]) }
        #expect(results == [nil, nil])
        // Worker 0 speaks raw KV messages; its answers come to this mailbox.
        let answers = Inbox<Message>()
        let office = cluster.stores[0].postOffice
        office.setAppHandler { answers.put($0) }
        let push = Message(
            request: true, push: true, timestamp: 1001,
            data: [Payload(copying: [UInt64(0)]), Payload(copying: [Float(5)]), Payload(copying: [Int32(1)])])
        let pull = Message(request: true, pull: true, timestamp: 1002, data: [Payload(copying: [UInt64(0)])])
        try office.send(push, to: NodeID.server(0))
        try office.send(pull, to: NodeID.server(0))
        // Worker 1's push completes the round: the store becomes 5 + 7.
        try cluster.stores[1].push("k", NDArray([7]), priority: 0)
        try cluster.stores[1].wait("k")
        let got = answers.wait(count: 2, timeout: 10)
        #expect(got.map(\.timestamp) == [1001, 1002])
        let pulled = try #require(got.last?.data.dropFirst().first)
        #expect(try pulled.toArray(of: Float.self) == [12])
    }

    /// `waitedSeconds` counts the time a caller blocks on answers: worker 0's pushPull is answered only
    /// once worker 1, 0.3 s later, has pushed too; a wait with nothing in flight counts nothing.
    @Test func waitedSecondsCountsTheTimeBlockedOnTheServers() throws {
        let cluster = try KVCluster(workers: 2, servers: 1)
        defer { cluster.stop() }
        let results = cluster.onWorkers { rank, store in
            try store.initialize(["k"], values: [NDArray([0])])
            let before = store.waitedSeconds
            if rank == 0 {
                try store.pushPull("k", NDArray([1]), into: NDArray(shape: [1]), priority: 0)
            } else {
                usleep(300_000)
                try store.push("k", NDArray([2]), priority: 0)
            }
            try store.wait("k")
            let waited = store.waitedSeconds - before
            if rank == 0 && waited < 0.2 {
                throw HarnessError(description: "worker 0 waited \(waited) s for a round worker 1 completed 0.3 s late")
            }
            try store.waitAll()
            if store.waitedSeconds - before != waited {
                throw HarnessError(description: "a wait with nothing in flight counted as waiting")
            }
        }
        #expect(results == [nil, nil])
    }

    @Test func emptyKeysWork() throws {
        let cluster = try KVCluster(workers: 2, servers: 2)
        defer { cluster.stop() }
        let results = cluster.onWorkers { _, store in
            try store.initialize(["empty"], values: [NDArray(shape: [0])])
            try store.pushPull("empty", NDArray(shape: [0]), into: NDArray(shape: [0]), priority: 0)
            try store.waitAll()
        }
        #expect(results == [nil, nil])
    }
}
