import Foundation
import SwiftPSTensor
import SwiftPSTransport

/// Runs another iterator on a background thread, one or two batches ahead of the consumer:
/// MXNet's `PrefetchingIter`.
///
/// The wrapped iterator is driven only by the background thread from then on; do not use it
/// directly. Each batch it yields is copied into one of `depth + 1` batches owned by this iterator,
/// so the batch the consumer holds is never overwritten while the next ones are prepared: a batch
/// returned by `next()` stays valid until the following `next()` or `reset()`. `reset()` works at any
/// point of an epoch (a batch in flight is dropped); the wrapped iterator has then read up to
/// `depth + 1` batches further than the consumer, so one under `roll_over` that it drove to the
/// epoch's end carries that epoch's leftover samples, as MXNet's prefetching does, where a reset of
/// the plain iterator a batch or two earlier would carry none. Every wait has a deadline (`timeout` seconds),
/// after which `next()` throws `DataIterError.timedOut`; an error thrown by the wrapped iterator is
/// rethrown by `next()`, which then reports the end of the epoch until `reset()`. The thread is
/// stopped when the iterator is released.
public final class PrefetchingIter: DataIter {
    /// Samples per batch, as the wrapped iterator.
    public let batchSize: Int
    /// The data inputs, as the wrapped iterator.
    public let provideData: [DataDesc]
    /// The labels, as the wrapped iterator.
    public let provideLabel: [DataDesc]
    private let state: PrefetchState
    private let timeout: Double

    /// Starts prefetching from `inner`, keeping up to `depth` (1 or more) batches ready.
    public init(_ inner: DataIter, depth: Int = 1, timeout: Double = 120) throws(DataIterError) {
        guard depth >= 1 else { throw .invalidArgument("PrefetchingIter: depth must be at least 1, got \(depth)") }
        // Every wait has a deadline, `deinit`'s for a stuck producer too.
        guard timeout > 0, timeout.isFinite else {
            throw .invalidArgument(
                "PrefetchingIter: timeout must be a positive, finite number of seconds, got \(timeout)")
        }
        batchSize = inner.batchSize
        provideData = inner.provideData
        provideLabel = inner.provideLabel
        self.timeout = timeout
        var buffers: [DataBatch] = []
        for _ in 0...depth {
            buffers.append(
                try DataBatch.allocate(data: inner.provideData, label: inner.provideLabel, owner: "PrefetchingIter"))
        }
        state = PrefetchState(inner: inner, buffers: buffers)
        let state = self.state
        let thread = Thread { state.produce() }
        thread.name = "PrefetchingIter"
        thread.start()
    }

    deinit { state.stop(deadline: MonotonicCondition.now() + timeout) }

    /// Starts the next epoch: drops prepared batches and resets the wrapped iterator.
    public func reset() { state.reset() }

    /// The next prefetched batch, or nil at the end of the epoch.
    public func next() throws -> DataBatch? {
        try state.take(deadline: MonotonicCondition.now() + timeout, timeout: timeout)
    }
}

/// What the producer thread hands to the consumer.
private enum PrefetchItem {
    case batch(DataBatch)
    case end
    case failure(any Error)
}

/// The state shared by the consumer and the producer thread; every field is guarded by `condition`,
/// except `inner`, which only the producer thread touches after `init`.
private final class PrefetchState: @unchecked Sendable {
    private let condition = MonotonicCondition()
    private let inner: DataIter
    private var free: [DataBatch]
    private var ready: [PrefetchItem] = []
    private var held: DataBatch?
    private var generation = 0
    private var pendingResets = 0
    private var epochFinished = false
    private var consumerSawEnd = false
    private var stopping = false
    private var exited = false

    init(inner: DataIter, buffers: [DataBatch]) {
        self.inner = inner
        self.free = buffers
    }

