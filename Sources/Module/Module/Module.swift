import Logging
import SwiftPSGraph
import SwiftPSKVStore
import SwiftPSOptimizer
import SwiftPSTensor

/// A module over one symbol and one executor: MXNet 1.x's `mx.mod.Module` on the CPU.
///
/// The module binds once and reuses every buffer: each step copies the batch into the bound data
/// arrays, runs the executor, and updates the parameters in place through its kvstore.
public final class Module: BaseModule {
    public let logger: Logger
    private let sym: Symbol
    public var symbol: Symbol? { sym }
    public let dataNames: [String]
    /// The names of the label inputs (`softmax_label` by default).
    public let labelNames: [String]
    /// Parameters that are never updated.
    public let fixedParamNames: Set<String>
    /// The learnable parameters: the symbol's arguments that are neither data nor labels.
    public let paramNames: [String]
    /// The auxiliary states.
    public let auxNames: [String]
    public let outputNames: [String]
    /// The seed of the module's initializer stream.
    public let seed: UInt64

    public private(set) var binded = false
    public private(set) var forTraining = false
    public private(set) var inputsNeedGrad = false
    public private(set) var paramsInitialized = false
    public private(set) var optimizerInitialized = false
    public private(set) var dataShapes: [DataDesc] = []
    public private(set) var labelShapes: [DataDesc] = []

    /// The bound executor (nil before `bind`).
    public private(set) var executor: Executor?
    private var kvstore: (any KVStore)?
    private var optimizerConfig: OptimizerConfig?
    private var monitor: Monitor?
    private var pendingWeights = false
    /// Whether the weights came back from pushpulls in half precision since they were last pulled in
    /// float32 (fp16 gradient compression); `syncWeights` pulls them exactly.
    private var weightsRounded = false
    /// Parameters whose gradients `forwardBackward` already pushed this step.
    private var pushedEarly = Set<String>()
    /// Each parameter's index in `paramNames` (the priority of its push is minus that).
    private lazy var paramIndex: [String: Int] = Dictionary(
        uniqueKeysWithValues: paramNames.enumerated().map { ($1, $0) })
    /// The parameters the kvstore updates.
    private lazy var trainable: Set<String> = Set(paramNames).subtracting(fixedParamNames)
    /// Parameters loaded by `Module.load` and applied at the first `initParams` (MXNet's
    /// `_arg_params`/`_aux_params` before bind).
    private var preloadedParams: (args: [String: NDArray], aux: [String: NDArray])?
    /// Optimizer states loaded by `Module.load`, installed at `initOptimizer`.
    private var preloadedStatesPath: String?
    /// How gradients travel to a distributed kvstore (MXNet's `compression_params`), installed on
    /// the kvstore by `initOptimizer`; set it before then. A non-distributed kvstore refuses any but
    /// `none`.
    public var gradientCompression = GradientCompression.none

    /// A module computing `symbol`.
    ///
    /// - Parameters:
    ///   - dataNames: the data inputs (MXNet default `("data",)`).
    ///   - labelNames: the label inputs (default `("softmax_label",)`); names not in the symbol are
    ///     ignored with a warning, as MXNet does for labels.
    ///   - fixedParamNames: parameters that are not updated.
    ///   - seed: the seed of parameter initialization.
    public init(
        symbol: Symbol, dataNames: [String] = ["data"], labelNames: [String] = ["softmax_label"],
        fixedParamNames: [String] = [], seed: UInt64 = 0,
        logger: Logger = Logger(label: "swiftps.module")
    ) throws {
        self.sym = symbol
        self.logger = logger
        self.seed = seed
        let args = symbol.listArguments()
        try Module.checkInputNames(args, dataNames, kind: "data", throwing: true)
        let presentLabels = labelNames.filter { args.contains($0) }
        if presentLabels.count != labelNames.count {
            logger.warning(
                "label names \(labelNames.filter { !args.contains($0) }) are not arguments of the symbol; ignored")
        }
        try Module.checkInputNames(args, fixedParamNames, kind: "fixed_param", throwing: true)
        self.dataNames = dataNames
        self.labelNames = presentLabels
        self.fixedParamNames = Set(fixedParamNames)
        let inputs = Set(dataNames + presentLabels)
        self.paramNames = args.filter { !inputs.contains($0) }
        self.auxNames = symbol.listAuxiliaryStates()
        self.outputNames = symbol.listOutputs()
    }

