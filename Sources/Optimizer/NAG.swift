import SwiftPSTensor

/// Nesterov accelerated SGD, MXNet 1.x's `NAG`.
///
/// With `momentum > 0` the state is one array, the momentum `mom`, and each element is updated as
/// MXNet's `NAG.update` does:
///
///     g   = clip(rescaleGrad * grad, clipGradient) + wd * weight
///     mom = momentum * mom + g
///     weight -= lr * (g + momentum * mom)
///
/// With `momentum == 0` there is no state and `weight -= lr * (g + wd * weight)`, which is the same
/// formula. The clip is applied after rescaling and before weight decay, as in MXNet.
public struct NAG: Optimizer {
    /// The configuration (name "nag").
    public let config: OptimizerConfig
    private let core: OptimizerCore
    private let momentum: Float

    /// A NAG optimizer; throws if the configuration is not a valid "nag" configuration.
    public init(_ config: OptimizerConfig) throws(OptimizerError) {
        core = try OptimizerCore(config, expecting: "nag")
        self.config = config
        momentum = Float(config.momentum)
    }

    /// 1 (the momentum) when `momentum > 0`, else 0, as MXNet's `NAG.create_state`.
    public var stateArrayCount: Int { config.momentum > 0 ? 1 : 0 }

    /// One NAG step on `weight` (see the type's description for the formula).
    public func update(name: String, weight: NDArray, grad: NDArray, state: OptimizerState) throws(OptimizerError) {
        try core.update(name: name, weight: weight, grad: grad, state: state, arrays: stateArrayCount) { step in
            let (lr, wd) = (Float(step.lr), step.wd)
            let w = step.weight
            if state.arrays.isEmpty {
                for i in 0..<step.count {
                    w[i] += -lr * (step.clippedGrad(i) + wd * w[i])
                }
            } else {
                let mom = state.arrays[0].data
                for i in 0..<step.count {
                    var gi = step.clippedGrad(i)
                    mom[i] *= momentum
                    gi += wd * w[i]
                    mom[i] += gi
                    gi += momentum * mom[i]
                    w[i] += -lr * gi
                }
            }
        }
    }
}
