import SwiftPSTensor

/// Stochastic gradient descent with optional momentum and weight decay, MXNet 1.x's `SGD`.
///
/// With `momentum > 0` the state is one array, the momentum `mom`, and each element is updated as
/// MXNet's `sgd_mom_update` kernel does:
///
///     g   = clip(rescaleGrad * grad, clipGradient)
///     mom = momentum * mom - lr * wd * weight - lr * g
///     weight += mom
///
/// With `momentum == 0` there is no state and the update is MXNet's `sgd_update`:
///
///     weight = (1 - lr * wd) * weight - lr * clip(rescaleGrad * grad, clipGradient)
///
/// `lr` is the scheduled rate times the parameter's `lr_mult`; `wd` is `wd` times its `wd_mult`.
/// The clip is applied after rescaling and before weight decay, as in MXNet.
public struct SGD: Optimizer {
    /// The configuration (name "sgd").
    public let config: OptimizerConfig
    private let core: OptimizerCore
    private let momentum: Float

    /// An SGD optimizer; throws if the configuration is not a valid "sgd" configuration.
    public init(_ config: OptimizerConfig) throws(OptimizerError) {
        core = try OptimizerCore(config, expecting: "sgd")
        self.config = config
        momentum = Float(config.momentum)
    }

    /// 1 (the momentum) when `momentum > 0`, else 0, as MXNet's `SGD.create_state`.
    public var stateArrayCount: Int { config.momentum > 0 ? 1 : 0 }

    /// One SGD step on `weight` (see the type's description for the formula).
    public func update(name: String, weight: NDArray, grad: NDArray, state: OptimizerState) throws(OptimizerError) {
        try core.update(name: name, weight: weight, grad: grad, state: state, arrays: stateArrayCount) { step in
            let lr = Float(step.lr)
            let w = step.weight
            if state.arrays.isEmpty {
                let decay = 1 - lr * step.wd
                for i in 0..<step.count {
                    w[i] = decay * w[i] - lr * step.clippedGrad(i)
                }
            } else {
                let mom = state.arrays[0].data
                let lrwd = lr * step.wd
                for i in 0..<step.count {
                    mom[i] = momentum * mom[i] - lrwd * w[i] - lr * step.clippedGrad(i)
                    w[i] += mom[i]
                }
            }
        }
    }
}
