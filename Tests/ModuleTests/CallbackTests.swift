import Foundation
import SwiftPSModule
import SwiftPSTensor
import Testing

/// A hand-driven clock and a log that records lines, for the Speedometer.
private final class Harness {
    var now = 0.0
    var lines: [String] = []
}

private func scoredAccuracy() throws -> Accuracy {
    // 2 of 3 correct: accuracy 0.666667.
    let acc = Accuracy()
    try acc.update(labels: [NDArray([0, 1, 1])], preds: [NDArray([0.3, 0.7, 0, 1, 0.4, 0.6], shape: [3, 2])])
    return acc
}

private struct SaveFailed: Error {}

@Suite("Callbacks")
struct CallbackTests {
    @Test func speedometerLogsMXNetLinesAtTheRightBatches() throws {
        let h = Harness()
        let speedometer = try Speedometer(batchSize: 10, frequent: 2, clock: { h.now }, log: { h.lines.append($0) })
        let acc = try scoredAccuracy()
        func batch(_ epoch: Int, _ n: Int, at t: Double) {
            h.now = t
            speedometer(BatchEndParam(epoch: epoch, nbatch: n, evalMetric: acc))
        }
        batch(0, 0, at: 0)  // starts the clock
        batch(0, 1, at: 0.5)  // not a multiple of 2
        #expect(h.lines.isEmpty)
        batch(0, 2, at: 1.0)  // 2 batches × 10 samples in 1 s
        #expect(h.lines == ["Epoch[0] Batch [0-2]\tSpeed: 20.00 samples/sec\taccuracy=0.666667"])
        #expect(acc.numInst == 3, "the metric keeps the epoch's counts (MXNet's reset_local, not reset)")
        try acc.update(labels: [NDArray([1])], preds: [NDArray([0.2, 0.8], shape: [1, 2])])
        batch(0, 3, at: 1.2)
        batch(0, 4, at: 1.5)  // 20 samples in 0.5 s; the window since the last line: 1 of 1 correct
        #expect(h.lines.last == "Epoch[0] Batch [2-4]\tSpeed: 40.00 samples/sec\taccuracy=1.000000")
        #expect(acc.get().first?.value == 0.75, "the epoch's figure: 3 of 4")
        // A lower batch index means a new epoch: the clock restarts and nothing is logged.
        acc.reset()  // as fit does at each epoch's start
        batch(1, 0, at: 10)
        #expect(h.lines.count == 2)
        batch(1, 1, at: 10.1)
        batch(1, 2, at: 10.25)  // 20 samples in 0.25 s; the metric is empty: nan
        #expect(h.lines.last == "Epoch[1] Batch [0-2]\tSpeed: 80.00 samples/sec\taccuracy=nan")
    }

    /// Each line's figures are those of the batches since the previous line, for every metric of a
    /// composite, exactly as a fresh metric fed only those batches gives them.
    @Test func speedometerWindowsEqualAFreshMetricOfTheWindow() throws {
        let h = Harness()
        let speedometer = try Speedometer(batchSize: 3, frequent: 1, clock: { h.now }, log: { h.lines.append($0) })
        let metrics = try Metrics.create(["acc", "ce", "f1"])
        let batches =
            [
                ([0, 1, 1], [0.3, 0.7, 0, 1, 0.4, 0.6]), ([1, 0, 1], [0.9, 0.1, 0.8, 0.2, 0.1, 0.9]),
                ([0, 0, 1], [0.6, 0.4, 0.7, 0.3, 0.2, 0.8]),
            ] as [([Float], [Float])]
        speedometer(BatchEndParam(epoch: 0, nbatch: 0, evalMetric: metrics))  // starts the clock
        for (n, (labels, preds)) in batches.enumerated() {
            try metrics.update(labels: [NDArray(labels)], preds: [NDArray(preds, shape: [3, 2])])
            h.now += 1
            speedometer(BatchEndParam(epoch: 0, nbatch: n + 1, evalMetric: metrics))
            let fresh = try Metrics.create(["acc", "ce", "f1"])
            try fresh.update(labels: [NDArray(labels)], preds: [NDArray(preds, shape: [3, 2])])
            let expected = fresh.get().map { "\t\($0.name)=" + String(format: "%f", $0.value) }.joined()
            #expect(h.lines.last == "Epoch[0] Batch [\(n)-\(n + 1)]\tSpeed: 3.00 samples/sec" + expected)
        }
    }

    @Test func speedometerWithoutAutoResetOrMetric() throws {
        let h = Harness()
        let cumulative = try Speedometer(
            batchSize: 4, frequent: 2, autoReset: false, clock: { h.now }, log: { h.lines.append($0) })
        let metrics = try Metrics.create(["acc", "f1"])
        try metrics.update(labels: [NDArray([0, 1, 1])], preds: [NDArray([0.3, 0.7, 0, 1, 0.4, 0.6], shape: [3, 2])])
        for n in 0...4 {
            h.now = Double(n)
            cumulative(BatchEndParam(epoch: 3, nbatch: n, evalMetric: metrics))
        }
        #expect(
            h.lines == [
                "Epoch[3] Batch [0-2]\tSpeed: 4.00 samples/sec\taccuracy=0.666667\tf1=0.800000",
                "Epoch[3] Batch [0-4]\tSpeed: 4.00 samples/sec\taccuracy=0.666667\tf1=0.800000",
            ])
        #expect(try metrics.metric(at: 0).numInst == 3, "without autoReset the metric keeps its counts")

