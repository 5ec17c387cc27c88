import Foundation
import Testing

@testable import SwiftPSGraph
@testable import SwiftPSKVStore
@testable import SwiftPSModule
@testable import SwiftPSOptimizer
@testable import SwiftPSTensor

/// The values of `array`.
private func values(_ array: NDArray) -> [Float] { (0..<array.count).map { array[flat: $0] } }

/// Bucket `length`'s next-token network, unrolled over time as MXNet's RNN examples are: each
/// position's embedding goes through one shared FullyConnected (`pred_weight`, `pred_bias`) to
/// `vocab` scores, so the graph depends on the length and the parameters do not.
private func unrolledNet(_ length: Int, vocab: Int = 8, embed: Int = 6) throws -> (
    symbol: Symbol, dataNames: [String], labelNames: [String]
) {
    let data = Symbol.variable("data")
    let label = Symbol.variable("softmax_label")
    let embedded = try Symbol.embedding(data, inputDim: vocab, outputDim: embed, name: "embed")
    let steps = try Symbol.sliceChannel(embedded, numOutputs: length, axis: 1, squeezeAxis: true, name: "split")
    let weight = Symbol.variable("pred_weight")
    let bias = Symbol.variable("pred_bias")
    let scores = try (0..<length).map { t in
        try Symbol.operation(
            "FullyConnected", name: "pred\(t)", inputs: [("data", steps[t]), ("weight", weight), ("bias", bias)],
            attributes: ["num_hidden": String(vocab)])
    }
    let stacked = try Symbol.stack(scores, axis: 1, name: "stack")
    let flat = try Symbol.reshape(stacked, shape: [-1, vocab], name: "flat")
    let flatLabel = try Symbol.reshape(label, shape: [-1], name: "flat_label")
    let out = try Symbol.softmaxOutput(flat, label: flatLabel, name: "softmax", ignoreLabel: -1, useIgnore: true)
    return (out, ["data"], ["softmax_label"])
}

/// Sentences that follow `next = (3 · token + 1) mod 8` from a random start, of lengths 2...9.
private func ruleSentences(_ count: Int, seed: UInt64) -> [[Int]] {
    var rng = RandomGenerator(seed: seed)
    return (0..<count).map { _ in
        let length = 2 + Int(rng.next() % 8)
        var token = Int(rng.next() % 8)
        var sentence: [Int] = []
        for _ in 0..<length {
            sentence.append(token)
            token = (3 * token + 1) % 8
        }
        return sentence
    }
}

/// Every batch of one epoch: (bucket key, data, label, sentence indices), copied.
private func epochBatches(_ iter: BucketSentenceIter) throws -> [(
    key: Int, data: [Float], label: [Float], index: [Int]
)] {
    var out: [(key: Int, data: [Float], label: [Float], index: [Int])] = []
    while let batch = try iter.next() {
        out.append((batch.bucketKey!, values(batch.data[0]), values(batch.label[0]), batch.index!))
    }
    return out
}

@Suite struct BucketSentenceIterTests {
    @Test func sentencesGoToTheSmallestBucketPaddedWithNextTokenLabels() throws {
        let sentences = [[1, 2], [3, 4, 5], [6], [7, 8, 9, 10], [1, 1, 1, 1, 1, 1], [2, 3, 4, 5, 6], [5, 4]]
        let iter = try BucketSentenceIter(sentences: sentences, batchSize: 2, buckets: [5, 3], invalidLabel: -1)
        #expect(iter.buckets == [3, 5])
        #expect(iter.defaultBucketKey == 5)
        #expect(iter.discarded == 1)  // the six-token sentence
        #expect(iter.provideData == [DataDesc(name: "data", shape: [2, 5])])
        #expect(iter.provideLabel == [DataDesc(name: "softmax_label", shape: [2, 5])])
        // Bucket 3 holds [1,2], [3,4,5], [6], [5,4]: two batches; bucket 5 holds two: one batch.
        let batches = try epochBatches(iter)
        #expect(batches.map(\.key).sorted() == [3, 3, 5])
        #expect(Set(batches.flatMap(\.index)) == [0, 1, 2, 3, 5, 6])
        for batch in batches {
            for (slot, sentence) in batch.index.enumerated() {
                let length = batch.key
                let padded =
                    sentences[sentence].map(Float.init)
                    + Array(repeating: -1, count: length - sentences[sentence].count)
                #expect(Array(batch.data[(slot * length)..<((slot + 1) * length)]) == padded)
                #expect(Array(batch.label[(slot * length)..<((slot + 1) * length)]) == Array(padded.dropFirst()) + [-1])
            }
        }
        // Each batch describes its own shapes.
        iter.reset()
        while let batch = try iter.next() {
            let key = try #require(batch.bucketKey)
            #expect(batch.providedData == [DataDesc(name: "data", shape: [2, key])])
            #expect(batch.providedLabel == [DataDesc(name: "softmax_label", shape: [2, key])])
            #expect(batch.data[0].shape == [2, key])
            #expect(batch.pad == 0)
        }
    }

