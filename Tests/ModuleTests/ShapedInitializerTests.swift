import SwiftPSGraph
import SwiftPSModule
import SwiftPSTensor
import Testing

/// The weight of `shape` after `initializer`'s own algorithm.
private func filled(_ initializer: any Initializer, _ shape: [Int], seed: UInt64 = 1) throws -> [Float] {
    var rng = RandomGenerator(seed: seed)
    let array = NDArray(shape: shape, repeating: 7)
    try initializer.initWeight(name: "w_weight", array: array, rng: &rng)
    return array.toArray()
}

/// `a · bᵀ` of row-major matrices `a` (m × k) and `b` (n × k), in Double.
private func gram(_ a: [Float], rows m: Int, columns k: Int, transposed: Bool) -> [[Double]] {
    // transposed: the Gram matrix of the columns (k × k) instead of the rows (m × m).
    let (count, length) = transposed ? (k, m) : (m, k)
    func element(_ vector: Int, _ i: Int) -> Double { Double(transposed ? a[i * k + vector] : a[vector * k + i]) }
    return (0..<count).map { r in
        (0..<count).map { c in (0..<length).reduce(0) { $0 + element(r, $1) * element(c, $1) } }
    }
}

/// Bilinear, Orthogonal and LSTMBias: the deterministic ones value for value against MXNet 1.9.1,
/// the random one by its properties.
@Suite("Bilinear, Orthogonal and LSTMBias initializers")
struct ShapedInitializerTests {
    @Test func bilinearMatchesMXNet() throws {
        // MXNet 1.9.1's mx.init.Bilinear() on these weight shapes printed:
        let expected: [([Int], [Float])] = [
            (
                [1, 1, 4, 4],
                [
                    0.0625, 0.1875, 0.1875, 0.0625, 0.1875, 0.5625, 0.5625, 0.1875, 0.1875, 0.5625, 0.5625, 0.1875,
                    0.0625, 0.1875, 0.1875, 0.0625,
                ]
            ),
            ([1, 1, 3, 3], [0.0625, 0.1875, 0.1875, 0.1875, 0.5625, 0.5625, 0.1875, 0.5625, 0.5625]),
            ([2, 1, 2, 2], [1, 0, 0, 0, 1, 0, 0, 0]),
            // Not square: f comes from the width (3) for both axes, as MXNet computes it.
            (
                [1, 1, 4, 3],
                [0.0625, 0.1875, 0.1875, 0.1875, 0.5625, 0.5625, 0.1875, 0.5625, 0.5625, 0.0625, 0.1875, 0.1875]
            ),
            (
                [1, 1, 1, 5],
                [0.1111111119389534, 0.2222222238779068, 0.3333333432674408, 0.2222222238779068, 0.1111111119389534]
            ),
        ]
        for (shape, values) in expected {
            let got = try filled(Bilinear(), shape)
            #expect(zip(got, values).allSatisfy { abs($0 - $1) <= 1e-7 } && got.count == values.count, "\(shape)")
        }
        // MXNet: "IndexError: tuple index out of range" for fewer than 4 dimensions.
        for shape in [[4, 4], [3], [2, 2, 2]] {
            #expect(throws: InitializerError.self, "\(shape)") { try filled(Bilinear(), shape) }
        }
    }

