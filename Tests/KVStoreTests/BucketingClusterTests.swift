import Foundation
import PSTestSupport
import SwiftPSGraph
import SwiftPSKVStore
import SwiftPSModule
import SwiftPSOptimizer
import SwiftPSTensor
import Testing

/// `BucketingModule` on a distributed kvstore: every bucket's module pushes and pulls the same keys
/// through the one store, and a batch of another bucket reads the weights only once the previous
/// bucket's update has landed.
@Suite(.serialized) struct BucketingClusterTests {
    static let vocab = 8
    static let batch = 4

    /// Bucket `length`'s network: each token's embedding scored over the vocabulary (next token).
    static func network(_ length: Int) throws -> (symbol: Symbol, dataNames: [String], labelNames: [String]) {
        let embedded = try Symbol.embedding(.variable("data"), inputDim: vocab, outputDim: 5, name: "embed")
        let scores = try Symbol.fullyConnected(embedded, numHidden: vocab, flatten: false, name: "pred")
        let flat = try Symbol.reshape(scores, shape: [-1, vocab], name: "flat")
        let label = try Symbol.reshape(.variable("softmax_label"), shape: [-1], name: "flat_label")
        let out = try Symbol.softmaxOutput(flat, label: label, name: "softmax", ignoreLabel: -1, useIgnore: true)
        return (out, ["data"], ["softmax_label"])
    }

    /// A batch of bucket `length`: tokens following `next = (5 · token + 3) mod 8`.
    static func batch(length: Int, start: Int) -> DataBatch {
        let data = NDArray(shape: [batch, length])
        let label = NDArray(shape: [batch, length])
        for row in 0..<batch {
            var token = (start + row) % vocab
            for t in 0..<length {
                data[flat: row * length + t] = Float(token)
                token = (5 * token + 3) % vocab
                label[flat: row * length + t] = t + 1 < length ? Float(token) : -1
            }
        }
        return DataBatch(
            data: [data], label: [label], providedData: [DataDesc(name: "data", shape: [batch, length])],
            providedLabel: [DataDesc(name: "softmax_label", shape: [batch, length])], bucketKey: length)
    }

    static func module(updateOnKVStore: Bool, store: DistKVStore) throws -> BucketingModule {
        let module = try BucketingModule(symbolGenerator: network, defaultBucketKey: 6, seed: 7)
        module.updateOnKVStore = updateOnKVStore
        try module.bind(
            dataShapes: [DataDesc(name: "data", shape: [batch, 6])],
            labelShapes: [DataDesc(name: "softmax_label", shape: [batch, 6])])
        try module.initParams(initializer: Xavier())
        try module.initOptimizer(kvstore: store, optimizer: OptimizerConfig(name: "sgd", learningRate: 0.5))
        return module
    }

    /// An update through bucket 3 held in flight: the next forward, bucket 6's, waits for it, with
    /// the servers updating (the wait moves to the new bucket's forward) and with this worker
    /// updating (the sums are applied at the switch).
    @Test(arguments: [true, false]) func aBatchOfAnotherBucketWaitsForTheUpdateInFlight(onKVStore: Bool) throws {
        try InFlightWeightTests.onOneWorker { store, holdAnswers in
            let module = try Self.module(updateOnKVStore: onKVStore, store: store)
            let short = Self.batch(length: 3, start: 1)
            let long = Self.batch(length: 6, start: 2)
            try module.forwardBackwardUpdate(short)  // binds bucket 3
            try module.forward(long, isTrain: false)
            holdAnswers(true)
            try module.forwardBackwardUpdate(short)
            try module.forward(long, isTrain: false)
            let seen = try module.getOutputs()[0].toArray()
            holdAnswers(false)
            // Every answer in, and applied (bucket 3's forward applies what it has not, when this
            // worker updates): the weights after the update.
            try store.waitAll()
            try module.forward(short, isTrain: false)
            try module.forward(long, isTrain: false)
            #expect(try module.getOutputs()[0].toArray() == seen, "bucket 6 read the weights before the update")
            #expect(module.buckets.keys.sorted() == [3, 6])
            if onKVStore {
                let main = try #require(module.buckets[6])
                let held = try module.getParams().args.mapValues { $0.toArray() }
                #expect(held == (try InFlightWeightTests.serverWeights(main, store)))
            }
        }
    }

    /// Two workers train on their parts of the batches with dist_sync: they end with the servers'
    /// weights, and the loss fell.
    @Test func twoWorkersTrainOneModelOverTheBuckets() throws {
        let cluster = try KVCluster(workers: 2, servers: 1)
        defer { cluster.stop() }
        var rng = RandomGenerator(seed: 3)
        let sentences: [[Int]] = (0..<160).map { _ in
            var token = Int(rng.next() % 8)
            return (0..<(2 + Int(rng.next() % 7))).map { _ in
                defer { token = (5 * token + 3) % 8 }
                return token
            }
        }
        let results = Inbox<(rank: Int, weights: [String: [Float]], server: [String: [Float]], loss: [Double])>()
        let errors = cluster.onWorkers(timeout: 60) { rank, store in
            let iter = try BucketSentenceIter(
                sentences: sentences, batchSize: Self.batch, buckets: [4, 8], seed: 5, numParts: 2, partIndex: rank)
            let module = try BucketingModule(symbolGenerator: Self.network, defaultBucketKey: 8, seed: 7)
            var loss: [Double] = []
            let metric = Perplexity(ignoreLabel: -1)
            try module.fit(
                iter, evalMetric: metric,
                epochEndCallbacks: [{ _, _, _, _ in loss.append(metric.get()[0].value) }],
                kvstore: store, optimizer: OptimizerConfig(name: "sgd", learningRate: 0.5), initializer: Xavier(),
                numEpoch: 4)
            let weights = try module.getParams().args.mapValues { $0.toArray() }
            let server = try InFlightWeightTests.serverWeights(try #require(module.buckets[8]), store)
            results.put((rank, weights, server, loss))
        }
        #expect(errors.allSatisfy { $0 == nil }, "\(errors)")
        let got = results.wait(count: 2).sorted { $0.rank < $1.rank }
        try #require(got.count == 2)
        #expect(got[0].weights == got[1].weights)
        #expect(got[0].weights == got[0].server)
        for worker in got { #expect(worker.loss.last! < worker.loss.first! * 0.7, "\(worker.loss)") }
    }
}
