import Logging
import SwiftPS

/// Where a `swiftps train` process stands in its job: alone (`local`), or a worker of a cluster.
final class TrainSession {
    /// The kvstore the module updates through.
    let kvstore: any KVStore
    /// This worker's rank.
    var rank: Int { kvstore.rank }
    /// The number of workers.
    var numWorkers: Int { kvstore.numWorkers }
    /// The batches every worker runs per epoch, when the cluster decided it.
    let batchesPerEpoch: Int?
    /// The workers of the job that advertise this worker's host (itself included; 1 alone), which
    /// share its CPUs.
    let workersOnHost: Int
    /// The CPUs this process could use when the session started (`CPUBudget`), before it bound
    /// itself to its share of them (`HostCPUs`): what the workers on the host divide.
    let cpus: Int
    private let onFinish: () throws -> Void
    private let onAbort: (String) -> Void

    private init(
        kvstore: any KVStore, batchesPerEpoch: Int?, workersOnHost: Int = 1, cpus: Int,
        onFinish: @escaping () throws -> Void = {}, onAbort: @escaping (String) -> Void = { _ in }
    ) {
        self.kvstore = kvstore
        self.batchesPerEpoch = batchesPerEpoch
        self.workersOnHost = workersOnHost
        self.cpus = cpus
        self.onFinish = onFinish
        self.onAbort = onAbort
    }

    /// Starts a session for the given kvstore type.
    ///
    /// For `dist_sync`/`dist_async` this process joins the cluster as a worker (MXNet's `KVStoreDist`
    /// constructor): the cluster comes from `cluster` (flags over `DMLC_*`), the worker declares
    /// `shardSize(numWorkers)` samples at rendezvous, and every worker derives the same batch count
    /// per epoch from the node table: ceil(largest declared shard / batch size). It also declares
    /// `settings`, the flags every worker must share (`TrainOptions.sharedSettings`).
    ///
    /// When `shardSize` throws (its training data cannot be read), the worker still joins, then
    /// leaves at once telling the scheduler why (`PostOffice.abort`): every other process exits
    /// now, naming this worker and the file, instead of at the rendezvous deadline without a name.
    static func start(
        kvType: KVStoreType, cluster: ClusterOptions, batchSize: Int, shardSize: (Int) throws -> Int64,
        settings: [String: String], logger: Logger
    ) throws -> TrainSession {
        switch kvType {
        case .local:
            return TrainSession(kvstore: LocalKVStore(), batchesPerEpoch: nil, cpus: CPUBudget.current)
        case .distSync, .distAsync:
            let numWorkers = try cluster.config(role: .worker).numWorkers
            let shard = Result { try shardSize(numWorkers) }
            let cpus = CPUBudget.current  // before `join` binds this process to its share
            if case .failure(let error) = shard {
                logger.error("\(error); joining the cluster only to tell the other processes")
            }
            let office: PostOffice
            do {
                office = try ClusterRoles.join(
                    as: .worker, cluster, shardSize: (try? shard.get()) ?? 0, settings: settings, logger: logger)
            } catch {
                _ = try shard.get()  // the data's error is the one to report
                throw error
            }
            let store: DistKVStore
            do {
                _ = try shard.get()
                store = try DistKVStore(postOffice: office, type: kvType, logger: logger)
            } catch {
                office.abort("\(error)")
                throw error
            }
            let shards = office.nodes.filter { $0.role == .worker }.map(\.shardSize)
            let largest = shards.max() ?? 0
            if Set(shards).count > 1 {
                logger.warning("workers declared different shard sizes \(shards): every worker pads to the largest")
            }
            let batches = Int((largest + Int64(batchSize) - 1) / Int64(batchSize))
            logger.info(
                "worker \(store.rank) of \(store.numWorkers): \(batches) batches per epoch (largest shard \(largest) samples, batch \(batchSize))"
            )
            let host = office.myNode.hostname
            let neighbours = office.nodes.filter { $0.role == .worker && $0.hostname == host }.count
            return TrainSession(
                kvstore: store, batchesPerEpoch: batches, workersOnHost: max(1, neighbours), cpus: cpus,
                onFinish: {
                    try store.close()
                    try office.finalize()
                },
                onAbort: { reason in office.abort(reason) })
        }
    }