    @Test func defaultBucketsAreTheLengthsWithAFullBatchAsInMXNet() throws {
        // MXNet: buckets = lengths occurring at least batch_size times ([1, 3] here); the length-2
        // sentence goes to bucket 3 and the length-4 one is discarded.
        let iter = try BucketSentenceIter(
            sentences: [[1], [2], [1, 2], [1, 2, 3], [4, 5, 6], [7, 7, 7], [1, 2, 3, 4]], batchSize: 2)
        #expect(iter.buckets == [1, 3])
        #expect(iter.discarded == 1)
        #expect(iter.defaultBucketKey == 3)
        #expect(iter.batchesInEpoch == 3)
        #expect(throws: DataIterError.self) { try BucketSentenceIter(sentences: [[1], [1, 2]], batchSize: 2) }
        #expect(throws: DataIterError.self) {
            try BucketSentenceIter(sentences: [[1, 2, 3]], batchSize: 1, buckets: [2])
        }
    }

    @Test func shufflingIsReproducibleWithTheSeed() throws {
        let sentences = ruleSentences(200, seed: 3)
        func epochs(_ seed: UInt64) throws -> [[[Int]]] {
            let iter = try BucketSentenceIter(sentences: sentences, batchSize: 4, buckets: [3, 6, 9], seed: seed)
            var out: [[[Int]]] = []
            for _ in 0..<3 {
                out.append(try epochBatches(iter).map(\.index))
                iter.reset()
            }
            return out
        }
        let a = try epochs(7)
        #expect(a == (try epochs(7)))
        #expect(a != (try epochs(8)))
        #expect(a[0] != a[1])  // a fresh shuffle every epoch
        // Unshuffled: sentences in their order, bucket by bucket.
        let plain = try BucketSentenceIter(sentences: sentences, batchSize: 4, buckets: [3, 6, 9], shuffle: false)
        let order = try epochBatches(plain).flatMap(\.index)
        #expect(
            order
                == order.sorted {
                    (sentences[$0].count + 2) / 3 != (sentences[$1].count + 2) / 3
                        ? (sentences[$0].count + 2) / 3 < (sentences[$1].count + 2) / 3 : $0 < $1
                })
    }

    @Test func partsSplitTheEpochsBatchesEvenly() throws {
        let sentences = ruleSentences(203, seed: 5)
        let whole = try BucketSentenceIter(sentences: sentences, batchSize: 4, buckets: [3, 6, 9], seed: 11)
        let parts = try (0..<3).map {
            try BucketSentenceIter(
                sentences: sentences, batchSize: 4, buckets: [3, 6, 9], seed: 11, numParts: 3, partIndex: $0)
        }
        for _ in 0..<2 {
            let all = try epochBatches(whole).map(\.index)
            let shares = try parts.map { try epochBatches($0).map(\.index) }
            #expect(Set(shares.map(\.count)) == [all.count / 3])
            // Contiguous runs of the whole epoch's shuffled batches, disjoint.
            #expect(shares.flatMap { $0 } == Array(all.prefix(3 * (all.count / 3))))
            whole.reset()
            for part in parts { part.reset() }
        }
        #expect(throws: DataIterError.self) {
            try BucketSentenceIter(sentences: sentences, batchSize: 4, numParts: 2, partIndex: 2)
        }
    }

    @Test func prefetchingKeepsEachBatchsBucketAndShapes() throws {
        let sentences = ruleSentences(60, seed: 9)
        let direct = try BucketSentenceIter(sentences: sentences, batchSize: 4, buckets: [3, 6, 9], seed: 2)
        let expected = try epochBatches(direct)
        let prefetched = try PrefetchingIter(
            try BucketSentenceIter(sentences: sentences, batchSize: 4, buckets: [3, 6, 9], seed: 2))
        var got: [(key: Int, data: [Float], label: [Float], index: [Int])] = []
        while let batch = try prefetched.next() {
            #expect(batch.providedData?.first?.shape == batch.data[0].shape)
            got.append((batch.bucketKey!, values(batch.data[0]), values(batch.label[0]), batch.index!))
        }
        #expect(got.map(\.key) == expected.map(\.key))
        #expect(got.map(\.data) == expected.map(\.data))
        #expect(got.map(\.label) == expected.map(\.label))
    }
}

