import Foundation
import Logging
import SwiftPS

#if canImport(Glibc)
    import Glibc
#endif

/// One `swiftps train` run: builds the network, data, module and callbacks from the flags and fits.
struct TrainJob {
    let options: TrainOptions
    let logger = LogSetup.logger("swiftps.train")

    func run() throws {
        let kvType = KVStoreType(parsing: options.kvStore) ?? .local  // checked by TrainOptions.validate
        if let forced = BLAS.forcedCore {
            logger.notice(
                "OpenBLAS runs its \(BLAS.coreName) kernels because OPENBLAS_CORETYPE=\(forced) is set; unset it to let OpenBLAS pick the fastest for this CPU"
            )
        }
        // In a cluster only the scheduler reads and writes checkpoint files: the worker asks it for
        // the resume point once the cluster is up (in `train`), and creates no directory.
        var resumePoint: ResumePoint?
        if !kvType.isDistributed {
            // This process writes its own files: a directory that cannot be made fails now, not after training.
            for path in [options.modelPrefix, options.metricsOut, options.saveFinal] {
                try OutputPath.createParentDirectory(of: path)
            }
            if let path = options.metricsOut { try AppendFile.checkAppendable(path) }
            resumePoint = try ResumePoint.resolve(
                prefix: options.modelPrefix, loadEpoch: options.loadEpoch, resume: options.resume,
                distributed: false, logger: logger)
            if let prefix = options.modelPrefix, options.loadEpoch == nil, !options.resume {
                ResumePoint.warnAboutEarlierCheckpoints(prefix: prefix, logger: logger)
            }
        }
        let session = try TrainSession.start(
            kvType: kvType, cluster: options.cluster, batchSize: options.batchSize,
            shardSize: { numWorkers in try largestShard(numWorkers: numWorkers) }, settings: options.sharedSettings,
            logger: logger)
        let threads = configureThreads(session, kvType: kvType)
        do {
            try train(session, kvType: kvType, resumePoint: resumePoint, threads: threads)
        } catch {
            // In a cluster the scheduler stops the job now, naming this worker and the error.
            session.abort("\(error)")
            throw error
        }
    }

    /// Sets the compute threads once the session knows the workers on this host: alone, the CPUs
    /// this process may use; in a cluster, those CPUs divided among the job's workers on the host.
    /// Returns the log's words for the count and what decided it.
    private func configureThreads(_ session: TrainSession, kvType: KVStoreType) -> String {
        let cpus = session.cpus
        let threads = BLAS.configureThreads(
            options.blasThreads, automatic: max(1, cpus / session.workersOnHost))
        if threads > 1 && threads * session.workersOnHost > cpus {
            logger.notice(
                "\(threads) compute thread(s) for each of \(session.workersOnHost) worker(s) on \(cpus) CPU(s): waiting threads spin, so more threads than CPUs run slower; lower --blas-threads"
            )
        }
        let source =
            switch BLAS.threadSetting(explicit: options.blasThreads) {
            case (_, let variable?)?: variable
            case (_, nil)?: "--blas-threads"
            case nil where kvType.isDistributed:
                "\(cpus) CPU(s) shared by the job's \(session.workersOnHost) worker(s) on this host"
            case nil: "the \(cpus) CPU(s) this process may use"
            }
        return "\(threads) compute thread(s) (\(source))"
    }

