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
        let step = try core.begin(name: name, weight: weight, grad: grad, state: state, arrays: stateArrayCount)
        let lr = Float(step.lr)
        let wd = Float(step.wd)
        let n = weight.count
        let w = weight.data
        let g = UnsafePointer(grad.data)
        let rescale = core.rescale
        let clip = core.clip
        withExtendedLifetime((weight, grad, state)) {
            if state.arrays.isEmpty {
                let decay = 1 - lr * wd
                for i in 0..<n {
                    w[i] = decay * w[i] - lr * clamp(rescale * g[i], clip)
                }
            } else {
                let mom = state.arrays[0].data
                let lrwd = lr * wd
                for i in 0..<n {
                    mom[i] = momentum * mom[i] - lrwd * w[i] - lr * clamp(rescale * g[i], clip)
                    w[i] += mom[i]
                }
            }
        }
    }
}