@Suite struct BucketingModuleTests {
    private static let buckets = [3, 6, 9]

    private func makeModule(seed: UInt64 = 0) throws -> BucketingModule {
        try BucketingModule(symbolGenerator: { try unrolledNet($0) }, defaultBucketKey: 9, seed: seed)
    }

    private func makeIter(seed: UInt64 = 1, count: Int = 240) throws -> BucketSentenceIter {
        try BucketSentenceIter(
            sentences: ruleSentences(count, seed: 42), batchSize: 8, buckets: Self.buckets, seed: seed)
    }

    @Test func callsInTheWrongStateThrowTheTypedError() throws {
        let module = try makeModule()
        let iter = try makeIter()
        let batch = try #require(try iter.next())
        #expect(throws: ModuleError.wrongState(call: "forward", needs: "bind")) { try module.forward(batch) }
        #expect(throws: ModuleError.wrongState(call: "initParams", needs: "bind")) { try module.initParams() }
        #expect(throws: ModuleError.wrongState(call: "switchBucket", needs: "bind")) {
            try module.switchBucket(3, dataShapes: [DataDesc(name: "data", shape: [8, 3])])
        }
        #expect(throws: ModuleError.wrongState(call: "getParams", needs: "bind")) { try module.getParams() }
        #expect(throws: ModuleError.wrongState(call: "installMonitor", needs: "bind")) {
            try module.installMonitor(Monitor(interval: 1))
        }
        #expect(throws: ModuleError.badInput("BucketingModule does not support sharedModule")) {
            try module.bind(
                dataShapes: iter.provideData, labelShapes: iter.provideLabel, sharedModule: try makeModule())
        }
        #expect(module.dataNames == ["data"])
        #expect(module.outputNames == ["softmax_output"])
        try module.bind(dataShapes: iter.provideData, labelShapes: iter.provideLabel)
        #expect(throws: ModuleError.wrongState(call: "forward", needs: "initParams")) { try module.forward(batch) }
        #expect(throws: ModuleError.wrongState(call: "switchBucket", needs: "initParams")) {
            try module.switchBucket(3, dataShapes: [DataDesc(name: "data", shape: [8, 3])])
        }
        #expect(throws: ModuleError.wrongState(call: "initOptimizer", needs: "initParams")) {
            try module.initOptimizer()
        }
        try module.initParams(initializer: Xavier())
        try module.forwardBackward(batch)
        #expect(throws: ModuleError.wrongState(call: "update", needs: "initOptimizer")) { try module.update() }
        #expect(throws: ModuleError.wrongState(call: "getInputGrads", needs: "bind(inputsNeedGrad: true)")) {
            try module.getInputGrads()
        }
        // An unknown data name is refused as MXNet's _check_input_names does.
        #expect(throws: ModuleError.self) {
            try BucketingModule(
                symbolGenerator: {
                    let n = try unrolledNet($0)
                    return (n.symbol, ["tokens"], n.labelNames)
                },
                defaultBucketKey: 9)
        }
    }

    @Test func bucketsShareTheParametersAndTheOptimizer() throws {
        let module = try makeModule()
        let iter = try makeIter()
        try module.bind(dataShapes: iter.provideData, labelShapes: iter.provideLabel)
        try module.initParams(initializer: Xavier())
        try module.initOptimizer(optimizer: OptimizerConfig(name: "sgd", learningRate: 0.5, momentum: 0.9))
        var seen = Set<Int>()
        while seen.count < 3, let batch = try iter.next() {
            let before = try module.getParams().args
            try module.forwardBackwardUpdate(batch)
            seen.insert(batch.bucketKey!)
            #expect(module.currentBucketKey == batch.bucketKey)
            // The step through this bucket is seen by every other bucket's module.
            let after = try module.getParams().args
            #expect(values(after["pred_weight"]!) != values(before["pred_weight"]!))
            for (key, other) in module.buckets {
                let theirs = try other.getParams().args
                for name in ["embed_weight", "pred_weight", "pred_bias"] {
                    #expect(values(theirs[name]!) == values(after[name]!), "bucket \(key), \(name)")
                }
            }
        }
        #expect(Set(module.buckets.keys) == [3, 6, 9])
        // The very same arrays, and the default module's kvstore and optimizer.
        let main = try #require(module.buckets[9])
        for (_, other) in module.buckets {
            #expect(other.executor!.argDict["pred_weight"]! === main.executor!.argDict["pred_weight"]!)
            #expect(other.kvStore === main.kvStore)
            #expect(other.installedOptimizer == main.installedOptimizer)
        }
    }

    @Test func rebindingForInferenceKeepsTheWeightsAndRebindsTheBuckets() throws {
        let module = try makeModule()
        let iter = try makeIter(count: 80)
        try module.fit(iter, optimizer: OptimizerConfig(name: "sgd", learningRate: 0.5), numEpoch: 1)
        let trained = try module.getParams().args
        // In a fixed order, so that the two predictions see the same batches.
        let ordered = try BucketSentenceIter(
            sentences: ruleSentences(80, seed: 42), batchSize: 8, buckets: Self.buckets, shuffle: false)
        let outputs = try module.predict(ordered, mergeBatches: false)
        try module.bind(
            dataShapes: iter.provideData, labelShapes: iter.provideLabel, forTraining: false, forceRebind: true)
        #expect(Array(module.buckets.keys) == [9])
        #expect(!module.forTraining)
        let again = try module.getParams().args
        for (name, value) in trained { #expect(values(again[name]!) == values(value)) }
        let rerun = try module.predict(ordered, mergeBatches: false)
        #expect(rerun.map { $0.map(values) } == outputs.map { $0.map(values) }, "predictions differ")
        #expect(Set(module.buckets.keys) == [3, 6, 9])
        #expect(module.buckets.values.allSatisfy { !$0.forTraining })
        // A batch without a bucket key runs on the default bucket.
        iter.reset()
        let batch = try #require(try iter.next())
        let plain = DataBatch(data: [NDArray(shape: [8, 9])], label: [NDArray(shape: [8, 9])])
        try module.forward(batch, isTrain: false)
        try module.forward(plain, isTrain: false)
        #expect(module.currentBucketKey == 9)
        #expect(try module.getOutputs()[0].shape == [72, 8])
    }

    @Test func monitorsAndEpochCallbacksSeeEveryBucket() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "swiftps-bucketing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let module = try makeModule()
        let iter = try makeIter(count: 80)
        try module.bind(dataShapes: iter.provideData, labelShapes: iter.provideLabel)
        let monitor = Monitor(interval: 1, pattern: "pred")
        try module.installMonitor(monitor)
        try module.initParams(initializer: Xavier())
        var seen: [Int: Set<String>] = [:]
        while let batch = try iter.next() {
            monitor.tic()
            try module.forward(batch, isTrain: false)
            seen[batch.bucketKey!, default: []].formUnion(monitor.toc().map(\.name).filter { $0.hasSuffix("_output") })
        }
        // Bucket k's network has k prediction layers, and a module bound later is monitored too.
        #expect(seen[3]?.count == 3)
        #expect(seen[6]?.count == 6)
        #expect(seen[9]?.count == 9)
        // What the epoch-end callbacks get, and so doCheckpoint writes, is the default bucket's symbol.
        let prefix = directory.path + "/lm"
        try module.fit(
            iter, epochEndCallbacks: [doCheckpoint(prefix: prefix)],
            optimizer: OptimizerConfig(name: "sgd", learningRate: 0.1), numEpoch: 1)
        let saved = try Symbol.load(from: prefix + "-symbol.json")
        #expect(saved.listArguments() == (try unrolledNet(9)).symbol.listArguments())
        #expect(saved.internals.listOutputs().contains("pred8_output"))
        #expect(module.symbol?.internals.listOutputs().contains("pred8_output") == true)
    }

    @Test func fitLowersTheLossOverThreeBuckets() throws {
        let module = try makeModule()
        let iter = try makeIter()
        let optimizer = OptimizerConfig(name: "sgd", learningRate: 0.05)
        try module.fit(iter, evalMetric: Perplexity(ignoreLabel: -1), optimizer: optimizer, numEpoch: 1)
        let perplexity1 = try module.score(iter, Perplexity(ignoreLabel: -1))[0].value
        let accuracy1 = try module.score(iter, Accuracy())[0].value
        iter.reset()
        try module.fit(
            iter, evalMetric: Perplexity(ignoreLabel: -1), optimizer: optimizer, beginEpoch: 1, numEpoch: 8)
        let perplexity8 = try module.score(iter, Perplexity(ignoreLabel: -1))[0].value
        let accuracy8 = try module.score(iter, Accuracy())[0].value
        #expect(Set(module.buckets.keys) == [3, 6, 9])
        #expect(perplexity8 < perplexity1 * 0.5, "\(perplexity1) → \(perplexity8)")
        #expect(perplexity8 < 2)
        // Accuracy counts the invalid labels (padding, the last position) as misses, as MXNet's.
        #expect(accuracy8 > accuracy1 + 0.1, "\(accuracy1) → \(accuracy8)")
    }

    @Test func trainsAsAPlainModuleRebuiltForEachBatchsLength() throws {
        let iter = try makeIter(count: 120)
        var batches: [DataBatch] = []
        while let batch = try iter.next() {
            batches.append(
                DataBatch(
                    data: batch.data.map { $0.copy() }, label: batch.label.map { $0.copy() },
                    providedData: batch.providedData, providedLabel: batch.providedLabel, bucketKey: batch.bucketKey))
        }
        #expect(Set(batches.compactMap(\.bucketKey)) == [3, 6, 9])
        let optimizer = OptimizerConfig(name: "sgd", learningRate: 0.5, wd: 0.001)

        let module = try makeModule()
        try module.bind(dataShapes: iter.provideData, labelShapes: iter.provideLabel)
        try module.initParams(initializer: Xavier())
        let (start, _) = try module.getParams()
        try module.initOptimizer(optimizer: optimizer)
        for batch in batches { try module.forwardBackwardUpdate(batch) }
        let (trained, _) = try module.getParams()

        var weights = start
        for batch in batches {
            let network = try unrolledNet(batch.bucketKey!)
            let plain = try Module(symbol: network.symbol)
            try plain.bind(dataShapes: batch.providedData!, labelShapes: batch.providedLabel)
            try plain.setParams(weights, [:])
            try plain.initOptimizer(optimizer: optimizer)
            try plain.forwardBackwardUpdate(batch)
            weights = try plain.getParams().args
        }
        for (name, value) in trained {
            let expected = values(weights[name]!)
            let got = values(value)
            let worst = zip(got, expected).map { abs($0 - $1) }.max() ?? 0
            #expect(worst < 1e-6, "\(name) differs by \(worst)")
        }
    }

    @Test func checkpointsResumeExactly() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "swiftps-bucketing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let prefix = directory.appendingPathComponent("lm").path
        let optimizer = OptimizerConfig(name: "sgd", learningRate: 0.5, momentum: 0.9)

        let straight = try makeModule()
        try straight.fit(try makeIter(), evalMetric: Perplexity(ignoreLabel: -1), optimizer: optimizer, numEpoch: 4)
        let expected = try straight.getParams().args

        let first = try makeModule()
        try first.fit(try makeIter(), evalMetric: Perplexity(ignoreLabel: -1), optimizer: optimizer, numEpoch: 2)
        try first.saveCheckpoint(prefix: prefix, epoch: 2, saveOptimizerStates: true)
        #expect(FileManager.default.fileExists(atPath: "\(prefix)-symbol.json"))
        #expect(
            try Symbol.load(from: "\(prefix)-symbol.json").listArguments()
                == (try unrolledNet(9)).symbol.listArguments())

        let resumed = try BucketingModule.load(
            prefix: prefix, epoch: 2, symbolGenerator: { try unrolledNet($0) }, defaultBucketKey: 9,
            loadOptimizerStates: true)
        let iter = try makeIter()
        iter.reset()
        iter.reset()  // where the first run's iterator stood after two epochs
        try resumed.fit(
            iter, evalMetric: Perplexity(ignoreLabel: -1), optimizer: optimizer, beginEpoch: 2, numEpoch: 4)
        let got = try resumed.getParams().args
        for (name, value) in expected { #expect(values(got[name]!) == values(value), "\(name)") }

        // Without the optimizer state (momentum lost) the run differs: the state was needed.
        let fresh = try BucketingModule.load(
            prefix: prefix, epoch: 2, symbolGenerator: { try unrolledNet($0) }, defaultBucketKey: 9)
        let again = try makeIter()
        again.reset()
        again.reset()
        try fresh.fit(again, evalMetric: Perplexity(ignoreLabel: -1), optimizer: optimizer, beginEpoch: 2, numEpoch: 4)
        #expect(values(try fresh.getParams().args["pred_weight"]!) != values(expected["pred_weight"]!))
    }
}

