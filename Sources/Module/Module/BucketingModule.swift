import Foundation
import Logging
import SwiftPSGraph
import SwiftPSKVStore
import SwiftPSOptimizer
import SwiftPSTensor

/// A module whose network depends on the batch's sequence length: MXNet 1.x's
/// `mx.mod.BucketingModule`, for variable-length sequence models.
///
/// `symbolGenerator(key)` builds the network of bucket `key` (usually the length the bucket's
/// sequences are padded to); every bucket's network must have the same parameters, of the same
/// shapes. `bind` binds a `Module` for `defaultBucketKey` (the largest bucket, as
/// `BucketSentenceIter.defaultBucketKey`); `forward` switches to the batch's `bucketKey`, binding
/// that bucket's module on the default one's parameter memory the first time (`switchBucket`). All
/// buckets thus train one set of weights with one optimizer, whose state is kept by parameter name.
///
/// Calls in the wrong state throw `ModuleError.wrongState`. With a distributed kvstore every
/// bucket pushes and pulls the same keys through the one store; weights still in flight when the
/// next batch is another bucket's are waited for by that bucket's forward, each just before its
/// first use (when the servers update) or all at the switch (when the workers do).
public final class BucketingModule: BaseModule {
    /// Builds bucket `key`'s network: (symbol, data names, label names).
    public typealias SymbolGenerator = (_ bucketKey: Int) throws -> (
        symbol: Symbol, dataNames: [String], labelNames: [String]
    )

    public let logger: Logger
    private let symbolGenerator: SymbolGenerator
    /// The bucket `bind` binds, whose shapes `bind` is given (MXNet's `default_bucket_key`).
    public let defaultBucketKey: Int
    /// Parameters that are never updated, in every bucket.
    public let fixedParamNames: [String]
    /// The seed of the modules' parameter initialization and random streams.
    public let seed: UInt64
    private let defaultNetwork: (symbol: Symbol, dataNames: [String], labelNames: [String])

    /// The modules bound so far, by bucket key.
    public private(set) var buckets: [Int: Module] = [:]
    /// The bucket the last `forward` (or `switchBucket`) ran; nil before `bind`.
    public private(set) var currentBucketKey: Int?

    public private(set) var binded = false
    public private(set) var forTraining = false
    public private(set) var inputsNeedGrad = false
    public private(set) var paramsInitialized = false
    public private(set) var optimizerInitialized = false

    /// Passed to the default bucket's module at `initOptimizer`: see `Module.updateOnKVStore`.
    public var updateOnKVStore = Module.updateOnKVStore(environment: ProcessInfo.processInfo.environment)
    /// Passed to the default bucket's module at `initOptimizer`: see `Module.gradientCompression`.
    public var gradientCompression = GradientCompression.none

    private var gradReq = GradReq.write
    private var monitor: Monitor?
    /// The epoch `startEpoch` last started: buckets bound later restart their random streams there.
    private var epoch: Int?
    /// Parameters and optimizer state from `load`, given to the default bucket's module at `bind`.
    private var preloaded: (args: [String: NDArray], aux: [String: NDArray], statesPath: String?)?

    /// A bucketing module (MXNet's `BucketingModule(sym_gen, default_bucket_key, …)`).
    ///
    /// Throws, as MXNet does, when the default bucket's data or fixed parameter names are not
    /// arguments of its symbol; label names that are not are ignored with a warning.
    public init(
        symbolGenerator: @escaping SymbolGenerator, defaultBucketKey: Int, fixedParamNames: [String] = [],
        seed: UInt64 = 0, logger: Logger = Logger(label: "swiftps.bucketing")
    ) throws {
        let network = try symbolGenerator(defaultBucketKey)
        let args = network.symbol.listArguments()
        try Module.checkInputNames(args, network.dataNames, kind: "data", throwing: true)
        try Module.checkInputNames(args, fixedParamNames, kind: "fixed_param", throwing: true)
        self.symbolGenerator = symbolGenerator
        self.defaultBucketKey = defaultBucketKey
        self.fixedParamNames = fixedParamNames
        self.seed = seed
        self.logger = logger
        self.defaultNetwork = network
    }

    /// The module of the current bucket (nil before `bind`).
    public var currentModule: Module? { currentBucketKey.flatMap { buckets[$0] } }
    private var defaultModule: Module? { buckets[defaultBucketKey] }

