import Logging
import SwiftPSGraph
import SwiftPSKVStore
import SwiftPSOptimizer
import SwiftPSTensor

/// Training: the optimizer on the kvstore, forward and backward over the bound executor, and the
/// update through the kvstore, MXNet's `init_optimizer`, `forward`, `backward` and `update`.
extension Module {
    // MARK: optimizer

    /// Installs `optimizer` on `kvstore` (MXNet's `init_optimizer`): on the store itself (update on
    /// kvstore), or, with `updateOnKVStore` false and a distributed store, on this worker.
    ///
    /// Gradient scaling is defined once here: `rescaleGrad` becomes 1 / (batch size × workers) for
    /// dist_sync (1 / batch size otherwise), so the optimizer sees the mean gradient over the global
    /// batch, unless the caller gave one (`OptimizerConfig.rescaleGradIsGiven`, even 1): a different one is
    /// kept with a warning, as MXNet does.
    public func initOptimizer(
        kvstore: (any KVStore)? = nil, optimizer: OptimizerConfig = OptimizerConfig(name: "sgd", learningRate: 0.01),
        forceInit: Bool = false
    ) throws {
        guard binded, paramsInitialized, let executor else {
            throw ModuleError.wrongState(call: "initOptimizer", needs: binded ? "initParams" : "bind")
        }
        if optimizerInitialized && !forceInit {
            logger.warning("optimizer already initialized, ignoring...")
            return
        }
        // Re-installing: the updates still in flight land first (with the workers running the
        // optimizer, a summed gradient not applied yet would otherwise be lost).
        if optimizerInitialized { try syncWeights() }
        let store = kvstore ?? LocalKVStore()
        var batchSize = dataShapes.first?.shape.first ?? 1
        if store.type == .distSync { batchSize *= store.numWorkers }
        var config = optimizer
        let expected = 1 / Double(batchSize)
        if !config.rescaleGradIsGiven {
            // Not set by the caller (MXNet injects rescale_grad when the optimizer params lack it).
            config.rescaleGrad = expected
        } else if abs(config.rescaleGrad - expected) > 1e-9 * expected {
            logger.warning(
                "Optimizer created manually outside Module but rescaleGrad is not normalized to 1.0/batch_size/num_workers (\(config.rescaleGrad) vs. \(expected)). Is this intended?"
            )
        }
        // The variables' own multipliers, then the name rule, fill what the caller did not set.
        config.lrMult.merge(variableAttributes.lrMult) { given, _ in given }
        config.wdMult.merge(variableAttributes.wdMult) { given, _ in given }
        config.applyMXNetDefaultMultipliers(argNames: paramNames)

        let trainable = paramNames.filter { !fixedParamNames.contains($0) }
        if gradientCompression.isActive { try store.setGradientCompression(gradientCompression) }
        try store.initialize(trainable, values: trainable.map { executor.argDict[$0]! })
        try installOptimizer(config, on: store)
        // (MXNet skips the broadcast when the workers update, leaving them to agree by their seeds.)
        try takeRank0Weights(names: trainable, from: store)
        try installPreloadedStates()
        self.kvstore = store
        self.optimizerConfig = config
        optimizerInitialized = true
    }

    /// The kvstore the module updates through (after `initOptimizer`).
    public var kvStore: (any KVStore)? { kvstore }

    // MARK: computation

