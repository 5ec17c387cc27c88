import Logging
import SwiftPSGraph
import SwiftPSKVStore
import SwiftPSOptimizer
import SwiftPSTensor

/// Parameters: initialization (with arrays given, loaded or drawn by an initializer) and reading
/// them back, MXNet's `init_params` and `get_params`.
extension Module {
    // MARK: parameters

    /// Sets every parameter and auxiliary state, as MXNet's `Module.init_params`: from `argParams` /
    /// `auxParams` where they hold the name (the shape must match), else from `initializer`, or
    /// from the initializer the variable itself names (`__init__`, MXNet's `Variable(init=…)`).
    ///
    /// - A name missing from given params throws `missingParameter`, unless `allowMissing`: then the
    ///   initializer draws it, or without one (`setParams(allowMissing: true)`) it keeps its value.
    /// - Names the module does not have are ignored (a module built on part of a network loads the
    ///   whole network's checkpoint), except without an initializer and with `allowMissing`, MXNet's
    ///   `set_params(allow_missing=True)`, which copies the given arrays as they are and so refuses
    ///   unknown names (`unknownNames`, with the module's names) unless `allowExtra`.
    public func initParams(
        initializer: (any Initializer)? = Uniform(scale: 0.01), argParams: [String: NDArray]? = nil,
        auxParams: [String: NDArray]? = nil, allowMissing: Bool = false, forceInit: Bool = false,
        allowExtra: Bool = false
    ) throws {
        if paramsInitialized && !forceInit {
            if paramsFromLoad {
                logger.debug("Parameters loaded by Module.load are kept (forceInit=false)")
            } else {
                logger.warning("Parameters already initialized and forceInit=false. initParams call ignored.")
            }
            return
        }
        guard let executor else { throw ModuleError.wrongState(call: "initParams", needs: "bind") }
        var argParams = argParams
        var auxParams = auxParams
        if argParams == nil, auxParams == nil, let pre = preloadedParams {
            argParams = pre.args
            auxParams = pre.aux
        }
        if initializer == nil && allowMissing && !allowExtra {
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
        // Weights (or summed gradients) still in flight land first, so they cannot overwrite what is set.
        if optimizerInitialized { try syncWeights() }
        var rng = RandomGenerator(seed: seed)
        func fill(_ name: String, _ array: NDArray, _ given: [String: NDArray]?) throws {
            if let given {
                if let value = given[name] {
                    guard value.shape == array.shape else {
                        throw ModuleError.badInput(
                            "parameter \(name) has shape \(value.shape) but the module expects \(array.shape)")
                    }
                    try array.copy(from: value)
                    return
                }
                guard allowMissing else { throw ModuleError.missingParameter(name) }
                // MXNet's `set_params(allow_missing=True)`: what is not given keeps its value.
                guard initializer != nil else { return }
            }
            guard let initializer else { throw ModuleError.missingParameter(name) }
            if let own = variableAttributes.initializers[name] {
                let chosen = try own.get()
                let filled = (chosen as? FusedRNN).map { $0.with(global: initializer) } ?? chosen
                try filled.initWeight(name: name, array: array, rng: &rng)
            } else {
                try initializer.initialize(name: name, array: array, rng: &rng)
            }
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
        paramsFromLoad = false
        preloadedParams = nil
        // Parameters set after the optimizer is installed must reach the store too (in a cluster,
        // rank 0's: a call every worker makes).
        if optimizerInitialized, let kvstore {
            let names = paramNames.filter { !fixedParamNames.contains($0) && executor.argDict[$0] != nil }
            for name in names { try kvstore.initialize([name], values: [executor.argDict[name]!]) }
            // Every worker takes rank 0's, as at `initOptimizer`: the next step's gradients must be
            // computed on the weights the servers hold (or the workers' updaters start from).
            try takeRank0Weights(names: names, from: kvstore)
        }
    }

    public func getParams() throws -> (args: [String: NDArray], aux: [String: NDArray]) {
        guard binded, paramsInitialized, let executor else {
            throw ModuleError.wrongState(call: "getParams", needs: binded ? "initParams" : "bind")
        }
        try parameterOwner?.syncWeights()
        try syncWeights()
        var args: [String: NDArray] = [:]
        for n in paramNames { if let a = executor.argDict[n] { args[n] = a.copy() } }
        var aux: [String: NDArray] = [:]
        for n in auxNames { if let a = executor.auxDict[n] { aux[n] = a.copy() } }
        return (args, aux)
    }
}
