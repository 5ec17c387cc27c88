import SwiftPSGraph
import SwiftPSTensor
import Testing

@Suite struct BatchNormTests {
    /// Data (2, 2, 1, 2): channel 0 holds 1, 3 (n=0) and 5, 7 (n=1); channel 1 is all 2.
    static let data = NDArray([1, 3, 2, 2, 5, 7, 2, 2], shape: [2, 2, 1, 2])

    @Test func trainingForwardByHand() throws {
        let op = BatchNorm(fixGamma: false)
        let f = try OpFixture(
            op, shapes: [nil, nil, nil], given: [0: Self.data, 1: NDArray([2, 3]), 2: NDArray([0.5, -1])])
        let y = try f.forward(isTrain: true)[0].toArray()
        // Channel 0: mean 4, biased variance (9+1+1+9)/4 = 5, y = 2·(x − 4)/sqrt(5.001) + 0.5.
        // Channel 1: variance 0, so y = beta = −1.
        expectClose(y, [-2.1830133, -0.3943378, -1, -1, 1.3943378, 3.1830133, -1, -1], tol: 1e-5, "y")
        // moving = moving·0.9 + batch·0.1 from MXNet's initial (0, 1).
        expectClose(f.aux[0].toArray(), [0.4, 0.2], "moving_mean")
        expectClose(f.aux[1].toArray(), [1.4, 0.9], "moving_var")
    }

    @Test func fixGammaIgnoresGammaByHand() throws {
        let f = try OpFixture(
            BatchNorm(), shapes: [nil, nil, nil], given: [0: Self.data, 1: NDArray([2, 3]), 2: NDArray([0.5, -1])])
        f.heads[0].fill(1)
        let y = try f.forward(isTrain: true)[0].toArray()
        // gamma taken as 1: (x − 4)/sqrt(5.001) + 0.5.
        expectClose(Array(y[0..<2]), [-0.8415067, 0.0528311], tol: 1e-5, "y")
        let g = try f.gradients()
        expectClose(g[1]!.toArray(), [0, 0], "dgamma is 0 with fix_gamma")
        expectClose(g[2]!.toArray(), [4, 4], "dbeta = Σ dy")
        // With a constant head gradient the normalised output's gradient vanishes.
        expectClose(g[0]!.toArray(), Array(repeating: 0, count: 8), tol: 1e-4, "dx")
    }

    @Test func inferenceUsesMovingStatsByHand() throws {
        for (useGlobal, isTrain) in [(false, false), (true, true), (true, false)] {
            let op = BatchNorm(eps: 0, fixGamma: false, useGlobalStats: useGlobal)
            let aux = [NDArray([1, 0]), NDArray([4, 0.25])]
            let f = try OpFixture(
                op, shapes: [nil, nil, nil], given: [0: Self.data, 1: NDArray([2, 3]), 2: NDArray([0.5, -1])],
                aux: aux)
            let y = try f.forward(isTrain: isTrain)[0].toArray()
            // Channel 0: 2·(x − 1)/2 + 0.5 = x − 0.5; channel 1: 3·x/0.5 − 1 = 6x − 1 = 11.
            expectClose(y, [0.5, 2.5, 11, 11, 4.5, 6.5, 11, 11], "y")
            expectClose(aux[0].toArray(), [1, 0], "moving_mean unchanged")
            expectClose(aux[1].toArray(), [4, 0.25], "moving_var unchanged")
            f.heads[0].fill(1)
            // dx = dy·gamma/sqrt(var): 2/2 = 1 and 3/0.5 = 6.
            expectClose(try f.gradients(isTrain: isTrain)[0]!.toArray(), [1, 1, 6, 6, 1, 1, 6, 6], "dx")
        }
    }

    @Test func shapeInferenceAndAttributes() throws {
        let s = try BatchNorm().inferShape([[4, 3, 5, 5], nil, nil])
        #expect(s.inputs == [[4, 3, 5, 5], [3], [3]] && s.outputs == [[4, 3, 5, 5]] && s.aux == [[3], [3]])
        #expect(try BatchNorm(axis: -1).inferShape([[4, 3, 5, 7], nil, nil]).aux == [[7], [7]])
        #expect(BatchNorm().listAuxiliaryStates() == ["moving_mean", "moving_var"])
        expectShapeError { _ = try BatchNorm(axis: 4).inferShape([[4, 3, 5, 5], nil, nil]) }
        expectShapeError { _ = try BatchNorm().inferShape([[4, 3, 5, 5], [4], nil]) }
        let d = try BatchNorm(attributes: [:])
        #expect(d.eps == 1e-3 && d.momentum == 0.9 && d.fixGamma && !d.useGlobalStats && d.axis == 1)
        expectBadAttribute("momentum") { _ = try BatchNorm(attributes: ["momentum": "fast"]) }
        expectBadAttribute("momentum") { _ = try BatchNorm(attributes: ["momentum": "1.5"]) }
        expectBadAttribute("eps") { _ = try BatchNorm(attributes: ["eps": "-1"]) }
        expectBadAttribute("fix_gamma") { _ = try BatchNorm(attributes: ["fix_gamma": "sometimes"]) }
        expectBadAttribute("output_mean_var") { _ = try BatchNorm(attributes: ["output_mean_var": "True"]) }
    }

    @Test(arguments: [
        (true, false, 1, [3, 2, 2, 2]), (false, false, 1, [3, 2, 2, 2]), (false, true, 1, [3, 2, 2, 2]),
        (false, false, -1, [2, 3, 3]), (false, false, 1, [5, 3]),
    ])
    func gradient(fixGamma: Bool, useGlobalStats: Bool, axis: Int, shape: [Int]) throws {
        let op = BatchNorm(fixGamma: fixGamma, useGlobalStats: useGlobalStats, axis: axis)
        let c = shape[axis < 0 ? shape.count + axis : axis]
        let aux = [NDArray(shape: [c], repeating: 0.1), NDArray(shape: [c], repeating: 0.5)]
        let f = try OpFixture(op, shapes: [shape, nil, nil], aux: aux)
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    @Test func inferenceGradient() throws {
        let aux = [NDArray([0.1, -0.2]), NDArray([0.5, 2])]
        let f = try OpFixture(BatchNorm(fixGamma: false), shapes: [[3, 2, 2], nil, nil], aux: aux)
        try GradientCheck.check(f, isTrain: false)
    }
}
