import SwiftPSTensor

/// Batches over in-memory arrays whose first axis is the sample axis, MXNet's `NDArrayIter`.
///
/// Defaults follow MXNet: no shuffling, `lastBatchHandle: .pad`, the data named `data` and the
/// label `softmax_label`. With `shuffle`, every epoch (the first one and each `reset()`) visits the
/// samples in a fresh permutation drawn from a `RandomGenerator` seeded with `seed`, so a run is
/// reproducible. `numParts`/`partIndex` restrict the iterator to one contiguous shard
/// (see `DataShard`); the parts then run the same number of batches per epoch, as workers in
/// dist_sync must (`DataShard.batchesPerEpoch`), unless `batchesPerEpoch` fixes another (see
/// `BatchSchedule`).
///
/// The returned `DataBatch` and its arrays are reused on every `next()` (no allocation per step);
/// `DataBatch.index` holds the samples' indices in the given arrays.
public final class NDArrayIter: DataIter {
    /// Samples per batch.
    public let batchSize: Int
    /// The data inputs and their batch shapes.
    public let provideData: [DataDesc]
    /// The labels and their batch shapes.
    public let provideLabel: [DataDesc]
    /// The samples of this iterator's shard, as indices into the given arrays.
    public let shardRange: Range<Int>

    private let sources: [NDArray]
    /// Where the shard's first sample is in `sources`: `shardRange.lowerBound`, or 0 when the
    /// arrays hold only the shard (`CSVIter` reads only its rows).
    private let rowBase: Int
    private let rowSizes: [Int]
    private let dataCount: Int
    private var schedule: BatchSchedule
    private var local: [Int]
    private let batch: DataBatch

    /// An iterator over named data and label arrays, all with the same number of samples on axis 0.
    public convenience init(
        data: [(String, NDArray)], label: [(String, NDArray)] = [], batchSize: Int,
        shuffle: Bool = false, seed: UInt64 = 0, lastBatchHandle: LastBatchHandle = .pad,
        numParts: Int = 1, partIndex: Int = 0, batchesPerEpoch: Int? = nil
    ) throws(DataIterError) {
        try self.init(
            data: data, label: label, batchSize: batchSize, shuffle: shuffle, seed: seed,
            lastBatchHandle: lastBatchHandle, shard: try DataShard(numParts: numParts, partIndex: partIndex),
            partOf: nil, batchesPerEpoch: batchesPerEpoch)
    }

    /// An iterator over `shard` of the arrays, or, with `partOf` (the whole data set's sample
    /// count), over arrays that hold only that shard's samples (indices still count from the start
    /// of the whole).
    init(
        data: [(String, NDArray)], label: [(String, NDArray)], batchSize: Int, shuffle: Bool, seed: UInt64,
        lastBatchHandle: LastBatchHandle, shard: DataShard, partOf total: Int?, batchesPerEpoch: Int?
    ) throws(DataIterError) {
        guard let first = data.first?.1 else { throw .invalidArgument("NDArrayIter needs at least one data array") }
        guard first.ndim >= 1 else { throw .invalidArgument("NDArrayIter: data '\(data[0].0)' is 0-d") }
        let sampleCount = first.shape[0]
        var names = Set<String>()
        for (name, array) in data + label {
            guard array.ndim >= 1, array.shape[0] == sampleCount else {
                throw .invalidArgument(
                    "NDArrayIter: '\(name)' has shape \(array.shape) but '\(data[0].0)' has \(sampleCount) samples "
                        + "on axis 0")
            }
            guard names.insert(name).inserted else {
                throw .invalidArgument("NDArrayIter: the name '\(name)' is used twice")
            }
        }
        let totalSamples = total ?? sampleCount
        shardRange = shard.range(totalSamples: totalSamples)
        guard total == nil || shardRange.count == sampleCount else {
            throw .invalidArgument(
                "NDArrayIter: the arrays hold \(sampleCount) samples, part \(shard.partIndex) of \(totalSamples) has \(shardRange.count)"
            )
        }
        rowBase = total == nil ? shardRange.lowerBound : 0
        schedule = try BatchSchedule(
            sampleCount: shardRange.count, batchSize: batchSize, lastBatchHandle: lastBatchHandle,
            batchesPerEpoch: shard.batchesPerEpoch(
                given: batchesPerEpoch, totalSamples: totalSamples, batchSize: batchSize,
                lastBatchHandle: lastBatchHandle),
            shuffle: shuffle, seed: seed)
        self.batchSize = batchSize
        provideData = data.map { DataDesc(name: $0.0, shape: [batchSize] + $0.1.shape.dropFirst()) }
        provideLabel = label.map { DataDesc(name: $0.0, shape: [batchSize] + $0.1.shape.dropFirst()) }
        sources = data.map(\.1) + label.map(\.1)
        rowSizes = sources.map { sampleCount == 0 ? 0 : $0.count / sampleCount }
        dataCount = data.count
        batch = try DataBatch.allocate(data: provideData, label: provideLabel, owner: "NDArrayIter", index: true)
        local = [Int](repeating: 0, count: batchSize)
    }

    /// An iterator over one data array and an optional label array (MXNet's `NDArrayIter(data, label)`).
    public convenience init(
        data: NDArray, label: NDArray? = nil, batchSize: Int, shuffle: Bool = false, seed: UInt64 = 0,
        lastBatchHandle: LastBatchHandle = .pad, dataName: String = "data", labelName: String = "softmax_label",
        numParts: Int = 1, partIndex: Int = 0, batchesPerEpoch: Int? = nil
    ) throws(DataIterError) {
        try self.init(
            data: [(dataName, data)], label: label.map { [(labelName, $0)] } ?? [], batchSize: batchSize,
            shuffle: shuffle, seed: seed, lastBatchHandle: lastBatchHandle, numParts: numParts,
            partIndex: partIndex, batchesPerEpoch: batchesPerEpoch)
    }

    /// The number of batches the current epoch yields.
    public var batchesInEpoch: Int { schedule.batchCount }

    /// Starts the next epoch (a fresh permutation when shuffling; carries leftovers under `roll_over`).
    public func reset() { schedule.reset() }

    /// Fills and returns the reused batch, or nil at the end of the epoch.
    public func next() throws -> DataBatch? {
        guard let pad = schedule.next(into: &local) else { return nil }
        let base = rowBase
        for (k, source) in sources.enumerated() {
            let target = k < dataCount ? batch.data[k] : batch.label[k - dataCount]
            let row = rowSizes[k]
            let from = source.data
            let to = target.data
            withExtendedLifetime((source, target)) {
                for slot in 0..<batchSize {
                    (to + slot * row).update(from: from + (base + local[slot]) * row, count: row)
                }
            }
        }
        var index = batch.index ?? []
        batch.index = nil
        if index.count != batchSize { index = [Int](repeating: 0, count: batchSize) }
        for slot in 0..<batchSize { index[slot] = shardRange.lowerBound + local[slot] }
        batch.index = index
        batch.pad = pad
        return batch
    }
}
