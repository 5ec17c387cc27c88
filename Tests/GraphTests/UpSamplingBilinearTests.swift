import SwiftPSGraph
import SwiftPSTensor
import Testing

/// `UpSampling` with `sample_type="bilinear"`: MXNet's depthwise Deconvolution with a weight
/// argument. Figures marked "MXNet 1.9.1" were printed by it (oneDNN and its own kernels agree).
@Suite struct UpSamplingBilinearTests {
    static func attributes(scale: Int, channels: Int) -> [String: String] {
        ["scale": String(scale), "sample_type": "bilinear", "num_filter": String(channels), "num_args": "1"]
    }

    /// MXNet 1.9.1's infer_shape of (2, 3, 5, 4) data: weight (3, 1, k, k) with k = 2·scale − scale mod 2,
    /// output the image times scale.
    @Test(arguments: [(1, 1), (2, 4), (3, 5), (4, 8)])
    func shapesAsMXNet(scale: Int, kernel: Int) throws {
        let op = try UpSampling(attributes: Self.attributes(scale: scale, channels: 3))
        #expect(op.listArguments() == ["data", "weight"])
        let s = try op.inferShape([[2, 3, 5, 4], nil])
        #expect(s.inputs == [[2, 3, 5, 4], [3, 1, kernel, kernel]])
        #expect(s.outputs == [[2, 3, 5 * scale, 4 * scale]])
    }

    /// MXNet 1.9.1: 2-channel data −3.5…3.5, weights MXNet's `Bilinear` kernel (the second channel's
    /// times −2), head gradient 1, 2, 3, ….
    @Test(arguments: [
        (
            2,
            [Float](
                arrayLiteral: -1.96875, -2.4375, -2.0625, -1.40625, -2.25, -2.75, -2.25, -1.5, -1.5, -1.75, -1.25,
                -0.75, -0.84375, -0.9375, -0.5625, -0.28125, -0.5625, -1.125, -1.875, -1.6875, -1.5, -2.5, -3.5, -3,
                -3, -4.5, -5.5, -4.5, -2.8125, -4.125, -4.875, -3.9375),
            [Float](arrayLiteral: 14, 18.8125, 33.25, 38.0625, -126, -135.625, -164.5, -174.125),
            [Float](
                arrayLiteral: -3, -11, -13, -10.5, -10, -30, -38, -27, -22, -62, -70, -47, -25, -59, -65, -38.5, 77,
                133, 139, 57.5, 118, 194, 202, 77, 138, 226, 234, 89, 39, 53, 55, 13.5)
        ),
        (
            3,
            [
                -1.5555556, -2.3333335, -2.1111112, -1.888889, -1.6666667, -1.1111112, -2.3333335, -3.5, -3.166667,
                -2.8333335, -2.5, -1.6666667, -1.888889, -2.8333335, -2.5, -2.1666667, -1.8333334, -1.2222223,
                -1.4444444, -2.1666667, -1.8333335, -1.5, -1.1666667, -0.77777779, -1, -1.5, -1.1666666, -0.83333337,
                -0.5, -0.33333334, -0.66666669, -1, -0.77777779, -0.55555558, -0.33333334, -0.22222222, -0.44444445,
                -0.66666669, -1.1111112, -1.5555556, -2, -1.3333334, -0.66666669, -1, -1.6666667, -2.3333333, -3, -2,
                -1.5555556, -2.3333335, -3, -3.6666667, -4.3333335, -2.8888888, -2.4444447, -3.6666667, -4.3333335, -5,
                -5.666667, -3.7777779, -3.3333335, -5, -5.666667, -6.333334, -7, -4.666667, -2.2222223, -3.3333335,
                -3.7777779, -4.2222223, -4.666667, -3.1111112,
            ],
            [69.333336, 87.111107, 176, 193.77777, -650.66656, -686.22223, -864, -899.5556],
            [
                -7.5, -27.5, -29.5, -31.5, -24, -18, -53, -61, -69, -47, -36, -101, -109, -117, -77, -54, -149, -157,
                -165,
                -107, -52.5, -121.5, -127.5, -133.5, -77, 178.5, 304.5, 310.5, 316.5, 130, 258, 419, 427, 435, 165, 288,
                467, 475, 483, 183, 318, 515, 523, 531, 201, 85.5, 114.5, 116.5, 118.5, 29,
            ]
        ),
    ])
    func valuesAsMXNet(scale: Int, y: [Float], dx: [Float], dw: [Float]) throws {
        let k = 2 * scale - scale % 2
        // MXNet's Bilinear kernel: (1 − |x/f − c|)(1 − |y/f − c|), f = ⌈k/2⌉, c = (2f − 1 − f mod 2) / 2f.
        let f = Float((k + 1) / 2)
        let c = (2 * f - 1 - Float(Int(f) % 2)) / (2 * f)
        var w: [Float] = []
        for channel in 0..<2 {
            for i in 0..<(k * k) {
                let v = (1 - abs(Float(i % k) / f - c)) * (1 - abs(Float(i / k) / f - c))
                w.append(channel == 0 ? v : -2 * v)
            }
        }
        let x = NDArray((0..<8).map { Float($0) - 3.5 }, shape: [1, 2, 2, 2])
        let op = UpSampling(bilinearScale: scale, channels: 2)
        let fixture = try OpFixture(op, shapes: [nil, nil], given: [0: x, 1: NDArray(w, shape: [2, 1, k, k])])
        for j in 0..<fixture.heads[0].count { fixture.heads[0].data[j] = Float(j + 1) }
        let grads = try fixture.gradients()
        expectClose(fixture.outputs[0].toArray(), y, "y")
        expectClose(grads[0]!.toArray(), dx, "dx")
        expectClose(grads[1]!.toArray(), dw, "dw")
    }

