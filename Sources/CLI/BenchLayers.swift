import ArgumentParser
import SwiftPS

/// `swiftps bench layers`: the time of single layers' forward and backward passes through the
/// executor: lenet's convolutions and pooling, the grouped, depthwise and dilated convolutions of
/// MobileNet-style networks, the pooling of ResNet-style ones, and BatchNorm, each with its FLOP
/// rate where it has one. Layers are given as MXNet operator names and attribute strings, so that
/// `scripts/bench-mxnet-layers` builds the same ones in MXNet.
struct BenchLayers: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "layers",
        abstract: "Forward and backward time of single layers (convolutions, pooling, BatchNorm), as JSON.")

    @Option(parsing: .unconditional, help: "Timed repetitions of each pass.")
    var repeats: Int = 20

    @Option(parsing: .unconditional, help: "Compute threads (each takes a chunk of the batch).")
    var threads: Int = 1

    @Option(help: "Only these layers, by name, comma-separated (e.g. depthwise_3x3,lenet_conv2).")
    var only: String?

    func validate() throws {
        try FlagCheck.atLeast(1, "--repeats", repeats)
        try FlagCheck.threads("--threads", threads)
        if let only {
            let known = Set(Self.layers.map(\.name))
            for name in only.split(separator: ",").map(String.init) where !known.contains(name) {
                throw ValidationError(
                    "--only: no layer '\(name)'; the layers are \(Self.layers.map(\.name).joined(separator: ", "))")
            }
        }
    }

    /// One benchmarked layer: its name, MXNet operator and attributes, and data shape (N, C, H, W).
    struct Layer {
        let name: String
        let op: String
        let attributes: [String: String]
        let data: [Int]

        /// Multiply-adds of the forward pass of a Convolution for output shape `out`; nil for others.
        func convolutionMACs(_ out: [Int]) -> Double? {
            guard op == Convolution.typeName, let conv = try? Convolution(attributes: attributes) else { return nil }
            return Double(out.reduce(1, *) * data[1] / conv.numGroup * conv.kernel.reduce(1, *))
        }
    }

    static let layers: [Layer] = [
        Layer(
            name: "lenet_conv1", op: "Convolution", attributes: ["kernel": "(5, 5)", "num_filter": "20"],
            data: [128, 1, 28, 28]),
        Layer(
            name: "lenet_conv2", op: "Convolution", attributes: ["kernel": "(5, 5)", "num_filter": "50"],
            data: [128, 20, 12, 12]),
        Layer(
            name: "depthwise_3x3", op: "Convolution",
            attributes: [
                "kernel": "(3, 3)", "num_filter": "64", "pad": "(1, 1)", "num_group": "64", "no_bias": "True",
            ],
            data: [32, 64, 28, 28]),
        Layer(
            name: "depthwise_3x3_stride2", op: "Convolution",
            attributes: [
                "kernel": "(3, 3)", "num_filter": "64", "stride": "(2, 2)", "pad": "(1, 1)", "num_group": "64",
                "no_bias": "True",
            ], data: [32, 64, 56, 56]),
        Layer(
            name: "depthwise_3x3_multiplier4", op: "Convolution",
            attributes: [
                "kernel": "(3, 3)", "num_filter": "128", "pad": "(1, 1)", "num_group": "32", "no_bias": "True",
            ],
            data: [32, 32, 28, 28]),
        Layer(
            name: "grouped_3x3_4groups", op: "Convolution",
            attributes: ["kernel": "(3, 3)", "num_filter": "64", "pad": "(1, 1)", "num_group": "4"],
            data: [32, 64, 28, 28]),
        Layer(
            name: "dilated_3x3_d2", op: "Convolution",
            attributes: ["kernel": "(3, 3)", "num_filter": "32", "pad": "(2, 2)", "dilate": "(2, 2)"],
            data: [32, 32, 28, 28]),
        Layer(
            name: "lenet_pool1", op: "Pooling",
            attributes: ["kernel": "(2, 2)", "stride": "(2, 2)", "pool_type": "max"],
            data: [128, 20, 24, 24]),
        Layer(
            name: "max_pool_3x3_stride2", op: "Pooling",
            attributes: ["kernel": "(3, 3)", "stride": "(2, 2)", "pad": "(1, 1)", "pool_type": "max"],
            data: [32, 64, 56, 56]),
        Layer(
            name: "avg_pool_3x3", op: "Pooling",
            attributes: ["kernel": "(3, 3)", "pad": "(1, 1)", "pool_type": "avg"], data: [32, 64, 28, 28]),
        Layer(
            name: "global_avg_pool", op: "Pooling",
            attributes: ["kernel": "(1, 1)", "global_pool": "True", "pool_type": "avg"], data: [32, 256, 14, 14]),
        Layer(name: "batchnorm", op: "BatchNorm", attributes: ["fix_gamma": "False"], data: [32, 64, 28, 28]),
    ]

    func run() throws {
        BLAS.configureThreads(threads)
        var out = JSONObject()
        out.set("benchmark", "layers")
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
        let symbol = try Symbol.operation(
            layer.op, name: "layer", arguments: [Symbol.variable("data")], attributes: layer.attributes)
        var reqs: [String: GradReq] = [:]
        for name in symbol.listArguments() { reqs[name] = .write }
        let exec = try symbol.simpleBind(shapes: ["data": layer.data], gradReqs: reqs)
        var rng = RandomGenerator(seed: 1)
        for (_, array) in exec.argDict { rng.fillUniform(array, low: -0.5, high: 0.5) }
        let outGrad = NDArray(shape: exec.outputs[0].shape, repeating: 0.01)
        let forward = measure(repeats: repeats) { exec.forward(isTrain: true) }
        let backward = try measure(repeats: repeats) { try exec.backward(outGrads: [outGrad]) }
        var s = JSONObject()
        s.set("layer", layer.name)
        s.set("op", layer.op)
        // MXNet's attribute strings, so that another system can build the same layer.
        var attributes = JSONObject()
        for (key, value) in layer.attributes.sorted(by: { $0.key < $1.key }) { attributes.set(key, value) }
        s.set("attributes", attributes)
        s.set("data", "\(layer.data)")
        s.set("forward_ms_median", forward.median * 1000)
        s.set("backward_ms_median", backward.median * 1000)
        if let macs = layer.convolutionMACs(exec.outputs[0].shape) {
            // Backward does the forward's multiply-adds twice: the data and the weight gradients.
            s.set("forward_gflops", 2 * macs / forward.median / 1e9)
            s.set("backward_gflops", 4 * macs / backward.median / 1e9)
        }
        s.set("samples_per_sec", Double(layer.data[0]) / (forward.median + backward.median))
        return s
    }
}
