import SwiftPSGraph
import SwiftPSTensor
import Testing

/// LayerNorm, InstanceNorm and L2Normalization: MXNet 1.9.1's numbers for x = 0, 0.1, …, 2.3 of shape
/// (2, 3, 4), and gradients against finite differences.
@Suite struct NormalizationTests {
    static let x = NDArray((0..<24).map { Float($0) / 10 }, shape: [2, 3, 4])

    @Test func layerNormAsMXNet() throws {
        let op = LayerNorm(outputMeanVar: true)
        #expect(op.listOutputs() == ["output", "mean", "std"])
        let f = try OpFixture(
            op, shapes: [nil, nil, nil],
            given: [0: Self.x, 1: NDArray(shape: [4], repeating: 1), 2: NDArray(shape: [4])])
        let out = try f.forward()
        #expect(f.outputShapes == [[2, 3, 4], [2, 3, 1], [2, 3, 1]])
        // MXNet printed −1.3411045, −0.44703484, 0.44703478, 1.3411045 for every row (each row is
        // an arithmetic sequence), means 0.15, 0.55, … and σ 0.11184812.
        expectClose(Array(out[0].toArray()[0..<4]), [-1.3411045, -0.44703484, 0.44703478, 1.3411045], "row 0")
        expectClose(out[1].toArray(), [0.15, 0.55, 0.95, 1.35, 1.75, 2.15], "mean")
        expectClose(out[2].toArray(), [Float](repeating: 0.11184812, count: 6), "std")
        #expect(try LayerNorm(axis: 1).inferShape([[2, 3, 4, 5], nil, nil]).inputs == [[2, 3, 4, 5], [3], [3]])
        expectShapeError { _ = try LayerNorm(axis: 3).inferShape([[2, 3, 4], nil, nil]) }
        expectShapeError { _ = try LayerNorm().inferShape([[2, 3, 4], [3], nil]) }
    }

    @Test func instanceNormAsMXNet() throws {
        let f = try OpFixture(
            InstanceNorm(), shapes: [nil, nil, nil],
            given: [0: Self.x, 1: NDArray([1, 2, 3]), 2: NDArray([0, 1, 0])])
        // MXNet printed these for image 0 (eps 1e-3).
        expectClose(
            Array(try f.forward()[0].toArray()[0..<12]),
            [
                -1.2909945, -0.43033153, 0.43033144, 1.2909945, -1.581989, 0.13933676, 1.8606632, 3.5819886,
                -3.8729842, -1.2909963, 1.2909932, 3.8729827,
            ], "image 0")
        expectShapeError { _ = try InstanceNorm().inferShape([[2, 3], nil, nil]) }
    }

    @Test func l2NormalizationAsMXNet() throws {
        let channel = try OpFixture(L2Normalization(mode: "channel"), shapes: [nil], given: [0: Self.x])
        expectClose(
            Array(try channel.forward()[0].toArray()[0..<12]),
            [
                0, 0.09667366, 0.16903085, 0.22423054, 0.4472136, 0.48336828, 0.50709254, 0.52320457, 0.8944272,
                0.8700629, 0.8451542, 0.82217866,
            ], "channel mode, image 0")
        let instance = try OpFixture(L2Normalization(), shapes: [nil], given: [0: Self.x])
        expectClose(
            Array(try instance.forward()[0].toArray()[0..<4]), [0, 0.04445542, 0.08891085, 0.13336629], "instance")
        // Spatial: each (image, channel) row has norm 1.
        let spatial = try OpFixture(L2Normalization(mode: "spatial"), shapes: [nil], given: [0: Self.x])
        let y = try spatial.forward()[0].toArray()
        for row in 1..<6 {
            let norm = y[row * 4..<row * 4 + 4].reduce(0) { $0 + $1 * $1 }
            #expect(abs(norm - 1) < 1e-5)
        }
        expectShapeError { _ = try L2Normalization(mode: "spatial").inferShape([[2, 3]]) }
        expectBadAttribute("mode") { _ = try L2Normalization(attributes: ["mode": "batch"]) }
    }

    @Test(arguments: [-1, 0, 1, 2])
    func layerNormGradient(axis: Int) throws {
        let f = try OpFixture(LayerNorm(axis: axis, eps: 1e-3), shapes: [[2, 3, 4], nil, nil])
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    @Test func instanceNormGradient() throws {
        let f = try OpFixture(InstanceNorm(), shapes: [[2, 3, 2, 3], nil, nil])
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    @Test(arguments: ["instance", "channel", "spatial"])
    func l2NormalizationGradient(mode: String) throws {
        let f = try OpFixture(L2Normalization(mode: mode), shapes: [[2, 3, 2, 2]])
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    @Test func attributesRoundTripAndComposition() throws {
        let layerNorm = LayerNorm(axis: 1, eps: 1e-4, outputMeanVar: true)
        #expect(try LayerNorm(attributes: layerNorm.attributes).attributes == layerNorm.attributes)
        #expect(try InstanceNorm(attributes: ["eps": "0.01"]).eps == 0.01)
        let ln = try Symbol.layerNorm(.variable("data"), name: "ln")
        #expect(ln.listArguments() == ["data", "ln_gamma", "ln_beta"])
        let loaded = try Symbol.fromJSON(try Symbol.l2Normalization(ln, mode: "channel").toJSON())
        #expect(try loaded.inferShape(["data": [2, 5, 3]]).outputs == [[2, 5, 3]])
    }
}