    /// The same as MXNet's explicit Deconvolution (kernel k, stride scale, pad ⌈(scale − 1) / 2⌉,
    /// one group per channel, no bias), with gradients against finite differences.
    @Test(arguments: [1, 2, 3, 4])
    func isADepthwiseDeconvolution(scale: Int) throws {
        let k = 2 * scale - scale % 2
        let up = try OpFixture(UpSampling(bilinearScale: scale, channels: 3), shapes: [[2, 3, 3, 4], nil])
        let pad = scale / 2  // ⌈(scale − 1) / 2⌉
        let deconv = Deconvolution(
            kernel: [k, k], numFilter: 3, stride: [scale, scale], pad: [pad, pad], numGroup: 3)
        let explicit = try OpFixture(deconv, shapes: [nil, nil], given: [0: up.inputs[0], 1: up.inputs[1]])
        #expect(try up.forward()[0].toArray() == explicit.forward()[0].toArray())
        try GradientCheck.check(up)
        try GradientCheck.checkAccumulation(up)
    }

    @Test func attributesAndRefusals() throws {
        let a = Self.attributes(scale: 2, channels: 3)
        let op = try UpSampling(attributes: a)
        #expect(op.attributes == a && op.sampleType == .bilinear && op.numFilter == 3)
        // MXNet writes num_args 2 when the weight is given; bilinear ignores it.
        let two = try UpSampling(attributes: a.merging(["num_args": "2"]) { $1 })
        #expect(try two.inferShape([[1, 3, 2, 2], nil]).outputs == [[1, 3, 4, 4]])
        #expect(try UpSampling(attributes: two.attributes).attributes == two.attributes)
        // MXNet fails or crashes unless num_filter is the data's channels.
        expectBadAttribute("num_filter") { _ = try UpSampling(attributes: a.filter { $0.key != "num_filter" }) }
        expectBadAttribute("num_filter") { _ = try UpSampling(attributes: a.merging(["num_filter": "0"]) { $1 }) }
        expectShapeError { _ = try op.inferShape([[1, 2, 4, 4], nil]) }
        expectShapeError { _ = try op.inferShape([[1, 3, 4, 4], [3, 1, 3, 3]]) }
        expectShapeError { _ = try op.inferShape([[1, 3, 4], nil]) }
        expectBadAttribute("scale") { _ = try UpSampling(attributes: a.merging(["scale": "(2, 2)"]) { $1 }) }
    }

    /// A symbol's weight variable carries MXNet's `__init__` (as MXNet's FSetInputVarAttrOnCompose),
    /// kept through JSON; nearest upsampling's input gets none.
    @Test func weightVariableCarriesMXNetsInitializer() throws {
        let data = Symbol.variable("data")
        let up = try Symbol.bilinearUpSampling(data, scale: 2, channels: 3, name: "up")
        #expect(up.listArguments() == ["data", "up_weight"])
        let loaded = try Symbol.fromJSON(up.toJSON())
        for s in [up, loaded] {
            #expect(s.attributeDictionary()["up_weight"]?["__init__"] == #"["bilinear", {}]"#)
            #expect(try s.inferShape(["data": [2, 3, 5, 5]]).outputs == [[2, 3, 10, 10]])
        }
        let nearest = try Symbol.upSampling(data, scale: 2, name: "near")
        #expect(nearest.attributeDictionary()["data"]?["__init__"] == nil)
    }
}
