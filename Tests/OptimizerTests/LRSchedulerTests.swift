import SwiftPSOptimizer
import SwiftPSTensor
import Testing

@Suite struct LRSchedulerTests {
    func lr(_ c: LRSchedulerConfig, _ n: Int, base: Double = 1) throws -> Double {
        try LRScheduler(c, baseLR: base).learningRate(at: n)
    }

    @Test func factorSchedule() throws {
        // step 10, factor 0.5, stop 0.1, base 1: decays once n exceeds 10, 20, 30, ...
        let c = LRSchedulerConfig.factor(step: 10, factor: 0.5, stopFactorLR: 0.1)
        expectClose(try lr(c, 0), 1)
        expectClose(try lr(c, 10), 1)
        expectClose(try lr(c, 11), 0.5)
        expectClose(try lr(c, 20), 0.5)
        expectClose(try lr(c, 21), 0.25)
        expectClose(try lr(c, 31), 0.125)
        expectClose(try lr(c, 41), 0.1)  // 0.0625 is clamped at stop_factor_lr
        expectClose(try lr(c, 1000), 0.1)
    }

    @Test func factorWithWarmup() throws {
        // warm-up 5 steps from 0.1 to the base 1: lr = 0.1 + 0.9 n / 5 for n < 5
        var c = LRSchedulerConfig.factor(step: 10, factor: 0.5, warmupSteps: 5, warmupBeginLR: 0.1)
        expectClose(try lr(c, 0), 0.1)
        expectClose(try lr(c, 2), 0.46)
        expectClose(try lr(c, 4), 0.82)
        expectClose(try lr(c, 5), 1)
        expectClose(try lr(c, 11), 0.5)
        c.warmupMode = .constant
        expectClose(try lr(c, 3), 0.1)
        expectClose(try lr(c, 5), 1)
    }

    @Test func multiFactorSchedule() throws {
        // steps [5, 8], factor 0.1: 1 up to n = 5, 0.1 for 6...8, 0.01 after
        let c = LRSchedulerConfig.multifactor(steps: [5, 8], factor: 0.1)
        expectClose(try lr(c, 1), 1)
        expectClose(try lr(c, 5), 1)
        expectClose(try lr(c, 6), 0.1)
        expectClose(try lr(c, 8), 0.1)
        expectClose(try lr(c, 9), 0.01)
        // with a 4-step linear warm-up from 0: n = 2 -> 0.5
        let w = LRSchedulerConfig.multifactor(steps: [5, 8], factor: 0.1, warmupSteps: 4)
        expectClose(try lr(w, 2), 0.5)
        expectClose(try lr(w, 4), 1)
    }

    @Test func polySchedule() throws {
        // max 10, pwr 2: lr = (1 - n/10)^2 -> n = 5: 0.25; n = 10 and after: final 0
        let c = LRSchedulerConfig.poly(maxUpdate: 10)
        expectClose(try lr(c, 0), 1)
        expectClose(try lr(c, 5), 0.25)
        expectClose(try lr(c, 10), 0)
        expectClose(try lr(c, 15), 0)
        // final 0.1: 0.1 + 0.9 * 0.25 = 0.325
        expectClose(try lr(.poly(maxUpdate: 10, finalLR: 0.1), 5), 0.325)
        // warm-up 2 from 0: n = 1 -> 0.5; then (1 - (n - 2) / 8)^2: n = 2 -> 1, n = 6 -> 0.25
        let w = LRSchedulerConfig.poly(maxUpdate: 10, warmupSteps: 2)
        expectClose(try lr(w, 1), 0.5)
        expectClose(try lr(w, 2), 1)
        expectClose(try lr(w, 6), 0.25)
        // pwr 1 and an explicit base 2 that overrides the optimizer's rate: n = 5 -> 2 * 0.5 = 1
        expectClose(try lr(.poly(maxUpdate: 10, baseLR: 2, power: 1), 5, base: 7), 1)
    }

    @Test func cosineSchedule() throws {
        // max 10: lr = (1 + cos(pi n / 10)) / 2 -> n = 5: 0.5
        let c = LRSchedulerConfig.cosine(maxUpdate: 10)
        expectClose(try lr(c, 0), 1)
        expectClose(try lr(c, 5), 0.5)
        expectClose(try lr(c, 10), 0)
        // final 0.2: 0.2 + 0.8 * 0.5 = 0.6
        expectClose(try lr(.cosine(maxUpdate: 10, finalLR: 0.2), 5), 0.6)
        // warm-up 4 steps from 0.2, max 12: n = 2 -> 0.2 + 0.8 * 2 / 4 = 0.6;
        // n = 8 -> (1 + cos(pi * 4 / 8)) / 2 = 0.5; n = 20 -> final 0
        let w = LRSchedulerConfig.cosine(maxUpdate: 12, warmupSteps: 4, warmupBeginLR: 0.2)
        expectClose(try lr(w, 2), 0.6)
        expectClose(try lr(w, 8), 0.5)
        expectClose(try lr(w, 20), 0)
    }

    @Test func badSchedulesAreRejected() {
        #expect(throws: OptimizerError.self) { try LRScheduler(.factor(step: 0), baseLR: 1) }
        #expect(throws: OptimizerError.self) { try LRScheduler(.factor(step: 5, factor: 2), baseLR: 1) }
        #expect(throws: OptimizerError.self) { try LRScheduler(.multifactor(steps: [5, 5]), baseLR: 1) }
        #expect(throws: OptimizerError.self) { try LRScheduler(.multifactor(steps: []), baseLR: 1) }
        #expect(throws: OptimizerError.self) { try LRScheduler(.poly(maxUpdate: 4, warmupSteps: 4), baseLR: 1) }
        #expect(throws: OptimizerError.self) {
            try LRScheduler(.cosine(maxUpdate: 10, warmupSteps: 2, warmupBeginLR: 2), baseLR: 1)
        }
    }

    @Test func optimizerUsesScheduleAtItsUpdateCount() throws {
        // SGD lr 1, factor schedule step 1 factor 0.5, g = 1: the update with count n uses 0.5^(n-1)
        // w: 0 - 1 = -1, -1 - 0.5 = -1.5, -1.5 - 0.25 = -1.75
        var c = OptimizerConfig(name: "sgd", learningRate: 1, lrScheduler: .factor(step: 1, factor: 0.5))
        let g: [Float] = [1, 1, 1]
        expectClose(try run(c, weight: [0, 0, 0], grads: [g, g, g]).weight, [-1.75, -1.75, -1.75])
        // begin_num_update 1: the first update has count 2 and uses 0.5, then 0.25: w = -0.75
        c.beginNumUpdate = 1
        let r = try run(c, weight: [0, 0, 0], grads: [g, g])
        expectClose(r.weight, [-0.75, -0.75, -0.75])
        #expect(r.state.numUpdate == 3)
    }
}
