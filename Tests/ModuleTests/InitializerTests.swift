import SwiftPSModule
import SwiftPSTensor
import Testing

/// Mean and (population) variance of `values`.
private func moments(_ values: [Float]) -> (mean: Double, variance: Double) {
    let n = Double(values.count)
    let mean = values.reduce(0.0) { $0 + Double($1) } / n
    let variance = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
    return (mean, variance)
}

private func relativelyClose(_ a: Double, _ b: Double, _ tol: Double) -> Bool { abs(a - b) <= tol * abs(b) }

@Suite("Initializers")
struct InitializerTests {
    @Test func dispatchBySuffix() throws {
        var rng = RandomGenerator(seed: 1)
        let initializer = Xavier()
        let expected: [(String, Float)] = [
            ("fc1_bias", 0), ("bn1_gamma", 1), ("bn1_beta", 0), ("bn1_moving_mean", 0), ("bn1_moving_var", 1),
            ("bn1_moving_inv_var", 0), ("bn1_moving_avg", 0),
        ]
        for (name, value) in expected {
            let a = NDArray(shape: [4], repeating: 7)
            try initializer.initialize(name: name, array: a, rng: &rng)
            #expect(a.toArray() == [value, value, value, value], "\(name)")
        }
        let w = NDArray(shape: [4, 3], repeating: 7)
        try initializer.initialize(name: "fc1_weight", array: w, rng: &rng)
        #expect(w.toArray().allSatisfy { abs($0) <= (3.0 / 3.5).squareRoot() })
        #expect(Set(w.toArray()).count == 12)
        // A custom weight-only algorithm still gets bias 0 and gamma 1 from the shared dispatch.
        let c = NDArray(shape: [2])
        try Constant(value: 0.5).initialize(name: "weight", array: c, rng: &rng)
        #expect(c.toArray() == [0.5, 0.5])
        try Constant(value: 0.5).initialize(name: "fc_bias", array: c, rng: &rng)
        #expect(c.toArray() == [0, 0])

        #expect(throws: InitializerError.unknownPattern(name: "fc1_scale")) {
            try initializer.initialize(name: "fc1_scale", array: c, rng: &rng)
        }
        do {
            try Uniform().initialize(name: "data", array: c, rng: &rng)
            Issue.record("an unknown suffix must throw")
        } catch let error as InitializerError {
            #expect(error.description.contains("data"))
        }
    }

    @Test func xavierFansByHand() throws {
        // Dense (128, 784): fan_in 784, fan_out 128; avg factor (784 + 128) / 2 = 456.
        let dense = try #require(Xavier.fans(of: [128, 784]))
        #expect(dense.fanIn == 784 && dense.fanOut == 128)
        #expect(abs(try #require(Xavier().scale(for: [128, 784])) - (3.0 / 456.0).squareRoot()) < 1e-7)
        // Conv (20, 1, 5, 5): receptive field 25; fan_in 1·25 = 25, fan_out 20·25 = 500.
        let conv = try #require(Xavier.fans(of: [20, 1, 5, 5]))
        #expect(conv.fanIn == 25 && conv.fanOut == 500)
        #expect(abs(try #require(Xavier().scale(for: [20, 1, 5, 5])) - (3.0 / 262.5).squareRoot()) < 1e-7)
        #expect(abs(try #require(Xavier(factorType: .in).scale(for: [20, 1, 5, 5])) - (3.0 / 25).squareRoot()) < 1e-7)
        #expect(
            abs(try #require(Xavier(factorType: .out).scale(for: [20, 1, 5, 5])) - (3.0 / 500).squareRoot()) < 1e-7)
        #expect(Xavier.fans(of: [10]) == nil)
        var rng = RandomGenerator(seed: 3)
        #expect(throws: InitializerError.self) {
            try Xavier().initialize(name: "fc_weight", array: NDArray(shape: [10]), rng: &rng)
        }
    }

    @Test func xavierUniformStatistics() throws {
        var rng = RandomGenerator(seed: 42)
        let w = NDArray(shape: [128, 784])
        try Xavier().initialize(name: "fc1_weight", array: w, rng: &rng)
        let bound = Float((3.0 / 456.0).squareRoot())  // 0.0811107
        let values = w.toArray()
        #expect(values.allSatisfy { abs($0) <= bound })
        #expect(values.max()! > 0.99 * bound && values.min()! < -0.99 * bound)
        let (mean, variance) = moments(values)
        #expect(abs(mean) < 0.001)
        // U(-b, b) has variance b²/3 = 1/456.
        #expect(relativelyClose(variance, 1.0 / 456.0, 0.03))
    }

    @Test func xavierGaussianAndMSRAStatisticsOnConvWeights() throws {
        var rng = RandomGenerator(seed: 7)
        let w = NDArray(shape: [20, 1, 5, 5])
        var gaussian: [Float] = []
        var msra: [Float] = []
        for _ in 0..<200 {
            try Xavier(rndType: .gaussian, factorType: .in).initialize(name: "conv1_weight", array: w, rng: &rng)
            gaussian += w.toArray()
            try MSRAPrelu().initialize(name: "conv1_weight", array: w, rng: &rng)
            msra += w.toArray()
        }
        // Gaussian, factor fan_in = 25: variance 3 / 25 = 0.12.
        let g = moments(gaussian)
        #expect(abs(g.mean) < 0.005)
        #expect(relativelyClose(g.variance, 0.12, 0.03))
        // MSRA: magnitude 2 / (1 + 0.25²) = 1.882353, factor (25 + 500) / 2 = 262.5.
        let m = moments(msra)
        #expect(relativelyClose(m.variance, (2.0 / 1.0625) / 262.5, 0.03))
        #expect(MSRAPrelu().xavier.magnitude == 2 / 1.0625)
    }

    @Test func uniformAndNormalDefaults() throws {
        var rng = RandomGenerator(seed: 9)
        let w = NDArray(shape: [100, 500])
        try Uniform().initialize(name: "w_weight", array: w, rng: &rng)
        #expect(w.toArray().allSatisfy { abs($0) <= 0.07 })
        #expect(relativelyClose(moments(w.toArray()).variance, 0.07 * 0.07 / 3, 0.03))
        try Normal().initialize(name: "w_weight", array: w, rng: &rng)
        #expect(relativelyClose(moments(w.toArray()).variance, 0.0001, 0.03))
        try One().initialize(name: "w_weight", array: w, rng: &rng)
        #expect(w.sum() == 50_000)
        try Zero().initialize(name: "w_weight", array: w, rng: &rng)
        #expect(w.sum() == 0)
    }

    @Test func seededInitializationIsReproducible() throws {
        func draw(_ seed: UInt64) throws -> [Float] {
            var rng = RandomGenerator(seed: seed)
            let w = NDArray(shape: [16, 8])
            try Xavier().initialize(name: "fc_weight", array: w, rng: &rng)
            try Normal(sigma: 1).initialize(name: "fc2_weight", array: w, rng: &rng)
            return w.toArray()
        }
        #expect(try draw(11) == draw(11))
        #expect(try draw(11) != draw(12))
    }

    @Test func mixedFirstMatchingPatternWins() throws {
        var rng = RandomGenerator(seed: 5)
        let mixed = try Mixed([("fc1_.*", One()), (".*bias", Constant(value: 3)), (".*", Zero())])
        let a = NDArray(shape: [3], repeating: 9)
        try mixed.initialize(name: "fc1_weight", array: a, rng: &rng)
        #expect(a.toArray() == [1, 1, 1])
        try mixed.initialize(name: "fc2_weight", array: a, rng: &rng)
        #expect(a.toArray() == [0, 0, 0])
        // The chosen initializer applies its own name rules: a bias is 0 even under Constant(3).
        a.fill(9)
        try mixed.initialize(name: "fc2_bias", array: a, rng: &rng)
        #expect(a.toArray() == [0, 0, 0])
        // Patterns match at the start of the name, as Python's re.match.
        let anchored = try Mixed([("bias", One())])
        #expect(throws: InitializerError.noPatternMatches(name: "fc1_bias", patterns: ["bias"])) {
            try anchored.initialize(name: "fc1_bias", array: a, rng: &rng)
        }
        #expect(throws: InitializerError.self) { try Mixed([("(", One())]) }
    }

    @Test func createByName() throws {
        var rng = RandomGenerator(seed: 2)
        let x = try #require(try Initializers.create("xavier") as? Xavier)
        #expect(x.rndType == .uniform && x.factorType == .avg && x.magnitude == 3)
        let g = try #require(try Initializers.create("Xavier:gaussian,in,2") as? Xavier)
        #expect(g.rndType == .gaussian && g.factorType == .in && g.magnitude == 2)
        #expect((try Initializers.create("uniform") as? Uniform)?.scale == 0.07)
        #expect((try Initializers.create("uniform:0.1") as? Uniform)?.scale == 0.1)
        #expect((try Initializers.create("normal") as? Normal)?.sigma == 0.01)
        #expect((try Initializers.create("msra") as? MSRAPrelu)?.slope == 0.25)
        #expect(try Initializers.create("zeros") is Zero)
        #expect(try Initializers.create("one") is One)
        let w = NDArray(shape: [2, 2])
        try Initializers.create("constant:0.5").initialize(name: "fc_weight", array: w, rng: &rng)
        #expect(w.toArray() == [0.5, 0.5, 0.5, 0.5])
        #expect(
            throws: InitializerError.unknownInitializer(name: "glorot", valid: Initializers.validNames)
        ) { try Initializers.create("glorot") }
        #expect(throws: InitializerError.self) { try Initializers.create("constant") }
        #expect(throws: InitializerError.self) { try Initializers.create("uniform:abc") }
        #expect(throws: InitializerError.self) { try Initializers.create("xavier:cubic") }
        #expect(throws: InitializerError.self) { try Initializers.create("zero:1") }
    }

    /// A variable's `__init__` attribute as MXNet's `Initializer.dumps()` writes it: the registered
    /// name and the constructor's keyword arguments, any of them left out.
    @Test func createFromMXNetsDumpedForm() throws {
        let g = try #require(
            try Initializers.create(
                attribute: #"["xavier", {"rnd_type": "gaussian", "factor_type": "in", "magnitude": 2}]"#)
                as? Xavier)
        #expect(g.rndType == .gaussian && g.factorType == .in && g.magnitude == 2)
        let m = try #require(try Initializers.create(attribute: #"["xavier", {"magnitude": 2.5}]"#) as? Xavier)
        #expect(m.rndType == .uniform && m.factorType == .avg && m.magnitude == 2.5, "earlier gaps take the defaults")
        #expect((try Initializers.create(attribute: #"["constant", {"value": 0.5}]"#) as? Constant)?.value == 0.5)
        #expect((try Initializers.create(attribute: #"["normal", {"sigma": 0.2}]"#) as? Normal)?.sigma == 0.2)
        #expect((try Initializers.create(attribute: #"["msraprelu", {"slope": 0.1}]"#) as? MSRAPrelu)?.slope == 0.1)
        #expect(try Initializers.create(attribute: #"["zero", {}]"#) is Zero)
        #expect(try Initializers.create(attribute: "ones") is One, "a plain name, as MXNet also accepts")
        #expect(throws: InitializerError.invalidArgument("uniform has no argument 'sigma' (it takes [\"scale\"])")) {
            try Initializers.create(attribute: #"["uniform", {"sigma": 1}]"#)
        }
        #expect(throws: InitializerError.self) { try Initializers.create(attribute: #"["constant", {}]"#) }
        #expect(throws: InitializerError.self) { try Initializers.create(attribute: #"["xavier", 3]"#) }
        #expect(throws: InitializerError.self) { try Initializers.create(attribute: #"["fusedrnn", {}]"#) }
    }
}
