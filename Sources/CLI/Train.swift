import ArgumentParser
import Logging
import SwiftPS

#if canImport(Glibc)
    import Glibc
#endif

/// `swiftps train`: trains a network, on one process or as a worker of a distributed job
/// (flags in the style of MXNet's image-classification `fit.py`).
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a network (mlp, lenet or a symbol JSON) on Fashion-MNIST, or MNIST in the same idx files.",
        discussion: """
            Runs as one process with --kv-store local (the default). With --kv-store dist_sync or \
            dist_async it joins a cluster described by the DMLC_* environment variables (set by \
            `swiftps launch`) or the cluster flags.
            """)

    @OptionGroup var options: TrainOptions

    func run() throws {
        // As importing mxnet does: with DMLC_ROLE=server or scheduler this process plays that role.
        switch ClusterOptions.environmentRole {
        case .scheduler?:
            try ClusterRoles.reportingErrors("train (as scheduler)") {
                try ClusterRoles.runScheduler(options.cluster, metricsOut: options.metricsOut)
            }
            return
        case .server?:
            try ClusterRoles.reportingErrors("train (as server)") { try ClusterRoles.runServer(options.cluster) }
            return
        case .worker?:
            // `swiftps launch -- swiftps train` without --kv-store would train alone on every worker
            // while the scheduler waited for them until its rendezvous deadline.
            guard KVStoreType(parsing: options.kvStore)?.isDistributed ?? true else {
                printError(
                    "swiftps train: this process is a cluster worker (DMLC_ROLE=worker, as swiftps launch sets it) but --kv-store is \(options.kvStore): pass --kv-store dist_sync (or dist_async) to train in the cluster, or unset DMLC_ROLE to train alone"
                )
                throw ExitCode.failure
            }
        default: break
        }
        do {
            try TrainJob(options: options).run()
        } catch let error as ExitCode {
            throw error
        } catch {
            NodeSignals.parkIfLeaving()
            printError("swiftps train: \(error)")
            throw ExitCode.failure
        }
    }
}

/// The flags of `swiftps train`.
struct TrainOptions: ParsableArguments {
    @Option(
        help: """
            The network: mlp, lenet, or the path of a symbol JSON file (default: mlp). When resuming \
            (--load-epoch, --resume) the checkpoint's network is used, and this, if given, must match it.
            """)
    var network: String?

    @Option(help: "Directory holding the idx files (train-images-idx3-ubyte.gz, ...).")
    var dataDir: String = FashionMNIST.defaultDirectory

    @Option(parsing: .unconditional, help: "Samples per batch on each worker.")
    var batchSize: Int = 128

    @Option(
        parsing: .unconditional,
        help: "The epoch training ends at, counted from 0 (MXNet's num_epoch): a resumed run trains up to it.")
    var numEpochs: Int = 10

    @Option(parsing: .unconditional, help: "Initial learning rate.")
    var lr: Float = 0.1

    @Option(parsing: .unconditional, help: "Multiply the learning rate by this at each of --lr-step-epochs.")
    var lrFactor: Float = 0.1

    @Option(help: "Comma-separated epochs at which the learning rate drops by --lr-factor (e.g. 5,8).")
    var lrStepEpochs: String = ""

    @Option(
        parsing: .unconditional,
        help: """
            Epochs over which the learning rate ramps up from 0 to --lr before any --lr-step-epochs drop \
            (MXNet fit.py's --warmup-epochs; for large global batches).
            """)
    var warmupEpochs: Int = 0

    @Option(help: "How warm-up ramps: linear, or constant (0 until warm-up ends) (MXNet fit.py's --warmup-strategy).")
    var warmupStrategy: String = "linear"

    @Option(help: "The optimizer: sgd, nag, adam, adagrad, rmsprop.")
    var optimizer: String = "sgd"

    @Option(parsing: .unconditional, help: "Momentum (sgd, nag).")
    var mom: Float = 0.9

