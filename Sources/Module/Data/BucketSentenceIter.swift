import Logging
import SwiftPSTensor

/// Sentences of token ids grouped into buckets of padded length, for `BucketingModule`: MXNet
/// 1.x's `mx.rnn.BucketSentenceIter` (layout `NT`).
///
/// Each sentence goes to the smallest bucket at least as long as it, padded at the end with
/// `invalidLabel`; sentences longer than the largest bucket are dropped (their count is logged).
/// A batch holds `batchSize` sentences of one bucket: data (batchSize, length) and label the data
/// shifted left by one, ending in `invalidLabel` (the next token to predict at each position). Every
/// batch carries its bucket's length as `bucketKey` and its shapes as `providedData`/
/// `providedLabel`; `provideData`/`provideLabel` describe the largest bucket, `defaultBucketKey`.
///
/// Only full batches are made: each epoch, each bucket's sentences are shuffled and cut into
/// batches, and what does not fill a batch waits for a later epoch's shuffle (MXNet's behaviour).
/// The batches of an epoch come in a shuffled order. Both shuffles come from `seed`, drawn afresh
/// at every `reset()` (the first epoch is shuffled too, as MXNet's constructor resets).
///
/// With `numParts` > 1 every part must be made with the same sentences and seed: each epoch's
/// shuffled batch list is split into `numParts` contiguous runs of equal length (the few batches
/// left over are skipped that epoch), so every worker runs the same number of steps, as `dist_sync`
/// needs, on batches no other worker sees.
///
/// The batch of each bucket is reused on every `next()` (see `DataBatch`); `DataBatch.index` holds
/// the positions of the batch's sentences in `sentences`.
public final class BucketSentenceIter: DataIter {
    public let batchSize: Int
    /// The bucket lengths that hold sentences, ascending.
    public let buckets: [Int]
    /// The largest bucket, which `provideData` describes (MXNet's `default_bucket_key`).
    public let defaultBucketKey: Int
    public let provideData: [DataDesc]
    public let provideLabel: [DataDesc]
    /// The value padding the data and ending the labels (MXNet's `invalid_label`).
    public let invalidLabel: Int
    /// How many sentences were longer than the largest bucket and left out.
    public let discarded: Int
    /// Which part of the batches this iterator yields.
    public let shard: DataShard

    /// Each bucket's sentences, padded, one row of `buckets[b]` values per sentence.
    private let rows: [[Float]]
    /// Each bucket's sentences' positions in the given list.
    private let sentenceIndex: [[Int]]
    private let shuffle: Bool
    private var random: RandomGenerator
    /// This epoch's order of each bucket's rows.
    private var rowOrder: [[Int]] = []
    /// This part's batches this epoch: (bucket, first position in its row order).
    private var schedule: [(bucket: Int, start: Int)] = []
    private var cursor = 0
    private let batches: [DataBatch]