    /// Trains in `session` and ends it cleanly (`TrainSession.finish`).
    private func train(_ session: TrainSession, kvType: KVStoreType, resumePoint: ResumePoint?, threads: String) throws
    {
        // Files this worker writes itself, at an epoch end or after training: writable now, or no run
        // (in a cluster the scheduler then stops the job at once, naming this worker and the file).
        if session.rank == 0 { try OutputPath.checkWritable(options.saveFinal, flag: "--save-final") }
        try OutputPath.checkWritable(options.timelinePath, flag: "--timeline")
        let compression = options.gradientCompression
        logger.info(
            "network \(options.network ?? "mlp"), kvstore \(kvType)\(compression.isActive ? ", gradient compression \(compression)" : "")\(kvType.isDistributed && !Module.updateOnKVStore(environment: ProcessInfo.processInfo.environment) ? ", the workers run the optimizer (MXNET_UPDATE_ON_KVSTORE=0)" : ""), worker \(session.rank) of \(session.numWorkers), \(threads)"
        )

        var beginEpoch = 0
        // Whether a resumed run's optimizer starts without the checkpoint's state (and update counts).
        var freshOptimizer = false
        // The update count the restored optimizer state carries, when its checkpoint recorded it.
        var restoredUpdates: Int?
        // Worker 0 keeps --seed (its initialization is the one the servers take); the others get their
        // own stream, so their Dropout masks are not the same as worker 0's batch for batch.
        let moduleSeed =
            session.rank == 0
            ? options.seed : RandomGenerator.derivedSeed(options.seed ^ 0x5752_4B52, stream: UInt64(session.rank))
        let module: Module
        // Where the run resumes from: the checkpoint's params file, and how it came.
        var resumedFrom: (path: String, how: String)?
        let store = session.kvstore as? DistKVStore
        if let store, let point = try ReceivedResumePoint.request(store, options, logger: logger),
            let prefix = options.modelPrefix
        {
            let layout = CheckpointLayout(prefix: prefix, epoch: point.epoch)
            module = try Module.load(
                symbolJSON: point.symbol, params: point.params,
                symbolPath: "\(layout.symbolPath) (read on the scheduler's host)",
                paramsPath: layout.paramsPath, seed: moduleSeed,
                logger: logger)
            freshOptimizer = try !takeOptimizerState(of: point, layout: layout, module: module, store: store)
            restoredUpdates = freshOptimizer ? nil : point.updates
            if options.gradientCompression.keepsResiduals {
                if let bytes = point.residuals {
                    try store.restoreCompressionResiduals(
                        ParamsFile.decode(bytes, path: layout.workerResidualsPath(session.rank)))
                } else {
                    logger.warning(
                        "checkpoint \(point.epoch) has no compression residuals for worker \(session.rank): they start at zero, so the run is not bit-identical to an uninterrupted one"
                    )
                }
            }
            beginEpoch = point.epoch
            resumedFrom = (layout.paramsPath, " (sent by the scheduler)")
        } else if let point = resumePoint, let prefix = options.modelPrefix {
            module = try Module.load(prefix: prefix, epoch: point.epoch, seed: moduleSeed, logger: logger)
            let states = try localOptimizerState(of: point)
            if let states { module.preloadOptimizerStates(states, path: point.layout.localStatesPath) }
            freshOptimizer = states == nil
            restoredUpdates = freshOptimizer ? nil : point.manifest?.updates
            beginEpoch = point.epoch
            resumedFrom = (point.layout.paramsPath, "")
        } else {
            module = try Module(symbol: try loadNetwork(options.network ?? "mlp"), seed: moduleSeed, logger: logger)
        }
        guard let network = module.symbol else { throw ModuleError.badInput("the module has no network") }
        if let resumedFrom { try checkResumePoint(network, checkpoint: resumedFrom.path, epoch: beginEpoch) }

        let flat = takesFlatSamples(network)
        let (shard, trainBatches) = try trainingData(flat: flat, session: session)
        // Same batches in the same order, prepared one step ahead (the gather and scaling of a batch
        // is ~10% of a one-process mlp step, and the second core is otherwise idle there).
        let train: any DataIter = options.prefetch ? try PrefetchingIter(shard) : shard
        let validation = try FashionMNIST.test(
            dataDir: options.dataDir, batchSize: options.batchSize, flat: flat, numParts: session.numWorkers,
            partIndex: session.rank)
        let batchesPerEpoch = options.numBatches ?? trainBatches
        if let resumedFrom {
            // Replay the shuffles of the epochs already trained, so the data order continues exactly.
            for _ in 0..<beginEpoch { train.reset() }
            logger.info("resuming from \(resumedFrom.path) at epoch \(beginEpoch)\(resumedFrom.how)")
        }

        let counts = UpdateCount(
            beginEpoch: beginEpoch, start: restoredUpdates ?? beginEpoch * batchesPerEpoch, perEpoch: batchesPerEpoch)
        if counts.start != beginEpoch * batchesPerEpoch {
            logger.notice(
                "checkpoint \(beginEpoch) was written after \(counts.start) updates, not \(beginEpoch) x \(batchesPerEpoch) (its run took another number of batches per epoch): the optimizer's counts continue from \(counts.start), and the learning-rate schedule's epochs from \(beginEpoch) on are placed from there"
            )
        }
        let optimizer = try options.optimizerConfig(batchesPerEpoch: batchesPerEpoch, counts: counts)
        warnAboutSchedulePastTheEnd()
        if kvType == .distAsync, optimizer.momentum > 0, session.rank == 0 {
            // Stale gradients through momentum: 0.10-0.30 accuracy here and in MXNet 1.9.1 alike.
            logger.warning(
                "dist_async with momentum \(Float(optimizer.momentum)) usually diverges (each worker's stale gradients are amplified by the momentum, in MXNet as here): pass --mom 0"
            )
        }
        if freshOptimizer, beginEpoch > 0, !options.lrStepEpochs.isEmpty || options.warmupEpochs > 0 {
            let count = optimizer.beginNumUpdate + 1
            let rate =
                try optimizer.lrScheduler.map { try LRScheduler($0, baseLR: optimizer.learningRate) }?
                .learningRate(at: count) ?? optimizer.learningRate
            logger.info(
                "the optimizer starts fresh at epoch \(beginEpoch): learning rate \(Float(rate)), its schedule continuing at update \(count) as from epoch 0"
            )
        }
        let metricNames = options.metricNames
        let metric = try Metrics.create(metricNames)
        // The Speedometer's lines every --disp-batches, and on a terminal the bar redrawn in place
        // below them (a log line overwrites it, and the next batch draws it again).
        var batchCallbacks: [BatchEndCallback] = [
            try Speedometer(batchSize: options.batchSize, frequent: options.dispBatches).callback
        ]
        if isatty(STDERR_FILENO) != 0 && !options.noProgress && session.numWorkers == 1 {
            let bar = try ProgressBar(total: batchesPerEpoch, write: { line in printError(line, endingLine: false) })
            batchCallbacks.append(bar.callback)
        }

        // First: a diverged run stops before its NaN weights are reported or checkpointed.
        var epochCallbacks: [EpochEndCallback] = [stopOnNonFiniteParams()]
        var evalEndCallbacks: [BatchEndCallback] = []
        var evalData: (any DataIter)? = validation
        // The last epoch's validation figures: the final accuracy is read there, not scored again.
        let lastValidation: LastValidation
        // Throws when a metrics line could not be written (one process; a cluster's scheduler ends the job).
        var metricsWritten: () throws -> Void = {}
        // Starts the epoch's clocks at its first batch.
        var epochStarted: () -> Void = {}
        if let store = session.kvstore as? DistKVStore {
            // The scheduler combines the epoch's figures, writes the metrics file and the checkpoints.
            let reporter = EpochReporter(
                store: store, module: module, trainMetric: metric, metricNames: metricNames, validation: validation,
                samplesPerEpoch: batchesPerEpoch * options.batchSize,
                metricsOut: options.metricsOut,
                checkpointing: options.modelPrefix.map {
                    .init(prefix: $0, period: options.checkpointPeriod, numEpochs: options.numEpochs, counts: counts)
                }, logger: logger)
            epochCallbacks.append(reporter.epochEnded)
            epochStarted = reporter.epochStarted
            lastValidation = reporter.lastValidation
            evalData = nil
        } else {
            let recorder = EpochRecorder(
                path: options.metricsOut, samplesPerEpoch: batchesPerEpoch * options.batchSize, metric: metric,
                logger: logger, hasValidation: true)
            epochCallbacks.append(recorder.trainingEnded)
            evalEndCallbacks.append(recorder.validationEnded)
            epochStarted = recorder.epochStarted
            metricsWritten = recorder.checkWritten
            let last = LastValidation()
            evalEndCallbacks.append { param in last.figures = (param.epoch, param.evalMetric?.get() ?? []) }
            lastValidation = last
            if let prefix = options.modelPrefix {
                epochCallbacks.append { epoch, _, _, _ in
                    guard isCheckpointEpoch(epoch) else { return }
                    try saveLocalCheckpoint(
                        module, CheckpointLayout(prefix: prefix, epoch: epoch + 1), optimizer,
                        updates: counts.end(ofEpoch: epoch))
                }
            }
        }

        let timeline = try installTimeline(on: module, store: session.kvstore as? DistKVStore, session: session)
        if let timeline { epochCallbacks.append(timeline.epochEnded) }

        let initializer = try Initializers.create(options.initializerSpec)
        module.gradientCompression = compression
        try module.fit(
            EpochStartIter(train, started: epochStarted), evalData: evalData, evalMetric: metric,
            epochEndCallbacks: epochCallbacks,
            batchEndCallbacks: batchCallbacks, kvstore: session.kvstore, optimizer: optimizer,
            evalEndCallbacks: evalEndCallbacks, initializer: initializer,
            beginEpoch: beginEpoch, numEpoch: options.numEpochs)
        try metricsWritten()

        let accuracy: Double
        if let last = lastValidation.figures, last.epoch == options.numEpochs - 1,
            let value = last.values.first(where: { $0.name == "accuracy" })?.value
        {
            accuracy = value
        } else {
            accuracy = try module.score(validation, try Metrics.create("acc")).first?.value ?? .nan
        }
        if let timeline {
            try timeline.write()
            logger.info("timeline written to \(timeline.path)")
        }
        if let path = options.metricsOut {
            logger.info(
                kvType.isDistributed
                    ? "the scheduler appended the per-epoch metrics to its --metrics-out, else to \(path)"
                    : "per-epoch metrics appended to \(path)")
        }
        if let prefix = options.modelPrefix { logger.info("checkpoints written as \(prefix)-NNNN.params") }
        if let path = options.saveFinal, session.rank == 0 {
            try OutputPath.createParentDirectory(of: path)
            try module.saveParams(path)
            logger.info("final parameters written to \(path)")
        }
        let scope =
            session.numWorkers > 1
            ? "worker \(session.rank) of \(session.numWorkers), on its shard of the test set; the scheduler logs the global figure"
            : "worker \(session.rank)"
        print("final validation accuracy \(String(format: "%.4f", accuracy)) (\(scope))")
        try session.finish()
    }

