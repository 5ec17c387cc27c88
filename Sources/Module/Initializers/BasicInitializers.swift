import SwiftPSTensor

/// Fills weights with zeros, MXNet 1.x's `mx.init.Zero` (`"zero"`, alias `"zeros"`).
public struct Zero: Initializer {
    /// A zero initializer.
    public init() {}
    /// Sets every element to 0.
    public func initWeight(name: String, array: NDArray, rng: inout RandomGenerator) throws { array.fill(0) }
}

/// Fills weights with ones, MXNet 1.x's `mx.init.One` (`"one"`, alias `"ones"`).
public struct One: Initializer {
    /// A one initializer.
    public init() {}
    /// Sets every element to 1.
    public func initWeight(name: String, array: NDArray, rng: inout RandomGenerator) throws { array.fill(1) }
}

/// Fills weights with one value, MXNet 1.x's `mx.init.Constant(value)` (scalar form).
public struct Constant: Initializer {
    /// The value every weight element gets.
    public let value: Float
    /// A constant initializer.
    public init(value: Float) { self.value = value }
    /// Sets every element to `value`.
    public func initWeight(name: String, array: NDArray, rng: inout RandomGenerator) throws { array.fill(value) }
}

/// Uniform weights in `[-scale, scale)`, MXNet 1.x's `mx.init.Uniform(scale=0.07)`.
public struct Uniform: Initializer {
    /// The bound of the range.
    public let scale: Float
    /// A uniform initializer; MXNet's default scale is 0.07.
    public init(scale: Float = 0.07) { self.scale = scale }
    /// Draws every element from U(-scale, scale).
    public func initWeight(name: String, array: NDArray, rng: inout RandomGenerator) throws {
        rng.fillUniform(array, low: -scale, high: scale)
    }
}

/// Normal weights with mean 0, MXNet 1.x's `mx.init.Normal(sigma=0.01)`.
public struct Normal: Initializer {
    /// The standard deviation.
    public let sigma: Float
    /// A normal initializer; MXNet's default sigma is 0.01.
    public init(sigma: Float = 0.01) { self.sigma = sigma }
    /// Draws every element from N(0, sigma²).
    public func initWeight(name: String, array: NDArray, rng: inout RandomGenerator) throws {
        rng.fillNormal(array, mean: 0, std: sigma)
    }
}
