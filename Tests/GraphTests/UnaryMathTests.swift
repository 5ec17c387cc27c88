import SwiftPSGraph
import SwiftPSTensor
import Testing

/// MXNet's unary math operators (`exp` … `cos`): values and gradients printed by MXNet 1.9.1 on
/// one input (NaN and ±inf included), gradients against finite differences inside each domain,
/// MXNet's conventions at kinks, attributes and symbol JSON.
@Suite struct UnaryMathTests {
    static let input: [Float] = [-1.5, -0.5, 0, 0.5, 1.5, 2.5]

    /// (function, MXNet 1.9.1's output, MXNet 1.9.1's input gradient for a head of ones), printed
    /// with `autograd` on `mx.nd.<op>(mx.nd.array(input))`.
    static let mxnet: [(UnaryFunction, [Float], [Float])] = [
        (
            .exp, [0.22313017, 0.60653067, 1, 1.6487212, 4.481689, 12.182494],
            [0.22313017, 0.60653067, 1, 1.6487212, 4.481689, 12.182494]
        ),
        (
            .log, [.nan, .nan, -.infinity, -0.6931472, 0.4054651, 0.9162908],
            [-0.6666667, -2, .infinity, 2, 0.6666667, 0.4]
        ),
        (
            .sqrt, [.nan, .nan, 0, 0.70710677, 1.2247449, 1.5811388],
            [.nan, .nan, .infinity, 0.70710677, 0.40824828, 0.31622776]
        ),
        (
            .rsqrt, [.nan, .nan, .infinity, 1.4142135, 0.81649655, 0.6324555],
            [.nan, .nan, -.infinity, -1.4142135, -0.2721655, -0.12649111]
        ),
        (.square, [2.25, 0.25, 0, 0.25, 2.25, 6.25], [-3, -1, 0, 1, 3, 5]),
        (.abs, [1.5, 0.5, 0, 0.5, 1.5, 2.5], [-1, -1, 0, 1, 1, 1]),
        (.negative, [1.5, 0.5, 0, -0.5, -1.5, -2.5], [-1, -1, -1, -1, -1, -1]),
        (
            .reciprocal, [-0.6666667, -2, .infinity, 2, 0.6666667, 0.4],
            [-0.44444445, -4, -.infinity, -4, -0.44444445, -0.16]
        ),
        (
            .sigmoid, [0.18242553, 0.37754068, 0.5, 0.6224593, 0.81757444, 0.9241418],
            [0.14914647, 0.2350037, 0.25, 0.2350037, 0.14914647, 0.07010371]
        ),
        (
            .tanh, [-0.90514827, -0.46211717, 0, 0.46211717, 0.90514827, 0.9866143],
            [0.18070662, 0.7864477, 1, 0.7864477, 0.18070662, 0.026592255]
        ),
        (.relu, [0, 0, 0, 0.5, 1.5, 2.5], [0, 0, 0, 1, 1, 1]),
        (
            .softsign, [-0.6, -0.33333334, 0, 0.33333334, 0.6, 0.71428573],
            [0.16, 0.44444445, 1, 0.44444445, 0.16, 0.08163265]
        ),
        (.log1p, [.nan, -0.6931472, 0, 0.4054651, 0.9162908, 1.252763], [-2, 2, 1, 0.6666667, 0.4, 0.2857143]),
        (
            .expm1, [-0.77686983, -0.39346933, 0, 0.6487213, 3.481689, 11.182494],
            [0.22313017, 0.60653067, 1, 1.6487212, 4.481689, 12.182494]
        ),
        (.sign, [-1, -1, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0]),
        (.floor, [-2, -1, 0, 0, 1, 2], [0, 0, 0, 0, 0, 0]),
        (.ceil, [-1, 0, 0, 1, 2, 3], [0, 0, 0, 0, 0, 0]),
        // Halves away from zero.
        (.round, [-2, -1, 0, 1, 2, 3], [0, 0, 0, 0, 0, 0]),
        (
            .sin, [-0.997495, -0.47942555, 0, 0.47942555, 0.997495, 0.5984721],
            [0.0707372, 0.87758255, 1, 0.87758255, 0.0707372, -0.8011436]
        ),
        (
            .cos, [0.0707372, 0.87758255, 1, 0.87758255, 0.0707372, -0.8011436],
            [0.997495, 0.47942555, 0, -0.47942555, -0.997495, -0.5984721]
        ),
    ]

