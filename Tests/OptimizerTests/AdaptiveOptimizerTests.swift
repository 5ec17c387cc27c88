import SwiftPSOptimizer
import SwiftPSTensor
import Testing

@Suite struct AdaptiveOptimizerTests {
    @Test func adamTwoStepsWithBiasCorrection() throws {
        // lr 0.1, beta1 0.9, beta2 0.999, eps 1e-8, w = [1, 2, 3]
        // t = 1, g = [1, -2, 0.5]: m = 0.1 g, v = 0.001 g^2, lr_t = 0.1 sqrt(0.001) / 0.1 = 0.0316228
        //   step = lr_t * 0.1 g / (sqrt(0.001) |g|) = 0.1 sign(g)       -> w = [0.9, 2.1, 2.9]
        //   (without bias correction the step would be 0.316)
        // t = 2, g = [-1, 2, 0.5]: lr_t = 0.1 sqrt(0.001999) / 0.19
        //   e0: m = 0.09 - 0.1 = -0.01, v = 0.000999 + 0.001 = 0.001999
        //       step = 0.1 * (-0.01 / 0.19) / sqrt(0.001999 / 0.001999) = -0.0052631579 -> 0.9052631579
        //   e1: m = -0.18 + 0.2 = 0.02, v = 0.003996 + 0.004 = 0.007996 = 4 * 0.001999
        //       step = 0.1 * (0.02 / 0.19) / 2 = 0.0052631579                    -> 2.0947368421
        //   e2: same gradient twice: m = 0.19 g, v = 0.001999 g^2, step = 0.1     -> 2.8
        let c = OptimizerConfig(name: "adam", learningRate: 0.1)
        #expect(c.epsilon == 1e-8)
        let opt = try makeOptimizer(c)
        let w = NDArray([1, 2, 3])
        let s = try opt.createState(name: "w", count: 3)
        try opt.update(name: "w", weight: w, grad: NDArray([1, -2, 0.5]), state: s)
        expectClose(w.toArray(), [0.9, 2.1, 2.9])
        expectClose(s.arrays[0].toArray(), [0.1, -0.2, 0.05])
        // in float32, as in MXNet's kernel, 1 - beta2 is 1 - 0.999f = 0.00099998713, so v = 0.00099998713 g^2
        expectClose(s.arrays[1].toArray(), [0.00099998713, 0.0039999485, 0.00024999678], tolerance: 1e-10)
        try opt.update(name: "w", weight: w, grad: NDArray([-1, 2, 0.5]), state: s)
        // float32 rounding of weights near 3 (ulp 2.4e-7) over two steps: allow 2e-6
        expectClose(w.toArray(), [0.9052631579, 2.0947368421, 2.8], tolerance: 2e-6)
    }

    @Test func adamWeightDecayAndClip() throws {
        // g = 0, wd 0.5: g' = 0.5 w > 0, so the first step moves each weight by -lr = -0.1
        var c = OptimizerConfig(name: "adam", learningRate: 0.1, wd: 0.5)
        expectClose(try run(c, weight: [1, 2, 3], grads: [[0, 0, 0]]).weight, [0.9, 1.9, 2.9])
        // clip 0.5 with rescale 2, wd 0: g' = clip(2 * [0.1, 1, -1]) = [0.2, 0.5, -0.5]
        // the mean after one step is 0.1 g' = [0.02, 0.05, -0.05]
        c = OptimizerConfig(name: "adam", learningRate: 0.1, rescaleGrad: 2, clipGradient: 0.5)
        let r = try run(c, weight: [1, 2, 3], grads: [[0.1, 1, -1]])
        expectClose(r.state.arrays[0].toArray(), [0.02, 0.05, -0.05])
    }

    @Test func adaGradTwoStepsAndWeightDecay() throws {
        // lr 0.1, eps 1e-7, g = [1, -2, 0.5]:
        // 1: h = g^2 = [1, 4, 0.25]; g / sqrt(h) = sign(g) -> w = [0.9, 2.1, 2.9]
        // 2: h = 2 g^2; g / sqrt(2 g^2) = sign(g) / sqrt(2) = 0.70710678 sign(g)
        //    w = [0.9 - 0.070710678, 2.1 + 0.070710678, 2.9 - 0.070710678]
        var c = OptimizerConfig(name: "adagrad", learningRate: 0.1)
        #expect(c.epsilon == 1e-7)
        let g: [Float] = [1, -2, 0.5]
        let (w, state) = try run(c, weight: [1, 2, 3], grads: [g, g])
        expectClose(w, [0.829289322, 2.170710678, 2.829289322])
        expectClose(state.arrays[0].toArray(), [2, 8, 0.5])
        // wd 0.1, one step: w -= 0.1 (sign(g) + 0.1 w) = [1 - 0.11, 2 + 0.08, 3 - 0.13]
        c.wd = 0.1
        expectClose(try run(c, weight: [1, 2, 3], grads: [g]).weight, [0.89, 2.08, 2.87])
    }

