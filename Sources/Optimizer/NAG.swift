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
                for i in 0..<n {
                    w[i] += -lr * (clamp(rescale * g[i], clip) + wd * w[i])
                }
            } else {
                let mom = state.arrays[0].data
                for i in 0..<n {
                    var gi = clamp(rescale * g[i], clip)
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
