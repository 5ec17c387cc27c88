import SwiftPSTensor

/// What an iterator does with the last, incomplete batch of an epoch (MXNet's `last_batch_handle`).
public enum LastBatchHandle: String, Sendable, Equatable {
    /// Fill the last batch with samples from the beginning of the epoch's order and report how many
    /// in `DataBatch.pad` (MXNet's default).
    case pad
    /// Drop the incomplete batch.
    case discard
    /// Yield only full batches and carry the leftover samples into the first batch of the next
    /// epoch (MXNet's `roll_over`). The carried samples are the unseen tail of the finished epoch's
    /// order, carried when the epoch was read to its end (`next()` returned nil); a `reset()` before
    /// that carries nothing, as in MXNet.
    case rollOver = "roll_over"
}

/// One worker's contiguous share of a data set, MXNet's `num_parts`/`part_index`.
///
/// Part `i` of `numParts` gets samples `[i*N/numParts, (i+1)*N/numParts)`, so the parts are disjoint,
/// cover the data set and differ in size by at most one sample.
public struct DataShard: Sendable, Equatable {
    /// How many parts the data set is split into (the number of workers).
    public let numParts: Int
    /// Which part this is, `0..<numParts` (the worker's rank).
    public let partIndex: Int

    /// The whole data set as one part.
    public static let whole = DataShard(checkedNumParts: 1, partIndex: 0)

    /// Part `partIndex` of `numParts`; throws unless `0 <= partIndex < numParts`.
    public init(numParts: Int, partIndex: Int) throws(DataIterError) {
        guard numParts >= 1, (0..<numParts).contains(partIndex) else {
            throw .invalidArgument(
                "shard: partIndex \(partIndex) is not in 0..<numParts (numParts \(numParts)); "
                    + "pass the worker rank and the number of workers")
        }
        self.init(checkedNumParts: numParts, partIndex: partIndex)
    }

    private init(checkedNumParts: Int, partIndex: Int) {
        self.numParts = checkedNumParts
        self.partIndex = partIndex
    }

    /// The samples of this part, for a data set of `totalSamples`.
    public func range(totalSamples: Int) -> Range<Int> {
        (partIndex * totalSamples / numParts)..<((partIndex + 1) * totalSamples / numParts)
    }

    /// The batch count every part can run when each pads its epoch to that count: the batches of
    /// the largest part, `ceil(ceil(N / numParts) / batchSize)`. Pass it as `batchesPerEpoch` to
    /// every worker so that all of them run the same number of `dist_sync` steps.
    public static func uniformBatchesPerEpoch(totalSamples: Int, numParts: Int, batchSize: Int) -> Int {
        guard numParts > 0, batchSize > 0, totalSamples > 0 else { return 0 }
        let largest = (totalSamples + numParts - 1) / numParts
        return largest / batchSize + (largest % batchSize == 0 ? 0 : 1)
    }

    /// The batches per epoch of this part: `given` when given; otherwise, with several parts, a
    /// count every part runs alike, since workers in `dist_sync` must run the same number of steps
    /// (MXNet's sharded iterators do not, and the worker with a batch more waits at the servers
    /// until its deadline): `pad` pads each part to the largest part's batches
    /// (`uniformBatchesPerEpoch`), `discard` stops each at the smallest part's full batches. Nil
    /// (each part its own count) for one part and for `roll_over`, whose count varies by epoch.
    func batchesPerEpoch(given: Int?, totalSamples: Int, batchSize: Int, lastBatchHandle: LastBatchHandle)
        throws(DataIterError) -> Int?
    {
        if let given { return given }
        guard numParts > 1, batchSize > 0 else { return nil }
        guard !range(totalSamples: totalSamples).isEmpty else {
            throw .invalidArgument(
                "part \(partIndex) of \(numParts) holds none of the \(totalSamples) samples: use at most \(totalSamples) parts"
            )
        }
        switch lastBatchHandle {
        case .pad:
            return Self.uniformBatchesPerEpoch(totalSamples: totalSamples, numParts: numParts, batchSize: batchSize)
        case .discard: return totalSamples / numParts / batchSize
        case .rollOver: return nil
        }
    }
}

