import SwiftPSTensor

/// A symbol bound to arrays, MXNet's `Executor`: runs forward and backward over preallocated memory.
///
/// Binding plans once: the nodes in topological order, one output array per node output, one
/// `OpBinding` and one `OperatorInstance` per node, and a gradient buffer for every intermediate
/// output on a path to an argument that wants a gradient. `forward` and `backward` then only run
/// the instances over those buffers; they allocate nothing. As in MXNet, the argument, gradient and
/// auxiliary arrays are the caller's (or `simpleBind`'s) arrays, not copies: write new data into
/// `argDict["data"]` before each `forward`.
///
/// Gradients that meet (an output used by several consumers, a weight shared by two layers) are
/// summed: such buffers are zeroed at the start of `backward` and every contribution is added.
/// An argument with `GradReq.add` keeps accumulating across `backward` calls, as in MXNet.
public final class Executor {
    /// One planned node.
    struct Step {
        let name: String
        /// The node's index in the symbol's graph (its random stream is derived from it).
        let nodeIndex: Int
        let instance: any OperatorInstance
        let binding: OpBinding
        let outputNames: [String]
    }

    /// Where a head's gradient goes, and whether it is added to other contributions.
    struct HeadGradient {
        let buffer: NDArray
        let accumulate: Bool
    }

    /// The bound symbol.
    public let symbol: Symbol
    /// The argument arrays in `symbol.listArguments()` order (MXNet's `arg_arrays`).
    public let argArrays: [NDArray]
    /// The gradient arrays in `listArguments()` order, nil where no gradient is taken (`grad_arrays`).
    public let gradArrays: [NDArray?]
    /// The auxiliary-state arrays in `listAuxiliaryStates()` order (`aux_arrays`).
    public let auxArrays: [NDArray]
    /// The output arrays in `listOutputs()` order, rewritten by every `forward` (`outputs`).
    public let outputs: [NDArray]
    /// The argument arrays by name (`arg_dict`).
    public let argDict: [String: NDArray]
    /// The gradient arrays by name, for arguments that take a gradient (`grad_dict`).
    public let gradDict: [String: NDArray]
    /// The auxiliary-state arrays by name (`aux_dict`).
    public let auxDict: [String: NDArray]
    /// The gradient request of each argument.
    public let gradReqs: [String: GradReq]
    /// The output arrays by output name (`output_dict`).
    public let outputDict: [String: NDArray]

    private let steps: [Step]
    private let backwardSteps: [Int]
    private let zeroBeforeBackward: [NDArray]
    private let headGradients: [HeadGradient?]
    private var monitor: ((String, NDArray) -> Void)?
    private var readyForBackward = false
    /// For each step, the arguments whose first consumer (in forward order) it is. That step is
    /// also the last one whose backward writes their gradients, so the same list says when a
    /// weight is first needed in forward and when its gradient is final in backward.
    private let firstUses: [[String]]

    init(
        symbol: Symbol, argArrays: [NDArray], gradArrays: [NDArray?], auxArrays: [NDArray], gradReqs: [String: GradReq],
        plan: ExecutionPlan
    ) {
        self.symbol = symbol
        self.argArrays = argArrays
        self.gradArrays = gradArrays
        self.auxArrays = auxArrays
        self.gradReqs = gradReqs
        let argNames = symbol.listArguments()
        argDict = Dictionary(zip(argNames, argArrays), uniquingKeysWith: { a, _ in a })
        var grads: [String: NDArray] = [:]
        for (name, g) in zip(argNames, gradArrays) { if let g { grads[name] = g } }
        gradDict = grads
        auxDict = Dictionary(zip(symbol.listAuxiliaryStates(), auxArrays), uniquingKeysWith: { a, _ in a })
        outputs = plan.outputs
        outputDict = Dictionary(zip(symbol.listOutputs(), plan.outputs), uniquingKeysWith: { a, _ in a })
        steps = plan.steps
        backwardSteps = plan.backwardSteps
        zeroBeforeBackward = plan.zeroBeforeBackward
        headGradients = plan.headGradients
        var seen = Set<ObjectIdentifier>()
        var uses: [[String]] = []
        let names = Dictionary(zip(argArrays.map(ObjectIdentifier.init), argNames), uniquingKeysWith: { a, _ in a })
        for step in plan.steps {
            var here: [String] = []
            for input in step.binding.inputs {
                let id = ObjectIdentifier(input)
                if let name = names[id], seen.insert(id).inserted { here.append(name) }
            }
            uses.append(here)
        }
        firstUses = uses
    }

    /// Restarts every random stream of the bound graph (Dropout's masks) from `seed`, each node on a
    /// stream of its own, exactly as binding with `seed` starts them.
    public func reseed(_ seed: UInt64) {
        for step in steps { step.instance.reseed(ExecutionPlan.nodeSeed(seed, step.nodeIndex)) }
    }

