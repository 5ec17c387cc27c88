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
        // anchors.md quotes MXNet 1.9.1 at 0.871 and PyTorch at 0.862. Over seeds, on this machine:
        // SwiftPS 0.864 mean, sd 0.006, 0.847-0.872; MXNet 1.9.1 0.865 mean, sd 0.007, 0.851-0.873
        // (seeds 0-23 each; 3 and 5 of the 24 reach 0.87).
        // The last epoch of a constant lr 0.1 moves ±0.01 with the seed (seed 0, tested here, gives
        // 0.847; training is deterministic for a seed, so this test is too). Equality with MXNet is
        // tested step by step (MXNetInteropTests); this bar catches a broken step, not seed noise.
        #expect(accuracy >= 0.84, "mlp accuracy \(accuracy)")
    }

    @Test(.enabled(if: CLIRunner.available, "needs the release swiftps binary (scripts/test builds it)"))
    func lenetReachesTheMXNetAccuracy() throws {
        let accuracy = try finalAccuracy(["--network", "lenet", "--num-epochs", "3", "--lr", "0.01"], timeout: 900)
        // Over seeds 0-23, on this machine, with fit.py's Xavier(gaussian, in, 2): SwiftPS 0.881 mean,
        // sd 0.004, 0.871-0.888; MXNet 1.9.1 0.881 mean, sd 0.005, 0.861-0.887 (anchors.md: 0.883).
        // Seed 0, tested here, gives 0.877.
        #expect(accuracy >= 0.86, "lenet accuracy \(accuracy)")
    }
}
