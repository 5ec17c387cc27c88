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
        expectBadAttribute("act_type") { _ = try LeakyReLU(attributes: ["act_type": "prelu"]) }
        expectBadAttribute("act_type") { _ = try LeakyReLU(attributes: ["act_type": "rrelu"]) }
        expectBadAttribute("act_type") { _ = try LeakyReLU(attributes: ["act_type": "relu6"]) }
        expectBadAttribute("slope") { _ = try LeakyReLU(attributes: ["slope": "steep"]) }
    }
}
