import ArgumentParser
import Foundation
import SwiftPS

/// `swiftps predict`: runs a checkpoint on new samples and writes one row of outputs per sample.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a checkpoint (SwiftPS's or MXNet 1.x's) on samples and write the output probabilities.",
        discussion: """
            The input is an IDX image file (gzipped or not), a CSV file of rows, or a float32 .npy array; \
            '-' reads standard input. Output rows follow the input rows. Files are written atomically; \
            '-' (the default) writes to standard output.
            """)

    @Option(help: "Checkpoint prefix: reads PREFIX-symbol.json and PREFIX-%04d.params.")
    var modelPrefix: String

    @Option(parsing: .unconditional, help: "The epoch of the checkpoint to load.")
    var loadEpoch: Int

    @Option(help: "Samples: an .idx(.gz), .csv or .npy file, or - for standard input.")
    var input: String

    @Option(help: "Where to write the outputs (- for standard output).")
    var output: String = "-"

    @Option(help: "Output format: csv, json or npy.")
    var format: OutputFormat = .csv

    @Option(
        parsing: .unconditional,
        help: "Also give the K most likely labels of each row, most likely first (csv and json; at most all of them).")
    var topK: Int?

    @Option(parsing: .unconditional, help: "Samples per batch.")
    var batchSize: Int = 128

    func validate() throws {
        try FlagCheck.atLeast(0, "--load-epoch", loadEpoch)
        try FlagCheck.atLeast(1, "--batch-size", batchSize)
        try FlagCheck.atLeast(1, "--top-k", topK)
        if topK != nil && format == .npy { throw ValidationError("--top-k needs --format csv or json") }
    }

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case csv, json, npy }

    func run() throws {
        do {
            _ = BLAS.configureThreads(nil, automatic: BLAS.automaticThreads())
            let data = try SampleFile.load(input)
            guard data.ndim >= 1, data.shape[0] > 0 else { throw ModuleError.badInput("\(input) holds no samples") }
            let (module, sampleShape) = try Module.loadForInference(
                prefix: modelPrefix, epoch: loadEpoch, sampleShape: Array(data.shape.dropFirst()),
                batchSize: batchSize)
            let iter = try NDArrayIter(
                data: try data.reshaped([data.shape[0]] + sampleShape), batchSize: batchSize)
            guard let probabilities = try module.predict(iter).first?.first else {
                throw ModuleError.badInput("the network produced no output")
            }
            let width = Self.outputsPerSample(probabilities)
            if let k = topK, k > width {
                printError(
                    "swiftps predict: --top-k \(k) is more than the network's \(width) outputs: each sample lists all \(width)"
                )
            }
            let bytes = render(probabilities)
            if output == "-" {
                FileHandle.standardOutput.write(Data(bytes))
            } else {
                try AtomicFile.write(bytes, to: output)
            }
        } catch {
            printError("swiftps predict: \(error)")
            throw ExitCode.failure
        }
    }

    /// The values the network gives each sample (its classes, for a classifier).
    static func outputsPerSample(_ out: NDArray) -> Int {
        out.shape[0] == 0 ? 0 : out.count / out.shape[0]
    }

    /// The outputs in the chosen format; floats are written in their shortest exact form, so a
    /// reader gets back the same bits.
    func render(_ out: NDArray) -> [UInt8] {
        let rows = out.shape[0]
        let width = Self.outputsPerSample(out)
        func row(_ r: Int) -> [Float] { Array(UnsafeBufferPointer(start: out.data + r * width, count: width)) }
        func top(_ values: [Float], _ k: Int) -> [Int] {
            Array(values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }.prefix(k))
        }
        switch format {
        case .npy:
            return NPYFile.encode(out)
        case .csv:
            var text = ""
            for r in 0..<rows {
                var cells = row(r).map { "\($0)" }
                if let k = topK { cells += top(row(r), k).map(String.init) }
                text += cells.joined(separator: ",") + "\n"
            }
            return Array(text.utf8)
        case .json:
            var lines: [String] = []
            for r in 0..<rows {
                var line = "{\"probabilities\": [" + row(r).map { "\($0)" }.joined(separator: ", ") + "]"
                if let k = topK {
                    line += ", \"top_k\": [" + top(row(r), k).map(String.init).joined(separator: ", ") + "]"
                }
                lines.append(line + "}")
            }
            return Array(("[\n" + lines.joined(separator: ",\n") + "\n]\n").utf8)
        }
    }
}