    /// A one-process job's optimizer state for resuming from `point`, as an optimizer-state file, or
    /// nil (it starts fresh, with a warning): the states file the checkpoint's manifest lists, or its
    /// servers' shards joined; only a checkpoint without a manifest (MXNet's) takes a `P-000E.states`
    /// beside it. A stale states file of another run under the same prefix is never taken for a
    /// checkpoint that did not write one.
    private func localOptimizerState(of point: ResumePoint) throws -> [UInt8]? {
        let layout = point.layout
        guard let manifest = point.manifest else {
            guard FileManager.default.fileExists(atPath: layout.localStatesPath) else {
                logger.warning("\(layout.localStatesPath) does not exist: the optimizer state starts fresh")
                return nil
            }
            return try AtomicFile.read(layout.localStatesPath)
        }
        if let file = manifest.files(role: "states").first {
            let path = manifest.path(of: file, in: layout)
            let bytes = try CheckpointManifest.readFile(path)
            try file.check(bytes, path: path)
            return bytes
        }
        if point.hasServerShards { return try CheckpointShards.load(layout, manifest: manifest).statesFile() }
        logger.warning("checkpoint \(point.epoch) has no optimizer state: the optimizer starts fresh")
        return nil
    }

    /// Where a resumed cluster job's optimizer state comes from, whichever side ran the optimizer when
    /// the checkpoint was written: when the servers run it, they restore weights and state
    /// (LOAD_CHECKPOINT, before the keys are initialized) from its server shards or its states file;
    /// when the workers run it (`MXNET_UPDATE_ON_KVSTORE=0`), every worker takes the state the
    /// scheduler sent, joined from the shards if need be. A checkpoint without state (MXNet's, or
    /// one without a manifest) starts the optimizer fresh.
    /// Returns whether the optimizer state was restored (false: it starts fresh).
    private func takeOptimizerState(
        of point: ReceivedResumePoint, layout: CheckpointLayout, module: Module, store: DistKVStore
    ) throws -> Bool {
        if !module.updateOnKVStore {
            if let states = point.states {
                module.preloadOptimizerStates(states, path: layout.localStatesPath)
                return true
            }
            logger.warning("checkpoint \(point.epoch) has no optimizer state: the workers' optimizer starts fresh")
            return false
        } else if point.hasServerShards || point.hasStatesFile {
            // Each server reads the weights and up to two state arrays per weight (Adam's).
            try store.loadCheckpoint(prefix: layout.prefix, epoch: point.epoch, checkpointBytes: 3 * point.params.count)
            return true
        }
        logger.warning("checkpoint \(point.epoch) has no optimizer state: the servers' optimizer starts fresh")
        return false
    }

