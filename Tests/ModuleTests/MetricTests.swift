import Foundation
import SwiftPSModule
import SwiftPSTensor
import Testing

/// A (N, 2) batch and its labels, MXNet's documentation example: argmax is class 1 for every row.
private func docBatch() -> (labels: [NDArray], preds: [NDArray]) {
    ([NDArray([0, 1, 1])], [NDArray([0.3, 0.7, 0, 1, 0.4, 0.6], shape: [3, 2])])
}

private func close(_ a: Double, _ b: Double, _ tol: Double = 1e-6) -> Bool { abs(a - b) <= tol }

private func value(_ metric: any EvalMetric) -> Double { metric.get()[0].value }

@Suite("Metrics")
struct MetricTests {
    @Test func accuracyArgmaxOfScores() throws {
        let acc = Accuracy()
        let (l, p) = docBatch()
        try acc.update(labels: l, preds: p)
        #expect(acc.name == "accuracy")
        #expect(acc.sumMetric == 2)
        #expect(acc.numInst == 3)
        #expect(close(value(acc), 2.0 / 3.0))
    }

    @Test func accuracyComparesClassIndicesDirectly() throws {
        let acc = Accuracy()
        // 0.9 truncates to 0 (numpy astype int32), so only 3 of 4 match.
        try acc.update(labels: [NDArray([1, 2, 1, 3])], preds: [NDArray([1, 2, 0.9, 3])])
        #expect(acc.sumMetric == 3)
        #expect(close(value(acc), 0.75))
        // Label (N, 1) against scores (N, K): argmax along axis 1, compared element by element.
        try acc.update(labels: [NDArray([1, 0], shape: [2, 1])], preds: [NDArray([0, 5, 0, 5], shape: [2, 2])])
        #expect(acc.numInst == 6)
        #expect(acc.sumMetric == 4)
    }

    /// MXNet's `Accuracy(axis=…)`: `(N, T, K)` sequence scores with `(N, T)` labels take the argmax
    /// along the last axis; the default axis 1 cannot use them.
    @Test func accuracyTakesTheArgmaxAlongItsAxis() throws {
        // Two sequences of three steps over two classes; argmax per step: [1, 0, 1] and [0, 0, 1].
        let scores = NDArray([0.1, 0.9, 0.8, 0.2, 0.3, 0.7, 0.6, 0.4, 0.9, 0.1, 0.2, 0.8], shape: [2, 3, 2])
        let labels = NDArray([1, 0, 0, 0, 0, 1], shape: [2, 3])
        for axis in [2, -1] {
            let acc = Accuracy(axis: axis)
            try acc.update(labels: [labels], preds: [scores])
            #expect(acc.sumMetric == 5 && acc.numInst == 6, "axis \(axis)")
        }
        #expect(throws: MetricError.self) { try Accuracy().update(labels: [labels], preds: [scores]) }
        #expect(throws: MetricError.self) { try Accuracy(axis: 3).update(labels: [labels], preds: [scores]) }
    }

