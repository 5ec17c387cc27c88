import SwiftPSTensor

/// Batches of MNIST-style images and labels read from IDX files, MXNet's `MNISTIter`.
///
/// Reads an images file (magic `0x00000803`: N × rows × cols unsigned bytes) and a labels file
/// (magic `0x00000801`: N unsigned bytes), gzipped or not. Pixels are scaled to [0, 1] by dividing
/// by 255. The data is `(B, rows*cols)` when `flat`, else `(B, 1, rows, cols)`; the label is `(B)`.
/// Defaults follow MXNet's `MNISTIter`: batch 128, shuffled, not flat, seed 0. Batching, shuffling,
/// sharding (`numParts`/`partIndex`) and `batchesPerEpoch` behave as in `NDArrayIter`, and the
/// returned batch is reused on every `next()`. That is how MXNet's MNIST example feeds its Module
/// (`NDArrayIter` over the pixels divided by 255), and it departs from MXNet's C++ `MNISTIter` in
/// three ways: that one divides by 256, drops the last incomplete batch instead of padding it
/// (`lastBatchHandle: .discard` does the same), and shuffles once rather than every epoch.
public final class MNISTIter: DataIter {
    /// The number of samples in the files (all parts together).
    public let sampleCount: Int
    /// The image height and width.
    public let imageSize: (rows: Int, cols: Int)
    /// The samples of this iterator's shard.
    public let shardRange: Range<Int>
    public let batchSize: Int
    /// `data`: `(B, rows*cols)` when flat, else `(B, 1, rows, cols)`.
    public let provideData: [DataDesc]
    /// `softmax_label`: `(B)`.
    public let provideLabel: [DataDesc]
    /// The shard's pixels and labels, kept as bytes (a quarter of the memory of Float32) and
    /// converted batch by batch.
    private let pixels: [UInt8]
    private let labels: [UInt8]
    private let pixelsPerImage: Int
    private var schedule: BatchSchedule
    private var local: [Int]
    private let batch: DataBatch

    /// Reads `image` and `label` and prepares the first epoch.
    public convenience init(
        image: String, label: String, batchSize: Int = 128, shuffle: Bool = true, seed: UInt64 = 0,
        flat: Bool = false, lastBatchHandle: LastBatchHandle = .pad, dataName: String = "data",
        labelName: String = "softmax_label", numParts: Int = 1, partIndex: Int = 0, batchesPerEpoch: Int? = nil
    ) throws(DataIterError) {
        try self.init(
            image: image, label: label, batchSize: batchSize, shuffle: shuffle, seed: seed, flat: flat,
            lastBatchHandle: lastBatchHandle, dataName: dataName, labelName: labelName, numParts: numParts,
            partIndex: partIndex, batchesPerEpoch: batchesPerEpoch, missingHint: "check the path")
    }

    init(
        image: String, label: String, batchSize: Int, shuffle: Bool, seed: UInt64, flat: Bool,
        lastBatchHandle: LastBatchHandle, dataName: String, labelName: String, numParts: Int, partIndex: Int,
        batchesPerEpoch: Int?, missingHint: String
    ) throws(DataIterError) {
        let images = try IdxFile.read(image, expectedRank: 3, missingHint: missingHint)
        let labelFile = try IdxFile.read(label, expectedRank: 1, missingHint: missingHint)
        let n = images.dims[0]
        // Without images the header's rows × cols is unchecked by any content, yet sizes every batch.
        guard n > 0 else { throw .badFile(path: image, reason: "the IDX header says it holds no images") }
        guard labelFile.dims[0] == n else {
            throw .invalidArgument("\(image) holds \(n) images but \(label) holds \(labelFile.dims[0]) labels")
        }
        let rows = images.dims[1]
        let cols = images.dims[2]
        guard rows > 0, cols > 0 else {
            throw .badFile(path: image, reason: "the IDX header says its images have \(rows) rows of \(cols) pixels")
        }
        let shard = try DataShard(numParts: numParts, partIndex: partIndex)
        shardRange = shard.range(totalSamples: n)
        pixelsPerImage = rows * cols
        pixels = Array(
            images.values[(shardRange.lowerBound * pixelsPerImage)..<(shardRange.upperBound * pixelsPerImage)])
        labels = Array(labelFile.values[shardRange])
        schedule = try BatchSchedule(
            sampleCount: shardRange.count, batchSize: batchSize, lastBatchHandle: lastBatchHandle,
            batchesPerEpoch: shard.batchesPerEpoch(
                given: batchesPerEpoch, totalSamples: n, batchSize: batchSize, lastBatchHandle: lastBatchHandle),
            shuffle: shuffle, seed: seed)
        sampleCount = n
        imageSize = (rows, cols)
        self.batchSize = batchSize
        provideData = [DataDesc(name: dataName, shape: flat ? [batchSize, rows * cols] : [batchSize, 1, rows, cols])]
        provideLabel = [DataDesc(name: labelName, shape: [batchSize])]
        // The batch first: it checks that a batch of this size fits in memory before anything else is
        // sized by it.
        batch = try DataBatch.allocate(data: provideData, label: provideLabel, owner: "MNISTIter", index: true)
        local = [Int](repeating: 0, count: batchSize)
    }

