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
        let threads = BLAS.configureThreads(options.blasThreads)
        guard let kvType = KVStoreType(parsing: options.kvStore) else {
            throw KVStoreError.unknownType(options.kvStore)
        }
        guard options.checkpointPeriod >= 1 else {
            throw ModuleError.badInput("--checkpoint-period \(options.checkpointPeriod): give 1 or more epochs")
        }
        // In a cluster only the scheduler reads and writes checkpoint files: the worker asks it for
        // the resume point once the cluster is up (below), and creates no directory.
        var resumePoint: ResumePoint?
        if !kvType.isDistributed {
            if let prefix = options.modelPrefix {
                let dir = (prefix as NSString).deletingLastPathComponent
                if !dir.isEmpty {
                    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                }
            }
            resumePoint = try ResumePoint.resolve(
                prefix: options.modelPrefix, loadEpoch: options.loadEpoch, resume: options.resume,
                distributed: false, logger: logger)
        }
        let session = try TrainSession.start(
            kvType: kvType, cluster: options.cluster, batchSize: options.batchSize,
            shardSize: { numWorkers in try largestShard(numWorkers: numWorkers) }, logger: logger)
        var finished = false
        defer { if !finished { session.abort() } }
        logger.info(
            "network \(options.network), kvstore \(kvType), worker \(session.rank) of \(session.numWorkers), \(threads) BLAS thread(s)"
        )

        let symbol = try loadNetwork(options.network)
        let flat = !symbol.listArguments().contains { $0.hasPrefix("conv") }
        let (shard, trainBatches) = try trainingData(flat: flat, session: session)
        // Same batches in the same order, prepared one step ahead (the gather and scaling of a batch
        // is ~10% of a one-process mlp step, and the second core is otherwise idle there).
        let train: any DataIter = options.prefetch ? try PrefetchingIter(shard) : shard
        let validation = try FashionMNIST.test(
            dataDir: options.dataDir, batchSize: options.batchSize, flat: flat, numParts: session.numWorkers,
            partIndex: session.rank)
        let batchesPerEpoch = options.numBatches ?? trainBatches

        var beginEpoch = 0
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
                symbolJSON: point.symbol, params: point.params, paramsPath: layout.paramsPath, seed: moduleSeed,
                logger: logger)
            if point.hasServerShards {
                // Before the keys are initialized: the servers take weights and optimizer state from it.
                try store.loadCheckpoint(prefix: prefix, epoch: point.epoch)
            }
            beginEpoch = point.epoch
            resumedFrom = (layout.paramsPath, " (sent by the scheduler)")
        } else if let point = resumePoint, let prefix = options.modelPrefix {
            let localStates = FileManager.default.fileExists(atPath: point.layout.localStatesPath)
            if !localStates {
                logger.warning("\(point.layout.localStatesPath) does not exist: the optimizer state starts fresh")
            }
            module = try Module.load(
                prefix: prefix, epoch: point.epoch, loadOptimizerStates: localStates, seed: moduleSeed, logger: logger
            )
            beginEpoch = point.epoch
            resumedFrom = (point.layout.paramsPath, "")
        } else {
            module = try Module(symbol: symbol, seed: moduleSeed, logger: logger)
        }
        if let resumedFrom {
            // Replay the shuffles of the epochs already trained, so the data order continues exactly.
            for _ in 0..<beginEpoch { train.reset() }
            logger.info("resuming from \(resumedFrom.path) at epoch \(beginEpoch)\(resumedFrom.how)")
        }

        let optimizer = try optimizerConfig(batchesPerEpoch: batchesPerEpoch)
        let metricNames = options.metrics.split(separator: ",").map(String.init)
        let metric = try Metrics.create(metricNames)
        var batchCallbacks: [BatchEndCallback] = []
        if isatty(STDERR_FILENO) != 0 && !options.noProgress && session.numWorkers == 1 {
            let bar = try ProgressBar(total: batchesPerEpoch, write: { line in printError(line) })
            batchCallbacks.append(bar.callback)
        } else {
            batchCallbacks.append(
                try Speedometer(batchSize: options.batchSize, frequent: options.dispBatches, autoReset: false).callback)
        }

        var epochCallbacks: [EpochEndCallback] = []
        var evalEndCallbacks: [BatchEndCallback] = []
        var evalData: (any DataIter)? = validation
        if let store = session.kvstore as? DistKVStore {
            // The scheduler combines the epoch's figures, writes the metrics file and the checkpoints.
            let reporter = EpochReporter(
                store: store, module: module, trainMetric: metric, metricNames: metricNames, validation: validation,
                samplesPerEpoch: batchesPerEpoch * options.batchSize,
                metricsOut: options.metricsOut,
                checkpointing: options.modelPrefix.map {
                    .init(prefix: $0, period: options.checkpointPeriod, numEpochs: options.numEpochs)
                }, logger: logger)
            epochCallbacks.append(reporter.epochEnded)
            evalData = nil
        } else {
            let recorder = EpochRecorder(
                path: options.metricsOut, samplesPerEpoch: batchesPerEpoch * options.batchSize, metric: metric,
                logger: logger, hasValidation: true)
            epochCallbacks.append(recorder.trainingEnded)
            evalEndCallbacks.append(recorder.validationEnded)
            if let prefix = options.modelPrefix {
                epochCallbacks.append { epoch, _, _, _ in
                    guard isCheckpointEpoch(epoch) else { return }
                    try saveLocalCheckpoint(module, CheckpointLayout(prefix: prefix, epoch: epoch + 1), optimizer)
                }
            }
        }

        let initializer = try Initializers.create(options.initializer)
        try module.fit(
            train, evalData: evalData, evalMetric: metric, epochEndCallbacks: epochCallbacks,
            batchEndCallbacks: batchCallbacks, kvstore: session.kvstore, optimizer: optimizer,
            evalEndCallbacks: evalEndCallbacks, initializer: initializer,
            beginEpoch: beginEpoch, numEpoch: options.numEpochs)

        let final = try module.score(validation, try Metrics.create("acc"))
        let accuracy = final.first?.value ?? .nan
        if let path = options.metricsOut { logger.info("per-epoch metrics appended to \(path)") }
        if let prefix = options.modelPrefix { logger.info("checkpoints written as \(prefix)-NNNN.params") }
        if let path = options.saveFinal, session.rank == 0 {
            try module.saveParams(path)
            logger.info("final parameters written to \(path)")
        }
        let scope =
            session.numWorkers > 1
            ? "worker \(session.rank) of \(session.numWorkers), on its shard of the test set; the scheduler logs the global figure"
            : "worker \(session.rank)"
        print("final validation accuracy \(String(format: "%.4f", accuracy)) (\(scope))")
        try session.finish()
        finished = true
    }

    /// Whether the end of `epoch` (0-based) writes a checkpoint: every `--checkpoint-period`
    /// epochs, as MXNet's `do_checkpoint(period)`, and after the last epoch.
    func isCheckpointEpoch(_ epoch: Int) -> Bool {
        (epoch + 1) % options.checkpointPeriod == 0 || epoch + 1 == options.numEpochs
    }

    /// Local mode's checkpoint: `Module.saveCheckpoint` (symbol, params, optimizer state), then the
    /// manifest listing them, last, so `--resume` finds it.
    func saveLocalCheckpoint(_ module: Module, _ layout: CheckpointLayout, _ optimizer: OptimizerConfig) throws {
        try module.saveCheckpoint(prefix: layout.prefix, epoch: layout.epoch, saveOptimizerStates: true)
        let files = [
            try CheckpointManifest.File(path: layout.symbolPath, role: "symbol"),
            try CheckpointManifest.File(path: layout.paramsPath, role: "params"),
            try CheckpointManifest.File(path: layout.localStatesPath, role: "states"),
        ]
        try CheckpointManifest(epoch: layout.epoch, numServers: 0, numWorkers: 1, optimizer: optimizer, files: files)
            .write(layout)
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
            return (train, train.batchesInEpoch)
        }
        guard parts >= 1, options.batchSize % parts == 0, session.numWorkers == 1 else {
            throw ModuleError.badInput(
                "--interleave-shards \(parts): needs a batch size divisible by it and --kv-store local")
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

    /// The optimizer from the flags; `--lr-step-epochs` becomes a multi-factor schedule in updates.
    func optimizerConfig(batchesPerEpoch: Int) throws -> OptimizerConfig {
        var config = OptimizerConfig(
            name: options.optimizer, learningRate: Double(options.lr), wd: Double(options.wd),
            momentum: ["sgd", "nag"].contains(options.optimizer.lowercased()) ? Double(options.mom) : 0)
        let steps = try options.lrStepEpochs.split(separator: ",").map { text -> Int in
            guard let epoch = Int(text.trimmingCharacters(in: .whitespaces)), epoch > 0 else {
                throw ModuleError.badInput("--lr-step-epochs: '\(text)' is not a positive epoch number")
            }
            return epoch * batchesPerEpoch
        }
        if !steps.isEmpty {
            config.lrScheduler = .multifactor(steps: steps, factor: Double(options.lrFactor))
        }
        try config.validate()
        return config
    }

    /// `mlp`, `lenet`, or a symbol JSON file.
    func loadNetwork(_ name: String) throws -> Symbol {
        switch name.lowercased() {
        case "mlp": return try Models.mlp()
        case "lenet": return try Models.lenet()
        default:
            guard name.hasSuffix(".json") else {
                throw ModuleError.badInput("--network '\(name)': use mlp, lenet or the path of a symbol JSON file")
            }
            return try Symbol.load(from: name)
        }
    }
}