    /// The default bucket's symbol. (MXNet's is the current bucket's; the default one's makes what
    /// `fit` hands the epoch-end callbacks, and so `doCheckpoint`'s `prefix-symbol.json`, the same
    /// whichever bucket ran last, and the one `saveCheckpoint` writes. The current bucket's is
    /// `currentModule?.symbol`.)
    public var symbol: Symbol? { defaultNetwork.symbol }
    public var dataNames: [String] { currentModule?.dataNames ?? defaultNetwork.dataNames }
    public var outputNames: [String] { currentModule?.outputNames ?? defaultNetwork.symbol.listOutputs() }
    public var dataShapes: [DataDesc] { currentModule?.dataShapes ?? [] }
    public var labelShapes: [DataDesc] { currentModule?.labelShapes ?? [] }
    public var outputShapes: [(name: String, shape: [Int])] { currentModule?.outputShapes ?? [] }

    private func makeModule(_ key: Int) throws -> Module {
        let network = key == defaultBucketKey ? defaultNetwork : try symbolGenerator(key)
        return try Module(
            symbol: network.symbol, dataNames: network.dataNames, labelNames: network.labelNames,
            fixedParamNames: fixedParamNames, seed: seed, logger: logger)
    }

    // MARK: binding and buckets

    /// Binds the default bucket's module for `dataShapes` (the default bucket's shapes); the other
    /// buckets are bound when first used (MXNet's `bind`). A rebind (`forceRebind`) keeps the
    /// parameters and the optimizer and drops the other buckets' modules. `sharedModule` is not
    /// supported, as in MXNet.
    public func bind(
        dataShapes: [DataDesc], labelShapes: [DataDesc]? = nil, forTraining: Bool = true,
        inputsNeedGrad: Bool = false, forceRebind: Bool = false, sharedModule: (any BaseModule)? = nil,
        gradReq: GradReq = .write
    ) throws {
        if binded && !forceRebind {
            logger.warning("Already bound, ignoring bind()")
            return
        }
        guard sharedModule == nil else {
            throw ModuleError.badInput("BucketingModule does not support sharedModule")
        }
        // The default bucket's module is kept across rebinds: `Module.bind` keeps its parameter
        // values and optimizer; the other buckets are bound anew on its new memory when used.
        if paramsInitialized { try settle() }
        let module = try defaultModule ?? makeModule(defaultBucketKey)
        if let preloaded, !module.binded {
            module.preloadedParams = (preloaded.args, preloaded.aux)
            if let path = preloaded.statesPath { module.preloadedStates = (nil, path) }
            self.preloaded = nil
        }
        try module.bind(
            dataShapes: dataShapes, labelShapes: labelShapes, forTraining: forTraining,
            inputsNeedGrad: inputsNeedGrad, forceRebind: true, sharedModule: nil, gradReq: gradReq)
        buckets = [defaultBucketKey: module]
        currentBucketKey = defaultBucketKey
        self.forTraining = forTraining
        self.inputsNeedGrad = inputsNeedGrad
        self.gradReq = gradReq
        binded = true
        paramsInitialized = module.paramsInitialized
        if let monitor { try module.installMonitor(monitor) }
        if let epoch { try module.startEpoch(epoch) }
    }

    /// Makes bucket `key` the current one (MXNet's `switch_bucket`): the first time, binds a module
    /// for `symbolGenerator(key)` with `dataShapes`/`labelShapes` on the default bucket's parameter
    /// memory and optimizer; later, reuses it (a batch of other shapes reshapes it at `forward`).
    public func switchBucket(_ key: Int, dataShapes: [DataDesc], labelShapes: [DataDesc]? = nil) throws {
        guard binded, let main = defaultModule else {
            throw ModuleError.wrongState(call: "switchBucket", needs: "bind")
        }
        guard paramsInitialized else { throw ModuleError.wrongState(call: "switchBucket", needs: "initParams") }
        if buckets[key] == nil {
            let module = try makeModule(key)
            do {
                try module.bind(
                    dataShapes: dataShapes, labelShapes: labelShapes, forTraining: forTraining,
                    inputsNeedGrad: inputsNeedGrad, forceRebind: false, sharedModule: main, gradReq: gradReq)
            } catch {
                // Most often a parameter whose shape depends on the bucket, which buckets cannot share.
                throw ModuleError.badInput(
                    "bucket \(key) cannot be bound for \(dataShapes + (labelShapes ?? [])) on the parameters of the default bucket \(defaultBucketKey) (every bucket's parameters must have the same shapes): \(error)"
                )
            }
            if main.optimizerInitialized { try module.borrowOptimizer(from: main) }
            if let monitor { try module.installMonitor(monitor) }
            if let epoch { try module.startEpoch(epoch) }
            buckets[key] = module
        }
        try enter(key)
    }

