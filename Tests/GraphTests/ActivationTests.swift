import SwiftPSGraph
import SwiftPSTensor
import Testing

@Suite struct ActivationTests {
    static let xs: [Float] = [-2, -0.5, 0, 0.5, 2]

    /// Forward values and, with a head gradient of 1, the derivatives, worked out by hand.
    @Test(
        arguments: [
            ("relu", [0, 0, 0, 0.5, 2], [0, 0, 0, 1, 1]),
            (
                "sigmoid", [0.11920292, 0.37754067, 0.5, 0.62245933, 0.88079708],
                [0.10499359, 0.23500371, 0.25, 0.23500371, 0.10499359]
            ),
            (
                "tanh", [-0.96402758, -0.46211716, 0, 0.46211716, 0.96402758],
                [0.07065082, 0.78644773, 1, 0.78644773, 0.07065082]
            ),
            // softrelu' = sigmoid
            (
                "softrelu", [0.12692801, 0.47407698, 0.69314718, 0.97407698, 2.12692801],
                [0.11920292, 0.37754067, 0.5, 0.62245933, 0.88079708]
            ),
            ("softsign", [-2.0 / 3, -1.0 / 3, 0, 1.0 / 3, 2.0 / 3], [1.0 / 9, 4.0 / 9, 1, 4.0 / 9, 1.0 / 9]),
        ] as [(String, [Float], [Float])])
    func byHand(act: String, y: [Float], dy: [Float]) throws {
        let op = try Activation(attributes: ["act_type": act])
        let f = try OpFixture(op, shapes: [nil], given: [0: NDArray(Self.xs)])
        f.heads[0].fill(1)
        let g = try f.gradients()
        expectClose(f.outputs[0].toArray(), y, "\(act) y")
        // relu' at exactly 0 is taken as 0 (MXNet: out > 0).
        expectClose(g[0]!.toArray(), dy, "\(act) dx")
    }

    @Test func softreluIsLinearForLargeInputs() throws {
        let f = try OpFixture(Activation(kind: .softrelu), shapes: [nil], given: [0: NDArray([30, 100])])
        expectClose(try f.forward()[0].toArray(), [30, 100], "softrelu")
    }

    @Test(arguments: Activation.Kind.allCases)
    func gradient(kind: Activation.Kind) throws {
        let f = try OpFixture(Activation(kind: kind), shapes: [[3, 4]], fill: .awayFromZero(0.05))
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    @Test func attributes() throws {
        expectBadAttribute("act_type") { _ = try Activation(attributes: [:]) }
        expectBadAttribute("act_type") { _ = try Activation(attributes: ["act_type": "swish"]) }
        #expect(try Activation(attributes: ["act_type": "tanh"]).kind == .tanh)
        #expect(try Activation(kind: .relu).inferShape([[2, 3, 4]]).outputs == [[2, 3, 4]])
    }
}

@Suite struct LeakyReLUTests {
    @Test(
        arguments: [
            ("leaky", Float(0.25), [-0.5, -0.125, 0, 0.5, 2], [0.25, 0.25, 0.25, 1, 1]),
            ("leaky", Float(0.1), [-0.2, -0.05, 0, 0.5, 2], [0.1, 0.1, 0.1, 1, 1]),
            ("elu", Float(1), [-0.86466472, -0.39346934, 0, 0.5, 2], [0.13533528, 0.60653066, 1, 1, 1]),
            ("elu", Float(0.5), [-0.43233236, -0.19673467, 0, 0.5, 2], [0.06766764, 0.30326533, 0.5, 1, 1]),
            (
                "selu", Float(0.25), [-1.52016647, -0.69175819, 0, 0.52535049, 2.10140197],
                [0.23793287, 1.06634115, 1.75809934, 1.05070099, 1.05070099]
            ),
            (
                "gelu", Float(0.25), [-0.04550026, -0.15426877, 0, 0.34573123, 1.95449974],
                [-0.0852318, 0.13250488, 0.5, 0.86749512, 1.0852318]
            ),
        ] as [(String, Float, [Float], [Float])])
    func byHand(act: String, slope: Float, y: [Float], dy: [Float]) throws {
        let op = try LeakyReLU(attributes: ["act_type": act, "slope": "\(slope)"])
        let f = try OpFixture(op, shapes: [nil], given: [0: NDArray(ActivationTests.xs)])
        f.heads[0].fill(1)
        let g = try f.gradients()
        expectClose(f.outputs[0].toArray(), y, "\(act) y")
        expectClose(g[0]!.toArray(), dy, "\(act) dx")
    }