    /// The producer thread's loop.
    func produce() {
        condition.lock()
        while true {
            while !stopping && pendingResets == 0 && (epochFinished || free.isEmpty) { condition.wait() }
            if stopping { break }
            if pendingResets > 0 {
                let resets = pendingResets  // one inner reset per consumer reset, as without prefetching
                pendingResets = 0
                condition.unlock()
                for _ in 0..<resets { inner.reset() }
                condition.lock()
                continue
            }
            let buffer = free.removeLast()
            let started = generation
            condition.unlock()
            let item: PrefetchItem
            do {
                if let batch = try inner.next() {
                    try PrefetchState.copy(batch, into: buffer)
                    item = .batch(buffer)
                } else {
                    item = .end
                }
            } catch {
                item = .failure(error)
            }
            condition.lock()
            if started != generation {
                free.append(buffer)  // a reset came while this batch was made
                continue
            }
            if case .batch = item {
                ready.append(item)
            } else {
                free.append(buffer)
                ready.append(item)
                epochFinished = true
            }
            condition.broadcast()
        }
        exited = true
        condition.broadcast()
        condition.unlock()
    }

    /// The consumer's `next()`: frees the batch it held and waits for the next item.
    func take(deadline: Double, timeout: Double) throws -> DataBatch? {
        condition.lock()
        defer { condition.unlock() }
        if let batch = held {
            free.append(batch)
            held = nil
            condition.broadcast()
        }
        if consumerSawEnd { return nil }
        while ready.isEmpty {
            if exited { throw DataIterError.timedOut("PrefetchingIter: the prefetch thread has stopped") }
            if !condition.wait(until: deadline) && ready.isEmpty {
                throw DataIterError.timedOut(
                    "PrefetchingIter: the wrapped \(type(of: inner)) produced no batch within \(timeout) s")
            }
        }
        switch ready.removeFirst() {
        case .batch(let batch):
            held = batch
            return batch
        case .end:
            consumerSawEnd = true
            return nil
        case .failure(let error):
            consumerSawEnd = true
            throw error
        }
    }

    /// The consumer's `reset()`: drops prepared batches and asks the producer to reset the inner iterator.
    func reset() {
        condition.lock()
        defer { condition.unlock() }
        generation += 1
        pendingResets += 1
        epochFinished = false
        consumerSawEnd = false
        for item in ready { if case .batch(let batch) = item { free.append(batch) } }
        ready.removeAll()
        if let batch = held {
            free.append(batch)
            held = nil
        }
        condition.broadcast()
    }

    /// Stops the producer and waits for it to exit, until `deadline` (it may be inside the wrapped
    /// iterator's `next()`; it then exits as soon as that returns).
    func stop(deadline: Double) {
        condition.lock()
        defer { condition.unlock() }
        stopping = true
        condition.broadcast()
        while !exited {
            if !condition.wait(until: deadline) { break }
        }
    }

    /// Copies `batch` into `buffer`, reusing the buffer's arrays.
    private static func copy(_ batch: DataBatch, into buffer: DataBatch) throws {
        guard batch.data.count == buffer.data.count, batch.label.count == buffer.label.count else {
            throw DataIterError.invalidArgument(
                "PrefetchingIter: the wrapped iterator yielded \(batch.data.count) data and \(batch.label.count) "
                    + "label arrays, but provides \(buffer.data.count) and \(buffer.label.count)")
        }
        // A batch of its own shapes (a bucket's, `DataBatch.bucketKey`) gets arrays of those shapes.
        for (i, source) in batch.data.enumerated() {
            if buffer.data[i].shape != source.shape { buffer.data[i] = NDArray(shape: source.shape) }
            try buffer.data[i].copy(from: source)
        }
        for (i, source) in batch.label.enumerated() {
            if buffer.label[i].shape != source.shape { buffer.label[i] = NDArray(shape: source.shape) }
            try buffer.label[i].copy(from: source)
        }
        buffer.pad = batch.pad
        buffer.providedData = batch.providedData
        buffer.providedLabel = batch.providedLabel
        buffer.bucketKey = batch.bucketKey
        if let source = batch.index {
            var index = buffer.index ?? []
            buffer.index = nil
            index.removeAll(keepingCapacity: true)
            index.append(contentsOf: source)
            buffer.index = index
        } else {
            buffer.index = nil
        }
    }
}