    /// Makes `key`'s module (bound) the current one. The weights the previous one's `update` sent
    /// for are still to be waited for: with the servers updating, the new one's forward waits for
    /// each (the kvstore waits by key) before its first use; with this worker updating, the sums
    /// are applied to the shared weights now, with the gradients they came from.
    private func enter(_ key: Int) throws {
        if let previous = currentModule, let next = buckets[key], previous !== next {
            if previous.gradientsInFlight.isEmpty {
                next.pendingWeights = next.pendingWeights || previous.pendingWeights
                previous.pendingWeights = false
            } else {
                try previous.awaitPendingWeights()
            }
            next.weightsRounded = next.weightsRounded || previous.weightsRounded
            previous.weightsRounded = false
        }
        currentBucketKey = key
    }

    /// Lets the weights in flight land, before the default module's arrays are read or set directly.
    private func settle() throws {
        if let current = currentModule, current !== defaultModule { try current.syncWeights() }
    }

    // MARK: parameters and optimizer

    public func initParams(
        initializer: (any Initializer)? = Uniform(scale: 0.01), argParams: [String: NDArray]? = nil,
        auxParams: [String: NDArray]? = nil, allowMissing: Bool = false, forceInit: Bool = false,
        allowExtra: Bool = false
    ) throws {
        if paramsInitialized && !forceInit { return }
        guard binded, let main = defaultModule else { throw ModuleError.wrongState(call: "initParams", needs: "bind") }
        // Every bucket reads the default module's arrays, so setting them there sets them for all.
        try settle()
        try main.initParams(
            initializer: initializer, argParams: argParams, auxParams: auxParams, allowMissing: allowMissing,
            forceInit: true, allowExtra: allowExtra)
        paramsInitialized = true
    }

    public func getParams() throws -> (args: [String: NDArray], aux: [String: NDArray]) {
        guard binded, paramsInitialized, let module = currentModule else {
            throw ModuleError.wrongState(call: "getParams", needs: binded ? "initParams" : "bind")
        }
        return try module.getParams()
    }

    /// Installs the optimizer on the default bucket's module, which every bucket's module then
    /// updates through (MXNet's `init_optimizer` and `borrow_optimizer`): one kvstore, one optimizer
    /// state per parameter, on the servers or on this worker (`updateOnKVStore`).
    public func initOptimizer(
        kvstore: (any KVStore)? = nil, optimizer: OptimizerConfig = OptimizerConfig(name: "sgd", learningRate: 0.01),
        forceInit: Bool = false
    ) throws {
        guard binded, paramsInitialized, let main = defaultModule else {
            throw ModuleError.wrongState(call: "initOptimizer", needs: binded ? "initParams" : "bind")
        }
        if optimizerInitialized && !forceInit {
            logger.warning("optimizer already initialized, ignoring.")
            return
        }
        try settle()
        main.updateOnKVStore = updateOnKVStore
        main.gradientCompression = gradientCompression
        try main.initOptimizer(kvstore: kvstore, optimizer: optimizer, forceInit: true)
        for (key, module) in buckets where key != defaultBucketKey { try module.borrowOptimizer(from: main) }
        optimizerInitialized = true
    }

    /// The optimizer installed on the default bucket's module (after `initOptimizer`).
    public var installedOptimizer: OptimizerConfig? { defaultModule?.installedOptimizer }

    // MARK: computation

    private func requireCurrent(_ call: String) throws -> Module {
        guard binded, let module = currentModule else { throw ModuleError.wrongState(call: call, needs: "bind") }
        guard paramsInitialized else { throw ModuleError.wrongState(call: call, needs: "initParams") }
        return module
    }

    /// Switches to `batch.bucketKey` (nil: the default bucket) with the batch's shapes, then runs
    /// that bucket's module forward (MXNet's `forward`). A batch without descriptions is described
    /// by its arrays' shapes under the bucket's input names.
    public func forward(_ batch: DataBatch, isTrain: Bool? = nil) throws {
        try enter(batch, "forward").forward(batch, isTrain: isTrain)
    }

    /// One training step on the batch's bucket, that module's `forwardBackwardUpdate` (with a
    /// distributed kvstore, each gradient is pushed as soon as backward has produced it).
    public func forwardBackwardUpdate(_ batch: DataBatch) throws {
        guard optimizerInitialized else {
            try forwardBackward(batch)
            try update()
            return
        }
        try enter(batch, "forward").forwardBackwardUpdate(batch)
    }

