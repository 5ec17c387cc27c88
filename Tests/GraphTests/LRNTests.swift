import SwiftPSGraph
import SwiftPSTensor
import Testing

/// `LRN` across channels: MXNet's formula (alpha divided by nsize), by hand and as MXNet 1.9.1
/// computes it, forward and backward.
@Suite struct LRNTests {
    /// Three channels of one pixel, nsize 3, alpha 3 (alpha/nsize = 1), beta ½, knorm 1: the window
    /// of the middle channel holds all three, the edges two.
    @Test func byHand() throws {
        let f = try OpFixture(
            LRN(nsize: 3, alpha: 3, beta: 0.5, knorm: 1), shapes: [nil],
            given: [0: NDArray([1, 2, 3], shape: [1, 3, 1, 1])])
        expectClose(
            try f.forward()[0].toArray(),
            [1 / Float(6).squareRoot(), 2 / Float(15).squareRoot(), 3 / Float(14).squareRoot()], "LRN")
        // nsize 1: each channel by itself, y = x / (knorm + alpha x²)^beta.
        let one = try OpFixture(
            LRN(nsize: 1, alpha: 1, beta: 1, knorm: 1), shapes: [nil], given: [0: NDArray([2], shape: [1, 1, 1, 1])])
        expectClose(try one.forward()[0].toArray(), [0.4], "nsize 1")
    }

    /// MXNet 1.9.1's outputs and input gradient for `LRN(arange(8)·0.5 − 1 as (1, 4, 1, 2), nsize=3,
    /// alpha=0.6, beta=0.75, knorm=1.5)` with the head gradient below.
    @Test func matchesMXNet() throws {
        let x = NDArray((0..<8).map { Float($0) * 0.5 - 1 }, shape: [1, 4, 1, 2])
        let f = try OpFixture(LRN(nsize: 3, alpha: 0.6, beta: 0.75, knorm: 1.5), shapes: [nil], given: [0: x])
        let head: [Float] = [1, -1, 2, 0.5, -2, 1, 0.25, 3]
        for (j, h) in head.enumerated() { f.heads[0].data[j] = h }
        let g = try f.gradients()
        expectClose(
            f.outputs[0].toArray(),
            [-0.6716814, -0.35146332, 0, 0.29184657, 0.5029734, 0.6196961, 1.0059468, 1.0449066], "y")
        expectClose(
            g[0]!.toArray(),
            [0.5531494, -0.6592996, 1.2358472, 0.21961822, -0.91541153, -0.14552525, 0.30681378, 0.37618124], "dx")
    }

    @Test(arguments: [
        (LRN(nsize: 3, alpha: 0.5, beta: 0.75, knorm: 2), [2, 4, 2, 3]),
        (LRN(nsize: 5, alpha: 1, beta: 0.5, knorm: 1), [1, 7, 2, 2]),
        (LRN(nsize: 1, alpha: 0.3), [2, 2, 1, 2]), (LRN(nsize: 7, alpha: 2, beta: 1.5, knorm: 1), [1, 3, 2, 1]),
    ])
    func gradientsMatchFiniteDifferences(op: LRN, shape: [Int]) throws {
        let f = try OpFixture(op, shapes: [shape])
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    @Test func attributesAndShapes() throws {
        let op = try LRN(attributes: ["nsize": "5"])
        #expect(op.alpha == 1e-4 && op.beta == 0.75 && op.knorm == 2 && op.nsize == 5)
        #expect(try LRN(attributes: op.attributes).attributes == op.attributes)
        expectBadAttribute("nsize") { _ = try LRN(attributes: [:]) }
        expectBadAttribute("nsize") { _ = try LRN(attributes: ["nsize": "4"]) }
        expectBadAttribute("nsize") { _ = try LRN(attributes: ["nsize": "0"]) }
        expectBadAttribute("beta") { _ = try LRN(attributes: ["nsize": "3", "beta": "x"]) }
        expectBadAttribute("size") { _ = try OperatorRegistry.make("LRN", attributes: ["nsize": "3", "size": "3"]) }
        #expect(try op.inferShape([[2, 3, 4, 5]]).outputs == [[2, 3, 4, 5]])
        expectShapeError { _ = try op.inferShape([[2, 3, 4]]) }
        expectShapeError { _ = try op.inferShape([nil]) }
    }
}
