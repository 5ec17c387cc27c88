import Foundation
import PSTestSupport
import SwiftPSGraph
import SwiftPSKVStore
import SwiftPSModule
import SwiftPSOptimizer
import SwiftPSTensor
import Testing

/// MXNet's `update_on_kvstore=False` (`Module.updateOnKVStore`, `MXNET_UPDATE_ON_KVSTORE=0`) through
/// an in-process cluster: the servers only sum, every worker runs the optimizer on the sum.
@Suite(.serialized) struct WorkerUpdateTests {
    static let batch = 8
    static let optimizer = OptimizerConfig(name: "sgd", learningRate: 0.1, wd: 1e-4, momentum: 0.9)

    /// data(4) → FC 6 → tanh → FC 3 → softmax: three classes by which input is largest.
    static func net() throws -> Symbol {
        let fc1 = try Symbol.fullyConnected(.variable("data"), numHidden: 6, name: "fc1")
        let act = try Symbol.activation(fc1, actType: "tanh", name: "tanh1")
        let fc2 = try Symbol.fullyConnected(act, numHidden: 3, name: "fc2")
        return try Symbol.softmaxOutput(fc2, name: "softmax")
    }

    /// Worker `rank`'s batch at `step`: different on every worker and step, the same in every run.
    static func batch(rank: Int, step: Int) -> DataBatch {
        var rng = RandomGenerator(seed: UInt64(1000 * step + rank + 1))
        let x = NDArray(shape: [batch, 4])
        let y = NDArray(shape: [batch])
        for i in 0..<batch {
            var best = 0
            for j in 0..<4 {
                x[flat: 4 * i + j] = rng.normal(std: 1)
                if x[flat: 4 * i + j] > x[flat: 4 * i + best] { best = j }
            }
            y[flat: i] = Float(best % 3)
        }
        return DataBatch(data: [x], label: [y])
    }

    /// A bound, initialized module (the same initial weights on every worker only if `seed` is the
    /// same: rank 0's reach the others at `initOptimizer` either way).
    static func module(updateOnKVStore: Bool, seed: UInt64) throws -> Module {
        let module = try Module(symbol: try net(), seed: seed)
        module.updateOnKVStore = updateOnKVStore
        try module.bind(
            dataShapes: [DataDesc(name: "data", shape: [batch, 4])],
            labelShapes: [DataDesc(name: "softmax_label", shape: [batch])])
        try module.initParams(initializer: Xavier())
        return module
    }

    /// `fit`'s step on each batch: with a distributed store the gradients are pushed during backward.
    static func train(_ module: Module, rank: Int, steps: Range<Int>) throws {
        for step in steps { try module.forwardBackwardUpdate(batch(rank: rank, step: step)) }
    }

    /// Each worker's weights, by name, as float32 bit patterns.
    typealias Weights = [String: [UInt32]]

    static func bits(_ module: Module) throws -> Weights {
        try module.getParams().args.mapValues { $0.toArray().map(\.bitPattern) }
    }