    @Option(parsing: .unconditional, help: "Weight decay.")
    var wd: Float = 0.0001

    @Option(
        parsing: .unconditional,
        help: "Clip each element of the (rescaled) gradient to [-X, X] in the optimizer (MXNet's clip_gradient).")
    var clipGradient: Float?

    @Option(
        help: """
            Initializer: default (MXNet fit.py's Xavier(gaussian, in, 2)), xavier[:rnd,factor,magnitude], \
            uniform[:scale], normal[:sigma], msra, orthogonal[:scale,rand_type], bilinear, \
            lstmbias[:forget_bias], zero, one, constant:v.
            """)
    var initializer: String = "default"

    /// `--initializer` as `Initializers.create` reads it: fit.py's `default` spelled out.
    var initializerSpec: String {
        initializer.lowercased() == "default" ? "xavier:gaussian,in,2" : initializer
    }

    @Option(help: "The kvstore: local, dist_sync, dist_async (dist means dist_sync).")
    var kvStore: String = "local"

    @Option(
        help: """
            Gradient compression of a distributed kvstore's traffic: none; 2bit (pushes as 2-bit codes \
            with error feedback, a sixteenth of the bytes; MXNet fit.py's --gc-type); or fp16 (pushes \
            and the new weights answering them in half precision, half the bytes both ways; the servers \
            keep float32 weights).
            """)
    var gcType: String = "none"

    @Option(parsing: .unconditional, help: "Threshold of 2bit gradient compression (MXNet's default; 2bit only).")
    var gcThreshold: Float = 0.5

    @Option(
        help: """
            Save checkpoints as PREFIX-symbol.json and PREFIX-%04d.params (in a cluster, on the scheduler's \
            host); a missing directory is created.
            """)
    var modelPrefix: String?

    @Option(parsing: .unconditional, help: "Resume from the checkpoint of this epoch (needs --model-prefix).")
    var loadEpoch: Int?

    @Flag(
        help: """
            Resume from the newest complete checkpoint under --model-prefix (one whose manifest \
            verifies); start from scratch when there is none.
            """)
    var resume = false

    @Option(
        name: [.customLong("checkpoint-period"), .customLong("save-period")], parsing: .unconditional,
        help: "With --model-prefix, write a checkpoint every N epochs and after the last one (fit.py's --save-period).")
    var checkpointPeriod: Int = 1

    @Option(parsing: .unconditional, help: "Log a Speedometer line every N batches.")
    var dispBatches: Int = 100

    @Option(parsing: .unconditional, help: "Seed of initialization, shuffling and dropout.")
    var seed: UInt64 = 0

    @Option(
        help: """
            Append one JSON object per epoch (metrics, samples/sec, seconds) to this file; in dist \
            mode the scheduler writes the job's global figures to it, with each worker's seconds spent \
            waiting for the servers (the path must be one the scheduler can write).
            """)
    var metricsOut: String?

    @Option(
        help: """
            Record a timeline of this worker's steps (forward, backward, update, the waits for weights) \
            and kvstore requests, in Chrome's trace format (open it in chrome://tracing or \
            ui.perfetto.dev), rewritten at every epoch end (default: SWIFTPS_TIMELINE). With several \
            workers, worker K writes FILE with .workerK before its extension, on its own host.
            """)
    var timeline: String?

    /// `--timeline`, else `SWIFTPS_TIMELINE`.
    var timelinePath: String? {
        TrainTimeline.requestedPath(flag: timeline)
    }

    @Option(help: "Training metrics, comma separated (acc, ce, top_k_accuracy[:K], mse, ...).")
    var metrics: String = "acc"

    @Option(
        parsing: .unconditional,
        help: "Also report the top-K accuracy (fit.py's --top-k; 0: not reported, else at least 2).")
    var topK: Int = 0

