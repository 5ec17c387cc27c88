import ArgumentParser
import SwiftPS

/// `swiftps bench conv`: the time of one Convolution layer's forward and backward pass through the
/// executor, for lenet's two layers and the grouped, depthwise and dilated layers of MobileNet-style
/// networks, with the FLOP rate of each.
struct BenchConv: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract:
            "Forward and backward time of single Convolution layers (lenet's, grouped, depthwise, dilated), as JSON.")

    @Option(parsing: .unconditional, help: "Timed repetitions of each pass.")
    var repeats: Int = 20

    @Option(parsing: .unconditional, help: "Compute threads (each takes a chunk of the batch).")
    var threads: Int = 1

    @Option(help: "Only these layers, by name, comma-separated (e.g. depthwise_3x3,lenet_conv2).")
    var only: String?

    func validate() throws {
        try FlagCheck.atLeast(1, "--repeats", repeats)
        if let only {
            let known = Set(Self.layers.map(\.name))
            for name in only.split(separator: ",").map(String.init) where !known.contains(name) {
                throw ValidationError(
                    "--only: no layer '\(name)'; the layers are \(Self.layers.map(\.name).joined(separator: ", "))")
            }
        }
        try FlagCheck.threads("--threads", threads)
    }

    /// One benchmarked layer: its name, data shape (N, C, H, W) and Convolution settings.
    struct Layer {
        let name: String
        let data: [Int]
        let op: Convolution
    }

    static let layers: [Layer] = [
        Layer(name: "lenet_conv1", data: [128, 1, 28, 28], op: Convolution(kernel: [5, 5], numFilter: 20)),
        Layer(name: "lenet_conv2", data: [128, 20, 12, 12], op: Convolution(kernel: [5, 5], numFilter: 50)),
        Layer(
            name: "depthwise_3x3", data: [32, 64, 28, 28],
            op: Convolution(kernel: [3, 3], numFilter: 64, pad: [1, 1], numGroup: 64, noBias: true)),
        Layer(
            name: "depthwise_3x3_stride2", data: [32, 64, 56, 56],
            op: Convolution(kernel: [3, 3], numFilter: 64, stride: [2, 2], pad: [1, 1], numGroup: 64, noBias: true)),
        Layer(
            name: "depthwise_3x3_multiplier4", data: [32, 32, 28, 28],
            op: Convolution(kernel: [3, 3], numFilter: 128, pad: [1, 1], numGroup: 32, noBias: true)),
        Layer(
            name: "grouped_3x3_4groups", data: [32, 64, 28, 28],
            op: Convolution(kernel: [3, 3], numFilter: 64, pad: [1, 1], numGroup: 4)),
        Layer(
            name: "dilated_3x3_d2", data: [32, 32, 28, 28],
            op: Convolution(kernel: [3, 3], numFilter: 32, pad: [2, 2], dilate: [2, 2])),
    ]

    func run() throws {
        BLAS.configureThreads(threads)
        var out = JSONObject()
        out.set("benchmark", "conv")
        out.set("threads", threads)
        var results: [JSONObject] = []
        let names = only.map { Set($0.split(separator: ",").map(String.init)) }
        for layer in Self.layers where names?.contains(layer.name) ?? true {
            results.append(try time(layer))
        }
        out.set("layers", results)
        print(out.text)
    }

    /// Binds `layer` alone (data with a gradient, as inside a network) and times its passes.
    func time(_ layer: Layer) throws -> JSONObject {
        let data = Symbol.variable("data")
        let symbol = try Symbol.operation(
            Convolution.typeName, name: "conv", arguments: [data], attributes: layer.op.attributes)
        var reqs: [String: GradReq] = [:]
        for name in symbol.listArguments() { reqs[name] = .write }
        let exec = try symbol.simpleBind(shapes: ["data": layer.data], gradReqs: reqs)
        var rng = RandomGenerator(seed: 1)
        for (_, array) in exec.argDict { rng.fillUniform(array, low: -0.5, high: 0.5) }
        let outGrad = NDArray(shape: exec.outputs[0].shape, repeating: 0.01)
        let forward = measure(repeats: repeats) { exec.forward(isTrain: true) }
        let backward = try measure(repeats: repeats) { try exec.backward(outGrads: [outGrad]) }
        // Multiply-adds of the forward pass; backward does it twice (data and weight gradients).
        let out = exec.outputs[0].shape
        let macs = Double(
            NDArray.elementCount(out) * (layer.data[1] / layer.op.numGroup) * layer.op.kernel.reduce(1, *))
        var s = JSONObject()
        s.set("layer", layer.name)
        s.set("data", "\(layer.data)")
        // MXNet's attribute strings, so that another system can build the same layer.
        var attributes = JSONObject()
        for (key, value) in layer.op.attributes.sorted(by: { $0.key < $1.key }) { attributes.set(key, value) }
        s.set("attributes", attributes)
        s.set("forward_ms_median", forward.median * 1000)
        s.set("backward_ms_median", backward.median * 1000)
        s.set("forward_gflops", 2 * macs / forward.median / 1e9)
        s.set("backward_gflops", 4 * macs / backward.median / 1e9)
        s.set("samples_per_sec", Double(layer.data[0]) / (forward.median + backward.median))
        return s
    }
}