    /// MXNet's `_check_input_names`: every name must be an argument, else "Did you mean one of".
    static func checkInputNames(_ args: [String], _ names: [String], kind: String, throwing: Bool) throws {
        let unknown = names.filter { !args.contains($0) }
        guard !unknown.isEmpty else { return }
        let candidates = args.filter {
            !$0.hasSuffix("_weight") && !$0.hasSuffix("_bias") && !$0.hasSuffix("_gamma") && !$0.hasSuffix("_beta")
        }
        throw ModuleError.unknownNames(kind: "\(kind)_names", names: unknown, candidates: candidates)
    }

    public var outputShapes: [(name: String, shape: [Int])] {
        guard let executor else { return [] }
        return zip(outputNames, executor.outputs).map { ($0, $1.shape) }
    }

    // MARK: bind

    /// Allocates the executor for the given shapes (MXNet's `bind`).
    ///
    /// - Parameters:
    ///   - dataShapes: one `DataDesc` per data name.
    ///   - labelShapes: one per label name; nil or empty for inference.
    ///   - forTraining: allocate gradients and run backward.
    ///   - inputsNeedGrad: also compute gradients with respect to the data (module composition).
    ///   - forceRebind: rebind even when already bound.
    ///   - sharedModule: share parameter memory with this bound module (same parameter names).
    ///   - gradReq: how parameter gradients are written (`write`, `add`, `null`).
    public func bind(
        dataShapes: [DataDesc], labelShapes: [DataDesc]? = nil, forTraining: Bool = true,
        inputsNeedGrad: Bool = false, forceRebind: Bool = false, sharedModule: (any BaseModule)? = nil,
        gradReq: GradReq = .write
    ) throws {
        if binded && !forceRebind {
            logger.warning("Already bound, ignoring bind()")
            return
        }
        if !forTraining && inputsNeedGrad {
            throw ModuleError.badInput("inputsNeedGrad needs forTraining: true")
        }
        let dataGiven = dataShapes.map(\.name)
        guard dataGiven.sorted() == dataNames.sorted() else {
            throw ModuleError.badInput(
                "Data provided by data_shapes don't match names specified by data_names (\(dataGiven) vs. \(dataNames))"
            )
        }
        let labels = labelShapes ?? []
        if !labels.isEmpty && labels.map(\.name).sorted() != labelNames.sorted() {
            logger.warning("label shapes \(labels.map(\.name)) do not match label names \(labelNames)")
        }
        var shapes: [String: [Int]] = [:]
        for d in dataShapes + labels { shapes[d.name] = d.shape }
        // Labels the iterator does not provide (inference) still need a shape: batch-sized vector.
        let batch = dataShapes.first?.shape.first ?? 1
        for name in labelNames where shapes[name] == nil { shapes[name] = [batch] }

        var reqs: [String: GradReq] = [:]
        for name in sym.listArguments() {
            if !forTraining {
                reqs[name] = .null
            } else if dataNames.contains(name) {
                reqs[name] = inputsNeedGrad ? .write : .null
            } else if labelNames.contains(name) || fixedParamNames.contains(name) {
                reqs[name] = .null
            } else {
                reqs[name] = gradReq
            }
        }

        var sharedArgs: [String: NDArray] = [:]
        var sharedAux: [String: NDArray] = [:]
        if let shared = sharedModule as? Module, let se = shared.executor {
            guard shared.binded && shared.paramsInitialized else {
                throw ModuleError.wrongState(call: "bind(sharedModule:)", needs: "the shared module's initParams")
            }
            for n in paramNames { sharedArgs[n] = se.argDict[n] }
            for n in auxNames { sharedAux[n] = se.auxDict[n] }
        }

        let previous = executor
        var exec = try sym.simpleBind(shapes: shapes, gradReqs: reqs, seed: seed)
        if !sharedArgs.isEmpty || !sharedAux.isEmpty {
            // Rebind on the shared module's parameter memory (MXNet's shared_module).
            exec = try sym.bind(
                args: exec.argDict.merging(sharedArgs) { _, shared in shared },
                argGrads: exec.gradDict, gradReqs: reqs,
                aux: exec.auxDict.merging(sharedAux) { _, shared in shared }, seed: seed)
        }
        if let previous, paramsInitialized {
            // Rebinding keeps the parameter values (MXNet copies them into the new executor).
            for n in paramNames { if let a = previous.argDict[n] { try exec.argDict[n]?.copy(from: a) } }
            for n in auxNames { if let a = previous.auxDict[n] { try exec.auxDict[n]?.copy(from: a) } }
        }
        if let monitor { exec.setMonitorCallback(monitor.observe) }
        executor = exec
        self.dataShapes = dataShapes
        self.labelShapes = labels
        self.forTraining = forTraining
        self.inputsNeedGrad = inputsNeedGrad
        self.binded = true
        if sharedModule != nil { paramsInitialized = true }
    }