    /// Trains `steps` steps on 2 workers and 2 servers (fc1_weight split over both) and returns each
    /// worker's final weights.
    static func run(
        updateOnKVStore: Bool, steps: Int, compression: String = "none", optimizer: OptimizerConfig = optimizer,
        workers: Int = 2, servers: Int = 2, bigArrayBound: Int = 20, timeline: Timeline? = nil
    ) throws -> [Weights] {
        let cluster = try KVCluster(workers: workers, servers: servers, bigArrayBound: bigArrayBound)
        defer { cluster.stop() }
        let results = Inbox<(Int, Weights)>()
        let errors = cluster.onWorkers { rank, store in
            let module = try module(updateOnKVStore: updateOnKVStore, seed: UInt64(7 + rank))
            if rank == 0 { module.timeline = timeline }
            module.gradientCompression = try GradientCompression(kind: compression)
            try module.initOptimizer(kvstore: store, optimizer: optimizer)
            try train(module, rank: rank, steps: 0..<steps)
            results.put((rank, try bits(module)))
        }
        guard errors.allSatisfy({ $0 == nil }) else { throw HarnessError(description: "workers: \(errors)") }
        #expect(cluster.shutdown().allSatisfy { $0 == nil })
        return results.wait(count: workers, timeout: 1).sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// Mid-run, `initOptimizer(forceInit: true)` re-installs the optimizer with compression on (it
    /// used to throw: compression can only be set before keys exist, and setting it again as it is
    /// now counts as no change) after the updates still in flight have landed (with the workers
    /// running the optimizer a summed gradient not applied yet was dropped): the weights equal a run
    /// that made them land first (`getParams`). And `setParams` after `initOptimizer` leaves every
    /// worker with rank 0's values, whichever side runs the optimizer (with the servers updating, the
    /// other workers kept their own values for a step).
    @Test(arguments: [true, false]) func reinstallingTheOptimizerAndSettingParamsMidRunKeepTheWorkersAlike(
        updateOnKVStore: Bool
    ) throws {
        /// Each worker's weights before and after its `setParams`, by rank.
        func run(landFirst: Bool) throws -> (before: [Weights], after: [Weights]) {
            let cluster = try KVCluster(workers: 2, servers: 1)
            defer { cluster.stop() }
            let results = Inbox<(Int, Weights)>()
            let errors = cluster.onWorkers { rank, store in
                let module = try Self.module(updateOnKVStore: updateOnKVStore, seed: UInt64(7 + rank))
                module.gradientCompression = try GradientCompression(kind: "2bit")
                try module.initOptimizer(kvstore: store, optimizer: Self.optimizer)
                try Self.train(module, rank: rank, steps: 0..<3)
                if landFirst { _ = try module.getParams() }
                try module.initOptimizer(kvstore: store, optimizer: Self.optimizer, forceInit: true)
                try Self.train(module, rank: rank, steps: 3..<5)
                let (args, aux) = try module.getParams()
                results.put((rank, try Self.bits(module)))
                try module.setParams(args.mapValues { NDArray(shape: $0.shape, repeating: Float(rank + 1)) }, aux)
                results.put((rank + 2, try Self.bits(module)))
            }
            #expect(errors.allSatisfy { $0 == nil }, "\(errors)")
            #expect(cluster.shutdown().allSatisfy { $0 == nil })
            let all = results.wait(count: 4, timeout: 1).sorted { $0.0 < $1.0 }.map(\.1)
            guard all.count == 4 else { throw HarnessError(description: "\(all.count) of 4 results") }
            return (Array(all[0..<2]), Array(all[2..<4]))
        }
        let direct = try run(landFirst: false)
        let landed = try run(landFirst: true)
        #expect(direct.before == landed.before, "an update in flight was lost at the re-install")
        #expect(direct.after[0] == direct.after[1], "the workers differ after setParams")
        #expect(direct.after[0]["fc2_bias"] == [Float](repeating: 1, count: 3).map(\.bitPattern), "rank 0's values")
    }

    /// Random cluster shapes (1–3 workers, 1–3 servers, keys split or not, compression or not): the
    /// workers' update always matches the servers' bit for bit, and every worker agrees.
    @Test func randomClusterShapesAgree() throws {
        var rng = RandomGenerator(seed: 2026)
        for trial in 0..<8 {
            let workers = 1 + Int(rng.uniform(0, 3))
            let servers = 1 + Int(rng.uniform(0, 3))
            let bound = [4, 7, 20, 1_000_000][Int(rng.uniform(0, 4))]
            let compression = ["none", "2bit"][Int(rng.uniform(0, 2))]
            let shape = "trial \(trial): \(workers) workers, \(servers) servers, bound \(bound), \(compression)"
            let onServers = try Self.run(
                updateOnKVStore: true, steps: 8, compression: compression, workers: workers, servers: servers,
                bigArrayBound: bound)
            let onWorkers = try Self.run(
                updateOnKVStore: false, steps: 8, compression: compression, workers: workers, servers: servers,
                bigArrayBound: bound)
            #expect(Set(onWorkers).count == 1 && Set(onServers).count == 1, "\(shape): the workers disagree")
            #expect(onWorkers.first == onServers.first, "\(shape): the updates differ")
        }
    }

    /// The servers' update and the workers' give the same weights, bit for bit: the same float32 sum
    /// in worker-rank order goes through the same optimizer, on a whole array or on server slices
    /// (with 2bit compression too: the servers sum the decoded codes either way). Every worker ends
    /// with the same weights, from rank 0's start.
    @Test(arguments: ["none", "2bit"]) func workersUpdatingMatchTheServersBitForBit(compression: String) throws {
        let onServers = try Self.run(updateOnKVStore: true, steps: 30, compression: compression)
        let timeline = Timeline(processName: "worker 0")
        let onWorkers = try Self.run(updateOnKVStore: false, steps: 30, compression: compression, timeline: timeline)
        // The timeline shows every step's update on the worker (the last one applied by getParams).
        #expect(timeline.json().components(separatedBy: "\"update fc1_weight\"").count - 1 == 30)
        #expect(onWorkers.count == 2 && onWorkers[0] == onWorkers[1], "the workers' weights differ")
        #expect(onWorkers[0] == onServers[0], "updating on the workers trained other weights")
        #expect(onServers[0].keys.sorted() == ["fc1_bias", "fc1_weight", "fc2_bias", "fc2_weight"])
    }

    /// Every optimizer, with its per-key state and update counts (Adam's bias correction, a
    /// learning-rate schedule), updates the same on the workers as on the servers' slices.
    @Test(arguments: ["nag", "adam", "adagrad", "rmsprop"]) func everyOptimizerMatchesTheServers(name: String) throws {
        let config = OptimizerConfig(
            name: name, learningRate: 0.01, wd: 1e-4, momentum: name == "nag" ? 0.9 : 0,
            lrScheduler: LRSchedulerConfig(kind: .factor, step: 5, factor: 0.5))
        let onServers = try Self.run(updateOnKVStore: true, steps: 20, optimizer: config)
        let onWorkers = try Self.run(updateOnKVStore: false, steps: 20, optimizer: config)
        #expect(onWorkers.count == 2 && onWorkers[0] == onWorkers[1], "the workers' weights differ")
        #expect(onWorkers[0] == onServers[0], "\(name) on the workers trained other weights")
    }

    /// With compression the workers still agree exactly: with fp16 the sum comes back in half
    /// precision (and each worker's float32 weights never travel, so `getParams` needs no exact
    /// pull); with 2bit the servers sum the decoded codes and answer in float32.
    @Test(arguments: ["fp16", "2bit"]) func workersUpdatingWithCompressedGradientsAgree(kind: String) throws {
        let weights = try Self.run(updateOnKVStore: false, steps: 20, compression: kind)
        #expect(weights.count == 2 && weights[0] == weights[1], "the workers' weights differ")
        let plain = try Self.run(updateOnKVStore: false, steps: 20)
        #expect(weights[0] != plain[0], "\(kind) compression changed nothing")
    }

    /// `saveCheckpoint(saveOptimizerStates:)` works when the workers update (the states are theirs),
    /// and a run resumed from it with `Module.load(loadOptimizerStates:)` ends exactly where an
    /// uninterrupted one does: the momentum is restored, not restarted.
    @Test func aCheckpointWithOptimizerStatesResumesExactly() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-wu-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let straight = try Self.run(updateOnKVStore: false, steps: 20)

        let first = try KVCluster(workers: 2, servers: 1)
        defer { first.stop() }
        let saved = first.onWorkers { rank, store in
            let module = try Self.module(updateOnKVStore: false, seed: 7)
            try module.initOptimizer(kvstore: store, optimizer: Self.optimizer)
            try Self.train(module, rank: rank, steps: 0..<10)
            if rank == 0 { try module.saveCheckpoint(prefix: dir + "/m", epoch: 1, saveOptimizerStates: true) }
        }
        #expect(saved == [nil, nil])
        #expect(first.shutdown().allSatisfy { $0 == nil })

        for loadStates in [true, false] {
            let second = try KVCluster(workers: 2, servers: 1)
            defer { second.stop() }
            let results = Inbox<(Int, Weights)>()
            let resumed = second.onWorkers { rank, store in
                let module = try Module.load(prefix: dir + "/m", epoch: 1, loadOptimizerStates: loadStates)
                module.updateOnKVStore = false
                try module.bind(
                    dataShapes: [DataDesc(name: "data", shape: [Self.batch, 4])],
                    labelShapes: [DataDesc(name: "softmax_label", shape: [Self.batch])])
                try module.initParams()
                try module.initOptimizer(kvstore: store, optimizer: Self.optimizer)
                try Self.train(module, rank: rank, steps: 10..<20)
                results.put((rank, try Self.bits(module)))
            }
            #expect(resumed == [nil, nil])
            #expect(second.shutdown().allSatisfy { $0 == nil })
            let weights = results.wait(count: 2, timeout: 1).sorted { $0.0 < $1.0 }.map(\.1)
            #expect(weights.count == 2 && weights[0] == weights[1])
            if loadStates {
                #expect(weights.first == straight[0], "the resumed run differs from the uninterrupted one")
            } else {
                #expect(weights.first != straight[0], "without its momentum the resumed run still matched")
            }
        }
    }