    @Option(
        parsing: .unconditional,
        help: """
            Compute threads of this process, over which convolutions and large products are split (default: SWIFTPS_BLAS_THREADS, else OPENBLAS_NUM_THREADS, \
            else every CPU this process may use with --kv-store local, or in a cluster those CPUs divided among the job's workers on this host).
            """)
    var blasThreads: Int?

    @Option(
        parsing: .unconditional,
        help: """
            Batches per epoch (default: the worker's shard divided by --batch-size): fewer stop each epoch \
            early (quick runs), more wrap around the data.
            """)
    var numBatches: Int?

    @Flag(help: "Disable the progress bar even on a terminal.")
    var noProgress = false

    @Flag(help: "Do not shuffle the training data.")
    var noShuffle = false

    @Flag(
        inversion: .prefixedNo,
        help: "Assemble the next training batch on a background thread while this one trains (MXNet's PrefetchingIter)."
    )
    var prefetch = true

    @Option(help: "After training, worker 0 writes the final parameters to this file (.params format).")
    var saveFinal: String?

    @Option(
        parsing: .unconditional,
        help: """
            Test aid: build each batch from K contiguous parts of the data, batch/K samples from each, \
            so one process sees at step t what K dist_sync workers see together.
            """)
    var interleaveShards: Int?

    @OptionGroup(title: "Cluster (for --kv-store dist_sync/dist_async)")
    var cluster: ClusterOptions

    /// Every check that needs no file and no cluster, so a mistyped flag fails at once (exit 64)
    /// rather than after loading data or joining a cluster.
    func validate() throws {
        try FlagCheck.atLeast(1, "--batch-size", batchSize)
        try FlagCheck.atLeast(1, "--num-epochs", numEpochs)
        try FlagCheck.atLeast(1, "--num-batches", numBatches)
        try FlagCheck.atLeast(1, "--disp-batches", dispBatches)
        try FlagCheck.atLeast(1, "--checkpoint-period", checkpointPeriod)
        try FlagCheck.threads("--blas-threads", blasThreads)
        try FlagCheck.atLeast(0, "--load-epoch", loadEpoch)
        try FlagCheck.number("--lr", lr, must: "0 or more") { $0 >= 0 }
        try FlagCheck.number("--wd", wd, must: "0 or more") { $0 >= 0 }
        try FlagCheck.number("--mom", mom, must: "0 or more") { $0 >= 0 }
        try FlagCheck.number("--clip-gradient", clipGradient, must: "above 0") { $0 > 0 }
        try FlagCheck.number("--lr-factor", lrFactor, must: "above 0 and at most 1") { $0 > 0 && $0 <= 1 }
        try FlagCheck.atLeast(0, "--warmup-epochs", warmupEpochs)
        guard WarmupMode(rawValue: warmupStrategy) != nil else {
            throw ValidationError("--warmup-strategy '\(warmupStrategy)': use linear or constant")
        }
        guard let kvType = KVStoreType(parsing: kvStore) else {
            throw ValidationError("--kv-store '\(kvStore)': use local, dist_sync or dist_async")
        }
        _ = try FlagCheck.parsing("--gc-type", gcType) { try GradientCompression(kind: gcType) }
        let compression = try FlagCheck.parsing("--gc-threshold", "\(gcThreshold)") {
            try GradientCompression(kind: gcType, threshold: gcThreshold)
        }
        guard !compression.isActive || kvType.isDistributed else {
            throw ValidationError(
                "--gc-type \(gcType) compresses pushes to servers: it needs --kv-store dist_sync or dist_async")
        }
        guard gcThreshold == 0.5 || compression.kind == .twoBit else {
            throw ValidationError("--gc-threshold \(gcThreshold) is 2bit's threshold: it needs --gc-type 2bit")
        }
        if let name = network, !["mlp", "lenet"].contains(name.lowercased()), !name.hasSuffix(".json") {
            throw ValidationError("--network '\(name)': use mlp, lenet or the path of a symbol JSON file (.json)")
        }
        if loadEpoch != nil || resume {
            guard modelPrefix != nil else {
                throw ValidationError("--load-epoch and --resume need --model-prefix (where the checkpoints are)")
            }
            guard loadEpoch == nil || !resume else { throw ValidationError("give --resume or --load-epoch, not both") }
        }
        if let loadEpoch, loadEpoch >= numEpochs {
            throw ValidationError(
                "--load-epoch \(loadEpoch) with --num-epochs \(numEpochs): nothing to train; --num-epochs is the epoch training ends at (MXNet's num_epoch), so give more than \(loadEpoch)"
            )
        }
        if let parts = interleaveShards {
            guard parts >= 1, batchSize % parts == 0, !kvType.isDistributed else {
                throw ValidationError(
                    "--interleave-shards \(parts): needs a positive K that divides --batch-size, and --kv-store local")
            }
        }
        _ = try optimizerConfig(batchesPerEpoch: 1)
        _ = try FlagCheck.parsing("--initializer", initializer) { try Initializers.create(initializerSpec) }
        guard topK == 0 || topK >= 2 else {
            throw ValidationError("--top-k \(topK): give 0 (not reported) or at least 2; top-1 is acc")
        }
        let metric = try FlagCheck.parsing("--metrics", metrics) { try Metrics.create(metricNames) }
        let reported = metric.get().map(\.name)
        if let twice = reported.first(where: { name in reported.filter { $0 == name }.count > 1 }) {
            throw ValidationError(
                "--metrics '\(metrics)'\(topK > 0 ? " with --top-k \(topK)" : ""): \(twice) is asked for twice")
        }
    }

