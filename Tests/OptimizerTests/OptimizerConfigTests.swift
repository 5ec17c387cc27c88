import Foundation
import SwiftPSOptimizer
import Testing

@Suite struct OptimizerConfigTests {
    @Test func defaultsFollowMXNet() {
        let sgd = OptimizerConfig(name: "SGD")
        #expect(sgd.name == "sgd" && sgd.learningRate == 0.01 && sgd.wd == 0 && sgd.rescaleGrad == 1)
        #expect(sgd.clipGradient == nil && sgd.momentum == 0 && sgd.beginNumUpdate == 0)
        let adam = OptimizerConfig(name: "adam")
        #expect(adam.learningRate == 0.001 && adam.beta1 == 0.9 && adam.beta2 == 0.999 && adam.epsilon == 1e-8)
        #expect(OptimizerConfig(name: "adagrad").epsilon == 1e-7)
        let rms = OptimizerConfig(name: "rmsprop")
        #expect(rms.learningRate == 0.001 && rms.gamma1 == 0.9 && rms.gamma2 == 0.9 && !rms.centered)
    }

    @Test func configSurvivesJSON() throws {
        let c = OptimizerConfig(
            name: "rmsprop", learningRate: 0.02, wd: 1e-4, rescaleGrad: 1.0 / 256, clipGradient: 5,
            epsilon: 1e-6, gamma1: 0.95, centered: true, clipWeights: 3,
            lrScheduler: .multifactor(steps: [100, 200], factor: 0.1, warmupSteps: 10, warmupBeginLR: 0.001),
            beginNumUpdate: 40, lrMult: ["fc1_weight": 0.5], wdMult: ["fc1_bias": 0])
        let data = try JSONEncoder().encode(c)
        #expect(try JSONDecoder().decode(OptimizerConfig.self, from: data) == c)
        // a minimal document takes the per-optimizer defaults
        let minimal = try JSONDecoder().decode(OptimizerConfig.self, from: Data(#"{"name":"adam"}"#.utf8))
        #expect(minimal == OptimizerConfig(name: "adam"))
    }

    @Test func parseFromStrings() throws {
        let c = try OptimizerConfig.parse(from: [
            "optimizer": "sgd", "learning_rate": "0.1", "momentum": "0.9", "wd": "0.0005",
            "clip_gradient": "-1", "lr_scheduler": "factor", "lr_step": "100", "lr_factor": "0.5",
            "warmup_steps": "10", "lr_mult.fc1_bias": "2",
        ])
        #expect(c.learningRate == 0.1 && c.momentum == 0.9 && c.wd == 0.0005 && c.clipGradient == nil)
        #expect(c.lrScheduler == .factor(step: 100, factor: 0.5, warmupSteps: 10))
        #expect(c.lrMult == ["fc1_bias": 2])
        #expect(throws: OptimizerError.self) { try OptimizerConfig.parse(from: ["optimizer": "sgd", "lr": "x"]) }
        #expect(throws: OptimizerError.self) { try OptimizerConfig.parse(from: ["optimizer": "sgd", "mom": "0.9"]) }
        #expect(throws: OptimizerError.self) { try OptimizerConfig.parse(from: ["lr": "0.1"]) }
        let adagrad = try OptimizerConfig.parse(from: ["optimizer": "adagrad", "eps": "1e-6"])
        #expect(adagrad.epsilon == 1e-6 && adagrad.learningRate == 0.01)
    }
}