    /// The seed of epoch `epoch`'s random streams for an executor bound with `seed` (see
    /// `BaseModule.startEpoch`).
    public static func epochSeed(_ seed: UInt64, epoch: Int) -> UInt64 {
        RandomGenerator.derivedSeed(seed ^ 0x5EED_E90C_0000_0000, stream: UInt64(epoch + 1))
    }

    /// Runs every node forward (MXNet's `forward(is_train=…)`). With `isTrain`, operators use
    /// training behaviour (Dropout masks, BatchNorm batch statistics) and `backward` may follow.
    public func forward(isTrain: Bool = false) {
        forward(isTrain: isTrain) { _ in }
    }

    /// Runs forward, calling `beforeUsing` with each argument's name right before the first node
    /// that reads it, so a caller can wait for weights still in flight one by one (MXNet's engine
    /// dependencies: the next forward waits only for the weights it is about to use).
    public func forward(isTrain: Bool, beforeUsing: (String) throws -> Void) rethrows {
        for i in steps.indices {
            for name in firstUses[i] { try beforeUsing(name) }
            steps[i].instance.forward(steps[i].binding, isTrain: isTrain)
            if let monitor {
                for (name, array) in zip(steps[i].outputNames, steps[i].binding.outputs) { monitor(name, array) }
            }
        }
        readyForBackward = isTrain
    }

    /// Computes the gradients of every argument that asked for one (MXNet's `backward(out_grads)`).
    ///
    /// - Parameter outGrads: the gradient of the loss with respect to each output, in `outputs`
    ///   order. Loss layers (SoftmaxOutput, the regression outputs) ignore it; for other heads the
    ///   default is all ones.
    /// - Throws: `GraphError.bindError` when no `forward(isTrain: true)` preceded it or the head
    ///   gradients do not match the outputs.
    public func backward(outGrads: [NDArray]? = nil) throws {
        try backward(outGrads: outGrads, gradientReady: nil)
    }

    /// Runs backward, calling `gradientReady` with each argument's name as soon as its gradient is
    /// final (last layer first), so a caller can start pushing it while backward goes on.
    public func backward(outGrads: [NDArray]?, gradientReady: ((String) throws -> Void)?) throws {
        guard readyForBackward else {
            throw GraphError.bindError("backward needs a forward(isTrain: true) first")
        }
        if let outGrads {
            guard outGrads.count == outputs.count else {
                throw GraphError.bindError("backward got \(outGrads.count) head gradients for \(outputs.count) outputs")
            }
            for (i, (g, out)) in zip(outGrads, outputs).enumerated() where g.count != out.count {
                throw GraphError.bindError(
                    "head gradient \(i) has shape \(g.shape) but output \(i) has shape \(out.shape)")
            }
        }
        for array in zeroBeforeBackward { array.fill(0) }
        for i in headGradients.indices {
            guard let head = headGradients[i] else { continue }
            let dst = head.buffer.data
            let n = head.buffer.count
            if let outGrads {
                if head.accumulate {
                    Kernels.addInPlace(n, outGrads[i].data, dst)
                } else {
                    Kernels.copy(n, outGrads[i].data, dst)
                }
            } else if head.accumulate {
                for j in 0..<n { dst[j] += 1 }
            } else {
                Kernels.fill(n, 1, dst)
            }
        }
        for i in backwardSteps {
            steps[i].instance.backward(steps[i].binding)
            if let gradientReady {
                for name in firstUses[i] where gradDict[name] != nil { try gradientReady(name) }
            }
        }
    }

    /// Calls `callback` with each node output's name (`fc1_output`) and array right after the node
    /// runs forward, MXNet's `set_monitor_callback`; nil removes it. Costs nothing when unset.
    public func setMonitorCallback(_ callback: ((String, NDArray) -> Void)?) {
        monitor = callback
    }

    /// Copies parameter values into the bound arrays by name, MXNet's `copy_params_from`.
    ///
    /// - Throws: `GraphError.bindError` for a name the executor lacks (unless `allowExtraParams`) or
    ///   a shape that differs.
    public func copyParams(
        from argParams: [String: NDArray], auxParams: [String: NDArray] = [:], allowExtraParams: Bool = false
    ) throws {
        for (params, targets, kind) in [(argParams, argDict, "argument"), (auxParams, auxDict, "auxiliary state")] {
            for (name, source) in params {
                guard let target = targets[name] else {
                    if allowExtraParams { continue }
                    throw GraphError.bindError("copyParams: '\(name)' is not an \(kind) of the executor")
                }
                guard target.shape == source.shape else {
                    throw GraphError.bindError(
                        "copyParams: '\(name)' has shape \(source.shape), the executor's has \(target.shape)")
                }
                try target.copy(from: source)
            }
        }
    }
}
