import ArgumentParser
import CShims
import Foundation
import SwiftPS

/// `swiftps bench train`: training throughput and peak memory of one process on Fashion-MNIST.
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Samples/sec of training (forward, backward, update) and the process's peak memory, as JSON.",
        discussion: """
            Runs the real training loop (Module.fit's step: forwardBackward, update, updateMetric) on \
            Fashion-MNIST in this process with the kvstore `local`, after a warm-up. Run one network per \
            process so that the peak memory belongs to that network (scripts/bench does).
            """)

    @Option(help: "The network: mlp or lenet.")
    var network: String = "mlp"

    @Option(parsing: .unconditional, help: "Batch size.")
    var batchSize: Int = 128

    @Option(parsing: .unconditional, help: "Timed batches (default: 2000 for the mlp, 100 for lenet).")
    var batches: Int?

    @Option(
        parsing: .unconditional,
        help: """
            Compute threads of a one-process run (default: as swiftps train, SWIFTPS_BLAS_THREADS, else \
            OPENBLAS_NUM_THREADS, else every CPU this process may use).
            """)
    var blasThreads: Int?

    @Option(help: "Directory holding the Fashion-MNIST idx files.")
    var dataDir: String = FashionMNIST.defaultDirectory

    @OptionGroup(title: "Distributed run (--kv-store dist_sync or dist_async)")
    var distributed: BenchDistTrainOptions

    func validate() throws {
        guard ["mlp", "lenet"].contains(network) else {
            throw ValidationError("--network '\(network)': use mlp or lenet")
        }
        try FlagCheck.atLeast(1, "--batch-size", batchSize)
        try FlagCheck.atLeast(1, "--batches", batches)
        try FlagCheck.threads("--blas-threads", blasThreads)
    }

    func run() throws {
        if distributed.isDistributed {
            return try BenchDistTrain(options: distributed, network: network, batchSize: batchSize, dataDir: dataDir)
                .run()
        }
        BLAS.configureThreads(blasThreads, automatic: BLAS.automaticThreads())
        let isLenet = network == "lenet"
        let symbol = try isLenet ? Models.lenet() : Models.mlp()
        // As `swiftps train` does by default: the next batch is assembled on a background thread.
        let train = try PrefetchingIter(FashionMNIST.train(dataDir: dataDir, batchSize: batchSize, flat: !isLenet))
        let module = try Module(symbol: symbol)
        try module.bind(dataShapes: train.provideData, labelShapes: train.provideLabel)
        try module.initParams(initializer: Xavier())
        try module.initOptimizer(
            kvstore: LocalKVStore(),
            optimizer: OptimizerConfig(name: "sgd", learningRate: isLenet ? 0.01 : 0.1, wd: 1e-4, momentum: 0.9),
            forceInit: false)
        let metric = Accuracy()
        func step() throws {
            guard let batch = try train.next() else {
                train.reset()
                return try step()
            }
            try module.forwardBackward(batch)
            try module.update()
            try module.updateMetric(metric, labels: batch.label)
        }
        let timed = batches ?? (isLenet ? 100 : 2000)
        for _ in 0..<(isLenet ? 5 : 100) { try step() }
        let start = MonotonicClock.now()
        for _ in 0..<timed { try step() }
        let seconds = MonotonicClock.now() - start

        var out = JSONObject()
        out.set("benchmark", "train")
        out.set("network", network)
        out.set("kvstore", "local")
        out.set("processes", 1)
        out.set("blas_threads", BLAS.threads)
        out.set("blas_core", BLAS.coreName)
        if let forced = BLAS.forcedCore { out.set("openblas_coretype", forced) }
        out.set("batch_size", batchSize)
        out.set("batches", timed)
        out.set("seconds", seconds)
        out.set("samples_per_sec", Double(timed * batchSize) / seconds)
        out.set("peak_rss_mb", Double(swiftps_peak_rss_kb()) / 1024)
        out.set(
            "reference",
            isLenet
                ? "anchors.md: MXNet 1.9.1 lenet single process ~3,000 samples/s, 1.2 GB"
                : "anchors.md: MXNet 1.9.1 mlp single process ~72,000 samples/s (71,000 with one thread), 1.1 GB")
        print(out.text)
    }
}