    /// `setParams` after `initOptimizer` is a call every worker makes, and rank 0's values win, as
    /// at `initOptimizer`: when the workers keep the weights, each takes rank 0's at once (they used
    /// to keep their own and drift apart for good); updates still in flight land before.
    @Test func setParamsAfterInitOptimizerTakesRank0sValues() throws {
        let cluster = try KVCluster(workers: 2, servers: 1)
        defer { cluster.stop() }
        let results = Inbox<(Int, Weights, Weights)>()
        let errors = cluster.onWorkers { rank, store in
            let module = try Self.module(updateOnKVStore: false, seed: 7)
            try module.initOptimizer(kvstore: store, optimizer: Self.optimizer)
            try Self.train(module, rank: rank, steps: 0..<3)
            let (args, aux) = try module.getParams()
            let own = args.mapValues { NDArray($0.toArray().map { $0 + Float(rank + 1) }, shape: $0.shape) }
            try module.setParams(own, aux)
            let set = try Self.bits(module)
            try Self.train(module, rank: rank, steps: 3..<6)
            results.put((rank, set, try Self.bits(module)))
        }
        #expect(errors == [nil, nil])
        #expect(cluster.shutdown().allSatisfy { $0 == nil })
        let ranked = results.wait(count: 2, timeout: 1).sorted { $0.0 < $1.0 }
        try #require(ranked.count == 2)
        #expect(ranked[0].1 == ranked[1].1, "after setParams the workers hold different weights")
        #expect(ranked[0].2 == ranked[1].2, "the workers drifted apart")
    }