    // MARK: parameters

    public func initParams(
        initializer: (any Initializer)? = Uniform(scale: 0.01), argParams: [String: NDArray]? = nil,
        auxParams: [String: NDArray]? = nil, allowMissing: Bool = false, forceInit: Bool = false,
        allowExtra: Bool = false
    ) throws {
        if paramsInitialized && !forceInit {
            logger.warning("Parameters already initialized and forceInit=false. initParams call ignored.")
            return
        }
        guard let executor else { throw ModuleError.wrongState(call: "initParams", needs: "bind") }
        var argParams = argParams
        var auxParams = auxParams
        if argParams == nil, auxParams == nil, let pre = preloadedParams {
            argParams = pre.args
            auxParams = pre.aux
        }
        if !allowExtra {
            if let argParams {
                let extra = argParams.keys.filter { !paramNames.contains($0) }.sorted()
                if !extra.isEmpty {
                    throw ModuleError.unknownNames(kind: "arg_params", names: extra, candidates: paramNames)
                }
            }
            if let auxParams {
                let extra = auxParams.keys.filter { !auxNames.contains($0) }.sorted()
                if !extra.isEmpty {
                    throw ModuleError.unknownNames(kind: "aux_params", names: extra, candidates: auxNames)
                }
            }
        }
        var rng = RandomGenerator(seed: seed)
        func fill(_ name: String, _ array: NDArray, _ given: [String: NDArray]?) throws {
            if let given {
                if let value = given[name] {
                    guard value.count == array.count else {
                        throw ModuleError.badInput(
                            "parameter \(name) has shape \(value.shape) but the module expects \(array.shape)")
                    }
                    try array.copy(from: value)
                    return
                }
                guard allowMissing else { throw ModuleError.missingParameter(name) }
            }
            guard let initializer else {
                throw ModuleError.missingParameter(name)
            }
            try initializer.initialize(name: name, array: array, rng: &rng)
        }
        for name in paramNames {
            guard let array = executor.argDict[name] else { continue }
            try fill(name, array, argParams)
        }
        for name in auxNames {
            guard let array = executor.auxDict[name] else { continue }
            try fill(name, array, auxParams)
        }
        paramsInitialized = true
        preloadedParams = nil
        // Parameters set after the optimizer is installed must reach the store too.
        if optimizerInitialized, let kvstore {
            for name in paramNames where !fixedParamNames.contains(name) {
                if let w = executor.argDict[name] { try kvstore.initialize([name], values: [w]) }
            }
        }
    }

    public func getParams() throws -> (args: [String: NDArray], aux: [String: NDArray]) {
        guard binded, paramsInitialized, let executor else {
            throw ModuleError.wrongState(call: "getParams", needs: binded ? "initParams" : "bind")
        }
        try syncWeights()
        var args: [String: NDArray] = [:]
        for n in paramNames { if let a = executor.argDict[n] { args[n] = a.copy() } }
        var aux: [String: NDArray] = [:]
        for n in auxNames { if let a = executor.auxDict[n] { aux[n] = a.copy() } }
        return (args, aux)
    }

    // MARK: optimizer

