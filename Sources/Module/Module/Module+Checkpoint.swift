import Logging
import SwiftPSGraph
import SwiftPSKVStore
import SwiftPSOptimizer
import SwiftPSTensor

/// Checkpoints: MXNet's `save_checkpoint` and `Module.load`, and their file names.
extension Module {
    // MARK: checkpoints

    /// Writes `prefix-symbol.json`, `prefix-%04d.params` and, when asked, `prefix-%04d.states`
    /// (the optimizer state in SwiftPS's documented format), each atomically (MXNet's
    /// `save_checkpoint`).
    public func saveCheckpoint(prefix: String, epoch: Int, saveOptimizerStates: Bool = false) throws {
        try sym.save(to: "\(prefix)-symbol.json", unlessUnchanged: true)
        try saveParams(Module.paramsPath(prefix, epoch))
        if saveOptimizerStates {
            guard let local = workerUpdater ?? kvstore as? LocalKVStore else {
                throw ModuleError.badInput(
                    "optimizer states of a distributed kvstore live on the servers: use the scheduler's checkpoints (--model-prefix), or let the workers update (updateOnKVStore false, MXNET_UPDATE_ON_KVSTORE=0)"
                )
            }
            try local.saveOptimizerStates(to: Module.statesPath(prefix, epoch))
        }
        logger.info("Saved checkpoint to \"\(Module.paramsPath(prefix, epoch))\"")
    }

    /// Creates a module from a checkpoint (MXNet's `Module.load`): the parameters are applied at
    /// `bind` (so `predict` or `score` may follow it; `fit`'s `initParams` keeps them unless
    /// `forceInit`) and the optimizer states at `initOptimizer`.
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
        if loadOptimizerStates { module.preloadedStates = (nil, statesPath(prefix, epoch)) }
        return module
    }

    /// Creates a module from a checkpoint's content received rather than read (a worker in a
    /// cluster gets it from the scheduler, which alone reads the checkpoint files): the symbol JSON
    /// and the `prefix-%04d.params` bytes, as `load(prefix:epoch:…)` reads them from disk.
    /// `symbolPath` and `paramsPath` name the files in errors.
    public static func load(
        symbolJSON: String, params: [UInt8], symbolPath: String, paramsPath: String, dataNames: [String] = ["data"],
        labelNames: [String] = ["softmax_label"], seed: UInt64 = 0,
        logger: Logger = Logger(label: "swiftps.module")
    ) throws -> Module {
        let symbol: Symbol
        do { symbol = try Symbol.fromJSON(symbolJSON) } catch {
            throw SymbolFileError.cannotRead(path: symbolPath, reason: "\(error)")
        }
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
