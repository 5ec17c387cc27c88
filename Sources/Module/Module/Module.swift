import Foundation
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
    let sym: Symbol
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
    /// The initializers and optimizer multipliers the symbol's variables carry.
    let variableAttributes: VariableAttributes

    public private(set) var binded = false
    public private(set) var forTraining = false
    public private(set) var inputsNeedGrad = false
    public internal(set) var paramsInitialized = false
    public internal(set) var optimizerInitialized = false
    public internal(set) var dataShapes: [DataDesc] = []
    public internal(set) var labelShapes: [DataDesc] = []

    /// The bound executor (nil before `bind`); after `reshape`, the one for the current shapes.
    public internal(set) var executor: Executor?
    /// The binding's executors for the shapes it ran last (`reshape`), the current one included once
    /// the module has left its bound shapes; least recently used first.
    var shapedExecutors: [ShapedExecutor] = []
    /// The seed `startEpoch` last restarted the random streams from (nil before it ran).
    var epochSeed: UInt64?
    var kvstore: (any KVStore)?
    var optimizerConfig: OptimizerConfig?
    var monitor: Monitor?
    var pendingWeights = false
    /// The module whose parameter memory this one was bound on (`bind(sharedModule:)`): its weights
    /// in flight are waited for before this one reads them.
    weak var parameterOwner: Module?
    /// Whether the weights came back from pushpulls in half precision since they were last pulled in
    /// float32 (fp16 gradient compression); `syncWeights` pulls them exactly.
    var weightsRounded = false
    /// Parameters whose gradients `forwardBackward` already pushed this step.
    var pushedEarly = Set<String>()
    /// Each parameter's index in `paramNames` (the priority of its push is minus that).
    lazy var paramIndex: [String: Int] = Dictionary(
        uniqueKeysWithValues: paramNames.enumerated().map { ($1, $0) })
    /// The parameters the kvstore updates.
    lazy var trainable: Set<String> = Set(paramNames).subtracting(fixedParamNames)
    /// The outputs that are not losses, whose gradient `backward` must be given.
    lazy var outputsNeedingHeadGradient: [String] = sym.outputsNeedingHeadGradient
    /// Parameters loaded by `Module.load` (MXNet's `_arg_params`/`_aux_params` before bind), applied
    /// when the module is bound, so that `predict` or `score` may follow `bind` directly.
    var preloadedParams: (args: [String: NDArray], aux: [String: NDArray])?
    /// Whether the parameters came from `Module.load` at `bind`: a later `initParams` (`fit`'s) keeps
    /// them, as MXNet's does, without a warning for a call the caller did not make.
    var paramsFromLoad = false
    /// Optimizer states for `initOptimizer` to install (`Module.load`, `preloadOptimizerStates`): a
    /// file's bytes, or nil to read the file at `path`.
    var preloadedStates: (bytes: [UInt8]?, path: String)?
    /// How gradients travel to a distributed kvstore (MXNet's `compression_params`), installed on
    /// the kvstore by `initOptimizer`; set it before then. A non-distributed kvstore refuses any but
    /// `none`.
    public var gradientCompression = GradientCompression.none
    /// Whether a distributed kvstore's servers run the optimizer (MXNet's `update_on_kvstore`, true by
    /// default; `MXNET_UPDATE_ON_KVSTORE=0` in the environment makes it false, as in MXNet). False
    /// with dist_sync: the servers only sum the gradients and every worker runs the optimizer on the
    /// sum it pulls, so all workers hold the same weights and optimizer state (BytePS's split: the
    /// servers' CPU only adds), and `saveCheckpoint` can save the optimizer state. Set it before
    /// `initOptimizer`; a local kvstore updates in this process either way.
    public var updateOnKVStore = Module.updateOnKVStore(environment: ProcessInfo.processInfo.environment)
    /// The optimizer when this worker runs it (`updateOnKVStore` false with a distributed kvstore): a
    /// local store holding the weights and their optimizer state.
    var workerUpdater: LocalKVStore?
    /// Parameters whose gradient went to the servers and whose sum `workerUpdater` has not applied.
    var gradientsInFlight = Set<String>()
    /// Where `forward`, `backward` and `update` are recorded, with the waits for weights still in
    /// flight nested in `forward` (nil: not recorded). Give a distributed kvstore the same timeline
    /// (`DistKVStore.timeline`) to see its requests beside them.
    public var timeline: Timeline?

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
        self.variableAttributes = try VariableAttributes(symbol: symbol, names: paramNames + auxNames)
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
        try checkDataNames(dataShapes)
        let labels = labelShapes ?? []
        if !labels.isEmpty && labels.map(\.name).sorted() != labelNames.sorted() {
            logger.warning("label shapes \(labels.map(\.name)) do not match label names \(labelNames)")
        }
        var shapes: [String: [Int]] = [:]
        // Labels the iterator does not provide (inference) take the shape their loss operator infers
        // from the data (MXNet's `simple_bind` leaves them out too).
        for d in dataShapes + labels { shapes[d.name] = d.shape }

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
        if let sharedModule {
            // MXNet asserts the same: the weights shared must exist and hold values.
            guard let shared = sharedModule as? Module else {
                throw ModuleError.badInput("bind(sharedModule:) takes a Module, not a \(type(of: sharedModule))")
            }
            guard shared.binded, shared.paramsInitialized, let se = shared.executor else {
                throw ModuleError.wrongState(
                    call: "bind(sharedModule:)",
                    needs: shared.binded ? "the shared module's initParams" : "the shared module's bind")
            }
            for n in paramNames { sharedArgs[n] = se.argDict[n] }
            for n in auxNames { sharedAux[n] = se.auxDict[n] }
        }
        // The module whose weights this one shares, on every bind: a rebind without `sharedModule`
        // owns its weights again.
        parameterOwner = (sharedModule as? Module).map { $0.parameterOwner ?? $0 }

        // Weights still in flight land in the executor that sent for them: let them land (and any
        // update of this worker's be applied) before they are copied into the new one.
        if executor != nil && paramsInitialized { try syncWeights() }
        let previous = executor
        var exec = try sym.simpleBind(shapes: shapes, gradReqs: reqs, seed: seed)
        if !sharedArgs.isEmpty || !sharedAux.isEmpty {
            // Rebind on the shared module's parameter memory (MXNet's shared_module).
            exec = try sym.bind(
                args: exec.argDict.merging(sharedArgs) { _, shared in shared },
                argGrads: exec.gradDict, gradReqs: reqs,
                aux: exec.auxDict.merging(sharedAux) { _, shared in shared }, seed: seed)
        }
        if let previous, paramsInitialized, sharedModule == nil {
            // Rebinding keeps the parameter values (MXNet copies them into the new executor); bound
            // on a shared module's memory, the shared values are the ones to keep.
            for n in paramNames { if let a = previous.argDict[n] { try exec.argDict[n]?.copy(from: a) } }
            for n in auxNames { if let a = previous.auxDict[n] { try exec.auxDict[n]?.copy(from: a) } }
        }
        if let monitor { exec.setMonitorCallback(monitor.observe) }
        executor = exec
        shapedExecutors = []
        self.dataShapes = dataShapes
        self.labelShapes = labels
        self.forTraining = forTraining
        self.inputsNeedGrad = inputsNeedGrad
        self.binded = true
        if sharedModule != nil { paramsInitialized = true }
        // MXNet's `Module.load` marks the parameters initialized and `bind` sets them.
        if !paramsInitialized, preloadedParams != nil {
            try initParams(initializer: nil)
            paramsFromLoad = true
        }
    }
}