    /// Makes the batch's bucket current, binding it if it is new, and returns its module.
    private func enter(_ batch: DataBatch, _ call: String) throws -> Module {
        let current = try requireCurrent(call)
        let key = batch.bucketKey ?? defaultBucketKey
        if buckets[key] == nil {
            let data =
                batch.providedData
                ?? zip(current.dataShapes.map(\.name), batch.data).map { DataDesc(name: $0, shape: $1.shape) }
            let labels =
                batch.providedLabel
                ?? zip(current.labelShapes.map(\.name), batch.label).map { DataDesc(name: $0, shape: $1.shape) }
            try switchBucket(key, dataShapes: data, labelShapes: labels.isEmpty ? nil : labels)
        } else {
            try enter(key)
        }
        return try requireCurrent(call)
    }

    public func backward(outGrads: [NDArray]? = nil) throws {
        try requireCurrent("backward").backward(outGrads: outGrads)
    }

    public func update() throws {
        let module = try requireCurrent("update")
        guard optimizerInitialized else { throw ModuleError.wrongState(call: "update", needs: "initOptimizer") }
        try module.update()
    }

    public func getOutputs() throws -> [NDArray] { try requireCurrent("getOutputs").getOutputs() }

    public func getInputGrads() throws -> [NDArray] {
        let module = try requireCurrent("getInputGrads")
        guard inputsNeedGrad else {
            throw ModuleError.wrongState(call: "getInputGrads", needs: "bind(inputsNeedGrad: true)")
        }
        return try module.getInputGrads()
    }

    public func updateMetric(_ metric: any EvalMetric, labels: [NDArray]) throws {
        try requireCurrent("updateMetric").updateMetric(metric, labels: labels)
    }

    /// Installs `monitor` on every bucket's module, and on those bound later.
    public func installMonitor(_ monitor: Monitor) throws {
        guard binded else { throw ModuleError.wrongState(call: "installMonitor", needs: "bind") }
        self.monitor = monitor
        for module in buckets.values { try module.installMonitor(monitor) }
    }

    public func getStates() throws -> [NDArray] { try requireCurrent("getStates").getStates() }

    public func setStates(_ states: [NDArray]?, value: Float?) throws {
        try requireCurrent("setStates").setStates(states, value: value)
    }

    /// Restarts every bucket's random streams for `epoch` (and those of buckets bound later).
    public func startEpoch(_ epoch: Int) throws {
        guard binded else { throw ModuleError.wrongState(call: "startEpoch", needs: "bind") }
        self.epoch = epoch
        for module in buckets.values { try module.startEpoch(epoch) }
    }

    // MARK: checkpoints

    /// Writes the default bucket's symbol as `prefix-symbol.json`, the parameters as
    /// `prefix-%04d.params` and, when asked, the optimizer state as `prefix-%04d.states` (a plain
    /// `Module` checkpoint, which `Module.load` and `swiftps predict` read for the default bucket's
    /// shapes). MXNet 1.9.1 writes one `prefix-<key>-symbol.json` per bucket and a `prefix.buckets`
    /// list instead, and no optimizer state.
    public func saveCheckpoint(prefix: String, epoch: Int, saveOptimizerStates: Bool = false) throws {
        guard binded, paramsInitialized, let main = defaultModule else {
            throw ModuleError.wrongState(call: "saveCheckpoint", needs: binded ? "initParams" : "bind")
        }
        try settle()
        try main.saveCheckpoint(prefix: prefix, epoch: epoch, saveOptimizerStates: saveOptimizerStates)
    }

    /// A bucketing module that starts from a checkpoint (MXNet's `BucketingModule.load`): the
    /// networks come from `symbolGenerator`, the parameters from `prefix-%04d.params` (set at `bind`,
    /// so `fit`'s `initParams` keeps them) and, with `loadOptimizerStates`, the optimizer state from
    /// `prefix-%04d.states` (installed at `initOptimizer`).
    public static func load(
        prefix: String, epoch: Int, symbolGenerator: @escaping SymbolGenerator, defaultBucketKey: Int,
        loadOptimizerStates: Bool = false, fixedParamNames: [String] = [], seed: UInt64 = 0,
        logger: Logger = Logger(label: "swiftps.bucketing")
    ) throws -> BucketingModule {
        let module = try BucketingModule(
            symbolGenerator: symbolGenerator, defaultBucketKey: defaultBucketKey, fixedParamNames: fixedParamNames,
            seed: seed, logger: logger)
        let (args, aux) = try ParamsFile.loadCheckpointParams(Module.paramsPath(prefix, epoch))
        module.preloaded = (args, aux, loadOptimizerStates ? Module.statesPath(prefix, epoch) : nil)
        return module
    }
}