    /// `update()` twice without a forward between, the workers updating: the first sum is applied
    /// before the second push, not lost (the second push then carries that sum, as in MXNet, whose
    /// workers pull the merged gradient into the gradient array too).
    @Test func aSecondUpdateAppliesTheFirstSum() throws {
        let cluster = try KVCluster(workers: 1, servers: 1)
        defer { cluster.stop() }
        let timeline = Timeline(processName: "worker 0")
        let errors = cluster.onWorkers { _, store in
            let module = try Self.module(updateOnKVStore: false, seed: 7)
            module.timeline = timeline
            try module.initOptimizer(kvstore: store, optimizer: Self.optimizer)
            try module.forwardBackward(Self.batch(rank: 0, step: 0))
            try module.update()
            try module.update()
            _ = try module.getParams()
        }
        #expect(errors == [nil])
        #expect(cluster.shutdown().allSatisfy { $0 == nil })
        #expect(timeline.json().components(separatedBy: "\"update fc1_weight\"").count - 1 == 2)
    }

    /// A resume with another optimizer than the checkpoint's (momentum SGD's state, Adam now):
    /// the state that does not suit it starts fresh, as it does on the servers, instead of failing
    /// the first update.
    @Test func anotherOptimizersStateStartsFresh() throws {
        let sgd = LocalKVStore()
        try sgd.initialize(["w"], values: [NDArray([1, 2])])
        try sgd.setOptimizer(Self.optimizer)
        try sgd.push("w", NDArray([1, 1]))
        let states = try sgd.encodedOptimizerStates()

        let adam = LocalKVStore()
        try adam.initialize(["w"], values: [NDArray([1, 2])])
        try adam.setOptimizer(OptimizerConfig(name: "adam", learningRate: 0.01))
        #expect(try adam.loadOptimizerStates(states, path: "m-0001.states") == ["w"])
        try adam.push("w", NDArray([1, 1]))
        // RMSProp keeps as many arrays as momentum SGD, but its mean square must not be SGD's signed
        // momentum (a square root of a negative number): the optimizer's name decides.
        let rmsprop = LocalKVStore()
        try rmsprop.initialize(["w"], values: [NDArray([1, 2])])
        try rmsprop.setOptimizer(OptimizerConfig(name: "rmsprop", learningRate: 0.01))
        #expect(try rmsprop.loadOptimizerStates(states, path: "m-0001.states") == ["w"])
        let same = LocalKVStore()
        try same.initialize(["w"], values: [NDArray([1, 2])])
        try same.setOptimizer(Self.optimizer)
        #expect(try same.loadOptimizerStates(states, path: "m-0001.states").isEmpty)
    }