    /// Ends the session cleanly: a worker waits for its requests, barriers with the other workers,
    /// worker 0 stops the servers (MXNet's `kStopServer`), then it leaves the cluster.
    func finish() throws { try onFinish() }

    /// Ends a failed session at once, without barriers: the scheduler is told `reason` and stops
    /// the job, naming this worker.
    func abort(_ reason: String) { onAbort(reason) }
}

/// Collects each epoch's training and validation metrics and appends one JSON object per epoch to
/// the metrics file (`--metrics-out`).
final class EpochRecorder {
    let path: String?
    let samplesPerEpoch: Int
    let metric: any EvalMetric
    let logger: Logger
    let hasValidation: Bool
    private var epochStart = MonotonicClock.now()
    private var pending: (epoch: Int, train: [(name: String, value: Double)], seconds: Double)?
    /// The first write that failed (in the validation callback, which cannot throw): the next epoch
    /// end throws it, and so does `checkWritten()` after training, so the job does not exit 0.
    private(set) var failure: (any Error)?

    init(path: String?, samplesPerEpoch: Int, metric: any EvalMetric, logger: Logger, hasValidation: Bool) {
        self.path = path
        self.samplesPerEpoch = samplesPerEpoch
        self.metric = metric
        self.logger = logger
        self.hasValidation = hasValidation
    }

    /// The epoch-end callback: records the training metric and the epoch's time.
    var trainingEnded: EpochEndCallback {
        { [self] epoch, _, _, _ in
            try checkWritten()
            pending = (epoch, metric.get(), MonotonicClock.now() - epochStart)
            if !hasValidation { try write(validation: []) }
        }
    }

    /// The validation-end callback: writes the epoch's line.
    var validationEnded: BatchEndCallback {
        { [self] param in
            do {
                try write(validation: param.evalMetric?.get() ?? [])
            } catch {
                logger.error("cannot write metrics to \(path ?? "-"): \(error)")
                if failure == nil { failure = error }
            }
        }
    }

    /// Starts the epoch's clock (`EpochStartIter` calls it at the epoch's first batch).
    func epochStarted() { epochStart = MonotonicClock.now() }

    /// Throws the first metrics write that failed, if any.
    func checkWritten() throws {
        if let failure { throw failure }
    }

    private func write(validation: [(name: String, value: Double)]) throws {
        guard let pending else { return }
        self.pending = nil
        guard let path else { return }
        var line = JSONObject()
        line.set("epoch", pending.epoch)
        line.set("train", JSONObject(pairs: pending.train))
        line.set("validation", JSONObject(pairs: validation))
        line.set("samples_per_sec", Double(samplesPerEpoch) / pending.seconds)
        line.set("seconds", pending.seconds)
        try AppendFile.appendLine(line.text, to: path)
    }
}

/// The training data as `fit` reads it, calling `started` when an epoch's first batch is asked for:
/// where the epoch begins (MXNet's `tic`), after binding, initialization and the kvstore's setup
/// (in a cluster, the wait for every worker), which the first epoch's seconds left out.
final class EpochStartIter: DataIter {
    private let inner: any DataIter
    private let started: () -> Void
    private var running = false

    init(_ inner: any DataIter, started: @escaping () -> Void) {
        self.inner = inner
        self.started = started
    }

    var batchSize: Int { inner.batchSize }
    var provideData: [DataDesc] { inner.provideData }
    var provideLabel: [DataDesc] { inner.provideLabel }

    func reset() {
        inner.reset()
        running = false
    }

    func next() throws -> DataBatch? {
        if !running {
            running = true
            started()
        }
        return try inner.next()
    }
}
