import Logging
import SwiftPSGraph
import SwiftPSKVStore
import SwiftPSOptimizer
import SwiftPSTensor

/// A chain of modules where each one's outputs are the next one's data: MXNet 1.x's
/// `mx.mod.SequentialModule`, the composition `BaseModule` was designed for.
///
/// Every module after the first is bound with `inputsNeedGrad`, so backward flows through the
/// chain: each module's input gradients are the previous module's output gradients. Labels go to
/// the modules added with `takeLabels: true` (usually the last).
public final class SequentialModule: BaseModule {
    public let logger: Logger
    private var modules: [any BaseModule] = []
    private var takesLabels: [Bool] = []

    public private(set) var binded = false
    public private(set) var forTraining = false
    public private(set) var inputsNeedGrad = false
    public private(set) var paramsInitialized = false
    public private(set) var optimizerInitialized = false
    public private(set) var labelShapes: [DataDesc] = []

    /// An empty chain; add modules with `add(_:takeLabels:)`.
    public init(logger: Logger = Logger(label: "swiftps.sequential")) { self.logger = logger }

    /// Appends `module`; `takeLabels` feeds it the batch's labels (MXNet's `take_labels`).
    /// Adding a module resets the chain's bound state, as in MXNet.
    @discardableResult
    public func add(_ module: any BaseModule, takeLabels: Bool = false) -> SequentialModule {
        modules.append(module)
        takesLabels.append(takeLabels)
        binded = false
        paramsInitialized = false
        optimizerInitialized = false
        return self
    }

    /// The modules in order.
    public var children: [any BaseModule] { modules }

    public var symbol: Symbol? { modules.last?.symbol }
    public var dataNames: [String] { modules.first?.dataNames ?? [] }
    public var outputNames: [String] { modules.last?.outputNames ?? [] }
    public var dataShapes: [DataDesc] { modules.first?.dataShapes ?? [] }
    public var outputShapes: [(name: String, shape: [Int])] { modules.last?.outputShapes ?? [] }

    public func bind(
        dataShapes: [DataDesc], labelShapes: [DataDesc]? = nil, forTraining: Bool = true,
        inputsNeedGrad: Bool = false, forceRebind: Bool = false, sharedModule: (any BaseModule)? = nil,
        gradReq: GradReq = .write
    ) throws {
        if binded && !forceRebind {
            logger.warning("Already bound, ignoring bind()")
            return
        }
        guard !modules.isEmpty else { throw ModuleError.badInput("SequentialModule has no modules: add some first") }
        guard sharedModule == nil else { throw ModuleError.badInput("SequentialModule does not support sharedModule") }
        var shapes = dataShapes
        for (i, module) in modules.enumerated() {
            try module.bind(
                dataShapes: shapes, labelShapes: takesLabels[i] ? labelShapes : nil, forTraining: forTraining,
                inputsNeedGrad: i > 0 ? forTraining : inputsNeedGrad, forceRebind: forceRebind,
                sharedModule: nil, gradReq: gradReq)
            // The next module's data are this one's outputs, under the next module's data names.
            guard i + 1 < modules.count else { break }
            let next = modules[i + 1]
            let outs = module.outputShapes
            guard outs.count == next.dataNames.count else {
                throw ModuleError.badInput(
                    "module \(i) has \(outs.count) outputs but module \(i + 1) takes data \(next.dataNames)")
            }
            shapes = zip(next.dataNames, outs).map { DataDesc(name: $0, shape: $1.shape) }
        }
        self.labelShapes = labelShapes ?? []
        self.forTraining = forTraining
        self.inputsNeedGrad = inputsNeedGrad
        binded = true
    }

