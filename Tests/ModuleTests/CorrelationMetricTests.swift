import SwiftPSModule
import SwiftPSTensor
import Testing

private func value(_ metric: any EvalMetric) -> Double { metric.get()[0].value }

private func close(_ a: Double, _ b: Double, _ tol: Double = 1e-12) -> Bool { abs(a - b) <= tol }

/// Three binary batches: (tp 2, fp 1, fn 0, tn 1), (tp 1, fp 0, fn 1, tn 1), (tp 1, fp 0, fn 1, tn 2).
private let binaryBatches: [(labels: [NDArray], preds: [NDArray])] = [
    ([NDArray([0, 1, 1, 0])], [NDArray([0.3, 0.7, 0, 1, 0.4, 0.6, 0.8, 0.2], shape: [4, 2])]),
    ([NDArray([1, 0, 1])], [NDArray([0.9, 0.1, 0.8, 0.2, 0.1, 0.9], shape: [3, 2])]),
    ([NDArray([0, 0, 1, 1])], [NDArray([0.9, 0.1, 0.6, 0.4, 0.3, 0.7, 0.8, 0.2], shape: [4, 2])]),
]

/// MCC, PearsonCorrelation and PCC, each checked against what MXNet 1.9.1 printed for the same
/// inputs (`mx.metric.MCC`, `PearsonCorrelation`, `PCC`).
@Suite("Correlation metrics")
struct CorrelationMetricTests {
    @Test func mccMacroAndMicroMatchMXNet() throws {
        // MXNet 1.9.1, after each of the three batches: macro 0.5773502691896258,
        // 0.5386751345948129, 0.5515668461264172 (num_inst 1, 2, 3); micro 0.5773502691896258,
        // 0.4166666666666667, 0.46666666666666673 (num_inst 4, 7, 11).
        let macro = MCC()
        let micro = MCC(average: .micro)
        let expected: [(macro: Double, micro: Double, samples: Int)] = [
            (0.5773502691896258, 0.5773502691896258, 4), (0.5386751345948129, 0.4166666666666667, 7),
            (0.5515668461264172, 0.46666666666666673, 11),
        ]
        for (batch, e) in zip(binaryBatches, expected) {
            try macro.update(labels: batch.labels, preds: batch.preds)
            try micro.update(labels: batch.labels, preds: batch.preds)
            #expect(close(value(macro), e.macro))
            #expect(close(value(micro), e.micro))
            #expect(micro.numInst == e.samples)
        }
        #expect(macro.numInst == 3 && macro.name == "mcc")
        // MXNet's documentation example: almost always positive. F1 0.952…, MCC 0.01917751877733392.
        let (fp, tn, fn, tp) = (1000, 1, 1, 10000)
        let rows =
            [[Float]](repeating: [0.3, 0.7], count: fp) + [[Float]](repeating: [0.7, 0.3], count: tn + fn)
            + [[Float]](repeating: [0.3, 0.7], count: tp)
        let labels = [Float](repeating: 0, count: fp + tn) + [Float](repeating: 1, count: fn + tp)
        let doc = MCC()
        try doc.update(labels: [NDArray(labels)], preds: [NDArray(rows.flatMap { $0 }, shape: [rows.count, 2])])
        #expect(close(value(doc), 0.01917751877733392))
        // Always predicting the positive class: the zero factors become 1 and MCC is 0 (MXNet: 0.0).
        let constant = MCC()
        try constant.update(labels: [NDArray([1, 1])], preds: [NDArray([0, 1, 0, 1], shape: [2, 2])])
        #expect(value(constant) == 0)
        #expect(value(MCC()).isNaN)
        // Two pairs in one update count as one batch (MXNet: 0.09128709291752768, num_inst 1).
        let pairs = MCC()
        try pairs.update(
            labels: [NDArray([0, 1, 1]), NDArray([0, 0, 1, 1])],
            preds: [
                NDArray([0.3, 0.7, 0, 1, 0.4, 0.6], shape: [3, 2]),
                NDArray([0.9, 0.1, 0.4, 0.6, 0.3, 0.7, 0.8, 0.2], shape: [4, 2]),
            ])
        #expect(close(value(pairs), 0.09128709291752768) && pairs.numInst == 1)
        // MXNet: "ValueError: … only supports binary classification."
        #expect(throws: MetricError.notBinary(metric: "mcc", distinctLabels: [0, 1, 2])) {
            try MCC().update(labels: [NDArray([0, 1, 2])], preds: [NDArray([1, 0, 1, 0, 1, 0], shape: [3, 2])])
        }
        micro.reset()
        #expect(micro.numInst == 0 && micro.confusion == BinaryConfusion() && value(micro).isNaN)
    }

    @Test func pearsonMacroAndMicroMatchMXNet() throws {
        let l1 = NDArray([0.1, 0.5, 0.9, 0.3])
        let p1 = NDArray([0.2, 0.4, 0.7, 0.5])
        let l2 = NDArray([1, 2, 3, 1.5], shape: [2, 2])
        let p2 = NDArray([0.9, 2.5, 2, 2], shape: [2, 2])
        let l3 = NDArray([5, 4, 3])
        let p3 = NDArray([1, 2, 2.5])
        // MXNet 1.9.1: macro 0.8907337439956022 after the first pair, 0.16694857598948645 after all
        // three (num_inst 3: one per pair); micro 0.8907337439956021 then 0.5625292114037402, which
        // is numpy's corrcoef of all eleven samples pooled.
        let macro = PearsonCorrelation()
        let micro = PearsonCorrelation(average: .micro)
        for m in [macro, micro] { try m.update(labels: [l1], preds: [p1]) }
        #expect(close(value(macro), 0.8907337439956022))
        #expect(close(value(micro), 0.8907337439956021))
        for m in [macro, micro] { try m.update(labels: [l2, l3], preds: [p2, p3]) }
        #expect(close(value(macro), 0.16694857598948645))
        #expect(close(value(micro), 0.5625292114037402))
        #expect(macro.numInst == 3 && micro.numInst == 3)
        #expect(close(micro.sumMetric / 3, 0.5625292114037402))
        #expect(macro.name == "pearsonr")
        // A constant side gives NaN, as MXNet (numpy warns, the value is nan); so does one sample in micro.
        let constant = PearsonCorrelation()
        try constant.update(labels: [NDArray([1, 1, 1])], preds: [NDArray([1, 2, 3])])
        #expect(value(constant).isNaN)
        let one = PearsonCorrelation(average: .micro)
        try one.update(labels: [NDArray([1])], preds: [NDArray([3])])
        #expect(value(one).isNaN)
        let two = PearsonCorrelation(average: .micro)
        try two.update(labels: [NDArray([1, 2])], preds: [NDArray([3, 5])])
        #expect(close(value(two), 1, 1e-15))  // MXNet: 0.9999999999999998
        // MXNet: "Shape of labels (3,) does not match shape of predictions (3, 1)", both modes.
        for average in MetricAverage.allCases {
            #expect(throws: MetricError.self) {
                try PearsonCorrelation(average: average).update(
                    labels: [NDArray([1, 2, 3])], preds: [NDArray([1, 2, 3], shape: [3, 1])])
            }
        }
        #expect(value(PearsonCorrelation()).isNaN)
        micro.reset()
        #expect(value(micro).isNaN && micro.numInst == 0)
    }

    @Test func pccMatchesMXNetAndGrowsItsMatrix() throws {
        // MXNet 1.9.1: 0.75 after the first update (k 3); 0.8446530265013354 after the second,
        // which grows the matrix to 4 classes (num_inst 2, sum_metric 1.689306053002671);
        // 0.8753377726433472 after a label -1, which numpy counts in the last class;
        // "IndexError: index -5 is out of bounds for axis 1 with size 4" for a label -5.
        let pcc = PCC()
        try pcc.update(
            labels: [NDArray([0, 1, 2, 2, 1])],
            preds: [
                NDArray([0.8, 0.1, 0.1, 0.2, 0.7, 0.1, 0.1, 0.2, 0.7, 0.6, 0.3, 0.1, 0.1, 0.8, 0.1], shape: [5, 3])
            ])
        #expect(close(value(pcc), 0.75) && pcc.classes == 3)
        try pcc.update(
            labels: [NDArray([3, 0]), NDArray([1])], preds: [NDArray([3, 0]), NDArray([0.1, 0.9], shape: [1, 2])])
        #expect(close(value(pcc), 0.8446530265013354) && pcc.classes == 4 && pcc.numInst == 2)
        #expect(close(pcc.sumMetric, 1.689306053002671))
        try pcc.update(labels: [NDArray([-1, 0])], preds: [NDArray([3, 0])])
        #expect(close(value(pcc), 0.8753377726433472))
        #expect(throws: MetricError.labelOutOfRange(metric: "pcc", label: -5, classes: 4)) {
            try pcc.update(labels: [NDArray([-5, 0])], preds: [NDArray([3, 0])])
        }
        #expect(pcc.numInst == 3, "a refused update adds nothing")
        // reset keeps the grown matrix, as MXNet's (k stays 4); every label one class is NaN.
        pcc.reset()
        #expect(value(pcc).isNaN && pcc.classes == 4)
        try pcc.update(labels: [NDArray([1, 1])], preds: [NDArray([1, 1])])
        #expect(value(pcc).isNaN)
        // Class-index predictions are truncated (MXNet: 0.5773502691896258); (N, 1) labels work
        // (MXNet: 0.5); for binary problems PCC is MCC (the documentation example's 0.0191775…).
        let truncated = PCC()
        try truncated.update(labels: [NDArray([0, 1, 1, 0])], preds: [NDArray([0.9, 1.2, 0.5, 0])])
        #expect(close(value(truncated), 0.5773502691896258))
        let column = PCC()
        try column.update(
            labels: [NDArray([0, 1, 1], shape: [3, 1])],
            preds: [NDArray([0.9, 0.1, 0.2, 0.8, 0.7, 0.3], shape: [3, 2])])
        #expect(close(value(column), 0.5))
        let binary = PCC()
        let mcc = MCC()
        for batch in binaryBatches {
            try binary.update(labels: batch.labels, preds: batch.preds)
            try mcc.update(labels: batch.labels, preds: batch.preds)
        }
        let pooled = MCC(average: .micro)
        for batch in binaryBatches { try pooled.update(labels: batch.labels, preds: batch.preds) }
        #expect(close(value(binary), value(pooled)))
    }

    @Test func createdByMXNetsNames() throws {
        // mx.metric.create("mcc") → MCC "mcc"; "pearsonr" and "pearsoncorrelation" → "pearsonr"; "pcc".
        #expect(try Metrics.create("mcc") is MCC)
        #expect(try Metrics.create("MCC").name == "mcc")
        #expect(try Metrics.create("pearsonr") is PearsonCorrelation)
        #expect(try Metrics.create("PearsonCorrelation").name == "pearsonr")
        #expect(try Metrics.create("pcc") is PCC)
        #expect((try Metrics.create("mcc") as? MCC)?.average == .macro)
        for name in ["mcc", "pcc", "pearsonr", "pearsoncorrelation"] { #expect(Metrics.validNames.contains(name)) }
        #expect(throws: MetricError.self) { try Metrics.create("torch") }
    }

    /// Workers' partials add up to what one metric over all their batches reports.
    @Test func combiningWorkersEqualsTheUnion() throws {
        let makers: [() -> any EvalMetric] = [
            { MCC() }, { MCC(average: .micro) }, { F1(average: .micro) }, { PearsonCorrelation() },
            { PearsonCorrelation(average: .micro) }, { PCC() },
        ]
        let regression: [(labels: [NDArray], preds: [NDArray])] = [
            ([NDArray([0.1, 0.5, 0.9, 0.3])], [NDArray([0.2, 0.4, 0.7, 0.5])]),
            ([NDArray([5, 4, 3])], [NDArray([1, 2, 2.5])]),
            ([NDArray([1, 0, 1])], [NDArray([1.5, 0.5, 0.25])]),
        ]
        for make in makers {
            let batches = make() is PearsonCorrelation ? regression : binaryBatches
            let (w0, w1, union) = (make(), make(), make())
            try w0.update(labels: batches[0].labels, preds: batches[0].preds)
            for b in batches.dropFirst() { try w1.update(labels: b.labels, preds: b.preds) }
            for b in batches { try union.update(labels: b.labels, preds: b.preds) }
            let combined = try make().get(fromPartials: try Metrics.combine([w0.partials(), w1.partials()]))
            #expect(close(combined[0].value, value(union), 1e-9), "\(union.name) \(type(of: union))")
        }
        #expect(throws: MetricError.self) { try MCC(average: .micro).get(fromPartials: MCC().partials()) }
    }
}
