import SwiftPSTensor

/// A parameter initializer, MXNet 1.x's `mx.init.Initializer`.
///
/// `initialize(name:array:rng:)` dispatches on the parameter's name as MXNet's
/// `Initializer.__call__` does: names ending in `weight` get the initializer's own algorithm
/// (`initWeight`), `bias` → 0, `gamma` → 1, `beta` → 0; BatchNorm's auxiliary states follow
/// MXNet's name rules: `moving_mean` → 0, `moving_var` → 1, `moving_inv_var` → 0, `moving_avg` → 0.
/// Any other name throws `InitializerError.unknownPattern`, as MXNet raises. Random draws come from
/// `rng`, so a seeded generator reproduces the same parameters.
public protocol Initializer: Sendable {
    /// Fills `array`, the parameter called `name`, by the name rules above.
    func initialize(name: String, array: NDArray, rng: inout RandomGenerator) throws
    /// Fills a weight array with this initializer's algorithm (MXNet's `_init_weight`).
    func initWeight(name: String, array: NDArray, rng: inout RandomGenerator) throws
}

extension Initializer {
    /// MXNet's name-based dispatch; see `Initializer`.
    public func initialize(name: String, array: NDArray, rng: inout RandomGenerator) throws {
        switch InitPattern(parameterName: name) {
        case .weight: try initWeight(name: name, array: array, rng: &rng)
        case .fill(let value): array.fill(value)
        case nil: throw InitializerError.unknownPattern(name: name)
        }
    }
}

/// What the default dispatch does with a parameter, decided by its name's suffix.
enum InitPattern: Equatable {
    case weight
    case fill(Float)

    init?(parameterName name: String) {
        if name.hasSuffix("weight") {
            self = .weight
        } else if name.hasSuffix("bias") || name.hasSuffix("beta") {
            self = .fill(0)
        } else if name.hasSuffix("gamma") {
            self = .fill(1)
        } else if name.hasSuffix("moving_mean") || name.hasSuffix("moving_inv_var") || name.hasSuffix("moving_avg") {
            self = .fill(0)
        } else if name.hasSuffix("moving_var") {
            self = .fill(1)
        } else {
            return nil
        }
    }
}
