import Foundation
import Logging
import SwiftPSGraph
import SwiftPSKVStore
import SwiftPSOptimizer
import SwiftPSTensor

/// A computation "machine" that can be bound, initialized, run forward and backward, updated,
/// evaluated and saved: MXNet 1.x's `BaseModule`.
///
/// A module moves through states: initial → bound (`bind`: shapes known, memory allocated) →
/// parameters initialized (`initParams`) → optimizer installed (`initOptimizer`). Conforming types
/// implement the intermediate-level API (bind, forward, backward, update, …); this protocol's
/// extension builds the high-level API on it exactly as MXNet does: `fit`, `score`, `predict`,
/// `iterPredict`, `forwardBackward`, `saveParams`, `loadParams`.
public protocol BaseModule: AnyObject {
    /// Where the module logs (MXNet's `self.logger`).
    var logger: Logger { get }
    /// The symbol the module computes (for modules that have one).
    var symbol: Symbol? { get }
    /// The names of the data inputs.
    var dataNames: [String] { get }
    /// The names of the outputs.
    var outputNames: [String] { get }
    /// The (name, shape) of each data input; valid once bound.
    var dataShapes: [DataDesc] { get }
    /// The (name, shape) of each label input; empty without labels or when bound for inference.
    var labelShapes: [DataDesc] { get }
    /// The (name, shape) of each output; valid once bound.
    var outputShapes: [(name: String, shape: [Int])] { get }

    /// Whether memory is allocated (`bind` was called).
    var binded: Bool { get }
    /// Whether the module was bound for training.
    var forTraining: Bool { get }
    /// Whether gradients with respect to the inputs are computed (for module composition).
    var inputsNeedGrad: Bool { get }
    /// Whether the parameters are initialized.
    var paramsInitialized: Bool { get }
    /// Whether an optimizer is installed.
    var optimizerInitialized: Bool { get }

    /// Allocates memory for the given input shapes. See `Module.bind` for the parameters.
    func bind(
        dataShapes: [DataDesc], labelShapes: [DataDesc]?, forTraining: Bool, inputsNeedGrad: Bool,
        forceRebind: Bool, sharedModule: (any BaseModule)?, gradReq: GradReq) throws
    /// Initializes parameters from `argParams`/`auxParams`, falling back to `initializer`.
    func initParams(
        initializer: (any Initializer)?, argParams: [String: NDArray]?, auxParams: [String: NDArray]?,
        allowMissing: Bool, forceInit: Bool, allowExtra: Bool) throws
    /// Installs an optimizer, locally or on `kvstore`.
    func initOptimizer(kvstore: (any KVStore)?, optimizer: OptimizerConfig, forceInit: Bool) throws
    /// Copies of the current parameters: (args, aux).
    func getParams() throws -> (args: [String: NDArray], aux: [String: NDArray])
    /// Runs forward on a batch; `isTrain` nil means "as bound".
    func forward(_ batch: DataBatch, isTrain: Bool?) throws
    /// Runs backward; `outGrads` are the head gradients (nil for loss outputs).
    func backward(outGrads: [NDArray]?) throws
    /// `forward(isTrain: true)` then `backward()` (MXNet's `forward_backward`): computes only; the
    /// gradients reach the optimizer at `update()`.
    func forwardBackward(_ batch: DataBatch) throws
    /// Updates the parameters with the installed optimizer from the last backward's gradients.
    func update() throws
    /// One training step, `forwardBackward` then `update` (what `fit` runs for every batch). Because
    /// the update is known to follow, a module may send each gradient as soon as backward has
    /// produced it, overlapping communication with the rest of backward (`Module` does, with a
    /// distributed kvstore). Use it in your own training loop for that speed.
    func forwardBackwardUpdate(_ batch: DataBatch) throws
    /// The outputs of the last forward.
    func getOutputs() throws -> [NDArray]
    /// The gradients with respect to the inputs of the last backward (needs `inputsNeedGrad`).
    func getInputGrads() throws -> [NDArray]
    /// Accumulates the last forward's outputs into `metric` against `labels`.
    func updateMetric(_ metric: any EvalMetric, labels: [NDArray]) throws
    /// Installs a monitor that sees every intermediate output.
    func installMonitor(_ monitor: Monitor) throws
    /// Per-batch states of stateful modules (none for `Module`).
    func getStates() throws -> [NDArray]
    /// Sets the states of stateful modules, to arrays or to one value.
    func setStates(_ states: [NDArray]?, value: Float?) throws
    /// Called by `fit` before each epoch's first batch: restarts the module's random streams
    /// (Dropout's masks) from a seed that depends only on the module's seed and `epoch`, so training
    /// resumed from a checkpoint at an epoch boundary draws the masks the uninterrupted run drew.
    /// (Not in MXNet, whose resumed runs draw fresh masks.) The default does nothing.
    func startEpoch(_ epoch: Int) throws
}

