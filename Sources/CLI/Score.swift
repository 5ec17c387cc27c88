import ArgumentParser
import Foundation
import SwiftPS

/// `swiftps score`: evaluates a checkpoint on labelled data (MXNet's `score.py`).
struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint (SwiftPS's or MXNet 1.x's) on labelled data and print the metrics.")

    @Option(help: "Checkpoint prefix: reads PREFIX-symbol.json and PREFIX-%04d.params.")
    var modelPrefix: String

    @Option(parsing: .unconditional, help: "The epoch of the checkpoint to load.")
    var loadEpoch: Int

    @Option(
        help: """
            Directory with the IDX test set (t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) \
            (default: \(FashionMNIST.defaultDirectory)).
            """)
    var dataDir: String?

    @Option(help: "CSV file of samples, one row each (instead of --data-dir).")
    var dataCsv: String?

    @Option(help: "CSV file of labels, one per row (with --data-csv).")
    var labelCsv: String?

    @Option(help: "Metrics, comma separated: acc, top_k_accuracy, ce, nll_loss, mse, mae, rmse, f1, perplexity.")
    var metrics: String = "acc"

    @Option(parsing: .unconditional, help: "Samples per batch.")
    var batchSize: Int = 128

    @Flag(help: "Print one JSON object instead of name=value lines.")
    var json = false

    func validate() throws {
        try FlagCheck.atLeast(0, "--load-epoch", loadEpoch)
        try FlagCheck.atLeast(1, "--batch-size", batchSize)
        if dataCsv != nil || labelCsv != nil {
            guard dataDir == nil else { throw ValidationError("give --data-dir or --data-csv, not both") }
            guard dataCsv != nil else { throw ValidationError("--label-csv needs --data-csv with the samples") }
            guard labelCsv != nil else { throw ValidationError("--data-csv needs --label-csv with the labels") }
        }
        _ = try FlagCheck.parsing("--metrics", metrics) { try Metrics.create(metricNames) }
    }

    /// `--metrics` split at commas.
    var metricNames: [String] { metrics.split(separator: ",").map(String.init) }

    func run() throws {
        do {
            _ = BLAS.configureThreads(nil, automatic: BLAS.automaticThreads())
            let (data, labels) = try loadData()
            guard data.shape[0] == labels.shape[0] else {
                throw ModuleError.badInput(
                    "\(data.shape[0]) samples but \(labels.shape[0]) labels: the data and label files must match")
            }
            let (module, sampleShape) = try Module.loadForInference(
                prefix: modelPrefix, epoch: loadEpoch, sampleShape: Array(data.shape.dropFirst()),
                batchSize: batchSize)
            let samples = try data.reshaped([data.shape[0]] + sampleShape)
            let iter = try NDArrayIter(data: samples, label: labels.reshaped([labels.count]), batchSize: batchSize)
            let metric = try Metrics.create(metricNames)
            let result = try module.score(iter, metric)
            if json {
                var object = JSONObject(pairs: result)
                object.set("samples", data.shape[0])
                print(object.text)
            } else {
                for (name, value) in result { print("\(name)=\(String(format: "%f", value))") }
            }
        } catch {
            printError("swiftps score: \(error)")
            throw ExitCode.failure
        }
    }

    private func loadData() throws -> (NDArray, NDArray) {
        if let dataCsv, let labelCsv { return (try SampleFile.load(dataCsv), try SampleFile.load(labelCsv)) }
        let dir = dataDir ?? FashionMNIST.defaultDirectory
        return (
            try SampleFile.load(dir + "/t10k-images-idx3-ubyte.gz"),
            try SampleFile.load(dir + "/t10k-labels-idx1-ubyte.gz")
        )
    }
}
