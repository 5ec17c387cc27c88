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
        if options.loadEpoch != nil && options.modelPrefix == nil {
            throw ModuleError.badInput("--load-epoch needs --model-prefix (where the checkpoint is)")
        }
        if let prefix = options.modelPrefix {
            let dir = (prefix as NSString).deletingLastPathComponent
            if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
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
        let (train, trainBatches) = try trainingData(flat: flat, session: session)
        let validation = try FashionMNIST.test(
            dataDir: options.dataDir, batchSize: options.batchSize, flat: flat, numParts: session.numWorkers,
            partIndex: session.rank)
        let batchesPerEpoch = options.numBatches ?? trainBatches

        var beginEpoch = 0
        let module: Module
        if let epoch = options.loadEpoch, let prefix = options.modelPrefix {
            module = try Module.load(
                prefix: prefix, epoch: epoch, loadOptimizerStates: kvType == .local, seed: options.seed,
                logger: logger)
            beginEpoch = epoch
            // Replay the shuffles of the epochs already trained, so the data order continues exactly.
            for _ in 0..<epoch { train.reset() }
            logger.info("resuming from \(Module.paramsPath(prefix, epoch)) at epoch \(epoch)")
        } else {
            module = try Module(symbol: symbol, seed: options.seed, logger: logger)
        }

        let optimizer = try optimizerConfig(batchesPerEpoch: batchesPerEpoch)
        let metric = try Metrics.create(options.metrics.split(separator: ",").map(String.init))
        var batchCallbacks: [BatchEndCallback] = []
        if isatty(STDERR_FILENO) != 0 && !options.noProgress && session.numWorkers == 1 {
            let bar = try ProgressBar(total: batchesPerEpoch, write: { line in printError(line) })
            batchCallbacks.append(bar.callback)
        } else {
            batchCallbacks.append(
                try Speedometer(batchSize: options.batchSize, frequent: options.dispBatches, autoReset: false).callback)
        }

        let recorder = EpochRecorder(
            path: options.metricsOut, samplesPerEpoch: batchesPerEpoch * options.batchSize * session.numWorkers,
            metric: metric, logger: logger, hasValidation: true)
        var epochCallbacks: [EpochEndCallback] = [recorder.trainingEnded]
        if let prefix = options.modelPrefix, session.rank == 0 {
            epochCallbacks.append { epoch, _, _, _ in
                try module.saveCheckpoint(prefix: prefix, epoch: epoch + 1, saveOptimizerStates: kvType == .local)
            }
        }

        let initializer = try Initializers.create(options.initializer)
        try module.fit(
            train, evalData: validation, evalMetric: metric, epochEndCallbacks: epochCallbacks,
            batchEndCallbacks: batchCallbacks, kvstore: session.kvstore, optimizer: optimizer,
            evalEndCallbacks: [recorder.validationEnded], initializer: initializer,
            beginEpoch: beginEpoch, numEpoch: options.numEpochs)

        let final = try module.score(validation, try Metrics.create("acc"))
        let accuracy = final.first?.value ?? .nan
        if let path = options.metricsOut { logger.info("per-epoch metrics appended to \(path)") }
        if let prefix = options.modelPrefix { logger.info("checkpoints written as \(prefix)-NNNN.params") }
        if let path = options.saveFinal, session.rank == 0 {
            try module.saveParams(path)
            logger.info("final parameters written to \(path)")
        }
        print("final validation accuracy \(String(format: "%.4f", accuracy)) (worker \(session.rank))")
        try session.finish()
        finished = true
    }

    /// This worker's training data: its shard, or with `--interleave-shards K` the K shards stacked
    /// batch by batch (see `InterleavedShards`); and the batches per epoch.
    func trainingData(flat: Bool, session: TrainSession) throws -> (any DataIter, Int) {
        guard let parts = options.interleaveShards else {
            let train = try FashionMNIST.train(
                dataDir: options.dataDir, batchSize: options.batchSize, shuffle: !options.noShuffle,
                seed: options.seed, flat: flat, numParts: session.numWorkers, partIndex: session.rank,
                batchesPerEpoch: options.numBatches ?? session.batchesPerEpoch)
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

    /// The size of the largest of `numWorkers` contiguous shards of the training set, ceil(N / workers):
    /// what a worker declares at rendezvous, before it knows its rank.
    func largestShard(numWorkers: Int) throws -> Int64 {
        let all = try FashionMNIST.train(dataDir: options.dataDir, batchSize: 1, shuffle: false, flat: true)
        return Int64((all.sampleCount + numWorkers - 1) / numWorkers)
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
