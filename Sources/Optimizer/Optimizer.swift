import SwiftPSTensor

/// The per-parameter state of an optimizer: its arrays and its update count.
///
/// MXNet 1.x keeps what `Optimizer.create_state` returns (momentum; Adam's mean and variance;
/// AdaGrad's history; RMSProp's n, g, delta) in the `Updater`, and the update count per index in
/// `Optimizer._index_update_count`. SwiftPS puts both in one object per parameter, so a parameter
/// server holding a slice of a parameter holds exactly the state of that slice, keyed by name.
///
/// Every array has `count` elements, the element count of the weight (or weight slice) it serves.
public final class OptimizerState: @unchecked Sendable {
    /// The number of elements of the weight slice, and of each array.
    public let count: Int
    /// The state arrays, in the order the optimizer documents (empty for plain SGD and NAG).
    public let arrays: [NDArray]
    /// Updates applied so far, counting from `beginNumUpdate` (MXNet's `_index_update_count[index]`).
    ///
    /// `update` adds 1 before computing the rate, as MXNet's `_update_count` does, so the first
    /// update sees `beginNumUpdate + 1`. Adam's bias correction and the LR schedule both use it.
    public var numUpdate: Int

    /// A state built from existing arrays (for example, read from a state file).
    ///
    /// Throws `OptimizerError.badState` if `count` or `numUpdate` is negative or an array does not
    /// hold `count` elements.
    public init(count: Int, arrays: [NDArray], numUpdate: Int) throws(OptimizerError) {
        guard count >= 0 else { throw .badState("element count \(count) is negative") }
        guard numUpdate >= 0 else { throw .badState("update count \(numUpdate) is negative") }
        for (i, a) in arrays.enumerated() where a.count != count {
            throw .badState("state array \(i) holds \(a.count) elements, expected \(count)")
        }
        self.count = count
        self.arrays = arrays
        self.numUpdate = numUpdate
    }

    /// `arrayCount` zero-filled arrays of `count` elements, starting at `numUpdate`.
    convenience init(zeros arrayCount: Int, count: Int, numUpdate: Int) {
        self.init(unchecked: count, arrays: (0..<arrayCount).map { _ in NDArray(shape: [count]) }, numUpdate: numUpdate)
    }

    /// A state whose counts the caller has already checked.
    init(unchecked count: Int, arrays: [NDArray], numUpdate: Int) {
        self.count = count
        self.arrays = arrays
        self.numUpdate = numUpdate
    }

    /// An independent copy (arrays copied).
    public func copy() -> OptimizerState {
        OptimizerState(unchecked: count, arrays: arrays.map { $0.copy() }, numUpdate: numUpdate)
    }
}

/// An optimizer: updates a weight in place from its gradient and its per-parameter state.
///
/// MXNet 1.x's `mx.optimizer.Optimizer` as used by an `Updater`, keyed by parameter name instead of
/// an integer index. Every update is purely element-wise and its scalars (learning rate, weight decay,
/// bias correction) depend only on the configuration, the parameter's name and `state.numUpdate`.
/// So updating two slices of a weight with their slices of the state gives bit for bit what updating
/// the whole gives; parameter servers rely on this. `update` does not allocate.
///
/// The update count: MXNet keeps one count per parameter (`_index_update_count`, used for Adam's
/// bias correction `t`) and feeds the schedule the global `num_update`, the maximum of those counts.
/// SwiftPS feeds the schedule the parameter's own count (`state.numUpdate`). When every parameter
/// is updated once per step, as under `Module.update` and `dist_sync`, every count equals the
/// maximum, so the rates are MXNet's; and since each count travels with its state (and its state
/// file), a server holding any slice computes the same rate without knowing about other parameters,
/// before and after a resume. The two differ only when parameters are updated unevenly (MXNet's
/// lagging parameters would use the leader's rate).
public protocol Optimizer: Sendable {
    /// The configuration this optimizer was made from (what servers receive).
    var config: OptimizerConfig { get }
    /// How many state arrays each parameter needs (MXNet's `create_state` result size).
    var stateArrayCount: Int { get }
    /// Zero state for a weight (or slice) of `count` elements (MXNet's `create_state`).
    ///
    /// The update count starts at `config.beginNumUpdate`. Throws if `count` is negative.
    func createState(name: String, count: Int) throws(OptimizerError) -> OptimizerState
    /// Updates `weight` in place from `grad` and `state` (MXNet's `Optimizer.update(index, ...)`).
    ///
    /// `weight`, `grad` and every state array must hold `state.count` elements, and the state must
    /// have `stateArrayCount` arrays; otherwise `OptimizerError.badParameter` is thrown and nothing
    /// changes. Shapes do not matter: the arrays are used as flat buffers.
    func update(name: String, weight: NDArray, grad: NDArray, state: OptimizerState) throws(OptimizerError)
}

extension Optimizer {
    /// Zero state with `stateArrayCount` arrays, starting at `config.beginNumUpdate`.
    public func createState(name: String, count: Int) throws(OptimizerError) -> OptimizerState {
        guard count >= 0 else { throw .badParameter("cannot create state for '\(name)' with \(count) elements") }
        return OptimizerState(zeros: stateArrayCount, count: count, numUpdate: config.beginNumUpdate)
    }

