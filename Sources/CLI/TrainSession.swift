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
    private let onFinish: () -> Void

    private init(kvstore: any KVStore, batchesPerEpoch: Int?, onFinish: @escaping () -> Void) {
        self.kvstore = kvstore
        self.batchesPerEpoch = batchesPerEpoch
        self.onFinish = onFinish
    }

    /// Starts a session for the given kvstore type.
    static func start(kvType: KVStoreType, logger: Logger) throws -> TrainSession {
        switch kvType {
        case .local:
            return TrainSession(kvstore: LocalKVStore(), batchesPerEpoch: nil, onFinish: {})
        case .distSync, .distAsync:
            throw KVStoreError.unknownType("\(kvType.rawValue) (the distributed kvstore is not built yet)")
        }
    }

    /// Ends the session (a clean leave of the cluster for a worker).
    func finish() { onFinish() }
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
