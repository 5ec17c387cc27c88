import SwiftPSTensor

/// Nesterov accelerated SGD, MXNet 1.x's `NAG`.
///
/// With `momentum > 0` the state is one array, the momentum `mom`, kept as MXNet 1.9.1's
/// `nag_mom_update` kernel keeps it: already multiplied by the learning rate (as SGD's), so a change
/// of rate (a schedule's drop, warm-up) acts on new gradients only. Each element, with
/// `g = clip(rescaleGrad * grad, clipGradient)`:
///
///     next   = momentum * mom - lr * (g + wd * weight)
///     weight = weight + momentum * next - lr * (g + wd * weight)
///     mom    = momentum * mom - lr * (g + wd * weight_new)
///
/// MXNet updates the weight in place before it stores the momentum, so the stored momentum's weight
/// decay sees the new weight (the last line); the weight's own step used the old one. (MXNet's
/// docstring gives the rate-free form `mom = momentum * mom + g'`, `weight -= lr * (g' + momentum *
/// mom)`, which agrees only while the rate stays fixed and there is no weight decay.)
///
/// With `momentum == 0` there is no state and `weight -= lr * (g + wd * weight)`. The clip is applied
/// after rescaling and before weight decay, as in MXNet.
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
                    let g = step.clippedGrad(i)
                    let decayed = g + wd * w[i]
                    let next = momentum * mom[i] - lr * decayed
                    w[i] = w[i] + momentum * next - lr * decayed
                    mom[i] = momentum * mom[i] - lr * (g + wd * w[i])
                }
            }
        }
    }
}