    static func op(_ function: UnaryFunction) throws -> any Operator {
        try OperatorRegistry.make(function.operatorName, attributes: [:])
    }

    /// Equal within `tol` relative, or both NaN, or the same infinity.
    static func expectMXNet(_ actual: [Float], _ expected: [Float], _ what: String) {
        #expect(actual.count == expected.count, "\(what)")
        for (i, (a, e)) in zip(actual, expected).enumerated() {
            let same = e.isNaN ? a.isNaN : (e.isInfinite ? a == e : abs(a - e) <= 1e-5 * max(1, abs(e)))
            #expect(same, "\(what)[\(i)] = \(a), MXNet 1.9.1 gives \(e)")
        }
    }

    @Test func everyFunctionIsRegisteredAndTested() {
        #expect(Self.mxnet.map(\.0.operatorName) == UnaryFunction.allCases.map(\.operatorName))
        for f in UnaryFunction.allCases { #expect(OperatorRegistry.names.contains(f.operatorName)) }
    }

    @Test func valuesAndGradientsMatchMXNet() throws {
        for (function, values, gradients) in Self.mxnet {
            let f = try OpFixture(try Self.op(function), shapes: [nil], given: [0: NDArray(Self.input, shape: [2, 3])])
            f.heads[0].fill(1)
            let g = try f.gradients()
            #expect(f.outputShapes == [[2, 3]])
            Self.expectMXNet(f.outputs[0].toArray(), values, "\(function.operatorName)")
            Self.expectMXNet(g[0]?.toArray() ?? [], gradients, "d\(function.operatorName)")
        }
    }

    /// Inside each domain and off each kink (sign, abs, relu at 0; floor, ceil at integers; round at
    /// halves), the gradient is the finite difference, also scaled by a random head and accumulated.
    @Test(arguments: UnaryFunction.allCases)
    func gradientsMatchFiniteDifferences(function: UnaryFunction) throws {
        let data: [Float]
        switch function {
        case .log, .sqrt, .rsqrt, .log1p: data = [0.3, 0.55, 0.8, 1.05, 1.3, 1.55, 1.8, 2.05]
        default: data = [-1.8, -1.3, -0.8, -0.3, 0.2, 0.7, 1.2, 1.7]
        }
        let f = try OpFixture(try Self.op(function), shapes: [nil], given: [0: NDArray(data, shape: [2, 4])])
        try GradientCheck.check(f, step: 1e-3)
        try GradientCheck.checkAccumulation(f)
        // Random inputs over [-1, 1) where the whole line is the domain.
        if [.exp, .square, .negative, .sigmoid, .tanh, .softsign, .expm1, .sin, .cos].contains(function) {
            let r = try OpFixture(try Self.op(function), shapes: [[3, 2, 2]])
            try GradientCheck.check(r)
        }
    }

    @Test func attributesShapesAndJSON() throws {
        expectBadAttribute("axis") { _ = try OperatorRegistry.make("exp", attributes: ["axis": "1"]) }
        expectShapeError { _ = try Self.op(.relu).inferShape([nil]) }
        #expect(try Self.op(.sin).inferShape([[4, 1, 3]]).outputs == [[4, 1, 3]])
        // Every function in one chain; it survives symbol JSON and infers its shapes.
        var h = Symbol.variable("data")
        for function in UnaryFunction.allCases { h = try Symbol.math(function, h, name: "u_\(function.operatorName)") }
        let again = try Symbol.fromJSON(h.toJSON())
        #expect(again.toJSON() == h.toJSON())
        #expect(h.toJSON().contains("\"op\": \"log1p\""))
        let exec = try again.simpleBind(shapes: ["data": [2, 3]])
        #expect(exec.outputs[0].shape == [2, 3])
    }
}