    /// Every worker must update in the same place with the same optimizer: a worker that differs
    /// fails naming `MXNET_UPDATE_ON_KVSTORE` (the servers would apply its gradients, or it would
    /// train alone); dist_async is refused, as a pushpull there answers a single worker's gradient.
    @Test func workersThatUpdateElsewhereOrAsynchronouslyAreRefused() throws {
        let cluster = try KVCluster(workers: 2, servers: 1)
        defer { cluster.stop() }
        let errors = cluster.onWorkers { rank, store in
            let module = try Self.module(updateOnKVStore: rank == 1, seed: 7)
            try module.initOptimizer(kvstore: store, optimizer: Self.optimizer)
        }
        #expect(errors[0] == nil)
        #expect(
            errors[1]?.contains(
                "worker 1 runs the optimizer on the servers, worker 0 on the workers: set MXNET_UPDATE_ON_KVSTORE")
                == true, "\(errors)")

        let async = try KVCluster(workers: 1, servers: 1, type: .distAsync)
        defer { async.stop() }
        let refused = async.onWorkers { _, store in
            let module = try Self.module(updateOnKVStore: false, seed: 7)
            try module.initOptimizer(kvstore: store, optimizer: Self.optimizer)
        }
        #expect(
            refused[0]?.contains("MXNET_UPDATE_ON_KVSTORE=0) only in dist_sync, not dist_async") == true, "\(refused)")
    }

    /// `forwardBackward` alone only computes, as MXNet's: without `update()` the weights stay, and two
    /// calls before one `update()` apply the last gradient only (with grad_req write it overwrites
    /// the first). It used to push each gradient during backward, training on every call.
    @Test(arguments: [true, false]) func forwardBackwardAloneTrainsNothing(updateOnKVStore: Bool) throws {
        let cluster = try KVCluster(workers: 1, servers: 1)
        defer { cluster.stop() }
        let results = Inbox<(String, Weights)>()
        let errors = cluster.onWorkers { _, store in
            let module = try Self.module(updateOnKVStore: updateOnKVStore, seed: 7)
            try module.initOptimizer(kvstore: store, optimizer: Self.optimizer)
            let initial = try Self.bits(module)
            try module.forwardBackward(Self.batch(rank: 0, step: 0))
            results.put(("untouched", try Self.bits(module)))
            results.put(("initial", initial))
            try module.forwardBackward(Self.batch(rank: 0, step: 1))
            try module.update()
            results.put(("twice", try Self.bits(module)))
        }
        #expect(errors == [nil], "\(errors)")
        let reference = try KVCluster(workers: 1, servers: 1)
        defer { reference.stop() }
        let once = reference.onWorkers { _, store in
            let module = try Self.module(updateOnKVStore: updateOnKVStore, seed: 7)
            try module.initOptimizer(kvstore: store, optimizer: Self.optimizer)
            try module.forwardBackwardUpdate(Self.batch(rank: 0, step: 1))
            results.put(("once", try Self.bits(module)))
        }
        #expect(once == [nil], "\(once)")
        let got = Dictionary(uniqueKeysWithValues: results.wait(count: 4, timeout: 1))
        #expect(got["untouched"] != nil && got["untouched"] == got["initial"], "forwardBackward alone trained")
        #expect(got["twice"] != nil && got["twice"] == got["once"], "two forwardBackward calls applied both")
        #expect(cluster.shutdown().allSatisfy { $0 == nil } && reference.shutdown().allSatisfy { $0 == nil })
    }

    /// Gradient accumulation, MXNet's way: bound with `gradReq: .add`, gradients add up over
    /// several `forwardBackward` calls until `update()` pushes them (nothing is pushed early), and
    /// the trainer zeroes them after. On one worker of a cluster this trains exactly what the local
    /// store does, the servers updating or the worker.
    @Test(arguments: [true, false]) func gradientsAccumulateUntilUpdate(updateOnKVStore: Bool) throws {
        @Sendable func train(_ module: Module) throws -> Weights {
            for step in 0..<4 {
                for micro in 0..<3 { try module.forwardBackward(Self.batch(rank: micro, step: step)) }
                try module.update()
                for (name, grad) in module.executor?.gradDict ?? [:] where module.paramNames.contains(name) {
                    grad.fill(0)
                }
            }
            return try Self.bits(module)
        }
        @Sendable func accumulating() throws -> Module {
            let module = try Module(symbol: try Self.net(), seed: 3)
            module.updateOnKVStore = updateOnKVStore
            try module.bind(
                dataShapes: [DataDesc(name: "data", shape: [Self.batch, 4])],
                labelShapes: [DataDesc(name: "softmax_label", shape: [Self.batch])], gradReq: .add)
            try module.initParams(initializer: Xavier())
            return module
        }
        let local = try accumulating()
        try local.initOptimizer(optimizer: Self.optimizer)
        let expected = try train(local)

        let cluster = try KVCluster(workers: 1, servers: 1)
        defer { cluster.stop() }
        let results = Inbox<Weights>()
        let errors = cluster.onWorkers { _, store in
            let module = try accumulating()
            try module.initOptimizer(kvstore: store, optimizer: Self.optimizer)
            results.put(try train(module))
        }
        #expect(errors == [nil])
        #expect(cluster.shutdown().allSatisfy { $0 == nil })
        #expect(results.wait(count: 1, timeout: 1).first == expected, "accumulated gradients were pushed early")
    }

    /// MXNet's reading of the variable: on unless it is 0 (or false).
    @Test func theVariableIsReadAsMXNetDoes() {
        #expect(Module.updateOnKVStore(environment: [:]))
        #expect(Module.updateOnKVStore(environment: ["MXNET_UPDATE_ON_KVSTORE": "1"]))
        #expect(!Module.updateOnKVStore(environment: ["MXNET_UPDATE_ON_KVSTORE": "0"]))
        #expect(!Module.updateOnKVStore(environment: ["MXNET_UPDATE_ON_KVSTORE": " false"]))
    }
}
