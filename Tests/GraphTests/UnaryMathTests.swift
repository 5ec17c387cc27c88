import SwiftPSGraph
import SwiftPSTensor
import Testing

/// MXNet's unary math operators (`exp` … `cos`, `tan` … `logical_not`): values and gradients printed by MXNet 1.9.1 on
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
        (
            .tan, [-14.10142, -0.5463025, 0, 0.5463025, 14.10142, -0.7470223],
            [199.85005, 1.2984464, 1, 1.2984464, 199.85005, 1.5580423]
        ),
        (.arcsin, [.nan, -0.5235988, 0, 0.5235988, .nan, .nan], [.nan, 1.1547005, 1, 1.1547005, .nan, .nan]),
        (
            .arccos, [.nan, 2.0943952, 1.5707964, 1.0471976, .nan, .nan],
            [.nan, -1.1547005, -1, -1.1547005, .nan, .nan]
        ),
        (
            .arctan, [-0.98279375, -0.4636476, 0, 0.4636476, 0.98279375, 1.19029],
            [0.30769232, 0.8, 1, 0.8, 0.30769232, 0.13793103]
        ),
        (
            .sinh, [-2.1292794, -0.5210953, 0, 0.5210953, 2.1292794, 6.0502048],
            [2.3524096, 1.127626, 1, 1.127626, 2.3524096, 6.1322894]
        ),
        (
            .cosh, [2.3524096, 1.127626, 1, 1.127626, 2.3524096, 6.1322894],
            [-2.1292794, -0.5210953, 0, 0.5210953, 2.1292794, 6.0502048]
        ),
        (
            .arcsinh, [-1.1947632, -0.48121184, 0, 0.48121184, 1.1947632, 1.6472312],
            [0.5547002, 0.8944272, 1, 0.8944272, 0.5547002, 0.37139067]
        ),
        // The derivative's formula, 1/√(x²−1), is finite below −1.
        (
            .arccosh, [.nan, .nan, .nan, .nan, 0.9624237, 1.5667993],
            [0.8944272, .nan, .nan, .nan, 0.8944272, 0.43643576]
        ),
        // 1/(1−x²) beyond ±1.
        (.arctanh, [.nan, -0.54930615, 0, 0.54930615, .nan, .nan], [-0.8, 1.3333334, 1, 1.3333334, -0.8, -0.1904762]),
        (
            .degrees, [-85.943665, -28.647888, 0, 28.647888, 85.943665, 143.23944],
            [57.295776, 57.295776, 57.295776, 57.295776, 57.295776, 57.295776]
        ),
        (
            .radians, [-0.02617994, -0.008726646, 0, 0.008726646, 0.02617994, 0.04363323],
            [0.017453292, 0.017453292, 0.017453292, 0.017453292, 0.017453292, 0.017453292]
        ),
        (
            .log2, [.nan, .nan, -.infinity, -1, 0.5849625, 1.3219281],
            [-0.9617967, -2.88539, .infinity, 2.88539, 0.9617967, 0.577078]
        ),
        (
            .log10, [.nan, .nan, -.infinity, -0.30103, 0.17609125, 0.39794],
            [-0.28952965, -0.868589, .infinity, 0.868589, 0.28952965, 0.1737178]
        ),
        (
            .cbrt, [-1.1447142, -0.7937005, 0, 0.7937005, 1.1447142, 1.3572088],
            [0.25438094, 0.5291337, .infinity, 0.5291337, 0.25438094, 0.18096116]
        ),
        (
            .rcbrt, [-0.87358046, -1.259921, .infinity, 1.259921, 0.87358046, 0.7368063],
            [-0.194129, -0.83994734, -.infinity, -0.83994734, -0.194129, -0.09824084]
        ),
        (
            .erf, [-0.96610516, -0.5204999, 0, 0.5204999, 0.96610516, 0.999593],
            [0.11893028, 0.87878257, 1.1283791, 0.87878257, 0.11893028, 0.0021782841]
        ),
        (.erfinv, [.nan, -0.47693628, 0, 0.47693628, .nan, .nan], [.nan, 1.112585, 0.88622695, 1.112585, .nan, .nan]),
        (
            .gamma, [2.3632717, -3.544908, .infinity, 1.7724538, 0.88622695, 1.3293406],
            [1.6617506, -0.12935339, .infinity, -3.480232, 0.032338347, 0.93473482]
        ),
        (
            .gammaln, [0.86004704, 1.2655121, .infinity, 0.5723649, -0.12078223, 0.28468287],
            [0.70315677, 0.036489915, .infinity, -1.9635108, 0.036489915, 0.70315677]
        ),
        (.trunc, [-1, -0.0, 0, 0, 1, 2], [0, 0, 0, 0, 0, 0]),
        (.fix, [-1, -0.0, 0, 0, 1, 2], [0, 0, 0, 0, 0, 0]),
        // MXNet's rint sends halves down (not to even): −1.5 → −2, −0.5 → −1, 0.5 → 0, 1.5 → 1.
        (.rint, [-2, -1, 0, 0, 1, 2], [0, 0, 0, 0, 0, 0]),
        (.logicalNot, [0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0]),
    ]

    /// The domains' edges, MXNet 1.9.1 printing as above for the input `edges`.
    static let edges: [Float] = [-1, 1, 0.25, 2.5, 3.5, -2.5]
    static let mxnetAtEdges: [(UnaryFunction, [Float], [Float])] = [
        (
            .arcsin, [-1.5707964, 1.5707964, 0.25268024, .nan, .nan, .nan],
            [.infinity, .infinity, 1.0327955, .nan, .nan, .nan]
        ),
        (
            .arccos, [3.1415927, 0, 1.3181161, .nan, .nan, .nan],
            [-.infinity, -.infinity, -1.0327955, .nan, .nan, .nan]
        ),
        (
            .arccosh, [.nan, 0, .nan, 1.5667993, 1.9248474, .nan],
            [.infinity, .infinity, .nan, 0.43643576, 0.2981424, 0.43643576]
        ),
        (
            .arctanh, [-.infinity, .infinity, 0.25541282, .nan, .nan, .nan],
            [.infinity, .infinity, 1.0666667, -0.1904762, -0.08888889, -0.1904762]
        ),
        (
            .erfinv, [-.infinity, .infinity, 0.22531205, .nan, .nan, .nan],
            [.infinity, .infinity, 0.9323783, .nan, .nan, .nan]
        ),
        (
            .gamma, [.nan, 1, 3.62561, 1.3293406, 3.3233514, -0.9453086],
            [.nan, -0.5772157, -15.3271, 0.93473482, 3.6661777, -1.0428237]
        ),
        (
            .gammaln, [.infinity, 0, 1.2880225, 0.28468287, 1.2009736, -0.056243714],
            [.infinity, -0.5772157, -4.2274542, 0.70315677, 1.1031568, 1.1031568]
        ),
        (.rint, [-1, 1, 0, 2, 3, -3], [0, 0, 0, 0, 0, 0]),
        (
            .cbrt, [-1, 1, 0.62996054, 1.3572088, 1.5182945, -1.3572088],
            [0.33333334, 0.33333334, 0.83994734, 0.18096116, 0.14459948, 0.18096116]
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
        let cases = Self.mxnet.map { ($0, Self.input) } + Self.mxnetAtEdges.map { ($0, Self.edges) }
        for ((function, values, gradients), input) in cases {
            let f = try OpFixture(try Self.op(function), shapes: [nil], given: [0: NDArray(input, shape: [2, 3])])
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
        case .log, .sqrt, .rsqrt, .log1p, .log2, .log10, .gamma, .gammaln:
            data = [0.3, 0.55, 0.8, 1.05, 1.3, 1.55, 1.8, 2.05]
        case .arcsin, .arccos, .arctanh, .erfinv: data = [-0.9, -0.65, -0.4, -0.15, 0.1, 0.35, 0.6, 0.85]
        case .arccosh: data = [1.2, 1.45, 1.7, 1.95, 2.2, 2.45, 2.7, 2.95]
        default: data = [-1.8, -1.3, -0.8, -0.3, 0.2, 0.7, 1.2, 1.7]
        }
        let f = try OpFixture(try Self.op(function), shapes: [nil], given: [0: NDArray(data, shape: [2, 4])])
        try GradientCheck.check(f, step: 1e-3)
        try GradientCheck.checkAccumulation(f)
        // Random inputs over [-1, 1) where the whole line is the domain.
        let wholeLine: [UnaryFunction] = [
            .exp, .square, .negative, .sigmoid, .tanh, .softsign, .expm1, .sin, .cos, .tan, .arctan, .sinh, .cosh,
            .arcsinh, .degrees, .radians, .erf,
        ]
        if wholeLine.contains(function) {
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