    /// `--gc-type` and `--gc-threshold` (checked by `validate`).
    var gradientCompression: GradientCompression {
        (try? GradientCompression(kind: gcType, threshold: gcThreshold)) ?? .none
    }

    /// `--metrics` split at commas, then `--top-k`'s metric.
    var metricNames: [String] {
        metrics.split(separator: ",").map(String.init) + (topK > 0 ? ["top_k_accuracy:\(topK)"] : [])
    }

    /// The flags every worker of a cluster must share, by flag name (`ClusterConfig.sharedSettings`):
    /// those that fix the steps each worker trains (workers that differ wait for each other at a
    /// dist_sync step), where the job resumes from and checkpoints to, what each worker's pushes
    /// and reports hold, and the big-array bound that places the keys on the servers. The scheduler refuses a worker that differs, naming the flag and both values.
    /// The optimizer flags are checked later, against worker 0's optimizer (`KVServer.checkOptimizer`).
    var sharedSettings: [String: String] {
        var settings = [
            "--kv-store": KVStoreType(parsing: kvStore).map { "\($0)" } ?? kvStore,
            "--batch-size": "\(batchSize)",
            "--num-epochs": "\(numEpochs)",
            "--checkpoint-period": "\(checkpointPeriod)",
            "--gc-type": "\(gradientCompression)",
            "--metrics": metrics,
            "--top-k": "\(topK)",
        ]
        settings["--num-batches"] = numBatches.map { "\($0)" }
        settings["--load-epoch"] = loadEpoch.map { "\($0)" }
        settings["--resume"] = resume ? "yes" : nil
        settings[Self.modelPrefixSetting] = modelPrefix
        settings[Self.metricsOutSetting] = metricsOut
        // Where each key lives: a worker with another bound splits a key the others keep whole.
        settings["SWIFTPS_BIGARRAY_BOUND"] =
            (try? KVPlacement.bigArrayBound(environment: ProcessInfoLite.environment)).map { "\($0)" }
        return settings
    }

    /// The shared setting that carries `--model-prefix`: the scheduler, which writes the checkpoints,
    /// tries it once the cluster is up (`SchedulerCheckpoint.probe`).
    static let modelPrefixSetting = "--model-prefix"

    /// The declared (not compared) setting that carries `--metrics-out`: the scheduler, which
    /// appends to each path the workers give (usually one), tries them once the cluster is up.
    static let metricsOutSetting = ClusterConfig.declaredSettingPrefix + "--metrics-out"