    /// An iterator over `sentences` (token ids).
    ///
    /// - Parameters:
    ///   - buckets: the bucket lengths; default (nil or empty): every length at least `batchSize`
    ///     sentences have, as MXNet's (a rarer length goes to the next larger bucket).
    ///   - invalidLabel: pads the data and ends the labels (MXNet default -1).
    ///   - dataName / labelName: the input names (MXNet's `data` and `softmax_label`).
    ///   - shuffle: shuffle each epoch (MXNet always does).
    ///   - seed: the shuffles' seed; every part of a sharded run needs the same.
    ///   - numParts / partIndex: this worker's share of the batches (see above).
    public init(
        sentences: [[Int]], batchSize: Int, buckets: [Int]? = nil, invalidLabel: Int = -1,
        dataName: String = "data", labelName: String = "softmax_label", shuffle: Bool = true, seed: UInt64 = 0,
        numParts: Int = 1, partIndex: Int = 0, logger: Logger = Logger(label: "swiftps.data")
    ) throws(DataIterError) {
        guard batchSize >= 1 else { throw .invalidArgument("batchSize must be at least 1, got \(batchSize)") }
        shard = try DataShard(numParts: numParts, partIndex: partIndex)
        var lengths = buckets ?? []
        if lengths.isEmpty {
            var counts: [Int: Int] = [:]
            for sentence in sentences { counts[sentence.count, default: 0] += 1 }
            lengths = counts.filter { $0.value >= batchSize }.map(\.key)
        }
        lengths = Array(Set(lengths)).sorted()
        guard let first = lengths.first, first >= 1 else {
            throw .invalidArgument(
                lengths.isEmpty
                    ? "BucketSentenceIter: no bucket: no sentence length occurs batchSize (\(batchSize)) times; give the buckets"
                    : "BucketSentenceIter: bucket lengths must be at least 1, got \(lengths)")
        }
        var rows = [[Float]](repeating: [], count: lengths.count)
        var index = [[Int]](repeating: [], count: lengths.count)
        var discarded = 0
        for (position, sentence) in sentences.enumerated() {
            // The smallest bucket that holds the sentence (MXNet's bisect_left).
            guard let b = lengths.firstIndex(where: { $0 >= sentence.count }) else {
                discarded += 1
                continue
            }
            rows[b] += sentence.map { Float($0) }
            rows[b] += repeatElement(Float(invalidLabel), count: lengths[b] - sentence.count)
            index[b].append(position)
        }
        // Buckets no sentence went to are left out, as in MXNet.
        let kept = lengths.indices.filter { !index[$0].isEmpty }
        guard let largest = kept.last else {
            throw .invalidArgument(
                "BucketSentenceIter: every one of the \(sentences.count) sentences is longer than the largest bucket \(lengths.last!)"
            )
        }
        if discarded > 0 {
            logger.warning("BucketSentenceIter: discarded \(discarded) sentences longer than the largest bucket")
        }
        self.buckets = kept.map { lengths[$0] }
        self.rows = kept.map { rows[$0] }
        self.sentenceIndex = kept.map { index[$0] }
        self.defaultBucketKey = lengths[largest]
        self.discarded = discarded
        self.batchSize = batchSize
        self.invalidLabel = invalidLabel
        self.shuffle = shuffle
        provideData = [DataDesc(name: dataName, shape: [batchSize, defaultBucketKey])]
        provideLabel = [DataDesc(name: labelName, shape: [batchSize, defaultBucketKey])]
        var made: [DataBatch] = []
        for length in self.buckets {
            let data = [DataDesc(name: dataName, shape: [batchSize, length])]
            let label = [DataDesc(name: labelName, shape: [batchSize, length])]
            let batch = try DataBatch.allocate(data: data, label: label, owner: "BucketSentenceIter", index: true)
            batch.providedData = data
            batch.providedLabel = label
            batch.bucketKey = length
            made.append(batch)
        }
        batches = made
        var base = RandomGenerator(seed: seed)
        random = base.fork(0x4255_434B_4554)
        reset()
    }

    /// The batches each epoch yields.
    public var batchesInEpoch: Int { schedule.count }

    /// Starts the next epoch: reshuffles each bucket's sentences and the order of the batches.
    public func reset() {
        cursor = 0
        rowOrder = sentenceIndex.map { Array(0..<$0.count) }
        var all: [(bucket: Int, start: Int)] = []
        for (b, count) in sentenceIndex.map(\.count).enumerated() {
            for start in stride(from: 0, through: count - batchSize, by: batchSize) { all.append((b, start)) }
        }
        if shuffle {
            all = random.permutation(all.count).map { all[$0] }
            rowOrder = rowOrder.map { order in random.permutation(order.count).map { order[$0] } }
        }
        let share = all.count / shard.numParts
        schedule = Array(all[(shard.partIndex * share)..<((shard.partIndex + 1) * share)])
    }

    /// Fills and returns the bucket's reused batch, or nil at the end of the epoch.
    public func next() throws -> DataBatch? {
        guard cursor < schedule.count else { return nil }
        let (b, start) = schedule[cursor]
        cursor += 1
        let batch = batches[b]
        let length = buckets[b]
        let data = batch.data[0].data
        let label = batch.label[0].data
        let invalid = Float(invalidLabel)
        var index = batch.index ?? []
        batch.index = nil
        rows[b].withUnsafeBufferPointer { source in
            withExtendedLifetime(batch) {
                for slot in 0..<batchSize {
                    let row = rowOrder[b][start + slot]
                    let from = source.baseAddress! + row * length
                    (data + slot * length).update(from: from, count: length)
                    // The label: the next token at each position, and none after the last.
                    (label + slot * length).update(from: from + 1, count: length - 1)
                    label[slot * length + length - 1] = invalid
                    index[slot] = sentenceIndex[b][row]
                }
            }
        }
        batch.index = index
        return batch
    }
}
