import SwiftPSOptimizer
import SwiftPSTensor
import Testing

@Suite struct SGDAndNAGTests {
    @Test func plainSGDTwoSteps() throws {
        // lr 0.1, no momentum: w -= 0.1 * g with g = [0.5, -1, 2]
        // step 1: [1 - 0.05, 2 + 0.1, 3 - 0.2] = [0.95, 2.1, 2.8]
        // step 2: [0.95 - 0.05, 2.1 + 0.1, 2.8 - 0.2] = [0.9, 2.2, 2.6]
        let c = OptimizerConfig(name: "sgd", learningRate: 0.1)
        let (w, state) = try run(c, weight: [1, 2, 3], grads: [[0.5, -1, 2], [0.5, -1, 2]])
        expectClose(w, [0.9, 2.2, 2.6])
        #expect(state.arrays.isEmpty)
        #expect(state.numUpdate == 2)
    }

    @Test func sgdMomentumThreeSteps() throws {
        // lr 0.1, momentum 0.9, g = [1, -1, 0.5] every step; mom = 0.9 mom - 0.1 g; w += mom
        // 1: mom = [-0.1, 0.1, -0.05]                     w = [0.9, 2.1, 2.95]
        // 2: mom = [-0.09-0.1, 0.09+0.1, -0.045-0.05]     = [-0.19, 0.19, -0.095]   w = [0.71, 2.29, 2.855]
        // 3: mom = [-0.171-0.1, 0.171+0.1, -0.0855-0.05]  = [-0.271, 0.271, -0.1355] w = [0.439, 2.561, 2.7195]
        let c = OptimizerConfig(name: "sgd", learningRate: 0.1, momentum: 0.9)
        let g: [Float] = [1, -1, 0.5]
        let (w, state) = try run(c, weight: [1, 2, 3], grads: [g, g, g])
        expectClose(w, [0.439, 2.561, 2.7195])
        expectClose(state.arrays[0].toArray(), [-0.271, 0.271, -0.1355])
    }

    @Test func weightDecayRescaleAndClip() throws {
        // wd only: g = 0, lr 0.1, wd 0.1 -> w *= (1 - 0.01) = [0.99, 1.98, 2.97]
        var c = OptimizerConfig(name: "sgd", learningRate: 0.1, wd: 0.1)
        expectClose(try run(c, weight: [1, 2, 3], grads: [[0, 0, 0]]).weight, [0.99, 1.98, 2.97])
        // wd with momentum 0.9, g = 1: mom = -0.1*0.1*w - 0.1 = [-0.11, -0.12, -0.13]; w = [0.89, 1.88, 2.87]
        c.momentum = 0.9
        expectClose(try run(c, weight: [1, 2, 3], grads: [[1, 1, 1]]).weight, [0.89, 1.88, 2.87])

        // rescale 0.5: g = [2, 4, -6] -> [1, 2, -3]; w -= 0.1 g -> [0.9, 1.8, 3.3]
        c = OptimizerConfig(name: "sgd", learningRate: 0.1, rescaleGrad: 0.5)
        expectClose(try run(c, weight: [1, 2, 3], grads: [[2, 4, -6]]).weight, [0.9, 1.8, 3.3])
        // + clip 1.5: [1, 2, -3] -> [1, 1.5, -1.5]; w -> [0.9, 1.85, 3.15]
        c.clipGradient = 1.5
        expectClose(try run(c, weight: [1, 2, 3], grads: [[2, 4, -6]]).weight, [0.9, 1.85, 3.15])
        // + wd 0.5: clip happens before weight decay: w = (1 - 0.05) w - 0.1 * [1, 1.5, -1.5]
        //   = [0.95 - 0.1, 1.9 - 0.15, 2.85 + 0.15] = [0.85, 1.75, 3.0]
        //   (clipping after adding wd would give [0.85, 1.85, 3.15])
        c.wd = 0.5
        expectClose(try run(c, weight: [1, 2, 3], grads: [[2, 4, -6]]).weight, [0.85, 1.75, 3.0])
    }