        let plain = Harness()
        let bare = try Speedometer(batchSize: 8, frequent: 1, clock: { plain.now }, log: { plain.lines.append($0) })
        let callback = bare.callback
        callback(BatchEndParam(epoch: 0, nbatch: 0, evalMetric: nil))
        plain.now = 2
        callback(BatchEndParam(epoch: 0, nbatch: 1, evalMetric: nil))
        callback(BatchEndParam(epoch: 0, nbatch: 2, evalMetric: nil))  // no time passed
        #expect(
            plain.lines == [
                "Iter[0] Batch [1]\tSpeed: 4.00 samples/sec", "Iter[0] Batch [2]\tSpeed: inf samples/sec",
            ])
        #expect(throws: CallbackError.self) { try Speedometer(batchSize: 8, frequent: 0) }
        // The real clock: monotonic, in seconds (a sleep of 20 ms advances it by at least that).
        let t0 = Speedometer.monotonicSeconds()
        usleep(20_000)
        let elapsed = Speedometer.monotonicSeconds() - t0
        #expect(elapsed >= 0.019 && elapsed < 60, "20 ms of sleep read as \(elapsed) s")
    }

    @Test func progressBarRendersMXNetStyle() throws {
        var written: [String] = []
        let bar = try ProgressBar(total: 4, length: 8, write: { written.append($0) })
        for n in 1...4 { bar(BatchEndParam(epoch: 0, nbatch: n, evalMetric: nil)) }
        #expect(
            written == ["[==------] 25%\r", "[====----] 50%\r", "[======--] 75%\r", "[========] 100%\r"])
        // round half to even (Python 3) for the bar, ceil for the percentage.
        let halves = try ProgressBar(total: 8, length: 4, write: { _ in })
        #expect(halves.render(count: 0) == "[----] 0%\r")
        #expect(halves.render(count: 1) == "[----] 13%\r")  // 0.5 → 0, 12.5 → 13
        #expect(halves.render(count: 3) == "[==--] 38%\r")  // 1.5 → 2, 37.5 → 38
        #expect(halves.render(count: 20) == "[====] 100%\r")  // clamped
        // ceil(100.0 * count / total), as MXNet's: 7 of 100 is 7%, not ceil(100 * 0.07) = 8%.
        let hundred = try ProgressBar(total: 100, length: 4, write: { _ in })
        for count in [7, 14, 28, 55, 56] { #expect(hundred.render(count: count).hasSuffix(" \(count)%\r")) }
        let wide = try ProgressBar(total: 2, write: { _ in })
        #expect(
            wide.render(count: 1)
                == "[" + String(repeating: "=", count: 40) + String(repeating: "-", count: 40) + "] 50%\r")
        #expect(throws: CallbackError.self) { try ProgressBar(total: 0) }
        #expect(!ProgressBar.isTerminal(fileDescriptor: -1))
    }

    @Test func doCheckpointSavesEveryPeriodEpochs() throws {
        var saved: [Int] = []
        let everyThird = doCheckpoint(period: 3) { saved.append($0) }
        for epoch in 0..<9 { try everyThird(epoch) }
        #expect(saved == [3, 6, 9])
        saved = []
        let every = doCheckpoint(period: 0) { saved.append($0) }
        for epoch in 0..<3 { try every(epoch) }
        #expect(saved == [1, 2, 3])
        let failing = doCheckpoint { _ in throw SaveFailed() }
        #expect(throws: SaveFailed.self) { try failing(0) }
    }

    /// NaN and both infinities are caught in arguments and auxiliary states alike; finite values
    /// (the largest float and -0 included) pass, and the error names the epoch and sorted names.
    @Test func stopOnNonFiniteParamsNamesEveryNonFiniteArray() throws {
        let check = stopOnNonFiniteParams()
        let finite = [
            "w": NDArray([.greatestFiniteMagnitude, -0.0, 1]), "b": NDArray([-Float.greatestFiniteMagnitude]),
        ]
        try check(4, nil, finite, ["moving_var": NDArray([1, 2])])
        let args = finite.merging(["z_weight": NDArray([1, .nan, 3]), "a_bias": NDArray([-.infinity])]) { $1 }
        let aux = ["moving_mean": NDArray([0, .infinity]), "moving_var": NDArray([1, 1])]
        #expect(throws: ModuleError.diverged(epoch: 4, names: ["a_bias", "z_weight", "moving_mean"])) {
            try check(4, nil, args, aux)
        }
        let text = "\(ModuleError.diverged(epoch: 4, names: ["a", "b", "c", "d", "e", "f", "g"]))"
        #expect(text.hasPrefix("training diverged: after epoch 4, 7 parameters (a, b, c, d, e and 2 more)"))
        #expect(text.contains("lower the learning rate"))
        #expect(text.contains("checkpoints numbered 4 or below"))
        #expect(!"\(ModuleError.diverged(epoch: 0, names: ["a"]))".contains("checkpoints numbered"))
    }

    @Test func metricLoggingCallbacks() throws {
        var lines: [String] = []
        let validation = logValidationMetrics(log: { lines.append($0) })
        validation(BatchEndParam(epoch: 2, nbatch: 7, evalMetric: try scoredAccuracy()))
        validation(BatchEndParam(epoch: 2, nbatch: 7, evalMetric: nil))
        #expect(lines == ["Epoch[2] Validation-accuracy=0.666667"])

        lines = []
        let acc = try scoredAccuracy()
        let train = try logTrainMetric(period: 2, autoReset: true, log: { lines.append($0) })
        train(BatchEndParam(epoch: 0, nbatch: 1, evalMetric: acc))
        #expect(lines.isEmpty)
        train(BatchEndParam(epoch: 0, nbatch: 2, evalMetric: acc))
        #expect(lines == ["Iter[0] Batch[2] Train-accuracy=0.666667"])
        #expect(acc.numInst == 0)
        #expect(throws: CallbackError.self) { try logTrainMetric(period: 0) }
    }
}
