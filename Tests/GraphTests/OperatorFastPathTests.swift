import Foundation
import SwiftPSGraph
import SwiftPSTensor
import Testing

/// The specialised loops (tanh approximation, 2×2 stride-2 max pooling, stride-1 im2col/col2im) on
/// shapes wide enough to reach their four-at-a-time paths and their scalar tails.
@Suite struct OperatorFastPathTests {
    @Test func tanhWithinThreeTenthsOfAMillionthRelative() throws {
        var xs: [Float] = stride(from: -10, through: 10, by: 1e-4).map { Float($0) }
        xs += (0..<3000).map { Float(pow(10, -30 + Double($0) / 100)) }
        let subnormal = Float.leastNormalMagnitude / 64
        xs += [0, -0, .infinity, -.infinity, subnormal, -subnormal, 9, 20, -20]
        let f = try OpFixture(try Activation(attributes: ["act_type": "tanh"]), shapes: [nil], given: [0: NDArray(xs)])
        let y = try f.forward()[0].toArray()
        var worst = 0.0
        for (x, v) in zip(xs, y) {
            let expected = Foundation.tanh(Double(x))
            let rel = abs(Double(v) - expected) / max(abs(expected), 1e-37)
            worst = max(worst, rel)
            #expect(v.sign == x.sign, "tanh(\(x)) = \(v) has the wrong sign")
        }
        #expect(worst <= 3e-7, "worst relative error \(worst)")
        let nan = try OpFixture(
            try Activation(attributes: ["act_type": "tanh"]), shapes: [nil], given: [0: NDArray([Float.nan])])
        #expect(try nan.forward()[0].data[0].isNaN)
    }

    /// The naive 2×2 stride-2 max: the first largest of each window and the gradient routed to it.
    static func referenceMax2x2(_ x: NDArray, _ dy: NDArray) -> (y: [Float], dx: [Float]) {
        let (planes, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (h / 2, w / 2)
        var y = [Float](repeating: 0, count: planes * oh * ow)
        var dx = [Float](repeating: 0, count: x.count)
        for p in 0..<planes {
            for r in 0..<oh {
                for c in 0..<ow {
                    var best = p * h * w + 2 * r * w + 2 * c
                    for i in [2 * r * w + 2 * c + 1, (2 * r + 1) * w + 2 * c, (2 * r + 1) * w + 2 * c + 1]
                    where x.data[p * h * w + i] > x.data[best] {
                        best = p * h * w + i
                    }
                    let o = (p * oh + r) * ow + c
                    y[o] = x.data[best]
                    dx[best] += dy.data[o]
                }
            }
        }
        return (y, dx)
    }

    @Test(arguments: [[2, 3, 10, 12], [1, 2, 9, 11], [1, 1, 4, 16], [3, 1, 6, 2]])
    func maxPool2x2MatchesTheNaiveLoop(shape: [Int]) throws {
        // Few distinct levels, so many windows hold ties.
        var rng = RandomGenerator(seed: 7)
        let x = NDArray(shape: shape)
        for i in 0..<x.count { x.data[i] = Float(Int(rng.nextUnit() * 5)) - 2 }
        let op = try Pooling(attributes: ["kernel": "(2, 2)", "stride": "(2, 2)"])
        let f = try OpFixture(op, shapes: [nil], given: [0: x])
        let grads = try f.gradients()
        let (y, dx) = Self.referenceMax2x2(x, f.heads[0])
        #expect(f.outputs[0].toArray() == y)
        #expect(grads[0]!.toArray() == dx)
        try GradientCheck.checkAccumulation(f)
    }

    @Test func maxPool2x2Gradient() throws {
        let op = try Pooling(attributes: ["kernel": "(2, 2)", "stride": "(2, 2)"])
        try GradientCheck.check(OpFixture(op, shapes: [[2, 2, 8, 10]], fill: .distinct(spacing: 0.05)))
    }

    @Test(arguments: [([1, 1], [0, 0]), ([1, 1], [1, 2]), ([2, 1], [1, 0])])
    func convolutionGradientOnWideRows(stride: [Int], pad: [Int]) throws {
        let op = Convolution(kernel: [3, 3], numFilter: 3, stride: stride, pad: pad)
        let f = try OpFixture(op, shapes: [[2, 2, 9, 13], nil, nil])
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }
}