    /// Installs `optimizer` on `kvstore` (MXNet's `init_optimizer` with update on kvstore).
    ///
    /// Gradient scaling is defined once here: `rescaleGrad` becomes 1 / (batch size × workers) for
    /// dist_sync (1 / batch size otherwise), so the optimizer sees the mean gradient over the global
    /// batch. A different explicit `rescaleGrad` is kept with a warning, as MXNet does.
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
        let store = kvstore ?? LocalKVStore()
        var batchSize = dataShapes.first?.shape.first ?? 1
        if store.type == .distSync { batchSize *= store.numWorkers }
        var config = optimizer
        let expected = 1 / Double(batchSize)
        if config.rescaleGrad == 1 {
            // Not set by the caller (MXNet injects rescale_grad when the optimizer is given by name).
            config.rescaleGrad = expected
        } else if abs(config.rescaleGrad - expected) > 1e-9 * expected {
            logger.warning(
                "Optimizer created manually outside Module but rescaleGrad is not normalized to 1.0/batch_size/num_workers (\(config.rescaleGrad) vs. \(expected)). Is this intended?"
            )
        }
        config.applyMXNetDefaultMultipliers(argNames: paramNames)

        let trainable = paramNames.filter { !fixedParamNames.contains($0) }
        if gradientCompression.isActive { try store.setGradientCompression(gradientCompression) }
        try store.initialize(trainable, values: trainable.map { executor.argDict[$0]! })
        try store.setOptimizer(config)
        if let path = preloadedStatesPath, let local = store as? LocalKVStore {
            try local.loadOptimizerStates(from: path)
            preloadedStatesPath = nil
        }
        // Every worker starts from rank 0's weights (MXNet's broadcast at init).
        if store.type.isDistributed {
            for (i, name) in trainable.enumerated() {
                try store.pull(name, into: executor.argDict[name]!, priority: -i)
            }
            try store.waitAll()
        }
        self.kvstore = store
        self.optimizerConfig = config
        optimizerInitialized = true
    }

    /// The kvstore the module updates through (after `initOptimizer`).
    public var kvStore: (any KVStore)? { kvstore }

    // MARK: computation

    public func forward(_ batch: DataBatch, isTrain: Bool? = nil) throws {
        guard binded, let executor else { throw ModuleError.wrongState(call: "forward", needs: "bind") }
        guard paramsInitialized else { throw ModuleError.wrongState(call: "forward", needs: "initParams") }
        let train = isTrain ?? forTraining
        guard batch.data.count == dataNames.count else {
            throw ModuleError.badInput("batch has \(batch.data.count) data arrays, module expects \(dataNames)")
        }
        for (name, src) in zip(dataNames, batch.data) { try copyInput(name, src, executor) }
        for (name, src) in zip(labelNames, batch.label) { try copyInput(name, src, executor) }
        if pendingWeights, let kvstore {
            // Wait for each weight only when the first layer that reads it is about to run.
            try executor.forward(isTrain: train) { name in
                if trainable.contains(name) { try kvstore.wait(name) }
            }
            pendingWeights = false
        } else {
            executor.forward(isTrain: train)
        }
    }

    /// Forward, then backward; with a distributed kvstore each gradient is pushed (pushPull with
    /// priority -index) the moment backward has produced it, last layer first, so communication
    /// overlaps the rest of backward. `update()` then only pushes what was not pushed yet.
    /// (A gradient pushed this way is applied even if `update()` is never called.)
    public func forwardBackward(_ batch: DataBatch) throws {
        try forward(batch, isTrain: true)
        guard let executor, optimizerInitialized, let kvstore, kvstore.type.isDistributed else {
            try backward(outGrads: nil)
            return
        }
        try executor.backward(outGrads: nil) { [self] name in
            guard let index = paramIndex[name], !fixedParamNames.contains(name),
                let grad = executor.gradDict[name], let weight = executor.argDict[name]
            else { return }
            try kvstore.pushPull(name, grad, into: weight, priority: -index)
            pushedEarly.insert(name)
        }
    }

    private func copyInput(_ name: String, _ src: NDArray, _ executor: Executor) throws {
        guard let dst = executor.argDict[name] else { return }
        guard dst.count == src.count else {
            throw ModuleError.badInput(
                "input \(name) has shape \(src.shape) but the module was bound for \(dst.shape): rebind with forceRebind"
            )
        }
        try dst.copy(from: src)
    }

    /// Waits for weights that are still in flight from the last `update`; weights that came back in
    /// half precision (fp16 compression) are then pulled in float32, as the servers hold them.
    private func syncWeights() throws {
        guard let kvstore else { return }
        if pendingWeights {
            for name in paramNames where trainable.contains(name) { try kvstore.wait(name) }
            pendingWeights = false
        }
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
        try executor.backward(outGrads: outGrads)
    }

    /// Pushes each gradient and pulls the new weight (pushPull with priority -index, as MXNet's
    /// `update` with update on kvstore). The next `forward` waits for the weights.
    public func update() throws {
        guard binded, paramsInitialized, let executor else {
            throw ModuleError.wrongState(call: "update", needs: binded ? "initParams" : "bind")
        }
        guard optimizerInitialized, let kvstore else {
            throw ModuleError.wrongState(call: "update", needs: "initOptimizer")
        }
        for (i, name) in paramNames.enumerated() where !fixedParamNames.contains(name) {
            guard let grad = executor.gradDict[name], let weight = executor.argDict[name] else { continue }
            if pushedEarly.contains(name) { continue }
            try kvstore.pushPull(name, grad, into: weight, priority: -i)
        }
        pushedEarly.removeAll(keepingCapacity: true)
        pendingWeights = true
        if kvstore.gradientCompression.halvesWeights { weightsRounded = true }
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
        executor.reseed(Executor.epochSeed(seed, epoch: epoch))
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

    // MARK: checkpoints

    /// Writes `prefix-symbol.json`, `prefix-%04d.params` and, when asked, `prefix-%04d.states`
    /// (the optimizer state in SwiftPS's documented format), each atomically (MXNet's
    /// `save_checkpoint`).
    public func saveCheckpoint(prefix: String, epoch: Int, saveOptimizerStates: Bool = false) throws {
        try sym.save(to: "\(prefix)-symbol.json")
        try saveParams(Module.paramsPath(prefix, epoch))
        if saveOptimizerStates {
            guard let local = kvstore as? LocalKVStore else {
                throw ModuleError.badInput(
                    "optimizer states of a distributed kvstore live on the servers: use the scheduler's checkpoints (--model-prefix)"
                )
            }
            try local.saveOptimizerStates(to: Module.statesPath(prefix, epoch))
        }
        logger.info("Saved checkpoint to \"\(Module.paramsPath(prefix, epoch))\"")
    }

    /// Creates a module from a checkpoint (MXNet's `Module.load`): the parameters are applied at
    /// `initParams` and the optimizer states at `initOptimizer`.
    public static func load(
        prefix: String, epoch: Int, loadOptimizerStates: Bool = false, dataNames: [String] = ["data"],
        labelNames: [String] = ["softmax_label"], seed: UInt64 = 0,
        logger: Logger = Logger(label: "swiftps.module")
    ) throws -> Module {
        let symbol = try Symbol.load(from: "\(prefix)-symbol.json")
        let module = try Module(
            symbol: symbol, dataNames: dataNames, labelNames: labelNames, seed: seed, logger: logger)
        let (args, aux) = try ParamsFile.loadCheckpointParams(paramsPath(prefix, epoch))
        module.preloadedParams = (args, aux)
        if loadOptimizerStates { module.preloadedStatesPath = statesPath(prefix, epoch) }
        return module
    }

    /// Creates a module from a checkpoint's content received rather than read (a worker in a
    /// cluster gets it from the scheduler, which alone reads the checkpoint files): the symbol JSON
    /// and the `prefix-%04d.params` bytes, as `load(prefix:epoch:…)` reads them from disk.
    /// `paramsPath` names the file in errors.
    public static func load(
        symbolJSON: String, params: [UInt8], paramsPath: String, dataNames: [String] = ["data"],
        labelNames: [String] = ["softmax_label"], seed: UInt64 = 0,
        logger: Logger = Logger(label: "swiftps.module")
    ) throws -> Module {
        let symbol = try Symbol.fromJSON(symbolJSON)
        let module = try Module(
            symbol: symbol, dataNames: dataNames, labelNames: labelNames, seed: seed, logger: logger)
        module.preloadedParams = try ParamsFile.decodeCheckpointParams(params, path: paramsPath)
        return module
    }

    /// `prefix-%04d.params`.
    public static func paramsPath(_ prefix: String, _ epoch: Int) -> String {
        "\(prefix)-\(fourDigits(epoch)).params"
    }

    /// `prefix-%04d.states`.
    public static func statesPath(_ prefix: String, _ epoch: Int) -> String {
        "\(prefix)-\(fourDigits(epoch)).states"
    }

    static func fourDigits(_ n: Int) -> String {
        var s = String(n)
        while s.count < 4 { s = "0" + s }
        return s
    }
}