    public func initParams(
        initializer: (any Initializer)? = Uniform(scale: 0.01), argParams: [String: NDArray]? = nil,
        auxParams: [String: NDArray]? = nil, allowMissing: Bool = false, forceInit: Bool = false,
        allowExtra: Bool = false
    ) throws {
        if paramsInitialized && !forceInit { return }
        guard binded else { throw ModuleError.wrongState(call: "initParams", needs: "bind") }
        // Each module takes the names that are its own (MXNet passes allow_extra to each).
        for module in modules {
            try module.initParams(
                initializer: initializer, argParams: argParams, auxParams: auxParams, allowMissing: allowMissing,
                forceInit: forceInit, allowExtra: true)
        }
        // MXNet asserts this too: two modules with one name would train two arrays and save one.
        var owners: [String: Int] = [:]
        for (index, module) in modules.enumerated() {
            let (args, aux) = try module.getParams()
            for name in args.keys.sorted() + aux.keys.sorted() {
                if let first = owners[name] {
                    throw ModuleError.badInput(
                        "Duplicated parameter names: \(name) of module \(index) (\(type(of: module))) is already used by module \(first) (\(type(of: modules[first])))"
                    )
                }
                owners[name] = index
            }
        }
        // As `Module.initParams`: unknown names are refused only by `setParams(allowMissing: true)`.
        if initializer == nil && allowMissing && !allowExtra {
            for (kind, given) in [("arg_params", argParams), ("aux_params", auxParams)] {
                let extra = (given ?? [:]).keys.filter { owners[$0] == nil }.sorted()
                if !extra.isEmpty {
                    throw ModuleError.unknownNames(kind: kind, names: extra, candidates: owners.keys.sorted())
                }
            }
        }
        paramsInitialized = true
    }

    public func initOptimizer(kvstore: (any KVStore)?, optimizer: OptimizerConfig, forceInit: Bool) throws {
        guard binded, paramsInitialized else {
            throw ModuleError.wrongState(call: "initOptimizer", needs: binded ? "initParams" : "bind")
        }
        if optimizerInitialized && !forceInit { return }
        // A local store holds one optimizer, configured with its module's multipliers (a bias gets no
        // weight decay): each module gets its own, as each MXNet module has its own local updater.
        // A distributed store is shared (its servers hold one optimizer, as in MXNet).
        let shared = kvstore.flatMap { $0.type.isDistributed ? $0 : nil }
        for module in modules {
            try module.initOptimizer(kvstore: shared ?? LocalKVStore(), optimizer: optimizer, forceInit: forceInit)
        }
        optimizerInitialized = true
    }

    public func getParams() throws -> (args: [String: NDArray], aux: [String: NDArray]) {
        guard binded, paramsInitialized else {
            throw ModuleError.wrongState(call: "getParams", needs: binded ? "initParams" : "bind")
        }
        var args: [String: NDArray] = [:]
        var aux: [String: NDArray] = [:]
        for module in modules {
            let (a, x) = try module.getParams()
            args.merge(a) { first, _ in first }
            aux.merge(x) { first, _ in first }
        }
        return (args, aux)
    }

    public func forward(_ batch: DataBatch, isTrain: Bool? = nil) throws {
        guard binded else { throw ModuleError.wrongState(call: "forward", needs: "bind") }
        var current = batch
        for (i, module) in modules.enumerated() {
            try module.forward(current, isTrain: isTrain)
            guard i + 1 < modules.count else { break }
            // Labels travel along the chain for the modules that take them.
            current = DataBatch(data: try module.getOutputs(), label: batch.label, pad: batch.pad)
        }
    }

    public func backward(outGrads: [NDArray]? = nil) throws {
        guard binded else { throw ModuleError.wrongState(call: "backward", needs: "bind") }
        var grads = outGrads
        for (i, module) in modules.enumerated().reversed() {
            try module.backward(outGrads: grads)
            if i > 0 { grads = try module.getInputGrads() }
        }
    }

    public func update() throws {
        guard optimizerInitialized else { throw ModuleError.wrongState(call: "update", needs: "initOptimizer") }
        for module in modules { try module.update() }
    }

    public func getOutputs() throws -> [NDArray] {
        guard let last = modules.last, binded else { throw ModuleError.wrongState(call: "getOutputs", needs: "bind") }
        return try last.getOutputs()
    }

    public func getInputGrads() throws -> [NDArray] {
        guard let first = modules.first, binded, inputsNeedGrad else {
            throw ModuleError.wrongState(call: "getInputGrads", needs: "bind(inputsNeedGrad: true)")
        }
        return try first.getInputGrads()
    }

    public func updateMetric(_ metric: any EvalMetric, labels: [NDArray]) throws {
        for (module, takes) in zip(modules, takesLabels) where takes {
            try module.updateMetric(metric, labels: labels)
        }
    }

    public func installMonitor(_ monitor: Monitor) throws {
        for module in modules { try module.installMonitor(monitor) }
    }

    public func getStates() throws -> [NDArray] { try modules.flatMap { try $0.getStates() } }

    public func startEpoch(_ epoch: Int) throws {
        for module in modules { try module.startEpoch(epoch) }
    }

    public func setStates(_ states: [NDArray]?, value: Float?) throws {
        for module in modules { try module.setStates(states, value: value) }
    }
}