    /// The learning rate `update` uses for parameter `name` at update count `numUpdate`.
    ///
    /// MXNet's `_get_lr`: the schedule's rate at `num_update` (or the fixed learning rate) times
    /// the parameter's `lr_mult`. Adam additionally folds its bias correction into this rate.
    public func learningRate(for name: String, numUpdate: Int) -> Double {
        let base: Double
        if let s = config.lrScheduler, let sched = try? LRScheduler(s, baseLR: config.learningRate) {
            base = sched.learningRate(at: numUpdate)
        } else {
            base = config.learningRate
        }
        return base * config.lrMultiplier(for: name)
    }

    /// The weight decay `update` uses for parameter `name`: `wd` times its `wd_mult` (MXNet's `_get_wd`).
    public func weightDecay(for name: String) -> Double { config.wd * config.wdMultiplier(for: name) }
}

/// Makes the optimizer `config.name` names (MXNet's `mx.optimizer.create(name, **kwargs)`).
///
/// Throws `OptimizerError.unknownOptimizer` for a name other than sgd, nag, adam, adagrad or
/// rmsprop, and `OptimizerError.badParameter` for an out-of-range hyper-parameter.
public func makeOptimizer(_ config: OptimizerConfig) throws(OptimizerError) -> any Optimizer {
    switch config.name.lowercased() {
    case "sgd": return try SGD(config)
    case "nag": return try NAG(config)
    case "adam": return try Adam(config)
    case "adagrad": return try AdaGrad(config)
    case "rmsprop": return try RMSProp(config)
    default: throw .unknownOptimizer(config.name)
    }
}

/// What every optimizer shares: the checked configuration, the schedule and the step preamble.
struct OptimizerCore: Sendable {
    let config: OptimizerConfig
    let scheduler: LRScheduler?
    let rescale: Float
    /// The clip bound, or +infinity when clipping is off (clamping to ±inf changes no finite value).
    let clip: Float

    init(_ config: OptimizerConfig, expecting name: String) throws(OptimizerError) {
        guard config.name.lowercased() == name else {
            throw .badParameter("a '\(config.name)' configuration cannot make the \(name) optimizer")
        }
        try config.validate()
        self.config = config
        scheduler = try config.lrScheduler.map { (s) throws(OptimizerError) in
            try LRScheduler(s, baseLR: config.learningRate)
        }
        rescale = Float(config.rescaleGrad)
        clip = config.clipGradient.map { Float($0) } ?? .infinity
    }

    /// One update step: its scalars and the flat buffers its kernel reads and writes.
    struct Step {
        /// Learning rate with schedule and `lr_mult` applied (in `Double`: Adam folds its bias
        /// correction in before converting).
        var lr: Double
        /// Weight decay with `wd_mult` applied.
        var wd: Float
        /// The update count including this update (MXNet's `t` / `num_update`).
        var t: Int
        /// The element count of the weight, the gradient and every state array.
        let count: Int
        /// The weight, updated in place.
        let weight: UnsafeMutablePointer<Float>
        /// The gradient, read only.
        let grad: UnsafePointer<Float>
        /// `rescale_grad`.
        let rescale: Float
        /// The clip bound (+infinity when clipping is off).
        let clip: Float

        /// `clip(rescaleGrad * grad[i], clipGradient)`: the gradient of SGD, NAG and AdaGrad, which
        /// add weight decay after clipping.
        @inline(__always) func clippedGrad(_ i: Int) -> Float {
            clamp(rescale * grad[i], clip)
        }

        /// `clip(rescaleGrad * grad[i] + wd * weight[i], clipGradient)`: the gradient of Adam and
        /// RMSProp, whose kernels add weight decay before clipping.
        @inline(__always) func decayedClippedGrad(_ i: Int) -> Float {
            clamp(rescale * grad[i] + wd * weight[i], clip)
        }
    }

    /// Checks the arguments, counts the update (MXNet's `_update_count`) and runs `kernel` on the
    /// step, keeping `weight`, `grad` and `state` alive while it reads their buffers.
    ///
    /// Throws `OptimizerError.badParameter`, before anything changes, unless `weight`, `grad` and
    /// every state array hold `state.count` elements and the state has `arrays` arrays.
    @inline(__always)
    func update(
        name: String, weight: NDArray, grad: NDArray, state: OptimizerState, arrays: Int,
        _ kernel: (Step) -> Void
    ) throws(OptimizerError) {
        guard weight.count == grad.count else {
            throw .badParameter("'\(name)': weight has \(weight.count) elements but gradient has \(grad.count)")
        }
        guard weight.count == state.count else {
            throw .badParameter("'\(name)': weight has \(weight.count) elements but its state has \(state.count)")
        }
        guard state.arrays.count == arrays else {
            throw .badParameter(
                "'\(name)': \(config.name) needs \(arrays) state arrays, the state has \(state.arrays.count)")
        }
        for a in state.arrays where a.count != state.count {
            throw .badParameter("'\(name)': a state array has \(a.count) elements, expected \(state.count)")
        }
        state.numUpdate += 1
        let t = state.numUpdate
        let base = scheduler?.learningRate(at: t) ?? config.learningRate
        let step = Step(
            lr: base * config.lrMultiplier(for: name), wd: Float(config.wd * config.wdMultiplier(for: name)), t: t,
            count: weight.count, weight: weight.data, grad: UnsafePointer(grad.data), rescale: rescale, clip: clip)
        withExtendedLifetime((weight, grad, state)) { kernel(step) }
    }
}

/// MXNet's `mshadow_op::clip::Map(x, bound)`: `x` limited to `[-bound, bound]`.
@inline(__always) func clamp(_ x: Float, _ bound: Float) -> Float {
    x > bound ? bound : (x < -bound ? -bound : x)
}
