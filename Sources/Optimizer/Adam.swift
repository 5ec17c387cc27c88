import Foundation
import SwiftPSTensor

/// Adam, MXNet 1.x's `Adam` (the dense `adam_update` kernel).
///
/// The state is two arrays, the mean `m` and the variance `v`. With `t` the parameter's update count
/// (including this update), MXNet folds the bias correction into the learning rate, in `Double`:
///
///     lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
///
/// and each element is then updated as the `adam_update` kernel does:
///
///     g = clip(rescaleGrad * grad + wd * weight, clipGradient)
///     m = beta1 * m + (1 - beta1) * g
///     v = beta2 * v + (1 - beta2) * g * g
///     weight -= lr_t * m / (sqrt(v) + epsilon)
///
/// Note that MXNet's Adam adds weight decay to the gradient *before* clipping (unlike SGD).
public struct Adam: Optimizer {
    /// The configuration (name "adam").
    public let config: OptimizerConfig
    private let core: OptimizerCore
    private let beta1: Float
    private let beta2: Float
    private let epsilon: Float

    /// An Adam optimizer; throws if the configuration is not a valid "adam" configuration.
    public init(_ config: OptimizerConfig) throws(OptimizerError) {
        core = try OptimizerCore(config, expecting: "adam")
        self.config = config
        beta1 = Float(config.beta1)
        beta2 = Float(config.beta2)
        epsilon = Float(config.epsilon)
    }

    /// 2: the mean and the variance, as MXNet's `Adam.create_state`.
    public var stateArrayCount: Int { 2 }

    /// One Adam step on `weight` (see the type's description for the formula).
    public func update(name: String, weight: NDArray, grad: NDArray, state: OptimizerState) throws(OptimizerError) {
        try core.update(name: name, weight: weight, grad: grad, state: state, arrays: 2) { step in
            let t = Double(step.t)
            let coef1 = 1 - pow(config.beta1, t)
            let coef2 = 1 - pow(config.beta2, t)
            let lr = Float(step.lr * coef2.squareRoot() / coef1)
            let (b1, b2, eps) = (beta1, beta2, epsilon)
            let w = step.weight
            let m = state.arrays[0].data
            let v = state.arrays[1].data
            for i in 0..<step.count {
                let gi = step.decayedClippedGrad(i)
                m[i] = b1 * m[i] + (1 - b1) * gi
                v[i] = b2 * v[i] + (1 - b2) * gi * gi
                w[i] -= lr * m[i] / (v[i].squareRoot() + eps)
            }
        }
    }
}