    /// Runs the network on `batch` (MXNet's `forward`). A batch whose data come in other shapes than
    /// the bound ones (another batch size) runs on an executor for its shapes on the same parameters
    /// (`reshape`), as in MXNet; data of the bound element count and rows (`[4, 1, 2]` bound as
    /// `[4, 2]`) are read as they are.
    public func forward(_ batch: DataBatch, isTrain: Bool? = nil) throws {
        guard binded, executor != nil else { throw ModuleError.wrongState(call: "forward", needs: "bind") }
        guard paramsInitialized else { throw ModuleError.wrongState(call: "forward", needs: "initParams") }
        let train = isTrain ?? forTraining
        guard batch.data.count == dataNames.count else {
            throw ModuleError.badInput("batch has \(batch.data.count) data arrays, module expects \(dataNames)")
        }
        // A batch's arrays are matched by name, in the order the batch describes them, else the order
        // the module was bound with (MXNet loads a batch in its `data_shapes` order), never by the
        // position of the name in `dataNames`: an iterator listing two inputs in another order
        // would otherwise swap them silently.
        // (`bind` checked the bound names; a batch's own descriptions are checked here.)
        let dataOrder = (batch.providedData ?? dataShapes).map(\.name)
        if batch.providedData != nil, dataOrder.count != batch.data.count || dataOrder.sorted() != dataNames.sorted() {
            throw ModuleError.badInput(
                "batch data \(dataOrder) (\(batch.data.count) arrays) do not match the module's data names \(dataNames)"
            )
        }
        // Labels likewise when their names are the module's; otherwise (an iterator's default
        // `softmax_label` for a module whose label is another, which `bind` only warns about) by
        // position, as before, rather than dropped.
        let describedLabels = (batch.providedLabel ?? labelShapes).map(\.name)
        let labelOrder =
            !describedLabels.isEmpty && describedLabels.allSatisfy(labelNames.contains) ? describedLabels : labelNames
        if let shapes = shapesToRun(batch, dataOrder: dataOrder, labelOrder: labelOrder) {
            try reshape(dataShapes: shapes.data, labelShapes: shapes.labels)
        }
        guard let executor else { throw ModuleError.wrongState(call: "forward", needs: "bind") }
        let start = MonotonicClock.now()
        // A module bound on another's parameters reads them only once that one's updates have landed.
        try parameterOwner?.awaitPendingWeights()
        for (name, src) in zip(dataOrder, batch.data) { try copyInput(name, src, executor) }
        for (name, src) in zip(labelOrder, batch.label) { try copyInput(name, src, executor) }
        if pendingWeights, let kvstore {
            // Wait for each weight only when the first layer that reads it is about to run.
            let timeline = self.timeline
            try executor.forward(isTrain: train) { name in
                guard trainable.contains(name) else { return }
                let waiting = MonotonicClock.now()
                try kvstore.wait(name)
                let waited = MonotonicClock.now()
                // Waits that found the weight there already would only clutter the trace.
                if let timeline, waited - waiting >= Self.recordedWait {
                    timeline.span(
                        "wait \(name)", category: "wait", track: Timeline.computeTrack, start: waiting, end: waited)
                }
                try applyWorkerUpdate(name)
            }
            try finishWorkerUpdates(kvstore)
            pendingWeights = false
        } else {
            executor.forward(isTrain: train)
        }
        timeline?.span(
            train ? "forward" : "forward (inference)", category: "compute", track: Timeline.computeTrack, start: start,
            end: MonotonicClock.now())
    }

    /// The shortest wait for a weight that the timeline records (seconds).
    static let recordedWait = 5e-6

    /// Forward, backward, update (what `fit` runs for every batch); with a distributed kvstore each
    /// gradient is pushed (pushPull with priority -index) the moment backward has produced it, last
    /// layer first, so communication overlaps the rest of backward, and `update()` then pushes only
    /// what was not pushed yet. `forwardBackward` alone pushes nothing, as MXNet's: a loop that reads
    /// input gradients without updating, or runs `forwardBackward` twice before `update()`, trains
    /// as in MXNet. Gradients bound with `gradReq: .add` are not pushed early: they accumulate over
    /// several batches until `update()` pushes them, as in MXNet.
    public func forwardBackwardUpdate(_ batch: DataBatch) throws {
        try forward(batch, isTrain: true)
        guard let executor, optimizerInitialized, let kvstore, kvstore.type.isDistributed else {
            try backward(outGrads: nil)
            try update()
            return
        }
        guard forTraining else { throw ModuleError.wrongState(call: "backward", needs: "bind(forTraining: true)") }
        try checkLossOutputs()
        let start = MonotonicClock.now()
        do {
            defer {
                timeline?.span(
                    "backward", category: "compute", track: Timeline.computeTrack, start: start,
                    end: MonotonicClock.now())
            }
            try executor.backward(outGrads: nil) { [self] name in
                guard let index = paramIndex[name], !fixedParamNames.contains(name), executor.gradReqs[name] == .write
                else { return }
                weightsInFlight(kvstore)
                try pushGradient(name, kvstore, priority: -index)
                pushedEarly.insert(name)
            }
        }
        try update()
    }