    @Test func lrAndWdMultipliersByName() throws {
        // lr 0.1, wd 0.1; fc_bias has lr_mult 2 and wd_mult 0; g = 1
        // fc_bias:   w -= 0.2 * 1              -> [0.8, 1.8, 2.8]
        // fc_weight: w = 0.99 w - 0.1          -> [0.89, 1.88, 2.87]
        let c = OptimizerConfig(
            name: "sgd", learningRate: 0.1, wd: 0.1, lrMult: ["fc_bias": 2], wdMult: ["fc_bias": 0])
        expectClose(try run(c, name: "fc_bias", weight: [1, 2, 3], grads: [[1, 1, 1]]).weight, [0.8, 1.8, 2.8])
        expectClose(try run(c, name: "fc_weight", weight: [1, 2, 3], grads: [[1, 1, 1]]).weight, [0.89, 1.88, 2.87])
        let opt = try makeOptimizer(c)
        #expect(opt.learningRate(for: "fc_bias", numUpdate: 1) == 0.2)
        #expect(opt.weightDecay(for: "fc_bias") == 0)
        #expect(opt.weightDecay(for: "fc_weight") == 0.1)
    }

    @Test func mxnetDefaultWeightDecayMultipliers() {
        // MXNet's set_wd_mult: wd_mult 0 for names ending in neither _weight nor _gamma;
        // an explicit multiplier is kept.
        var c = OptimizerConfig(name: "sgd", wdMult: ["fc1_bias": 0.5])
        c.applyMXNetDefaultMultipliers(argNames: ["data", "fc1_weight", "fc1_bias", "bn1_gamma", "bn1_beta"])
        #expect(c.wdMult == ["data": 0, "fc1_bias": 0.5, "bn1_beta": 0])
    }

    @Test func nagTwoStepsAndWeightDecay() throws {
        // lr 0.1, momentum 0.9, g = [1, -1, 0.5] (MXNet's momentum carries the rate, as SGD's):
        // 1: next = -0.1 g; w = w - 0.09 g - 0.1 g = w - 0.19 g = [0.81, 2.19, 2.905]; mom = -0.1 g
        // 2: next = -0.09 g - 0.1 g = -0.19 g; w -= 0.171 g + 0.1 g: [0.539, 2.461, 2.7695]; mom = -0.19 g
        var c = OptimizerConfig(name: "nag", learningRate: 0.1, momentum: 0.9)
        let g: [Float] = [1, -1, 0.5]
        let (w, state) = try run(c, weight: [1, 2, 3], grads: [g, g])
        expectClose(w, [0.539, 2.461, 2.7695])
        expectClose(state.arrays[0].toArray(), [-0.19, 0.19, -0.095])
        // wd 0.1, one step: g' = g + 0.1 w = [1.1, -0.8, 0.8]; w -= 1.9 * 0.1 g' = [0.791, 2.152, 2.848]
        c.wd = 0.1
        expectClose(try run(c, weight: [1, 2, 3], grads: [g]).weight, [0.791, 2.152, 2.848])
        // momentum 0: w -= 0.1 (g + 0.1 w) = [1 - 0.11, 2 + 0.08, 3 - 0.08] = [0.89, 2.08, 2.92]
        c.momentum = 0
        let plain = try run(c, weight: [1, 2, 3], grads: [g])
        expectClose(plain.weight, [0.89, 2.08, 2.92])
        #expect(plain.state.arrays.isEmpty)
    }

    /// NAG as MXNet 1.9.1's `nag_mom_update` runs it when the rate changes between steps (a schedule's
    /// drop, warm-up) and with weight decay, rescaling and clipping: the weights and momenta below are
    /// the wheel's own (`mx.nd.nag_mom_update(w, g, m, out=w, …)` from w = 1, m = 0, the same gradient
    /// each step). A momentum kept without the rate, as MXNet's docstring writes it, drifts from them.
    @Test(arguments: [
        (0.1, 1.0, -1.0, 1.0, [Float(0.791), 0.6010784, 0.07663667], [Float(-0.10791), -0.15012439, -0.3366447]),
        (0.3, 0.5, 0.2, 3.0, [Float(0.905), 0.822016, 0.5998463], [Float(-0.04715), -0.06476524, -0.1342795]),
    ])
    func nagFollowsMXNetsKernelAcrossRateChanges(
        wd: Double, rescale: Double, clip: Double, grad: Float, weights: [Float], momenta: [Float]
    ) throws {
        let weight = NDArray([1])
        var state: OptimizerState?
        for (step, lr) in [0.1, 0.05, 0.2].enumerated() {
            let opt = try makeOptimizer(
                OptimizerConfig(
                    name: "nag", learningRate: lr, wd: wd, rescaleGrad: rescale,
                    clipGradient: clip < 0 ? nil : clip, momentum: 0.9))
            let current = try state ?? opt.createState(name: "w", count: 1)
            state = current
            try opt.update(name: "w", weight: weight, grad: NDArray([grad]), state: current)
            expectClose(weight.toArray(), [weights[step]], tolerance: 1e-6)
            expectClose(current.arrays[0].toArray(), [momenta[step]], tolerance: 1e-6)
        }
    }
}