    /// `--timeline`'s recorder, installed on the module and the distributed kvstore; nil without the flag.
    private func installTimeline(on module: Module, store: DistKVStore?, session: TrainSession) throws
        -> TrainTimeline?
    {
        guard let path = options.timelinePath else { return nil }
        let timeline = Timeline(processName: "worker \(session.rank)", processID: session.rank)
        module.timeline = timeline
        store?.timeline = timeline
        return TrainTimeline(
            timeline: timeline, path: TrainTimeline.path(path, rank: session.rank, workers: session.numWorkers))
    }

    /// Says when `--lr-step-epochs` or `--warmup-epochs` reach past `--num-epochs`: legitimate for a
    /// run to be resumed further, a mistake otherwise.
    private func warnAboutSchedulePastTheEnd() {
        let steps = (try? FlagCheck.positiveList("--lr-step-epochs", options.lrStepEpochs)) ?? []
        let late = steps.filter { $0 >= options.numEpochs }
        if !late.isEmpty {
            logger.notice(
                "--lr-step-epochs \(options.lrStepEpochs): no drop at epoch \(late.map(String.init).joined(separator: ", ")) within --num-epochs \(options.numEpochs) (epochs 0 to \(options.numEpochs - 1)); it applies only to a later run resumed past it"
            )
        }
        if options.warmupEpochs >= options.numEpochs {
            logger.notice(
                "--warmup-epochs \(options.warmupEpochs) with --num-epochs \(options.numEpochs): the learning rate does not reach --lr \(options.lr) in this run"
            )
        }
    }