/// README.md's bucketing example, kept here so that it compiles and runs (on the rule sentences,
/// for two epochs).
@Suite struct ReadmeBucketingExampleTests {
    @Test func theReadmeBucketingExampleRuns() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "swiftps-readme-bucketing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let sentences = ruleSentences(200, seed: 4)

        let vocab = 1000
        func network(_ length: Int) throws -> (symbol: Symbol, dataNames: [String], labelNames: [String]) {
            let embedded = try Symbol.embedding(
                Symbol.variable("data"), inputDim: vocab, outputDim: 32, name: "embed")
            // (N, length, vocab)
            let scores = try Symbol.fullyConnected(embedded, numHidden: vocab, flatten: false, name: "pred")
            let flat = try Symbol.reshape(scores, shape: [-1, vocab])
            let label = try Symbol.reshape(Symbol.variable("softmax_label"), shape: [-1])
            let out = try Symbol.softmaxOutput(flat, label: label, name: "softmax", ignoreLabel: -1, useIgnore: true)
            return (out, ["data"], ["softmax_label"])
        }
        let train = try BucketSentenceIter(sentences: sentences, batchSize: 32, buckets: [10, 20, 30], seed: 1)
        let model = try BucketingModule(symbolGenerator: network, defaultBucketKey: train.defaultBucketKey)
        try model.fit(
            train, evalMetric: Perplexity(ignoreLabel: -1), optimizer: OptimizerConfig(name: "sgd", learningRate: 0.1),
            initializer: Xavier(), numEpoch: 2)
        try model.saveCheckpoint(prefix: directory.path + "/lm", epoch: 2, saveOptimizerStates: true)
        #expect(train.defaultBucketKey == 10)
        #expect(FileManager.default.fileExists(atPath: directory.path + "/lm-0002.states"))
    }
}

