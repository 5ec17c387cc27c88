import SwiftPSTensor

/// "Xavier" (Glorot) weight initialization, MXNet 1.x's `mx.init.Xavier(rnd_type="uniform",
/// factor_type="avg", magnitude=3)`.
///
/// With `fan_in = shape[1] × prod(shape[2...])` and `fan_out = shape[0] × prod(shape[2...])`, the
/// factor is their mean (`.avg`), `fan_in` (`.in`) or `fan_out` (`.out`) and
/// `scale = sqrt(magnitude / factor)`. Uniform draws from `[-scale, scale)`; gaussian from
/// `N(0, scale²)`. Arrays with fewer than two dimensions are rejected, as MXNet does.
public struct Xavier: Initializer {
    /// The distribution weights are drawn from (MXNet's `rnd_type`).
    public enum RandomType: String, Sendable, CaseIterable {
        /// Uniform in `[-scale, scale)`.
        case uniform
        /// Normal with standard deviation `scale`.
        case gaussian
    }

    /// Which fan divides the magnitude (MXNet's `factor_type`).
    public enum FactorType: String, Sendable, CaseIterable {
        /// `(fan_in + fan_out) / 2`.
        case avg
        /// `fan_in`.
        case `in`
        /// `fan_out`.
        case out
    }

    /// The distribution.
    public let rndType: RandomType
    /// The fan used as the factor.
    public let factorType: FactorType
    /// The numerator of the variance rule.
    public let magnitude: Float

    /// A Xavier initializer with MXNet's defaults (uniform, avg, magnitude 3).
    public init(rndType: RandomType = .uniform, factorType: FactorType = .avg, magnitude: Float = 3) {
        self.rndType = rndType
        self.factorType = factorType
        self.magnitude = magnitude
    }

    /// `(fan_in, fan_out)` of a weight shape, or nil for shapes with fewer than two dimensions.
    public static func fans(of shape: [Int]) -> (fanIn: Int, fanOut: Int)? {
        guard shape.count >= 2 else { return nil }
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// `sqrt(magnitude / factor)` for a weight of `shape`: the uniform bound or the gaussian std.
    public func scale(for shape: [Int]) -> Float? {
        guard let (fanIn, fanOut) = Xavier.fans(of: shape) else { return nil }
        let factor: Float
        switch factorType {
        case .avg: factor = Float(fanIn + fanOut) / 2
        case .in: factor = Float(fanIn)
        case .out: factor = Float(fanOut)
        }
        return (magnitude / factor).squareRoot()
    }

    /// Draws the weight from the distribution scaled for its shape.
    public func initWeight(name: String, array: NDArray, rng: inout RandomGenerator) throws {
        guard let scale = scale(for: array.shape) else {
            throw InitializerError.unsupportedShape(
                name: name, shape: array.shape, reason: "Xavier requires at least 2 dimensions")
        }
        if array.count == 0 { return }
        switch rndType {
        case .uniform: rng.fillUniform(array, low: -scale, high: scale)
        case .gaussian: rng.fillNormal(array, mean: 0, std: scale)
        }
    }
}

/// He/MSRA initialization for PReLU networks, MXNet 1.x's `mx.init.MSRAPrelu(factor_type="avg",
/// slope=0.25)`: Xavier with gaussian draws and magnitude `2 / (1 + slope²)`.
public struct MSRAPrelu: Initializer {
    /// The fan used as the factor.
    public let factorType: Xavier.FactorType
    /// The initial slope of the PReLU nonlinearities.
    public let slope: Float
    /// The equivalent Xavier initializer.
    public let xavier: Xavier

    /// An MSRA initializer with MXNet's defaults (avg, slope 0.25).
    public init(factorType: Xavier.FactorType = .avg, slope: Float = 0.25) {
        self.factorType = factorType
        self.slope = slope
        self.xavier = Xavier(rndType: .gaussian, factorType: factorType, magnitude: 2 / (1 + slope * slope))
    }

    /// Draws the weight as the equivalent gaussian Xavier does.
    public func initWeight(name: String, array: NDArray, rng: inout RandomGenerator) throws {
        try xavier.initWeight(name: name, array: array, rng: &rng)
    }
}