extension BaseModule {
    /// No random streams to restart.
    public func startEpoch(_ epoch: Int) throws {}

    /// Assigns parameter and aux values: `initParams` without an initializer (MXNet's `set_params`).
    /// Every parameter must be given unless `allowMissing`, which keeps the others' values and then
    /// refuses names the module lacks unless `allowExtra`; without `allowMissing` such names are
    /// ignored.
    public func setParams(
        _ argParams: [String: NDArray], _ auxParams: [String: NDArray], allowMissing: Bool = false,
        forceInit: Bool = true, allowExtra: Bool = false
    ) throws {
        try initParams(
            initializer: nil, argParams: argParams, auxParams: auxParams, allowMissing: allowMissing,
            forceInit: forceInit, allowExtra: allowExtra)
    }

    /// Calls `forward(isTrain: true)` then `backward()` (MXNet's `forward_backward`).
    public func forwardBackward(_ batch: DataBatch) throws {
        try forward(batch, isTrain: true)
        try backward(outGrads: nil)
    }

    /// `forwardBackward` then `update`.
    public func forwardBackwardUpdate(_ batch: DataBatch) throws {
        try forwardBackward(batch)
        try update()
    }

    /// Saves the parameters to `path` in MXNet's `.params` format, with `arg:`/`aux:` keys; atomic.
    public func saveParams(_ path: String) throws {
        let (args, aux) = try getParams()
        try ParamsFile.saveCheckpointParams(args: args, aux: aux, to: path)
    }

    /// Loads parameters written by `saveParams` (or by MXNet) and sets them.
    public func loadParams(_ path: String) throws {
        let (args, aux) = try ParamsFile.loadCheckpointParams(path)
        try setParams(args, aux)
    }

    /// `array` without the batch's `pad` padding samples at the end of its first axis (MXNet's
    /// `out[0:out.shape[0]-pad]`); throws naming `what` when its first axis cannot hold them.
    private static func trimmingPad(_ array: NDArray, _ pad: Int, _ what: String) throws -> NDArray {
        guard pad > 0 else { return array }
        guard let rows = array.shape.first, rows >= pad else {
            throw ModuleError.badInput(
                "the batch ends with \(pad) padding samples, but \(what) has shape \(array.shape): its first axis is not the batch's, so they cannot be left out"
            )
        }
        return array.slice(0..<(rows - pad))
    }

    private func requireReady(_ call: String) throws {
        guard binded else { throw ModuleError.wrongState(call: call, needs: "bind") }
        guard paramsInitialized else { throw ModuleError.wrongState(call: call, needs: "initParams") }
    }

    /// Runs prediction on `evalData` and evaluates `evalMetric` (MXNet's `score`).
    ///
    /// Unlike MXNet's, the padding samples of a last, padded batch are left out of the metric (MXNet
    /// counts them: 10,000 test samples at batch 128 score as 10,112), so the figure is the data
    /// set's. Such a batch's outputs and labels go to `evalMetric` directly, trimmed, rather than
    /// through `updateMetric`.
    ///
    /// - Parameters:
    ///   - numBatch: stop after this many batches (nil: the whole iterator).
    ///   - batchEndCallbacks: called after each batch with the running metric.
    ///   - scoreEndCallbacks: called once at the end with the batch count.
    ///   - reset: reset `evalData` first.
    ///   - epoch: passed to the callbacks.
    /// - Returns: the metric's (name, value) pairs.
    @discardableResult
    public func score(
        _ evalData: any DataIter, _ evalMetric: any EvalMetric, numBatch: Int? = nil,
        batchEndCallbacks: [BatchEndCallback] = [], scoreEndCallbacks: [BatchEndCallback] = [],
        reset: Bool = true, epoch: Int = 0
    ) throws -> [(name: String, value: Double)] {
        try requireReady("score")
        if reset { evalData.reset() }
        evalMetric.reset()
        var nbatch = 0
        while numBatch.map({ nbatch < $0 }) ?? true, let batch = try evalData.next() {
            try forward(batch, isTrain: false)
            if batch.pad > 0, batch.pad >= batch.data.first?.shape.first ?? 0 {
                // All padding (a sharded part padded to the others' batch count): nothing to count,
                // and a per-batch metric (F1's macro average) must not count an empty batch.
            } else if batch.pad > 0 {
                // Padding samples are not part of the data set: leave them out of the metric.
                try evalMetric.update(
                    labels: try batch.label.map { try Self.trimmingPad($0, batch.pad, "a label") },
                    preds: try getOutputs().map { try Self.trimmingPad($0, batch.pad, "an output") })
            } else {
                try updateMetric(evalMetric, labels: batch.label)
            }
            let param = BatchEndParam(epoch: epoch, nbatch: nbatch, evalMetric: evalMetric)
            for callback in batchEndCallbacks { callback(param) }
            nbatch += 1
        }
        let param = BatchEndParam(epoch: epoch, nbatch: nbatch, evalMetric: evalMetric)
        for callback in scoreEndCallbacks { callback(param) }
        return evalMetric.get()
    }