    @Test func lstmBiasMatchesMXNet() throws {
        // MXNet 1.9.1's LSTMBias(2.5)._init_weight printed these: the second quarter along the first
        // axis is the forget bias, the rest 0; a first axis below 4 has no forget rows.
        #expect(try filled(LSTMBias(forgetBias: 2.5), [8]) == [0, 0, 2.5, 2.5, 0, 0, 0, 0])
        #expect(try filled(LSTMBias(forgetBias: 2.5), [10]) == [0, 0, 2.5, 2.5, 0, 0, 0, 0, 0, 0])
        #expect(try filled(LSTMBias(forgetBias: 2.5), [4, 2]) == [0, 0, 2.5, 2.5, 0, 0, 0, 0])
        #expect(try filled(LSTMBias(forgetBias: 2.5), [3]) == [0, 0, 0])
        #expect(LSTMBias().forgetBias == 1)
        // Through a variable's __init__ (MXNet: Variable('i2h_bias', init=LSTMBias(forget_bias=1.0))
        // writes '["lstmbias", {"forget_bias": 1.0}]' and fills [0, 0, 1, 1, 0, 0, 0, 0]); as a global
        // initializer the bias rule wins and the bias is 0, as MXNet's is.
        let own = try Initializers.create(attribute: #"["lstmbias", {"forget_bias": 1.0}]"#)
        var rng = RandomGenerator(seed: 1)
        let bias = NDArray(shape: [8])
        try own.initWeight(name: "i2h_bias", array: bias, rng: &rng)
        #expect(bias.toArray() == [0, 0, 1, 1, 0, 0, 0, 0])
        try LSTMBias(forgetBias: 3).initialize(name: "i2h_bias", array: bias, rng: &rng)
        #expect(bias.toArray() == [Float](repeating: 0, count: 8))
    }

    /// MXNet's Orthogonal keeps the SVD factor of the weight's shape: orthogonal rows of norm `scale`
    /// when there are no more rows than columns, orthogonal columns otherwise (MXNet's own (3, 5),
    /// (5, 3), (4, 4) and (4, 2, 3) weights pass the same checks).
    @Test func orthogonalRowsOrColumnsHaveNormScale() throws {
        let cases: [(shape: [Int], init: Orthogonal)] = [
            ([3, 5], Orthogonal()), ([5, 3], Orthogonal()), ([4, 4], Orthogonal(randType: .normal)),
            ([4, 2, 3], Orthogonal(scale: 2, randType: .normal)), ([64, 32], Orthogonal(scale: 0.5)),
            ([1, 1], Orthogonal()),
        ]
        for (shape, initializer) in cases {
            let values = try filled(initializer, shape, seed: 7)
            let rows = shape[0]
            let columns = values.count / rows
            let byColumns = rows > columns
            let g = gram(values, rows: rows, columns: columns, transposed: byColumns)
            let s2 = Double(initializer.scale * initializer.scale)
            for i in g.indices {
                for j in g.indices {
                    #expect(abs(g[i][j] - (i == j ? s2 : 0)) <= 1e-4 * s2, "\(shape) [\(i), \(j)]")
                }
            }
        }
        // (1, 1): ±scale, as MXNet's [[-1.414]].
        #expect(abs(abs(try filled(Orthogonal(), [1, 1])[0]) - 1.414) < 1e-6)
        // Seeded draws reproduce; different seeds differ; entries spread around 0.
        #expect(try filled(Orthogonal(), [8, 8], seed: 3) == filled(Orthogonal(), [8, 8], seed: 3))
        #expect(try filled(Orthogonal(), [8, 8], seed: 3) != filled(Orthogonal(), [8, 8], seed: 4))
        let big = try filled(Orthogonal(scale: 1), [256, 256], seed: 5)
        let mean = big.reduce(0.0) { $0 + Double($1) } / Double(big.count)
        // A 256 × 256 orthogonal matrix's entries have mean ~0 and variance 1/256.
        let variance = big.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(big.count)
        #expect(abs(mean) < 0.01 && abs(variance * 256 - 1) < 1e-3)
        // MXNet fails on a vector (its random shape (6, 1.0) is refused); SwiftPS names the shape.
        #expect(throws: InitializerError.self) { try filled(Orthogonal(), [6]) }
        #expect(try filled(Orthogonal(), [0, 3]).isEmpty)
    }

    @Test func createdByNameAndFromMXNetsDumps() throws {
        let o = try #require(try Initializers.create("orthogonal") as? Orthogonal)
        #expect(o.scale == 1.414 && o.randType == .uniform)
        let n = try #require(try Initializers.create("Orthogonal:2,normal") as? Orthogonal)
        #expect(n.scale == 2 && n.randType == .normal)
        #expect((try Initializers.create("lstmbias:0.5") as? LSTMBias)?.forgetBias == 0.5)
        #expect((try Initializers.create("lstmbias") as? LSTMBias)?.forgetBias == 1)
        #expect(try Initializers.create("bilinear") is Bilinear)
        #expect(throws: InitializerError.self) { try Initializers.create("orthogonal:1,cubic") }
        #expect(throws: InitializerError.self) { try Initializers.create("bilinear:2") }
        // What MXNet 1.9.1's dumps() writes for Orthogonal(), Orthogonal(scale=2, rand_type="normal"),
        // LSTMBias(0.5) and Bilinear().
        let dumped = try #require(
            try Initializers.create(attribute: #"["orthogonal", {"scale": 1.414, "rand_type": "uniform"}]"#)
                as? Orthogonal)
        #expect(dumped.scale == 1.414 && dumped.randType == .uniform)
        let normal = try #require(
            try Initializers.create(attribute: #"["orthogonal", {"scale": 2, "rand_type": "normal"}]"#) as? Orthogonal)
        #expect(normal.scale == 2 && normal.randType == .normal)
        #expect(
            (try Initializers.create(attribute: #"["orthogonal", {"rand_type": "normal"}]"#) as? Orthogonal)?.scale
                == 1.414)
        #expect(
            (try Initializers.create(attribute: #"["lstmbias", {"forget_bias": 0.5}]"#) as? LSTMBias)?.forgetBias == 0.5
        )
        #expect(try Initializers.create(attribute: #"["bilinear", {}]"#) is Bilinear)
        #expect(throws: InitializerError.self) { try Initializers.create(attribute: #"["lstmbias", {"scale": 1}]"#) }
        for name in ["bilinear", "orthogonal", "lstmbias"] { #expect(Initializers.validNames.contains(name)) }
    }

    /// A module initializes an upsampling Deconvolution from its weight's `__init__` bilinear, as
    /// MXNet's `Variable('up_weight', init=mx.init.Bilinear())` does.
    @Test func moduleUsesABilinearVariableInitializer() throws {
        let weight = Symbol.variable("up_weight", attributes: ["__init__": #"["bilinear", {}]"#])
        let up = try Symbol.operation(
            "Deconvolution", name: "up", inputs: [("data", Symbol.variable("data")), ("weight", weight)],
            attributes: ["kernel": "(4, 4)", "stride": "(2, 2)", "pad": "(1, 1)", "num_filter": "1", "no_bias": "True"])
        let module = try Module(symbol: up, labelNames: [])
        try module.bind(dataShapes: [DataDesc(name: "data", shape: [1, 1, 3, 3])], forTraining: false)
        try module.initParams(initializer: Xavier())
        let w = try #require(try module.getParams().args["up_weight"])
        #expect(w.shape == [1, 1, 4, 4])
        #expect(w.toArray() == (try filled(Bilinear(), [1, 1, 4, 4])))
    }
}
