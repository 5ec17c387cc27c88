import SwiftPSTensor

/// AdaGrad, MXNet 1.x's `AdaGrad` (its dense update path).
///
/// The state is one array, the squared-gradient `history`. Each element is updated as MXNet's
/// `AdaGrad.update` does for dense gradients:
///
///     g = clip(rescaleGrad * grad, clipGradient)
///     history += g * g
///     weight += -lr * (g / sqrt(history + eps) + wd * weight)
///
/// `eps` is `config.epsilon` (MXNet's `eps`, default 1e-7). The clip is applied after rescaling and
/// before weight decay, as in MXNet.
public struct AdaGrad: Optimizer {
    /// The configuration (name "adagrad").
    public let config: OptimizerConfig
    private let core: OptimizerCore
    private let epsilon: Float

    /// An AdaGrad optimizer; throws if the configuration is not a valid "adagrad" configuration.
    public init(_ config: OptimizerConfig) throws(OptimizerError) {
        core = try OptimizerCore(config, expecting: "adagrad")
        self.config = config
        epsilon = Float(config.epsilon)
    }

    /// 1: the history, as MXNet's `AdaGrad.create_state`.
    public var stateArrayCount: Int { 1 }

    /// One AdaGrad step on `weight` (see the type's description for the formula).
    public func update(name: String, weight: NDArray, grad: NDArray, state: OptimizerState) throws(OptimizerError) {
        try core.update(name: name, weight: weight, grad: grad, state: state, arrays: 1) { step in
            let (lr, wd, eps) = (Float(step.lr), step.wd, epsilon)
            let w = step.weight
            let h = state.arrays[0].data
            for i in 0..<step.count {
                let gi = step.clippedGrad(i)
                h[i] += gi * gi
                let div = gi / (h[i] + eps).squareRoot()
                w[i] += (div + w[i] * wd) * -lr
            }
        }
    }
}