    @Test(arguments: LeakyReLU.Kind.allCases)
    func gradient(kind: LeakyReLU.Kind) throws {
        let f = try OpFixture(LeakyReLU(kind: kind, slope: 0.3), shapes: [[2, 3, 2]], fill: .awayFromZero(0.05))
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    @Test func attributes() throws {
        let d = try LeakyReLU(attributes: [:])
        #expect(d.kind == .leaky && d.slope == 0.25)
        expectBadAttribute("act_type") { _ = try LeakyReLU(attributes: ["act_type": "relu6"]) }
        expectBadAttribute("slope") { _ = try LeakyReLU(attributes: ["slope": "steep"]) }
        expectBadAttribute("upper_bound") {
            _ = try LeakyReLU(attributes: ["act_type": "rrelu", "lower_bound": "0.5", "upper_bound": "0.25"])
        }
        let rrelu = try LeakyReLU(attributes: ["act_type": "rrelu", "lower_bound": "0.1"])
        #expect(
            rrelu.attributes == ["act_type": "rrelu", "slope": "0.25", "lower_bound": "0.1", "upper_bound": "0.334"])
    }

    /// prelu: one learned slope per channel (axis 1), or one for all; MXNet 1.9.1 printed
    /// [[-0.5, 2], [3, -2]] for the shared case.
    @Test func preluByHand() throws {
        let op = try LeakyReLU(attributes: ["act_type": "prelu"])
        #expect(op.listArguments() == ["data", "gamma"])
        let shared = try OpFixture(
            op, shapes: [nil, nil], given: [0: NDArray([-1, 2, 3, -4], shape: [2, 2]), 1: NDArray([0.5])])
        #expect(try shared.forward()[0].toArray() == [-0.5, 2, 3, -2])
        // Channels of 2 elements: slopes 0.1 and 0.2.
        let x = NDArray([-1, 1, -2, 2, -3, 3, 4, -4], shape: [2, 2, 2])
        let f = try OpFixture(op, shapes: [nil, nil], given: [0: x, 1: NDArray([0.1, 0.2])])
        f.heads[0].fill(1)
        let g = try f.gradients()
        expectClose(f.outputs[0].toArray(), [-0.1, 1, -0.4, 2, -0.3, 3, 4, -0.8], "y")
        expectClose(g[0]!.toArray(), [0.1, 1, 0.2, 1, 0.1, 1, 1, 0.2], "dx")
        expectClose(g[1]!.toArray(), [-4, -6], "dγ: the sum of the non-positive x of each channel")
        #expect(try op.inferShape([[4, 3, 5, 5], nil]).inputs == [[4, 3, 5, 5], [3]])
        #expect(try op.inferShape([[4, 3, 5, 5], [1]]).inputs == [[4, 3, 5, 5], [1]])
        expectShapeError { _ = try op.inferShape([[4, 3, 5, 5], [5]]) }
        expectShapeError { _ = try op.inferShape([[7], nil]) }
        try GradientCheck.check(try OpFixture(op, shapes: [[2, 3, 2], [1]], fill: .awayFromZero(0.05)))
        // Composing makes gamma a variable that starts at 0.25, as MXNet's.
        let sym = try Symbol.leakyReLU(.variable("data"), actType: "prelu", name: "p")
        #expect(sym.listArguments() == ["data", "p_gamma"])
        #expect(sym.attributeDictionary()["p_gamma"]?["__init__"] == #"["Constant", {"value": 0.25}]"#)
    }

    /// rrelu: the mean slope outside training (MXNet 1.9.1 printed −0.2295 for −1 with its default
    /// bounds); while training each element draws its slope in the bounds and backward uses it.
    @Test func rreluByHand() throws {
        let op = LeakyReLU(kind: .rrelu)
        let x = NDArray((0..<200).map { Float($0 % 2 == 0 ? -1 : 1) * Float($0 + 1) / 10 })
        let f = try OpFixture(op, shapes: [nil], given: [0: x])
        #expect(op.listOutputs() == ["output", "mask"] && f.outputShapes == [[200], [200]])
        let mean = try f.forward(isTrain: false)[0].toArray()
        expectClose([mean[0]], [-0.1 * 0.2295], "inference slope")
        f.heads[0].fill(1)
        let g = try f.gradients(isTrain: true)
        let y = f.outputs[0].toArray()
        var slopes: Set<Float> = []
        for i in 0..<200 {
            if x.data[i] > 0 {
                #expect(y[i] == x.data[i] && g[0]!.data[i] == 1)
            } else {
                let a = y[i] / x.data[i]
                #expect(a >= 0.125 - 1e-6 && a <= 0.334 + 1e-6, "slope \(a) outside the bounds")
                #expect(abs(g[0]!.data[i] - a) < 1e-5, "backward uses the drawn slope")
                #expect(abs(f.outputs[1].data[i] - a) < 1e-5, "the mask holds the slope")
                slopes.insert((a * 1000).rounded())
            }
        }
        #expect(slopes.count > 20, "the slopes are drawn, not one value")
    }
}
