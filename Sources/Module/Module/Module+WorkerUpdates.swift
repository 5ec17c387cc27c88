import Foundation
import SwiftPSKVStore
import SwiftPSOptimizer
import SwiftPSTensor
import SwiftPSTransport

/// Updates on the workers, MXNet's `update_on_kvstore=False` (`Module.updateOnKVStore`): each
/// gradient is pushpulled into itself, so the servers answer with the sum over the workers, and this
/// worker's `workerUpdater` applies the optimizer to its weights when the next forward (or
/// `getParams`) needs them, so the update of one layer still overlaps the others' communication.
extension Module {
    /// `MXNET_UPDATE_ON_KVSTORE`, on by default as in MXNet: `0` (or `off`, `false`, `no`:
    /// `EnvironmentFlag`) turns update on the kvstore off.
    public static func updateOnKVStore(environment: [String: String]) -> Bool {
        !EnvironmentFlag.isOff("MXNET_UPDATE_ON_KVSTORE", in: environment)
    }

    /// Sends `name`'s gradient: to be applied by the servers, with the new weight pulled into the
    /// executor's weight; or, when this worker updates, to be summed, with the sum pulled back into
    /// the gradient.
    func pushGradient(_ name: String, _ kvstore: any KVStore, priority: Int) throws {
        guard let executor, let grad = executor.gradDict[name], let weight = executor.argDict[name] else { return }
        if workerUpdater != nil {
            // A sum not applied yet (update() twice without a forward) is applied first, not lost.
            if gradientsInFlight.contains(name) { try awaitWeight(name, kvstore) }
            try kvstore.pushPull(name, grad, into: grad, priority: priority)
            gradientsInFlight.insert(name)
        } else {
            try kvstore.pushPull(name, grad, into: weight, priority: priority)
        }
    }

    /// Waits for `name`'s summed gradient and applies this worker's optimizer to its weight, if it
    /// is still to be applied (and does nothing when the servers update).
    func awaitWeight(_ name: String, _ kvstore: any KVStore) throws {
        try kvstore.wait(name)
        try applyWorkerUpdate(name)
    }

    /// Applies this worker's optimizer to `name`'s weight with the summed gradient that has arrived,
    /// if it is still to be applied; the timeline records it as `update <name>`.
    func applyWorkerUpdate(_ name: String) throws {
        guard let workerUpdater, gradientsInFlight.remove(name) != nil, let executor,
            let grad = executor.gradDict[name], let weight = executor.argDict[name]
        else { return }
        let start = timeline == nil ? 0 : MonotonicClock.now()
        try workerUpdater.pushPull(name, grad, into: weight)
        timeline?.span(
            "update \(name)", category: "compute", track: Timeline.computeTrack, start: start, end: MonotonicClock.now()
        )
    }

    /// Applies every summed gradient not applied yet, in parameter order.
    func finishWorkerUpdates(_ kvstore: any KVStore) throws {
        guard !gradientsInFlight.isEmpty else { return }
        for name in paramNames where gradientsInFlight.contains(name) { try awaitWeight(name, kvstore) }
    }

    /// Installs the optimizer where it runs: on `store` (the servers, or the local store), or, when
    /// this worker updates, on a new `workerUpdater` (which `takeRank0Weights` gives the weights),
    /// with the servers told to sum only. Optimizer states loaded by `Module.load` go to the local
    /// store here, to the worker's updater in `installPreloadedStates()`.
    func installOptimizer(_ config: OptimizerConfig, on store: any KVStore) throws {
        gradientsInFlight.removeAll()
        guard !updateOnKVStore, store.type.isDistributed else {
            workerUpdater = nil
            try store.setOptimizer(config)
            if let local = store as? LocalKVStore { try installPreloadedStates(on: local) }
            return
        }
        guard let dist = store as? DistKVStore else {
            throw ModuleError.badInput(
                "updateOnKVStore false (MXNET_UPDATE_ON_KVSTORE=0) needs a DistKVStore, not \(type(of: store))")
        }
        try dist.setWorkersOptimizer(config)
        let updater = LocalKVStore()
        try updater.setOptimizer(config)
        workerUpdater = updater
    }

    /// Updates through `shared`'s optimizer from now on (MXNet's `borrow_optimizer`): its kvstore,
    /// with the optimizer state it keeps by parameter name, so modules on the same parameter memory
    /// (`BucketingModule`'s buckets) train as one.
    func borrowOptimizer(from shared: Module) throws {
        guard shared.optimizerInitialized, let store = shared.kvstore else {
            throw ModuleError.wrongState(call: "borrowOptimizer", needs: "the shared module's initOptimizer")
        }
        kvstore = store
        optimizerConfig = shared.optimizerConfig
        workerUpdater = shared.workerUpdater
        updateOnKVStore = shared.updateOnKVStore
        gradientCompression = shared.gradientCompression
        gradientsInFlight.removeAll()
        optimizerInitialized = true
    }

    /// MXNet's broadcast at init: every worker of a distributed `store` pulls rank 0's weights of
    /// `names` (which rank 0 has just initialized the store with), and this worker's updater, when
    /// it runs the optimizer, starts from them. `initOptimizer` and a later `setParams` call it.
    func takeRank0Weights(names: [String], from store: any KVStore) throws {
        guard let executor, store.type.isDistributed else { return }
        for (i, name) in names.enumerated() { try store.pull(name, into: executor.argDict[name]!, priority: -i) }
        try store.waitAll()
        try workerUpdater?.initialize(names, values: names.map { executor.argDict[$0]! })
    }

    /// Gives the worker's updater (after `takeRank0Weights`) the optimizer states `Module.load` read.
    func installPreloadedStates() throws {
        if let workerUpdater { try installPreloadedStates(on: workerUpdater) }
    }

    private func installPreloadedStates(on store: LocalKVStore) throws {
        guard let (bytes, path) = preloadedStates else { return }
        let unsuited =
            try bytes.map { try store.loadOptimizerStates($0, path: path) } ?? store.loadOptimizerStates(from: path)
        preloadedStates = nil
        if !unsuited.isEmpty {
            logger.warning(
                "the optimizer state of \(unsuited.count) parameter(s) (\(unsuited.prefix(3).joined(separator: ", "))\(unsuited.count > 3 ? ", …" : "")) in \(path) was written for another optimizer: it starts fresh"
            )
        }
    }

    /// Optimizer states for `initOptimizer` to install, from an optimizer-state file's `bytes` (as
    /// `saveCheckpoint` writes it; `path` names it in errors): a worker in a cluster receives its
    /// checkpoint's states rather than reading them. Call it before `initOptimizer`.
    public func preloadOptimizerStates(_ bytes: [UInt8], path: String) {
        preloadedStates = (bytes, path)
    }

    /// Whether this worker runs the optimizer (`updateOnKVStore` false with a distributed kvstore,
    /// once `initOptimizer` has run).
    public var updatesOnWorker: Bool { workerUpdater != nil }

    /// The optimizer this module installed (`initOptimizer`), with the batch scaling it applied.
    public var installedOptimizer: OptimizerConfig? { optimizerConfig }

    /// When this worker runs the optimizer: its state as an optimizer-state file (what
    /// `saveCheckpoint(saveOptimizerStates: true)` writes), after applying the updates in flight.
    public func workerOptimizerStates() throws -> [UInt8]? {
        guard let workerUpdater else { return nil }
        try syncWeights()
        return try workerUpdater.encodedOptimizerStates()
    }
}