    /// The optimizer from the flags; `--lr-step-epochs` and `--warmup-epochs` become a schedule in
    /// updates counted from epoch 0, each epoch placed where `counts` says it starts.
    ///
    /// Resumed at epoch E: the update count of a state that starts fresh is E × batches per epoch
    /// (MXNet's `begin_num_update`), so the schedule is the same one a run from epoch 0 follows (the
    /// drops already passed apply at once, what is left of the warm-up runs) whether the optimizer
    /// state came back from the checkpoint (its counts continue) or not, and however many times a
    /// job was resumed. A restored state whose count differs (the checkpoint's run took another
    /// number of batches per epoch: another batch size or number of workers) keeps its count, and
    /// the epochs after E are placed from it (`UpdateCount`). (MXNet's fit.py instead shifts the
    /// steps by E and counts from 0, which a later resume with the saved count would then misread.)
    func optimizerConfig(batchesPerEpoch: Int, counts: UpdateCount? = nil) throws -> OptimizerConfig {
        let counts = counts ?? UpdateCount(beginEpoch: 0, start: 0, perEpoch: batchesPerEpoch)
        var config = OptimizerConfig(
            name: optimizer, learningRate: Double(lr), wd: Double(wd),
            momentum: ["sgd", "nag"].contains(optimizer.lowercased()) ? Double(mom) : 0)
        config.clipGradient = clipGradient.map(Double.init)
        if !lrStepEpochs.isEmpty {
            let epochs = try FlagCheck.positiveList("--lr-step-epochs", lrStepEpochs)
            guard zip(epochs, epochs.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw ValidationError("--lr-step-epochs '\(lrStepEpochs)': the epochs must increase")
            }
            config.lrScheduler = .multifactor(steps: epochs.map(counts.start(ofEpoch:)), factor: Double(lrFactor))
        }
        config.beginNumUpdate = counts.start
        if warmupEpochs > 0 {
            // Warm-up rides on the step schedule, or on a factor schedule that never drops (MXNet's
            // schedulers all carry warm-up; a rate that never drops has no floor either).
            var schedule = config.lrScheduler ?? .factor(step: 1, factor: 1)
            if config.lrScheduler == nil { schedule.stopFactorLR = 0 }
            schedule.warmupSteps = counts.start(ofEpoch: warmupEpochs)
            schedule.warmupMode = WarmupMode(rawValue: warmupStrategy) ?? .linear
            config.lrScheduler = schedule
        }
        guard OptimizerConfig.knownNames.contains(optimizer.lowercased()) else {
            throw ValidationError(
                "--optimizer '\(optimizer)': use \(OptimizerConfig.knownNames.joined(separator: ", "))")
        }
        do { try config.validate() } catch { throw ValidationError("\(error)") }
        return config
    }
}

/// The optimizer's update count along a `swiftps train` run that starts at epoch `beginEpoch` with
/// count `start` (0 from scratch; a resumed state's own count, else `beginEpoch` × `perEpoch`) and
/// takes `perEpoch` updates each epoch: where each epoch starts in the count, so a learning-rate
/// schedule given in epochs falls on epoch boundaries however many batches earlier runs took.
struct UpdateCount: Equatable {
    var beginEpoch: Int
    var start: Int
    var perEpoch: Int

    /// The count when epoch `epoch` starts: from `start` on for this run's epochs; for earlier ones
    /// (already trained, by runs whose epochs may have been longer or shorter) spread evenly below
    /// `start`, so a drop at or before `beginEpoch` has been passed.
    func start(ofEpoch epoch: Int) -> Int {
        if epoch >= beginEpoch { return start + (epoch - beginEpoch) * perEpoch }
        return epoch * start / beginEpoch
    }

    /// The count when epoch `epoch` (0-based) ends: what a checkpoint written then records.
    func end(ofEpoch epoch: Int) -> Int { start(ofEpoch: epoch + 1) }
}