@Suite struct BucketShapeTests {
    @Test func aBucketWhoseParametersHaveOtherShapesIsRefused() throws {
        let module = try BucketingModule(
            symbolGenerator: { key in
                let fc = try Symbol.fullyConnected(Symbol.variable("data"), numHidden: key, name: "fc")
                return (try Symbol.softmaxOutput(fc, name: "softmax"), ["data"], ["softmax_label"])
            }, defaultBucketKey: 4)
        try module.bind(
            dataShapes: [DataDesc(name: "data", shape: [2, 3])],
            labelShapes: [DataDesc(name: "softmax_label", shape: [2])])
        try module.initParams(initializer: Xavier())
        let batch = DataBatch(data: [NDArray(shape: [2, 3])], label: [NDArray(shape: [2])], bucketKey: 5)
        do {
            try module.forward(batch)
            Issue.record("a bucket with a (5, 3) weight was bound on the default bucket's (4, 3) one")
        } catch {
            #expect(
                "\(error)".hasPrefix(
                    "bucket 5 cannot be bound for [DataDesc[data,[2, 3]], DataDesc[softmax_label,[2]]] on the parameters of the default bucket 4"
                ))
            #expect("\(error)".contains("expected [5, 3]"))
        }
        #expect(module.buckets.keys.sorted() == [4])
        #expect(module.currentBucketKey == 4)
    }
}