    @Test func rmsPropTwoSteps() throws {
        // lr 0.01, gamma1 0.9, eps 1e-8, g = [1, -2, 0.5]:
        // 1: n = 0.1 g^2; g / sqrt(n) = sign(g) / sqrt(0.1) = 3.16227766 sign(g)
        //    w = [1 - 0.0316227766, 2 + 0.0316227766, 3 - 0.0316227766]
        // 2: n = 0.09 g^2 + 0.1 g^2 = 0.19 g^2; g / sqrt(n) = 2.29415734 sign(g)
        //    w = [0.9683772234 - 0.0229415734, 2.0316227766 + 0.0229415734, 2.9683772234 - 0.0229415734]
        let c = OptimizerConfig(name: "rmsprop", learningRate: 0.01)
        let g: [Float] = [1, -2, 0.5]
        let one = try run(c, weight: [1, 2, 3], grads: [g])
        expectClose(one.weight, [0.9683772234, 2.0316227766, 2.9683772234])
        let two = try run(c, weight: [1, 2, 3], grads: [g, g])
        expectClose(two.weight, [0.94543565, 2.05456435, 2.94543565])
        expectClose(two.state.arrays[0].toArray(), [0.19, 0.76, 0.0475])
    }

    @Test func rmsPropCenteredTwoStepsAndClipWeights() throws {
        // lr 0.01, gamma1 0.9, gamma2 0.9, g = [1, -2, 0.5]:
        // 1: n = 0.1 g^2, gbar = 0.1 g, n - gbar^2 = 0.09 g^2, sqrt = 0.3 |g|
        //    delta = -0.01 g / (0.3 |g|) = -0.0333333 sign(g); w = [0.9666667, 2.0333333, 2.9666667]
        // 2: n = 0.19 g^2, gbar = 0.19 g, n - gbar^2 = (0.19 - 0.0361) g^2 = 0.1539 g^2
        //    g / sqrt(...) = sign(g) / 0.39230090 = 2.54906371 sign(g)
        //    delta = 0.9 * (-0.0333333) - 0.0254906371 = -0.0554906371 (times sign(g))
        //    w = [0.9666667 - 0.0554906, 2.0333333 + 0.0554906, 2.9666667 - 0.0554906]
        var c = OptimizerConfig(name: "rmsprop", learningRate: 0.01, centered: true)
        let g: [Float] = [1, -2, 0.5]
        let (w, state) = try run(c, weight: [1, 2, 3], grads: [g, g])
        #expect(state.arrays.count == 3)
        expectClose(w, [0.9111761, 2.0888239, 2.9111761])
        expectClose(state.arrays[1].toArray(), [0.19, -0.38, 0.095])
        expectClose(state.arrays[2].toArray(), [-0.0554906, 0.0554906, -0.0554906])
        // clip_weights 2.5: after step 1 the weights [0.967, 2.033, 2.967] are clipped to [0.967, 2.033, 2.5]
        c.clipWeights = 2.5
        expectClose(try run(c, weight: [1, 2, 3], grads: [g]).weight, [0.9666667, 2.0333333, 2.5])
    }

    @Test func mismatchedArgumentsThrowAndChangeNothing() throws {
        let opt = try makeOptimizer(OptimizerConfig(name: "adam"))
        let w = NDArray([1, 2, 3])
        let s = try opt.createState(name: "w", count: 3)
        #expect(throws: OptimizerError.self) {
            try opt.update(name: "w", weight: w, grad: NDArray([1, 2]), state: s)
        }
        let wrong = try opt.createState(name: "w", count: 4)
        #expect(throws: OptimizerError.self) {
            try opt.update(name: "w", weight: w, grad: NDArray([1, 2, 3]), state: wrong)
        }
        let sgdState = try makeOptimizer(OptimizerConfig(name: "sgd")).createState(name: "w", count: 3)
        #expect(throws: OptimizerError.self) {
            try opt.update(name: "w", weight: w, grad: NDArray([1, 2, 3]), state: sgdState)
        }
        #expect(throws: OptimizerError.self) { try opt.createState(name: "w", count: -1) }
        #expect(w.toArray() == [1, 2, 3])
        #expect(s.numUpdate == 0)
    }

    @Test func unknownNamesAndBadParametersAreTypedErrors() {
        #expect(throws: OptimizerError.unknownOptimizer("lamb")) { try makeOptimizer(OptimizerConfig(name: "lamb")) }
        #expect(throws: OptimizerError.self) { try makeOptimizer(OptimizerConfig(name: "sgd", learningRate: -1)) }
        #expect(throws: OptimizerError.self) { try makeOptimizer(OptimizerConfig(name: "adam", beta1: 1)) }
        #expect(throws: OptimizerError.self) { try makeOptimizer(OptimizerConfig(name: "sgd", clipGradient: 0)) }
        #expect(throws: OptimizerError.self) { try SGD(OptimizerConfig(name: "adam")) }
    }
}