    /// The number of batches the current epoch yields.
    public var batchesInEpoch: Int { schedule.batchCount }

    /// Starts the next epoch.
    public func reset() { schedule.reset() }

    /// The next batch (reused between calls), or nil at the end of the epoch.
    public func next() throws -> DataBatch? {
        guard let pad = schedule.next(into: &local) else { return nil }
        let data = batch.data[0].data
        let label = batch.label[0].data
        let width = pixelsPerImage
        withExtendedLifetime(batch) {
            pixels.withUnsafeBufferPointer { src in
                for slot in 0..<batchSize {
                    let from = src.baseAddress! + local[slot] * width
                    let to = data + slot * width
                    for i in 0..<width { to[i] = Float(from[i]) / 255 }
                    label[slot] = Float(labels[local[slot]])
                }
            }
        }
        var index = batch.index ?? []
        batch.index = nil
        // The caller may have replaced or cleared the batch's index.
        if index.count != batchSize { index = Array(repeating: 0, count: batchSize) }
        for slot in 0..<batchSize { index[slot] = shardRange.lowerBound + local[slot] }
        batch.index = index
        batch.pad = pad
        return batch
    }
}

/// The Fashion-MNIST data set (Zalando; MNIST's format and sizes: 60,000 training and 10,000 test
/// images of 28×28, 10 classes), read with `MNISTIter` from the standard file names.
public enum FashionMNIST {
    /// Where the `dataset-fashion-mnist` package installs the files.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    /// What to do when a file is missing.
    static let missingHint = "run scripts/setup (it installs the Debian package dataset-fashion-mnist)"

    /// The training set (`train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz` in `dataDir`).
    public static func train(
        dataDir: String = defaultDirectory, batchSize: Int = 128, shuffle: Bool = true, seed: UInt64 = 0,
        flat: Bool = false, lastBatchHandle: LastBatchHandle = .pad, numParts: Int = 1, partIndex: Int = 0,
        batchesPerEpoch: Int? = nil
    ) throws(DataIterError) -> MNISTIter {
        try open(
            prefix: "train", dataDir: dataDir, batchSize: batchSize, shuffle: shuffle, seed: seed, flat: flat,
            lastBatchHandle: lastBatchHandle, numParts: numParts, partIndex: partIndex,
            batchesPerEpoch: batchesPerEpoch)
    }

    /// The number of training samples in `dataDir`, read from the labels file's header alone (a worker
    /// needs it at rendezvous, before it knows its shard).
    public static func trainSampleCount(dataDir: String = defaultDirectory) throws(DataIterError) -> Int {
        let dir = dataDir.hasSuffix("/") ? String(dataDir.dropLast()) : dataDir
        return try IdxFile.dimensions(
            dir + "/train-labels-idx1-ubyte.gz", expectedRank: 1, missingHint: missingHint)[0]
    }

    /// The test set (`t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz` in `dataDir`), in
    /// file order by default.
    public static func test(
        dataDir: String = defaultDirectory, batchSize: Int = 128, shuffle: Bool = false, seed: UInt64 = 0,
        flat: Bool = false, lastBatchHandle: LastBatchHandle = .pad, numParts: Int = 1, partIndex: Int = 0,
        batchesPerEpoch: Int? = nil
    ) throws(DataIterError) -> MNISTIter {
        try open(
            prefix: "t10k", dataDir: dataDir, batchSize: batchSize, shuffle: shuffle, seed: seed, flat: flat,
            lastBatchHandle: lastBatchHandle, numParts: numParts, partIndex: partIndex,
            batchesPerEpoch: batchesPerEpoch)
    }

    private static func open(
        prefix: String, dataDir: String, batchSize: Int, shuffle: Bool, seed: UInt64, flat: Bool,
        lastBatchHandle: LastBatchHandle, numParts: Int, partIndex: Int, batchesPerEpoch: Int?
    ) throws(DataIterError) -> MNISTIter {
        let dir = dataDir.hasSuffix("/") ? String(dataDir.dropLast()) : dataDir
        return try MNISTIter(
            image: "\(dir)/\(prefix)-images-idx3-ubyte.gz", label: "\(dir)/\(prefix)-labels-idx1-ubyte.gz",
            batchSize: batchSize, shuffle: shuffle, seed: seed, flat: flat, lastBatchHandle: lastBatchHandle,
            dataName: "data", labelName: "softmax_label", numParts: numParts, partIndex: partIndex,
            batchesPerEpoch: batchesPerEpoch, missingHint: missingHint)
    }
}