    @Test func accuracyRejectsBadInput() throws {
        let acc = Accuracy()
        #expect(throws: MetricError.self) {
            try acc.update(labels: [NDArray([0, 1])], preds: [])
        }
        #expect(throws: MetricError.self) {
            try acc.update(labels: [NDArray([0, 1])], preds: [NDArray([0.3, 0.7, 0, 1, 0.4, 0.6], shape: [3, 2])])
        }
        #expect(acc.numInst == 0)
    }

    @Test func topKAccuracyCountsLabelsAmongTheHighestScores() throws {
        let top2 = try TopKAccuracy(topK: 2)
        #expect(top2.name == "top_k_accuracy_2")
        // Row 0: top-2 {1, 2} holds 2. Row 1: top-2 {0, 1} misses 2.
        // Row 2: 0.6 then a tie 0.2/0.2 broken toward the higher index: top-2 {2, 1} holds 1.
        let p = NDArray([0.1, 0.5, 0.4, 0.6, 0.3, 0.1, 0.2, 0.2, 0.6], shape: [3, 3])
        try top2.update(labels: [NDArray([2, 2, 1])], preds: [p])
        #expect(top2.sumMetric == 2)
        #expect(close(value(top2), 2.0 / 3.0))
        #expect(try TopKAccuracy().name == "top_k_accuracy_5")
        // k larger than the class count: every label is a hit.
        let top5 = try TopKAccuracy()
        try top5.update(labels: [NDArray([2, 2, 1])], preds: [p])
        #expect(value(top5) == 1)
        #expect(throws: MetricError.self) { try TopKAccuracy(topK: 1) }
        // A label that is no class (3, or padding's -1) is a miss, as in MXNet, not an error.
        let misses = try TopKAccuracy(topK: 2)
        try misses.update(labels: [NDArray([3, -1, 1])], preds: [p])
        #expect(misses.sumMetric == 1 && misses.numInst == 3)
    }

    @Test func crossEntropyAndNLL() throws {
        // -(ln 0.3 + ln 1 + ln 0.6) / 3 = (1.2039728 + 0 + 0.5108256) / 3 = 0.5715995
        let ce = CrossEntropy()
        let nll = NegativeLogLikelihood()
        let (l, p) = docBatch()
        try ce.update(labels: l, preds: p)
        try nll.update(labels: l, preds: p)
        #expect(ce.name == "cross-entropy")
        #expect(nll.name == "nll-loss")
        #expect(ce.numInst == 3)
        #expect(close(value(ce), 0.5715995))
        #expect(close(value(nll), 0.5715995))
        // eps keeps p = 0 finite: -ln(1e-12) = 27.631021.
        let zero = CrossEntropy()
        try zero.update(labels: [NDArray([0])], preds: [NDArray([0, 1], shape: [1, 2])])
        #expect(close(value(zero), 27.631021, 1e-5))
        #expect(throws: MetricError.self) { try ce.update(labels: [NDArray([0, 2, 1])], preds: p) }
        #expect(throws: MetricError.self) { try ce.update(labels: [NDArray([0, .nan, 1])], preds: p) }
    }

    /// MXNet 1.9.1 indexes `pred[arange(N), int64(label)]` with numpy: a negative label counts from
    /// the last class, a fractional one truncates toward zero, and anything past `-K..<K` raises
    /// `IndexError` (here `labelOutOfRange`, naming the label and the range).
    @Test func crossEntropyReadsNegativeLabelsFromTheEnd() throws {
        // Probabilities 0.01 … 0.30 in a (3, 10) array, as in the MXNet session below.
        let p = NDArray((1...30).map { Float($0) / 100 }, shape: [3, 10])
        // MXNet 1.9.1 printed, for CrossEntropy and NegativeLogLikelihood alike:
        //   labels [0, 1, -1]  → 2.6431355476379395  (-1 reads p[2, 9] = 0.30)
        //   labels [0, 1, 9]   → 2.6431355476379395
        //   labels [0, 1, 9.7] → 2.6431355476379395  (int64(9.7) = 9)
        //   labels [0, 1, -1.5] → 2.6431355476379395 (int64(-1.5) = -1)
        //   labels [0, 1, -10] → 2.762027104695638   (-10 reads p[2, 0] = 0.21)
        //   labels [0, 1, -0.5] → 2.762027104695638  (int64(-0.5) = 0)
        let cases: [([Float], Double)] = [
            ([0, 1, -1], 2.6431355476379395), ([0, 1, 9], 2.6431355476379395), ([0, 1, 9.7], 2.6431355476379395),
            ([0, 1, -1.5], 2.6431355476379395), ([0, 1, -10], 2.762027104695638), ([0, 1, -0.5], 2.762027104695638),
        ]
        for (labels, expected) in cases {
            for metric in [CrossEntropy(), NegativeLogLikelihood()] as [NegativeLogProbabilityMetric] {
                try metric.update(labels: [NDArray(labels)], preds: [p])
                #expect(metric.numInst == 3)
                #expect(close(value(metric), expected, 1e-6), "\(metric.name) \(labels)")
            }
        }
        // MXNet raises IndexError ("index 10 is out of bounds for axis 1 with size 10", likewise
        // for -11, and for NaN or infinity, which int64 turns into -9223372036854775808).
        for bad: Float in [10, -11, 11.5, .infinity, -.infinity] {
            let ce = CrossEntropy()
            #expect(throws: MetricError.labelOutOfRange(metric: "cross-entropy", label: bad, classes: 10)) {
                try ce.update(labels: [NDArray([0, 1, bad])], preds: [p])
            }
            #expect(ce.numInst == 0, "a rejected batch adds nothing")
        }
        #expect(throws: MetricError.self) { try CrossEntropy().update(labels: [NDArray([0, 1, .nan])], preds: [p]) }
        let message = MetricError.labelOutOfRange(metric: "nll-loss", label: 10, classes: 10).description
        #expect(message.contains("label 10.0") && message.contains("-10..<10"))
    }

    @Test func regressionMetricsAverageOverBatches() throws {
        // MXNet's example: differences 0.5, 0.5, 0, 1.
        let labels = [NDArray([2.5, 0, 2, 8], shape: [4, 1])]
        let preds = [NDArray([3, -0.5, 2, 7], shape: [4, 1])]
        let mse = MSE()
        let mae = MAE()
        let rmse = RMSE()
        for m in [mse, mae, rmse] as [any EvalMetric] { try m.update(labels: labels, preds: preds) }
        #expect(close(value(mse), 0.375))
        #expect(close(value(mae), 0.5))
        #expect(close(value(rmse), 0.375.squareRoot()))
        #expect(mse.numInst == 1)

        // RMSE is the mean of per-batch RMSEs: batches with RMSE 1 and 3 give 2, not sqrt(5).
        let r = RMSE()
        try r.update(labels: [NDArray([0, 0])], preds: [NDArray([1, 1], shape: [2, 1])])
        try r.update(labels: [NDArray([0, 0])], preds: [NDArray([3, 3])])
        #expect(close(value(r), 2))
        #expect(throws: MetricError.self) { try r.update(labels: [NDArray([0, 0])], preds: [NDArray([1, 1, 1])]) }
    }

    /// MXNet 1.9.1's MAE/MSE/RMSE reshape a 1-D array to (N, 1) and then broadcast `label - pred`
    /// as numpy does. Labels are `arange(n) * 0.5` and predictions `arange(n) * 0.3 + 0.1` in the
    /// shapes given; the values are what MXNet 1.9.1 printed for (mae, mse, rmse).
    @Test func regressionMetricsBroadcastAsMXNetDoes() throws {
        func ramp(_ shape: [Int], _ scale: Float, _ offset: Float) -> NDArray {
            NDArray((0..<NDArray.elementCount(shape)).map { Float($0) * scale + offset }, shape: shape)
        }
        let cases: [(label: [Int], pred: [Int], mae: Double, mse: Double, rmse: Double)] = [
            ([4], [4], 0.25, 0.09000000357627869, 0.30000001192092896),
            ([4], [4, 1], 0.25, 0.09000000357627869, 0.30000001192092896),
            ([4, 1], [4], 0.25, 0.09000000357627869, 0.30000001192092896),
            ([4], [4, 3], 1.0, 1.2599999904632568, 1.1224972009658813),
            ([4, 3], [4], 2.2166664600372314, 6.806666851043701, 2.6089589595794678),
            ([4, 1], [1, 4], 0.5625, 0.4649999737739563, 0.6819090843200684),
            ([4], [1, 4], 0.5625, 0.4649999737739563, 0.6819090843200684),
            ([1], [4], 0.550000011920929, 0.41499999165534973, 0.6442049145698547),
            ([4], [1], 0.699999988079071, 0.73499995470047, 0.8573213815689087),
            ([2, 3, 4], [2, 3, 4], 2.2083332538604736, 6.756666660308838, 2.5993587970733643),
            ([2, 1, 4], [2, 3, 1], 1.0166667699813843, 1.4850000143051147, 1.2186057567596436),
        ]
        for c in cases {
            let labels = [ramp(c.label, 0.5, 0)]
            let preds = [ramp(c.pred, 0.3, 0.1)]
            for (metric, expected) in [(MAE(), c.mae), (MSE(), c.mse), (RMSE(), c.rmse)] as [(RegressionMetric, Double)]
            {
                try metric.update(labels: labels, preds: preds)
                #expect(abs(value(metric) - expected) <= 1e-6 * max(1, expected), "\(metric.name) \(c.label) \(c.pred)")
            }
        }
        // MXNet raises "operands could not be broadcast together" for these; SwiftPS names both shapes.
        let refused: [([Int], [Int])] = [
            ([3], [4]), ([4, 2], [4, 3]), ([4, 3], [3]), ([2, 3], [2, 3, 4]), ([2], [2, 3, 4]),
        ]
        for (l, p) in refused {
            for metric in [MAE(), MSE(), RMSE()] {
                #expect(throws: MetricError.self, "\(l) \(p)") {
                    try metric.update(labels: [ramp(l, 1, 0)], preds: [ramp(p, 1, 0)])
                }
                #expect(metric.numInst == 0)
            }
        }
        // Empty arrays: MXNet adds NaN (numpy's mean of nothing); SwiftPS refuses them.
        #expect(throws: MetricError.self) { try MSE().update(labels: [NDArray([])], preds: [NDArray([])]) }
        do {
            try MAE().update(labels: [ramp([3], 1, 0)], preds: [ramp([4], 1, 0)])
            Issue.record("(3,) against (4,) must throw")
        } catch let error as MetricError {
            #expect(error.description.contains("[3, 1] and [4, 1] do not broadcast"))
        }
    }

    @Test func f1MacroAndMicro() throws {
        // Batch 1 predicts class 1 everywhere: tp 2, fp 1, fn 0 → P = 2/3, R = 1, F1 = 0.8.
        // Batch 2 predicts class 0 everywhere with labels [1, 0]: tp 0 → F1 = 0.
        let (l1, p1) = docBatch()
        let l2 = [NDArray([1, 0])]
        let p2 = [NDArray([0.9, 0.1, 0.8, 0.2], shape: [2, 2])]
        let macro = F1()
        try macro.update(labels: l1, preds: p1)
        #expect(close(value(macro), 0.8))
        try macro.update(labels: l2, preds: p2)
        #expect(macro.numInst == 2)
        #expect(close(value(macro), 0.4))
        // Micro over both: tp 2, fp 1, fn 1 → P = R = 2/3 → F1 = 2/3.
        let micro = F1(average: .micro)
        try micro.update(labels: l1, preds: p1)
        try micro.update(labels: l2, preds: p2)
        #expect(micro.numInst == 5)
        #expect(close(value(micro), 2.0 / 3.0))
        #expect(throws: MetricError.notBinary(metric: "f1", distinctLabels: [0, 1, 2])) {
            try micro.update(labels: [NDArray([0, 1, 2])], preds: p1)
        }
        // Labels count as MXNet's int32 casts of them: 0.5 is 0, so these are binary.
        try F1().update(labels: [NDArray([0, 0.5, 1])], preds: p1)
    }

    @Test func perplexityIgnoresPaddingLabels() throws {
        // exp(0.5715995) = 1.7710976 (MXNet's example).
        let all = Perplexity(ignoreLabel: nil)
        let (l, p) = docBatch()
        try all.update(labels: l, preds: p)
        #expect(close(value(all), 1.7710976))
        // Ignoring the third row: exp(-(ln 0.3 + ln 1) / 2) = 0.3^-0.5 = 1.8257419.
        let padded = Perplexity()
        try padded.update(labels: [NDArray([0, 1, -1])], preds: p)
        #expect(padded.numInst == 2)
        #expect(close(value(padded), 1.8257419))
        // Predictions with a time axis: (batch 1, time 2, vocab 2), labels (1, 2).
        let seq = Perplexity()
        try seq.update(
            labels: [NDArray([1, 0], shape: [1, 2])], preds: [NDArray([0.5, 0.5, 0.25, 0.75], shape: [1, 2, 2])])
        #expect(close(value(seq), (1 / (0.5 * 0.25)).squareRoot()))
        #expect(value(Perplexity()).isNaN)
        // A label past the classes takes the nearest one (MXNet's pick clips): 5 reads as 1.
        let clipped = Perplexity(ignoreLabel: nil)
        try clipped.update(labels: [NDArray([5])], preds: [NDArray([0.2, 0.8], shape: [1, 2])])
        #expect(close(value(clipped), 1 / 0.8))
    }

    @Test func resetClearsState() throws {
        for name in ["acc", "ce", "nll_loss", "f1", "perplexity", "mse", "mae", "rmse", "top_k_accuracy"] {
            let m = try Metrics.create(name)
            let (l, p) = docBatch()
            if name == "mse" || name == "mae" || name == "rmse" {
                try m.update(labels: l, preds: [NDArray([1, 1, 1])])
            } else {
                try m.update(labels: l, preds: p)
            }
            #expect(m.numInst > 0, "\(name)")
            m.reset()
            #expect(m.numInst == 0, "\(name)")
            #expect(m.sumMetric == 0, "\(name)")
            #expect(value(m).isNaN, "\(name)")
        }
    }

    @Test func compositeReportsEveryChild() throws {
        let composite = try Metrics.create(["acc", "f1"])
        let (l, p) = docBatch()
        try composite.update(labels: l, preds: p)
        let values = composite.get()
        #expect(values.map(\.name) == ["accuracy", "f1"])
        #expect(close(values[0].value, 2.0 / 3.0))
        #expect(close(values[1].value, 0.8))
        composite.add(MSE())
        #expect(composite.metrics.count == 3)
        #expect(throws: MetricError.self) { try composite.metric(at: 3) }
        composite.reset()
        #expect(composite.get().allSatisfy { $0.value.isNaN })
    }

    @Test func customMetricWithValueOrSumAndCount() throws {
        let meanAbs = CustomMetric(name: "mean_abs") { label, pred in
            let l = label.toArray()
            let p = pred.toArray()
            var total = 0.0
            for i in l.indices { total += Double(abs(l[i] - p[i])) }
            return total / Double(l.count)
        }
        try meanAbs.update(labels: [NDArray([1, 2]), NDArray([0])], preds: [NDArray([2, 2]), NDArray([4])])
        // Per pair: 0.5 and 4 → mean over 2 pairs = 2.25.
        #expect(meanAbs.numInst == 2)
        #expect(close(value(meanAbs), 2.25))
        let errors = CustomMetric(
            name: "errors",
            sumAndCount: { label, pred in
                let l: [Float] = label.toArray()
                let p: [Float] = pred.toArray()
                var wrong = 0
                for i in l.indices where l[i] != p[i] { wrong += 1 }
                return (Double(wrong), l.count)
            })
        try errors.update(labels: [NDArray([1, 2, 3])], preds: [NDArray([1, 0, 0])])
        #expect(errors.sumMetric == 2)
        #expect(errors.numInst == 3)
        #expect(errors.name == "errors")
        #expect(throws: MetricError.self) { try errors.update(labels: [], preds: [NDArray([1])]) }
    }

    @Test func createByNameAndUnknownName() throws {
        #expect(try Metrics.create("acc").name == "accuracy")
        #expect(try Metrics.create("Accuracy").name == "accuracy")
        #expect(try Metrics.create("ce").name == "cross-entropy")
        #expect(try Metrics.create("nll_loss").name == "nll-loss")
        #expect(try Metrics.create("top_k_accuracy").name == "top_k_accuracy_5")
        #expect(try Metrics.create("top_k_acc:3").name == "top_k_accuracy_3", "fit.py's --top-k 3")
        #expect(throws: MetricError.self) { try Metrics.create("acc:3") }
        #expect(throws: MetricError.self) { try Metrics.create("top_k_accuracy:three") }
        #expect(throws: MetricError.self) { try Metrics.create("top_k_accuracy:1") }
        #expect(try Metrics.create("perplexity") is Perplexity)
        #expect(try Metrics.create("rmse") is RMSE)
        do {
            _ = try Metrics.create("accuarcy")
            Issue.record("an unknown name must throw")
        } catch let error as MetricError {
            #expect(error == .unknownMetric(name: "accuarcy", valid: Metrics.validNames))
            #expect(error.description.contains("'accuarcy'"))
            #expect(error.description.contains("accuracy, ce"))
        }
        #expect(throws: MetricError.self) { try Metrics.create(["acc", "nope"]) }
    }

    /// `loss` (MXNet's `mx.metric.Loss`): the mean of every output element, labels ignored.
    @Test func lossIsTheMeanOfTheOutputs() throws {
        let loss = try Metrics.create("loss")
        #expect(loss is Loss && loss.name == "loss")
        #expect(loss.get().first?.value.isNaN == true)
        try loss.update(labels: [], preds: [NDArray([1, 2, 3, 6], shape: [2, 2])])
        try loss.update(labels: [NDArray([9])], preds: [NDArray([-2])])
        #expect(loss.numInst == 5 && loss.sumMetric == 10)
        #expect(loss.get().first?.value == 2)
        #expect(try loss.get(fromPartials: [("loss", 6, 3)]).first?.value == 2)
        loss.reset()
        #expect(loss.numInst == 0)
    }

    @Test func combiningTwoWorkersEqualsTheUnion() throws {
        let names = ["acc", "ce", "perplexity", "nll_loss", "f1", "top_k_accuracy"]
        let worker0 = try Metrics.create(names)
        let worker1 = try Metrics.create(names)
        let union = try Metrics.create(names)
        let batch0 = ([NDArray([0, 1, 1])], [NDArray([0.3, 0.7, 0.1, 0.9, 0.6, 0.4], shape: [3, 2])])
        let batch1 = ([NDArray([1, 0])], [NDArray([0.2, 0.8, 0.55, 0.45], shape: [2, 2])])
        let batch2 = ([NDArray([0, 0, 1, 1])], [NDArray([0.9, 0.1, 0.4, 0.6, 0.3, 0.7, 0.8, 0.2], shape: [4, 2])])
        try worker0.update(labels: batch0.0, preds: batch0.1)
        try worker1.update(labels: batch1.0, preds: batch1.1)
        try worker1.update(labels: batch2.0, preds: batch2.1)
        for b in [batch0, batch1, batch2] { try union.update(labels: b.0, preds: b.1) }

        let combined = try Metrics.combine([worker0.partials(), worker1.partials()])
        let global = try Metrics.create(names).get(fromPartials: combined)
        let expected = union.get()
        #expect(global.map(\.name) == expected.map(\.name))
        for (g, e) in zip(global, expected) { #expect(close(g.value, e.value, 1e-12), "\(g.name)") }
        // Accuracy is weighted by samples: (1 + 4) / 9, not the mean 0.5 of 1/3 and 4/6.
        #expect(close(global[0].value, 5.0 / 9.0))

        // F1 micro combines its confusion counts: the pooled F1, not a mean of F1s.
        let m0 = F1(average: .micro)
        let m1 = F1(average: .micro)
        let mu = F1(average: .micro)
        try m0.update(labels: batch0.0, preds: batch0.1)
        try m1.update(labels: batch1.0, preds: batch1.1)
        for b in [batch0, batch1] { try mu.update(labels: b.0, preds: b.1) }
        let microCombined = try Metrics.combine([m0.partials(), m1.partials()])
        #expect(close(try F1(average: .micro).get(fromPartials: microCombined)[0].value, value(mu), 1e-12))

        // RMSE combines per-batch RMSEs weighted by batch counts: (1 + 3 + 2) / 3 batches.
        let r0 = RMSE()
        let r1 = RMSE()
        try r0.update(labels: [NDArray([0, 0])], preds: [NDArray([1, 1])])
        try r1.update(labels: [NDArray([0, 0])], preds: [NDArray([3, 3])])
        try r1.update(labels: [NDArray([0])], preds: [NDArray([2])])
        let rmseCombined = try Metrics.combine([r0.partials(), r1.partials()])
        #expect(rmseCombined[0].count == 3)
        #expect(close(try RMSE().get(fromPartials: rmseCombined)[0].value, 2))

        #expect(throws: MetricError.self) { try Metrics.combine([worker0.partials(), Accuracy().partials()]) }
        #expect(throws: MetricError.self) { try Accuracy().get(fromPartials: F1().partials()) }
    }
}