    /// Runs prediction batch by batch, calling `body` with the outputs (padding trimmed), the batch
    /// index and the batch (MXNet's `iter_predict`). The outputs are views valid only inside `body`.
    public func iterPredict(
        _ evalData: any DataIter, numBatch: Int? = nil, reset: Bool = true,
        _ body: (_ outputs: [NDArray], _ nbatch: Int, _ batch: DataBatch) throws -> Void
    ) throws {
        try requireReady("iterPredict")
        if reset { evalData.reset() }
        var nbatch = 0
        while numBatch.map({ nbatch < $0 }) ?? true, let batch = try evalData.next() {
            try forward(batch, isTrain: false)
            let outputs = try getOutputs().map { try Self.trimmingPad($0, batch.pad, "an output") }
            try body(outputs, nbatch, batch)
            nbatch += 1
        }
    }

    /// Runs prediction and collects the outputs (MXNet's `predict`): padding is trimmed from each
    /// batch, and with `mergeBatches` each output's batches are concatenated along the first axis.
    ///
    /// - Returns: one array per output when merging (`[[out1, out2]]` shape: a single inner list), or
    ///   one list of outputs per batch otherwise.
    public func predict(
        _ evalData: any DataIter, numBatch: Int? = nil, mergeBatches: Bool = true, reset: Bool = true
    ) throws -> [[NDArray]] {
        var perBatch: [[NDArray]] = []
        try iterPredict(evalData, numBatch: numBatch, reset: reset) { outputs, _, _ in
            perBatch.append(outputs.map { $0.copy() })
        }
        guard mergeBatches, let first = perBatch.first else { return perBatch }
        var merged: [NDArray] = []
        for i in 0..<first.count {
            guard perBatch.allSatisfy({ $0.count == first.count }) else {
                throw ModuleError.badInput(
                    "cannot merge batches: the number of outputs differs between mini-batches")
            }
            merged.append(try concatenateRows(perBatch.map { $0[i] }))
        }
        return [merged]
    }