    /// Notes that new weights (or summed gradients) are on their way: the next `forward` waits for
    /// each before its first use; with fp16 compression and the servers updating they arrive rounded.
    private func weightsInFlight(_ kvstore: any KVStore) {
        pendingWeights = true
        if kvstore.gradientCompression.halvesWeights && workerUpdater == nil { weightsRounded = true }
    }

    /// Copies a batch's input into the executor. It must hold the same rows as the bound input: the
    /// same shape, or the same element count and leading (batch) dimension (a (N, 784) batch for a
    /// module bound for (N, 1, 28, 28), a label (N, 1) for (N,)). An equal count alone is not enough:
    /// (12, 4) into a module bound for (8, 6) would be read as 8 rows. (MXNet's `forward` reshapes
    /// the module for another batch shape; here rebind it with `forceRebind`, which keeps the
    /// parameters.)
    private func copyInput(_ name: String, _ src: NDArray, _ executor: Executor) throws {
        guard let dst = executor.argDict[name] else { return }
        guard Self.takes(bound: dst.shape, src.shape) else {
            throw ModuleError.badInput(
                "input \(name) has shape \(src.shape) but the module runs \(dst.shape) (data in other shapes reshape the module; a label must match its data)"
            )
        }
        try dst.copy(from: src)
    }

    /// Whether an input bound as `bound` reads an array of `shape` as it is: the same shape, or the
    /// same element count in the same rows (their leading dimensions agree).
    static func takes(bound: [Int], _ shape: [Int]) -> Bool {
        bound == shape
            || (NDArray.elementCount(bound) == NDArray.elementCount(shape) && (bound.first ?? 1) == (shape.first ?? 1))
    }

    /// Waits for every weight still in flight from the last `update` (applying this worker's
    /// updates when it runs the optimizer).
    func awaitPendingWeights() throws {
        guard pendingWeights, let kvstore else { return }
        for name in paramNames where trainable.contains(name) { try awaitWeight(name, kvstore) }
        pendingWeights = false
    }

    /// Waits for weights that are still in flight from the last `update`; weights that came back in
    /// half precision (fp16 compression) are then pulled in float32, as the servers hold them.
    func syncWeights() throws {
        guard let kvstore else { return }
        try awaitPendingWeights()
        guard weightsRounded, let executor else { return }
        for (i, name) in paramNames.enumerated() where trainable.contains(name) {
            guard let weight = executor.argDict[name] else { continue }
            try kvstore.pull(name, into: weight, priority: -i)
        }
        try kvstore.waitAll()
        weightsRounded = false
    }

    public func backward(outGrads: [NDArray]? = nil) throws {
        guard binded, let executor else { throw ModuleError.wrongState(call: "backward", needs: "bind") }
        guard forTraining else { throw ModuleError.wrongState(call: "backward", needs: "bind(forTraining: true)") }
        if outGrads == nil { try checkLossOutputs() }
        // A backward right after update() (no forward between) would overwrite gradients whose
        // pushes may not have left yet (they are sent without copying): their answers come first.
        try awaitPendingWeights()
        let start = MonotonicClock.now()
        try executor.backward(outGrads: outGrads)
        timeline?.span(
            "backward", category: "compute", track: Timeline.computeTrack, start: start, end: MonotonicClock.now())
    }

    /// Throws unless every output is a loss, for a backward without head gradients: on any other
    /// output it would train on the sum of its values, as MXNet refuses to.
    private func checkLossOutputs() throws {
        guard let output = outputsNeedingHeadGradient.first else { return }
        throw ModuleError.badInput(
            "output \(output) is not a loss, so backward needs its gradient (outGrads); to train on it, end the network in a loss layer (SoftmaxOutput, LinearRegressionOutput, MakeLoss, ...)"
        )
    }