/// The order in which one epoch visits a shard's samples, shared by every iterator here.
///
/// Batch `j` of an epoch takes positions `[j*B, (j+1)*B)` of the epoch's sequence, wrapping around
/// to its start; positions past the end are padding. The sequence is the shard's samples (shuffled
/// with a fresh permutation every epoch when asked), preceded by the samples carried over from the
/// last epoch under `roll_over`. The batch count is `batchesPerEpoch` when given (which overrides
/// `lastBatchHandle`: the epoch pads by wrapping around the shard, or stops early), else
/// `ceil(n/B)` for `pad` and `floor(n/B)` for `discard` and `roll_over`.
struct BatchSchedule {
    let sampleCount: Int
    let batchSize: Int
    let lastBatchHandle: LastBatchHandle
    let fixedBatches: Int?
    let shuffle: Bool
    private var random: RandomGenerator
    private var sequence: [Int] = []
    private var produced = 0
    /// Whether `next` has reported the end of the current epoch.
    private var exhausted = false
    /// Batches in the current epoch.
    private(set) var batchCount = 0

    init(
        sampleCount: Int, batchSize: Int, lastBatchHandle: LastBatchHandle, batchesPerEpoch: Int?,
        shuffle: Bool, seed: UInt64
    ) throws(DataIterError) {
        guard batchSize >= 1 else { throw .invalidArgument("batchSize must be at least 1, got \(batchSize)") }
        if let k = batchesPerEpoch {
            guard k >= 0 else { throw .invalidArgument("batchesPerEpoch must not be negative, got \(k)") }
            guard k == 0 || sampleCount > 0 else {
                throw .invalidArgument("batchesPerEpoch \(k) asked of a shard with no samples: use fewer parts")
            }
        }
        self.sampleCount = sampleCount
        self.batchSize = batchSize
        self.lastBatchHandle = lastBatchHandle
        self.fixedBatches = batchesPerEpoch
        self.shuffle = shuffle
        // A stream of its own: `Module` initializes its parameters from `RandomGenerator(seed:)` with the
        // same seed, and the first epoch's order must not be made of the very numbers that drew the
        // initial weights (MXNet shuffles with numpy's generator and initializes with its own).
        var base = RandomGenerator(seed: seed)
        self.random = base.fork(0x5348_5546_464C_45)
        startEpoch(carry: [])
    }

    /// Starts the next epoch, carrying the unseen tail under `roll_over` when the epoch was read to
    /// its end (`next` said so), as MXNet's cursor does: a reset after the last full batch but
    /// before that, or before any batch, carries nothing.
    mutating func reset() {
        var carry: [Int] = []
        if lastBatchHandle == .rollOver, fixedBatches == nil, exhausted {
            carry = Array(sequence[(batchCount * batchSize)...])
        }
        startEpoch(carry: carry)
    }

    private mutating func startEpoch(carry: [Int]) {
        sequence = carry
        sequence.reserveCapacity(carry.count + sampleCount)
        if shuffle {
            sequence += random.permutation(sampleCount)
        } else {
            sequence += 0..<sampleCount
        }
        produced = 0
        exhausted = false
        if let k = fixedBatches {
            batchCount = k
        } else if lastBatchHandle == .pad {
            // Rounded up without `count + batchSize - 1`, which overflows for a batch size near Int.max.
            batchCount = sequence.count / batchSize + (sequence.count % batchSize == 0 ? 0 : 1)
        } else {
            batchCount = sequence.count / batchSize
        }
    }

    /// Writes the next batch's shard-local sample indices into `indices` (which must hold
    /// `batchSize` values) and returns its padding count, or nil at the end of the epoch.
    mutating func next(into indices: inout [Int]) -> Int? {
        guard produced < batchCount, !sequence.isEmpty else {
            exhausted = true
            return nil
        }
        let start = produced * batchSize
        var pad = 0
        for slot in 0..<batchSize {
            let position = start + slot
            if position >= sequence.count { pad += 1 }
            indices[slot] = sequence[position % sequence.count]
        }
        produced += 1
        return pad
    }
}