    /// Whether the end of `epoch` (0-based) writes a checkpoint: every `--checkpoint-period`
    /// epochs, as MXNet's `do_checkpoint(period)`, and after the last epoch.
    func isCheckpointEpoch(_ epoch: Int) -> Bool {
        (epoch + 1) % options.checkpointPeriod == 0 || epoch + 1 == options.numEpochs
    }

    /// Local mode's checkpoint: `Module.saveCheckpoint` (symbol, params, optimizer state), then the
    /// manifest listing them, last, so `--resume` finds it.
    func saveLocalCheckpoint(_ module: Module, _ layout: CheckpointLayout, _ optimizer: OptimizerConfig, updates: Int)
        throws
    {
        try module.saveCheckpoint(prefix: layout.prefix, epoch: layout.epoch, saveOptimizerStates: true)
        let files = [
            try CheckpointManifest.File(path: layout.symbolPath, role: "symbol"),
            try CheckpointManifest.File(path: layout.paramsPath, role: "params"),
            try CheckpointManifest.File(path: layout.localStatesPath, role: "states"),
        ]
        try CheckpointManifest(
            epoch: layout.epoch, numServers: 0, numWorkers: 1, optimizer: optimizer, files: files,
            run: ResumePoint.run(ProcessInfo.processInfo.environment), updates: updates
        ).write(layout)
    }

    /// This worker's training data: its shard, or with `--interleave-shards K` the K shards stacked
    /// batch by batch (see `InterleavedShards`); and the batches per epoch.
    func trainingData(flat: Bool, session: TrainSession) throws -> (any DataIter, Int) {
        guard let parts = options.interleaveShards else {
            let train = try FashionMNIST.train(
                dataDir: options.dataDir, batchSize: options.batchSize, shuffle: !options.noShuffle,
                seed: options.seed, flat: flat, numParts: session.numWorkers, partIndex: session.rank,
                batchesPerEpoch: options.numBatches ?? session.batchesPerEpoch)
            if session.numWorkers > 1 || session.batchesPerEpoch != nil {
                logShardDecision(samples: train.shardRange.count, batches: train.batchesInEpoch, rank: session.rank)
            }
            if options.batchSize > train.shardRange.count {
                logger.warning(
                    "--batch-size \(options.batchSize) is more than the \(train.shardRange.count) training samples of worker \(session.rank): each epoch is one batch, padded with \(options.batchSize - train.shardRange.count) repeated samples"
                )
            }
            return (train, train.batchesInEpoch)
        }
        let batches =
            try options.numBatches
            ?? DataShard.uniformBatchesPerEpoch(
                totalSamples: Int(largestShard(numWorkers: 1)), numParts: parts, batchSize: options.batchSize / parts)
        let iters = try (0..<parts).map { part in
            try FashionMNIST.train(
                dataDir: options.dataDir, batchSize: options.batchSize / parts, shuffle: !options.noShuffle,
                seed: options.seed, flat: flat, numParts: parts, partIndex: part, batchesPerEpoch: batches)
        }
        return (try InterleavedShards(parts: iters), batches)
    }

    /// Logs whether this worker's shard is padded or trimmed to the job's batches per epoch.
    func logShardDecision(samples: Int, batches: Int, rank: Int) {
        let size = options.batchSize
        let own = (samples + size - 1) / size
        let decision: String
        if batches > own {
            decision =
                "padded to \(batches) batches per epoch (the largest shard's count): \(batches * size - samples) samples of its shard repeat"
        } else if batches < own {
            decision =
                "trimmed to \(batches) batches per epoch (--num-batches): \(samples - batches * size) samples are left out of each epoch"
        } else {
            decision = "exactly \(batches) batches per epoch, the last padded by \(batches * size - samples) samples"
        }
        logger.info("worker \(rank): shard of \(samples) samples (\(own) batches of \(size)) \(decision)")
    }

