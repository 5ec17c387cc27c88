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
        // SwiftPS 0.863 mean, 0.847-0.872 (12 seeds); MXNet 1.9.1 0.866 mean, 0.856-0.873 (8 seeds).
        // The last epoch of a constant lr 0.1 moves ±0.01 with the seed (seed 0, tested here, gives
        // 0.847; training is deterministic for a seed, so this test is too). Equality with MXNet is
        // tested step by step (MXNetInteropTests); this bar catches a broken step, not seed noise.
        #expect(accuracy >= 0.84, "mlp accuracy \(accuracy)")
    }

    @Test(.enabled(if: CLIRunner.available, "needs the release swiftps binary (scripts/test builds it)"))
    func lenetReachesTheMXNetAccuracy() throws {
        let accuracy = try finalAccuracy(["--network", "lenet", "--num-epochs", "3", "--lr", "0.01"], timeout: 900)
        // Over seeds, on this machine, with fit.py's Xavier(gaussian, in, 2): SwiftPS 0.881 mean,
        // 0.873-0.886 (10 seeds); MXNet 1.9.1 0.883 mean, 0.880-0.887 (10 seeds; anchors.md: 0.883).
        #expect(accuracy >= 0.86, "lenet accuracy \(accuracy)")
    }
}
