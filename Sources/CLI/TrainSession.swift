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
    private let onFinish: () throws -> Void
    private let onAbort: () -> Void

    private init(
        kvstore: any KVStore, batchesPerEpoch: Int?, onFinish: @escaping () throws -> Void = {},
        onAbort: @escaping () -> Void = {}
    ) {
        self.kvstore = kvstore
        self.batchesPerEpoch = batchesPerEpoch
        self.onFinish = onFinish
        self.onAbort = onAbort
    }

    /// Starts a session for the given kvstore type.
    ///
    /// For `dist_sync`/`dist_async` this process joins the cluster as a worker (MXNet's `KVStoreDist`
    /// constructor): the cluster comes from `cluster` (flags over `DMLC_*`), the worker declares
    /// `shardSize(numWorkers)` samples at rendezvous, and every worker derives the same batch count
    /// per epoch from the node table: ceil(largest declared shard / batch size).
    static func start(
        kvType: KVStoreType, cluster: ClusterOptions, batchSize: Int, shardSize: (Int) throws -> Int64,
        logger: Logger
    ) throws -> TrainSession {
        switch kvType {
        case .local:
            return TrainSession(kvstore: LocalKVStore(), batchesPerEpoch: nil)
        case .distSync, .distAsync:
            let numWorkers = try cluster.config(role: .worker).numWorkers
            let office = try ClusterRoles.join(
                as: .worker, cluster, shardSize: try shardSize(numWorkers), logger: logger)
            let store: DistKVStore
            do {
                store = try DistKVStore(postOffice: office, type: kvType, logger: logger)
            } catch {
                office.stop()
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
            return TrainSession(
                kvstore: store, batchesPerEpoch: batches,
                onFinish: {
                    try store.close()
                    try office.finalize()
                },
                onAbort: { office.stop() })
        }
    }

    /// Ends the session cleanly: a worker waits for its requests, barriers with the other workers,
    /// worker 0 stops the servers (MXNet's `kStopServer`), then it leaves the cluster.
    func finish() throws { try onFinish() }

    /// Ends a failed session at once, without barriers: the scheduler notices the missing heartbeats
    /// and stops the job, naming this worker.
    func abort() { onAbort() }
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
            }
            epochStart = MonotonicClock.now()
        }
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
