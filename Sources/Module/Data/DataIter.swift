import SwiftPSTensor

/// The name and full shape (batch axis first) of one input, MXNet's `DataDesc`
/// (`provide_data`/`provide_label` entries such as `DataDesc('data', (128, 784))`).
public struct DataDesc: Sendable, Equatable, CustomStringConvertible {
    /// The input's name, matching a variable of the symbol (`data`, `softmax_label`).
    public var name: String
    /// The shape of one batch of this input: `[batchSize] + sampleShape`.
    public var shape: [Int]

    /// A description of input `name` with batch shape `shape`.
    public init(name: String, shape: [Int]) {
        self.name = name
        self.shape = shape
    }

    public var description: String { "DataDesc[\(name),\(shape)]" }
}

/// One batch from a `DataIter`, MXNet's `DataBatch`.
///
/// Iterators in this module **reuse** their batch: `next()` refills and returns the same
/// `DataBatch` and the same arrays every step, so a training step allocates nothing. A batch is
/// valid until the following `next()` or `reset()` on its iterator; copy what must outlive that,
/// or wrap the iterator in a `PrefetchingIter`, which hands out batches that stay valid until the
/// consumer asks for the next one.
public final class DataBatch {
    /// One array per `provideData` entry, batch axis first.
    public var data: [NDArray]
    /// One array per `provideLabel` entry, batch axis first.
    public var label: [NDArray]
    /// How many trailing samples of this batch are padding, not real data (MXNet's `pad`):
    /// `predict`/`score` drop that many outputs.
    public var pad: Int
    /// The indices, in the whole data set, of the samples in this batch (MXNet's `index`).
    public var index: [Int]?
    /// The descriptions of `data`, when they differ from the iterator's `provideData`.
    public var providedData: [DataDesc]?
    /// The descriptions of `label`, when they differ from the iterator's `provideLabel`.
    public var providedLabel: [DataDesc]?
    /// The bucket this batch belongs to (MXNet's `bucket_key`): for sequence data, the length its
    /// sequences are padded to. `BucketingModule.forward` runs the batch on that bucket's network
    /// (nil: the default bucket's).
    public var bucketKey: Int?

    /// A batch of the given arrays.
    public init(
        data: [NDArray], label: [NDArray], pad: Int = 0, index: [Int]? = nil,
        providedData: [DataDesc]? = nil, providedLabel: [DataDesc]? = nil, bucketKey: Int? = nil
    ) {
        self.data = data
        self.label = label
        self.pad = pad
        self.index = index
        self.providedData = providedData
        self.providedLabel = providedLabel
        self.bucketKey = bucketKey
    }

    /// A zero-filled batch for `data` and `label`, the reusable buffers of iterator `owner`; a batch
    /// size this machine cannot hold is `DataIterError.invalidArgument` naming the array and the
    /// size, not an allocation that kills the process.
    static func allocate(data: [DataDesc], label: [DataDesc], owner: String, index: Bool = false)
        throws(DataIterError) -> DataBatch
    {
        func arrays(_ descs: [DataDesc]) throws(DataIterError) -> [NDArray] {
            var arrays: [NDArray] = []
            for desc in descs {
                do {
                    let what = "\(owner): a batch of \(desc.shape.first ?? 0) samples of '\(desc.name)'"
                    arrays.append(try NDArray(checkedShape: desc.shape, for: what, hint: "lower the batch size"))
                } catch {
                    throw .invalidArgument(error.description)
                }
            }
            return arrays
        }
        let batchSize = data.first?.shape.first ?? 0
        return DataBatch(
            data: try arrays(data), label: try arrays(label),
            index: index ? [Int](repeating: 0, count: batchSize) : nil)
    }
}

/// A source of batches for one epoch at a time: MXNet's `DataIter` protocol.
///
/// `next()` returns the next batch, or nil at the end of the epoch (MXNet raises
/// `StopIteration`); `reset()` starts the next epoch. An iterator is ready for its first epoch as
/// soon as it is made. Batches may be reused between calls (see `DataBatch`).
public protocol DataIter: AnyObject {
    /// Samples per batch.
    var batchSize: Int { get }
    /// The names and batch shapes of the data inputs (MXNet's `provide_data`).
    var provideData: [DataDesc] { get }
    /// The names and batch shapes of the labels (MXNet's `provide_label`).
    var provideLabel: [DataDesc] { get }
    /// Starts the next epoch (MXNet's `reset`); callable at any point of an epoch.
    func reset()
    /// The next batch of this epoch, or nil when the epoch is over.
    func next() throws -> DataBatch?
}
