import SwiftPSOptimizer
import SwiftPSTensor
import Testing

/// Expects two float lists to agree element by element within `tolerance`.
func expectClose(
    _ actual: [Float], _ expected: [Float], tolerance: Float = 1e-6, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(
        actual.count == expected.count, "count \(actual.count) != \(expected.count)", sourceLocation: sourceLocation)
    for (i, (a, e)) in zip(actual, expected).enumerated() {
        #expect(abs(a - e) <= tolerance, "element \(i): \(a) != \(e)", sourceLocation: sourceLocation)
    }
}

/// Expects a Double within `tolerance` of the expected value.
func expectClose(
    _ actual: Double, _ expected: Double, tolerance: Double = 1e-12, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(abs(actual - expected) <= tolerance, "\(actual) != \(expected)", sourceLocation: sourceLocation)
}

/// Runs `steps` updates of parameter `name` with the same gradient and returns the weight.
func run(
    _ config: OptimizerConfig, name: String = "w", weight: [Float], grads: [[Float]]
) throws -> (weight: [Float], state: OptimizerState) {
    let opt = try makeOptimizer(config)
    let w = NDArray(weight)
    let state = try opt.createState(name: name, count: weight.count)
    for g in grads {
        try opt.update(name: name, weight: w, grad: NDArray(g), state: state)
    }
    return (w.toArray(), state)
}

/// The bit patterns of a float array, for bit-exact comparisons.
func bits(_ a: NDArray) -> [UInt32] { a.toArray().map(\.bitPattern) }

/// A small deterministic list of floats in about [-2, 2].
func pseudoRandom(_ n: Int, seed: UInt64) -> [Float] {
    var x = seed
    return (0..<n).map { _ in
        x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(Int64(bitPattern: x >> 11) % 4000) / 1000 - 2
    }
}