    /// Trains the module (MXNet's `fit`): bind, initParams, initOptimizer, then for each epoch and
    /// batch forwardBackward, update, updateMetric and the batch callbacks; at each epoch end logs the
    /// training metric and time, syncs the parameters, calls the epoch callbacks, scores `evalData`
    /// and resets `trainData`.
    ///
    /// - Parameters:
    ///   - trainData: the training iterator.
    ///   - evalData: scored after every epoch when given.
    ///   - evalMetric: the training metric (MXNet default `acc`).
    ///   - epochEndCallbacks: called with (epoch, symbol, args, aux) after each epoch.
    ///   - batchEndCallbacks: called after each batch.
    ///   - kvstore: where updates happen (`nil`: a `LocalKVStore`).
    ///   - optimizer: the optimizer (MXNet default: sgd with learning rate 0.01).
    ///   - evalEndCallbacks / evalBatchEndCallbacks: passed to `score` for the validation set.
    ///   - initializer: used when parameters are not given (MXNet default `Uniform(0.01)`).
    ///   - argParams / auxParams / allowMissing / forceInit: passed to `initParams`.
    ///   - forceRebind: passed to `bind`.
    ///   - beginEpoch / numEpoch: the epochs to run, `beginEpoch ..< numEpoch` (none, with a warning,
    ///     when `beginEpoch` is past `numEpoch`, as MXNet's empty `range`).
    ///   - validationMetric: the metric for `evalData` (default: `evalMetric` itself, as MXNet's
    ///     `fit` given a metric object, so after `fit` it holds the last validation figures).
    ///   - monitor: installed before training when given.
    public func fit(
        _ trainData: any DataIter, evalData: (any DataIter)? = nil,
        evalMetric: any EvalMetric = Accuracy(),
        epochEndCallbacks: [EpochEndCallback] = [], batchEndCallbacks: [BatchEndCallback] = [],
        kvstore: (any KVStore)? = nil,
        optimizer: OptimizerConfig = OptimizerConfig(name: "sgd", learningRate: 0.01),
        evalEndCallbacks: [BatchEndCallback] = [], evalBatchEndCallbacks: [BatchEndCallback] = [],
        initializer: any Initializer = Uniform(scale: 0.01),
        argParams: [String: NDArray]? = nil, auxParams: [String: NDArray]? = nil,
        allowMissing: Bool = false, forceRebind: Bool = false, forceInit: Bool = false,
        beginEpoch: Int = 0, numEpoch: Int, validationMetric: (any EvalMetric)? = nil,
        monitor: Monitor? = nil
    ) throws {
        try bind(
            dataShapes: trainData.provideData, labelShapes: trainData.provideLabel, forTraining: true,
            inputsNeedGrad: false, forceRebind: forceRebind, sharedModule: nil, gradReq: .write)
        if let monitor { try installMonitor(monitor) }
        try initParams(
            initializer: initializer, argParams: argParams, auxParams: auxParams,
            allowMissing: allowMissing, forceInit: forceInit, allowExtra: false)
        try initOptimizer(kvstore: kvstore ?? LocalKVStore(), optimizer: optimizer, forceInit: false)
        let validation = validationMetric ?? evalMetric
        if beginEpoch > numEpoch {
            // MXNet's `range(begin_epoch, num_epoch)` is then empty: nothing is trained.
            logger.warning(
                "fit: beginEpoch \(beginEpoch) is past numEpoch \(numEpoch), the epoch training ends at: no epoch to train"
            )
        }

        for epoch in beginEpoch..<max(beginEpoch, numEpoch) {
            let tic = MonotonicClock.now()
            try startEpoch(epoch)
            evalMetric.reset()
            var nbatch = 0
            while let batch = try trainData.next() {
                monitor?.tic()
                try forwardBackwardUpdate(batch)
                try updateMetric(evalMetric, labels: batch.label)
                monitor?.tocPrint(logger)
                let param = BatchEndParam(epoch: epoch, nbatch: nbatch, evalMetric: evalMetric)
                for callback in batchEndCallbacks { callback(param) }
                nbatch += 1
            }
            for (name, value) in evalMetric.get() {
                logger.info("Epoch[\(epoch)] Train-\(name)=\(formatMetricValue(value))")
            }
            logger.info("Epoch[\(epoch)] Time cost=\(String(format: "%.3f", MonotonicClock.now() - tic))")

            // The epoch's final weights (waiting for the last pulls). MXNet then calls set_params with
            // them to copy them to every device; a SwiftPS module has one executor, and setParams would
            // re-initialize the kvstore from this worker's copy: a workers' barrier per key every
            // epoch, and in dist_async rank 0 overwriting the servers with a copy that may miss the
            // other workers' latest updates.
            let (args, aux) = try getParams()
            for callback in epochEndCallbacks { try callback(epoch, symbol, args, aux) }

            if let evalData {
                let result = try score(
                    evalData, validation, batchEndCallbacks: evalBatchEndCallbacks,
                    scoreEndCallbacks: evalEndCallbacks, epoch: epoch)
                for (name, value) in result {
                    logger.info("Epoch[\(epoch)] Validation-\(name)=\(formatMetricValue(value))")
                }
            }
            trainData.reset()
        }
    }
}

/// Called at the end of each epoch with (epoch, symbol, argParams, auxParams), MXNet's
/// `epoch_end_callback` signature.
public typealias EpochEndCallback = (
    _ epoch: Int, _ symbol: Symbol?, _ argParams: [String: NDArray], _ auxParams: [String: NDArray]
) throws -> Void

/// Concatenates arrays along the first axis (MXNet's `ndarray.concatenate`).
public func concatenateRows(_ arrays: [NDArray]) throws -> NDArray {
    guard let first = arrays.first else { throw ModuleError.badInput("concatenate: no arrays") }
    let tail = Array(first.shape.dropFirst())
    for a in arrays where Array(a.shape.dropFirst()) != tail {
        throw ModuleError.badInput("concatenate: shapes \(first.shape) and \(a.shape) differ after the first axis")
    }
    let rows = arrays.reduce(0) { $0 + $1.shape[0] }
    let out = NDArray(shape: [rows] + tail)
    var offset = 0
    for a in arrays {
        (out.data + offset).update(from: a.data, count: a.count)
        offset += a.count
    }
    return out
}