    /// Pushes each gradient and pulls the new weight (pushPull with priority -index, as MXNet's
    /// `update` with update on kvstore); when this worker updates (`updateOnKVStore` false), pulls
    /// the summed gradient instead. The next `forward` waits for each weight (and applies this
    /// worker's update to it) just before the first layer that reads it. With gradients bound
    /// `gradReq: .add` it returns once every push has left and its answer is applied, so the
    /// trainer can zero the gradients next.
    public func update() throws {
        guard binded, paramsInitialized, let executor else {
            throw ModuleError.wrongState(call: "update", needs: binded ? "initParams" : "bind")
        }
        guard optimizerInitialized, let kvstore else {
            throw ModuleError.wrongState(call: "update", needs: "initOptimizer")
        }
        let start = MonotonicClock.now()
        defer {
            timeline?.span(
                "update", category: "compute", track: Timeline.computeTrack, start: start, end: MonotonicClock.now())
        }
        // Noted before the first push: should one fail, the next forward (or getParams) still waits
        // for those that left, rather than reading weights their answers are being written into.
        weightsInFlight(kvstore)
        defer { pushedEarly.removeAll(keepingCapacity: true) }
        var accumulates = false
        for (i, name) in paramNames.enumerated() where !fixedParamNames.contains(name) {
            accumulates = accumulates || executor.gradReqs[name] == .add
            if pushedEarly.contains(name) { continue }
            try pushGradient(name, kvstore, priority: -i)
        }
        // Accumulated gradients (`gradReq: .add`) are zeroed by the trainer right after `update()`,
        // as in MXNet, whose engine orders that after the push: here the pushes must have left and
        // their answers been applied before `update()` returns.
        if accumulates { try syncWeights() }
    }

    public func getOutputs() throws -> [NDArray] {
        guard binded, let executor else { throw ModuleError.wrongState(call: "getOutputs", needs: "bind") }
        return executor.outputs
    }

    public func getInputGrads() throws -> [NDArray] {
        guard binded, let executor else { throw ModuleError.wrongState(call: "getInputGrads", needs: "bind") }
        guard inputsNeedGrad else {
            throw ModuleError.wrongState(call: "getInputGrads", needs: "bind(inputsNeedGrad: true)")
        }
        return dataNames.compactMap { executor.gradDict[$0] }
    }

    public func updateMetric(_ metric: any EvalMetric, labels: [NDArray]) throws {
        guard binded, let executor else { throw ModuleError.wrongState(call: "updateMetric", needs: "bind") }
        try metric.update(labels: labels, preds: executor.outputs)
    }

    public func installMonitor(_ monitor: Monitor) throws {
        guard binded, let executor else { throw ModuleError.wrongState(call: "installMonitor", needs: "bind") }
        self.monitor = monitor
        executor.setMonitorCallback(monitor.observe)
    }

    /// Restarts the executor's random streams (Dropout) from `seed` and `epoch`.
    public func startEpoch(_ epoch: Int) throws {
        guard let executor else { throw ModuleError.wrongState(call: "startEpoch", needs: "bind") }
        let restart = Executor.epochSeed(seed, epoch: epoch)
        epochSeed = restart
        executor.reseed(restart)
        for kept in shapedExecutors where kept.executor !== executor { kept.executor.reseed(restart) }
    }

    public func getStates() throws -> [NDArray] {
        guard binded, paramsInitialized else { throw ModuleError.wrongState(call: "getStates", needs: "bind") }
        return []
    }

    public func setStates(_ states: [NDArray]?, value: Float?) throws {
        guard binded, paramsInitialized else { throw ModuleError.wrongState(call: "setStates", needs: "bind") }
        guard (states == nil) != (value == nil) else {
            throw ModuleError.badInput("setStates takes exactly one of states and value")
        }
        if let states, !states.isEmpty {
            throw ModuleError.badInput("Module has no states; got \(states.count) arrays")
        }
    }
}
