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
        abstract: "Train a network (mlp, lenet or a symbol JSON) on Fashion-MNIST/MNIST or CSV data.",
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
        default: break
        }
        do {
            try TrainJob(options: options).run()
        } catch let error as ExitCode {
            throw error
        } catch {
            printError("swiftps train: \(error)")
            throw ExitCode.failure
        }
    }
}

/// The flags of `swiftps train`.
struct TrainOptions: ParsableArguments {
    @Option(help: "The network: mlp, lenet, or the path of a symbol JSON file.")
    var network: String = "mlp"

    @Option(help: "Directory holding the idx files (train-images-idx3-ubyte.gz, ...).")
    var dataDir: String = FashionMNIST.defaultDirectory

    @Option(help: "Samples per batch on each worker.")
    var batchSize: Int = 128

    @Option(help: "Number of epochs to train.")
    var numEpochs: Int = 10

    @Option(help: "Initial learning rate.")
    var lr: Float = 0.1

    @Option(help: "Multiply the learning rate by this at each of --lr-step-epochs.")
    var lrFactor: Float = 0.1

    @Option(help: "Comma-separated epochs at which the learning rate drops by --lr-factor (e.g. 5,8).")
    var lrStepEpochs: String = ""

    @Option(help: "The optimizer: sgd, nag, adam, adagrad, rmsprop.")
    var optimizer: String = "sgd"

    @Option(help: "Momentum (sgd, nag).")
    var mom: Float = 0.9

    @Option(help: "Weight decay.")
    var wd: Float = 0.0001

    @Option(
        help: """
            Initializer: xavier[:rnd,factor,magnitude], uniform[:scale], normal[:sigma], msra, zero, one, \
            constant:v. The default is MXNet fit.py's Xavier(gaussian, in, 2).
            """)
    var initializer: String = "xavier:gaussian,in,2"

    @Option(help: "The kvstore: local, dist_sync, dist_async (dist means dist_sync).")
    var kvStore: String = "local"

    @Option(
        help: "Save checkpoints as PREFIX-symbol.json and PREFIX-%04d.params (in a cluster, on the scheduler's host).")
    var modelPrefix: String?

    @Option(help: "Resume from the checkpoint of this epoch (needs --model-prefix).")
    var loadEpoch: Int?

    @Flag(
        help: """
            Resume from the newest complete checkpoint under --model-prefix (one whose manifest \
            verifies); start from scratch when there is none.
            """)
    var resume = false

    @Option(help: "With --model-prefix, write a checkpoint every N epochs (and after the last one).")
    var checkpointPeriod: Int = 1

    @Option(help: "Log a Speedometer line every N batches.")
    var dispBatches: Int = 100

    @Option(help: "Seed of initialization, shuffling and dropout.")
    var seed: UInt64 = 0

    @Option(
        help: """
            Append one JSON object per epoch (metrics, samples/sec, seconds) to this file; in dist \
            mode the scheduler writes the job's global figures to it, with each worker's seconds spent \
            waiting for the servers (the path must be one the scheduler can write).
            """)
    var metricsOut: String?

    @Option(help: "Training metrics, comma separated (acc, ce, top_k_accuracy, mse, ...).")
    var metrics: String = "acc"

    @Option(help: "Threads of OpenBLAS in this process (default 1: run one process per core).")
    var blasThreads: Int?

    @Option(help: "Stop each epoch after this many batches (for quick runs).")
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
        help: """
            Test aid: build each batch from K contiguous parts of the data, batch/K samples from each, \
            so one process sees at step t what K dist_sync workers see together.
            """)
    var interleaveShards: Int?

    @OptionGroup(title: "Cluster (for --kv-store dist_sync/dist_async)")
    var cluster: ClusterOptions
}
