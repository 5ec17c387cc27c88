import Foundation
import Testing

/// The recipes of anchors.md on Fashion-MNIST, as plain `swiftps train` runs.
@Suite(.serialized) struct TrainingAccuracyTests {
    func finalAccuracy(_ args: [String], timeout: Double) throws -> Double {
        let result = try CLIRunner.run(["train"] + args, timeout: timeout)
        #expect(result.status == 0, "train failed: \(result.stderr)")
        guard let line = result.text.split(separator: "\n").last(where: { $0.contains("final validation accuracy") }),
            let value = line.split(separator: " ").dropFirst(3).first.flatMap({ Double(String($0)) })
        else {
            Issue.record("no final accuracy in: \(result.text)")
            return 0
        }
        return value
    }

    @Test(.enabled(if: CLIRunner.available, "needs the release swiftps binary (scripts/test builds it)"))
    func mlpReachesThePeersAccuracy() throws {
        // SGD lr 0.1, momentum 0.9, wd 1e-4, batch 128, Xavier, 10 epochs (the defaults of swiftps train).
        let accuracy = try finalAccuracy(["--network", "mlp", "--num-epochs", "10"], timeout: 300)
        // anchors.md quotes MXNet 1.9.1 at 0.871 and PyTorch at 0.862; MXNet run side by side on this
        // machine with this recipe reached 0.860. The last epoch of a constant lr 0.1 moves ±0.008
        // between seeds (SwiftPS, fit.py's Xavier: 0.854, 0.870, 0.859, 0.866 for seeds 0-3; training
        // is deterministic for a seed, so this test is too). The bar catches a broken step, not noise.
        #expect(accuracy >= 0.85, "mlp accuracy \(accuracy)")
    }

    @Test(.enabled(if: CLIRunner.available, "needs the release swiftps binary (scripts/test builds it)"))
    func lenetReachesTheMXNetAccuracy() throws {
        let accuracy = try finalAccuracy(["--network", "lenet", "--num-epochs", "3", "--lr", "0.01"], timeout: 900)
        // MXNet 1.9.1 run side by side on this machine with the same recipe: 0.8748 with Xavier's
        // defaults, 0.8822 with fit.py's Xavier(gaussian, in, 2) (anchors.md: 0.883). SwiftPS with the
        // latter (its default): 0.870, 0.881, 0.879 over seeds 0-2.
        #expect(accuracy >= 0.86, "lenet accuracy \(accuracy)")
    }
}
