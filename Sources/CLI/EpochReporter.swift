import Foundation
import Logging
import SwiftPS

/// A dist-mode worker's epoch end (the worker's half of `EpochCoordinator`): scores its shard of
/// the validation set, reports its metric partials, sample count and time to the scheduler with
/// EPOCH_END, and waits for the answer, which comes once every worker has reported and the
/// checkpoint, if any, is complete. At a checkpoint epoch worker 0 also sends the scheduler the
/// network (which the scheduler writes as `prefix-symbol.json`) and the shapes, and offers the
/// arrays only it holds (`CheckpointOutbox`), as every worker offers its compression residuals,
/// for the scheduler to read; no worker writes a checkpoint file.
final class EpochReporter {
    struct Checkpointing {
        /// The model prefix as given (the scheduler resolves a relative one against its directory).
        var prefix: String
        /// Checkpoint every `period` epochs (and after the last).
        var period: Int
        /// The epoch count of the run (`--num-epochs`).
        var numEpochs: Int
        /// The optimizer's update count along the run, recorded in each checkpoint.
        var counts: UpdateCount
    }

    private let store: DistKVStore
    private let module: Module
    private let trainMetric: any EvalMetric
    private let metricNames: [String]
    private let validation: any DataIter
    private let samplesPerEpoch: Int
    private let metricsOut: String?
    private let checkpointing: Checkpointing?
    private let logger: Logger
    private var epochStart = MonotonicClock.now()
    private var waitedAtEpochStart: Double
    /// The last epoch's validation figures over this worker's shard.
    let lastValidation = LastValidation()

    init(
        store: DistKVStore, module: Module, trainMetric: any EvalMetric, metricNames: [String],
        validation: any DataIter, samplesPerEpoch: Int, metricsOut: String?, checkpointing: Checkpointing?,
        logger: Logger
    ) {
        self.store = store
        waitedAtEpochStart = store.waitedSeconds
        self.module = module
        self.trainMetric = trainMetric
        self.metricNames = metricNames
        self.validation = validation
        self.samplesPerEpoch = samplesPerEpoch
        self.metricsOut = metricsOut
        self.checkpointing = checkpointing
        self.logger = logger
    }

    /// The epoch-end callback; throws when the scheduler reports a failure (a checkpoint that could
    /// not be written, a worker that never reached the epoch end) or does not answer in time.
    var epochEnded: EpochEndCallback {
        { [self] epoch, symbol, args, aux in try report(epoch: epoch, symbol: symbol, args: args, aux: aux) }
    }

    private func report(epoch: Int, symbol: Symbol?, args: [String: NDArray], aux: [String: NDArray]) throws {
        let seconds = MonotonicClock.now() - epochStart
        let waited = store.waitedSeconds - waitedAtEpochStart
        let train = trainMetric.partials().map(MetricSum.init)
        let validationMetric = try Metrics.create(metricNames)
        let scores = try module.score(validation, validationMetric, epoch: epoch)
        for (name, value) in scores {
            logger.info("Epoch[\(epoch)] Validation-\(name)=\(String(format: "%f", value)) (this worker's shard)")
        }
        lastValidation.figures = (epoch, scores)
        var report = EpochReport(
            epoch: epoch, rank: store.rank, samples: samplesPerEpoch, seconds: seconds, waitSeconds: waited,
            metricNames: metricNames,
            train: train, validation: validationMetric.partials().map(MetricSum.init),
            metricsOut: metricsOut, checkpoint: nil)
        let checkpointEpoch =
            checkpointing.map { (epoch + 1) % $0.period == 0 || epoch + 1 == $0.numEpochs } ?? false
        if checkpointEpoch, let checkpointing {
            let layout = CheckpointLayout(prefix: checkpointing.prefix, epoch: epoch + 1)
            let outbox = store.checkpointOutbox
            if store.gradientCompression.keepsResiduals {
                // Every worker's residuals go into the checkpoint, so a resumed job pushes what this one would.
                report.residuals = outbox.offer(
                    try ParamsFile.encode(store.compressionResiduals(), path: "compression residuals"),
                    path: layout.workerResidualsPath(store.rank), role: CheckpointManifest.workerResidualsRole,
                    epoch: layout.epoch, worker: store.rank)
            }
            if store.rank == 0, let symbol {
                var shapes: [String: [Int]] = [:]
                var arrays: [(String, NDArray)] = []
                // When this worker runs the optimizer, the weights and their state are its own.
                let states = try module.workerOptimizerStates()
                for (name, array) in args.sorted(by: { $0.key < $1.key }) {
                    if store.intKey(name) != nil && states == nil {
                        shapes[name] = array.shape
                    } else {
                        arrays.append(("arg:" + name, array))
                    }
                }
                for (name, array) in aux.sorted(by: { $0.key < $1.key }) { arrays.append(("aux:" + name, array)) }
                let arraysPath = layout.workerArraysPath
                report.checkpoint = CheckpointPlan(
                    prefix: layout.prefix, epoch: layout.epoch, symbol: symbol.toJSON(), argShapes: shapes,
                    arrays: outbox.offer(
                        try ParamsFile.encode(arrays, path: arraysPath), path: arraysPath, role: "worker-arrays",
                        epoch: layout.epoch, worker: 0),
                    states: states.map {
                        outbox.offer($0, path: layout.localStatesPath, role: "states", epoch: layout.epoch, worker: 0)
                    },
                    optimizer: states == nil ? nil : module.installedOptimizer,
                    updates: checkpointing.counts.end(ofEpoch: epoch))
            }
        }
        let office = store.postOffice
        let request = Message(body: [UInt8](try EpochWire.encoder.encode(report)), control: Control(cmd: .epochEnd))
        // The scheduler answers when every worker has reported (its deadline is the barrier
        // timeout) and the checkpoint is written (each file read in chunks, each chunk with the
        // request deadline): wait that long and the time to move the checkpoint's bytes at a slow
        // disk's rate, about the weights four times (the servers' shards of weights and of up to
        // two state arrays, the joined params file) plus every worker's residuals.
        var checkpointBytes = 0
        if checkpointEpoch {
            let modelBytes = args.values.reduce(0) { $0 + $1.count * MemoryLayout<Float>.size }
            checkpointBytes = modelBytes * (4 + (report.residuals == nil ? 0 : store.numWorkers))
        }
        let timeout =
            office.config.barrierTimeout + 2 * office.config.requestTimeout
            + CheckpointTransfer.allowance(bytes: checkpointBytes)
        let answer: Message
        do {
            answer = try office.request(request, to: NodeID.scheduler, timeout: timeout)
        } catch {
            throw CoordinationError(description: "the end of epoch \(epoch) failed: \(error)")
        }
        if let summary = try? EpochWire.decoder.decode(EpochSummary.self, from: Data(answer.body)) {
            let text =
                (summary.train.map { "Train-\($0.name)=\(String(format: "%f", $0.value))" }
                    + summary.validation.map { "Validation-\($0.name)=\(String(format: "%f", $0.value))" })
            logger.info("Epoch[\(epoch)] all workers: \(text.joined(separator: " "))")
            if let path = summary.checkpoint { logger.info("Epoch[\(epoch)] checkpoint written: \(path)") }
        }
    }

    /// Starts the epoch's clocks (`EpochStartIter` calls it at the epoch's first batch).
    func epochStarted() {
        epochStart = MonotonicClock.now()
        waitedAtEpochStart = store.waitedSeconds
    }
}