    /// The size of the largest of `numWorkers` contiguous shards of the training set, ceil(N / workers):
    /// what a worker declares at rendezvous, before it knows its rank.
    func largestShard(numWorkers: Int) throws -> Int64 {
        let samples = try FashionMNIST.trainSampleCount(dataDir: options.dataDir)
        return Int64((samples + numWorkers - 1) / numWorkers)
    }

    /// `mlp`, `lenet`, or a symbol JSON file (`TrainOptions.validate` checked the name).
    func loadNetwork(_ name: String) throws -> Symbol {
        switch name.lowercased() {
        case "mlp": return try Models.mlp()
        case "lenet": return try Models.lenet()
        default: return try Symbol.load(from: name)
        }
    }

    /// Whether `network` takes each sample flat, (batch, 784) as the mlp does, rather than as a
    /// (batch, 1, 28, 28) image: the first of the two its shape inference accepts.
    func takesFlatSamples(_ network: Symbol) -> Bool {
        (try? network.inferShape(["data": [options.batchSize, 28 * 28]])) != nil
    }

    /// Throws when the checkpoint a run resumes from does not fit the flags: it is past
    /// `--num-epochs` (`--resume` found a later one), or `--network` was given and names another
    /// network than the checkpoint's (MXNet's fit.py asserts the same) instead of being left out.
    func checkResumePoint(_ checkpointNetwork: Symbol, checkpoint: String, epoch: Int) throws {
        guard epoch <= options.numEpochs else {
            throw ModuleError.badInput(
                "\(checkpoint) is the checkpoint of epoch \(epoch), past --num-epochs \(options.numEpochs): nothing to "
                    + "train; --num-epochs is the epoch training ends at (MXNet's num_epoch), so give more than \(epoch)"
            )
        }
        guard let name = options.network else { return }
        let given = try loadNetwork(name)
        guard
            given.listArguments() != checkpointNetwork.listArguments()
                || given.listOutputs() != checkpointNetwork.listOutputs()
        else { return }
        throw ModuleError.badInput(
            "--network \(name) is not the network of the checkpoint \(checkpoint) (whose parameters are "
                + "\(checkpointNetwork.listArguments().joined(separator: ", "))): leave --network out to continue "
                + "the checkpoint's network, or give another --model-prefix to train \(name) from scratch")
    }
}

/// Where a job writes its files.
enum OutputPath {
    /// Creates the directory `path` is in, when missing (a prefix ending in "/" is that directory).
    static func createParentDirectory(of path: String?) throws {
        guard let path else { return }
        // A model prefix ending in "/" names files inside that directory (`ck/-0001.params`).
        let dir = path.hasSuffix("/") ? path : (path as NSString).deletingLastPathComponent
        guard !dir.isEmpty else { return }
        do throws(AtomicFileError) {
            try AtomicFile.createDirectories(dir)
        } catch {
            throw ModuleError.badInput("cannot create the directory \(dir) for \(path): \(error.description)")
        }
    }

    /// Checks, before training, that this process can write the file `path` names for `flag`: makes
    /// its directory, refuses a directory in its place, and writes and removes a file beside it. A
    /// file written only at an epoch end or after training otherwise fails the run there.
    static func checkWritable(_ path: String?, flag: String) throws {
        guard let path else { return }
        try createParentDirectory(of: path)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw ModuleError.badInput("\(flag) \(path) is a directory; give a file name")
        }
        let dir = (path as NSString).deletingLastPathComponent
        let probe = (dir.isEmpty ? "." : dir) + "/.swiftps-write-probe-\(ProcessInfo.processInfo.processIdentifier)"
        do throws(AtomicFileError) {
            try AtomicFile.write(Array("probe\n".utf8), to: probe)
        } catch {
            throw ModuleError.badInput("\(flag) \(path) cannot be written: \(error.reason)")
        }
        try? FileManager.default.removeItem(atPath: probe)
    }
}

/// The validation figures of the last epoch that ran, by metric name: from `fit`'s evaluation in one
/// process, from `EpochReporter`'s score of the worker's shard in a cluster.
final class LastValidation {
    var figures: (epoch: Int, values: [(name: String, value: Double)])?
}
