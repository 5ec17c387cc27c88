import SwiftPSTensor

/// RMSProp, MXNet 1.x's `RMSProp` (kernels `rmsprop_update` and `rmspropalex_update`).
///
/// Both versions start from `g = clip(rescaleGrad * grad + wd * weight, clipGradient)` (weight decay
/// before clipping, as MXNet's RMSProp kernels do).
///
/// Not centered (Tieleman & Hinton; `rmsprop_update`), state `[n]`:
///
///     n = (1 - gamma1) * g * g + gamma1 * n
///     weight -= lr * g / sqrt(n + epsilon)
///
/// Centered (Graves 2013; `rmspropalex_update`), state `[n, gbar, delta]`:
///
///     n     = (1 - gamma1) * g * g + gamma1 * n
///     gbar  = (1 - gamma1) * g + gamma1 * gbar
///     delta = gamma2 * delta - lr * g / sqrt(n - gbar * gbar + epsilon)
///     weight += delta
///
/// If `clipWeights` is set, the new weight is then clipped to `[-clipWeights, clipWeights]`.
public struct RMSProp: Optimizer {
    /// The configuration (name "rmsprop").
    public let config: OptimizerConfig
    private let core: OptimizerCore
    private let gamma1: Float
    private let gamma2: Float
    private let epsilon: Float
    private let clipWeights: Float

    /// An RMSProp optimizer; throws if the configuration is not a valid "rmsprop" configuration.
    public init(_ config: OptimizerConfig) throws(OptimizerError) {
        core = try OptimizerCore(config, expecting: "rmsprop")
        self.config = config
        gamma1 = Float(config.gamma1)
        gamma2 = Float(config.gamma2)
        epsilon = Float(config.epsilon)
        clipWeights = config.clipWeights.map { Float($0) } ?? .infinity
    }

    /// 3 (n, gbar, delta) when centered, else 1 (n), as MXNet's `RMSProp.create_state`.
    public var stateArrayCount: Int { config.centered ? 3 : 1 }

    /// One RMSProp step on `weight` (see the type's description for the formulas).
    public func update(name: String, weight: NDArray, grad: NDArray, state: OptimizerState) throws(OptimizerError) {
        try core.update(name: name, weight: weight, grad: grad, state: state, arrays: stateArrayCount) { step in
            let lr = Float(step.lr)
            let (g1, g2, eps, cw) = (gamma1, gamma2, epsilon, clipWeights)
            let w = step.weight
            let sn = state.arrays[0].data
            if state.arrays.count == 1 {
                for i in 0..<step.count {
                    let gi = step.decayedClippedGrad(i)
                    sn[i] = (1 - g1) * (gi * gi) + g1 * sn[i]
                    w[i] = clamp(w[i] - lr * (gi / (sn[i] + eps).squareRoot()), cw)
                }
            } else {
                let sg = state.arrays[1].data
                let delta = state.arrays[2].data
                for i in 0..<step.count {
                    let gi = step.decayedClippedGrad(i)
                    sn[i] = (1 - g1) * gi * gi + g1 * sn[i]
                    sg[i] = (1 - g1) * gi + g1 * sg[i]
                    delta[i] = g2 * delta[i] - lr * gi / (sn[i] - sg[i] * sg[i] + eps).squareRoot()
                    w[i] = clamp(w[i] + delta[i], cw)
                }
            }
        }
    }
}
