import ArgumentParser
import SwiftPS

/// `swiftps bench gemm`: GFLOP/s of the mlp's and lenet's matrix products and of one full
/// forward+backward step of each, next to the machine's large-sgemm figure.
struct BenchGemm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "GFLOP/s of the mlp/lenet matrix products and of a full training step, as JSON.")

    @Option(parsing: .unconditional, help: "Batch size.")
    var batchSize: Int = 128

    @Option(parsing: .unconditional, help: "Timed repetitions of each measurement.")
    var repeats: Int = 50

    @Option(
        parsing: .unconditional, help: "Compute threads (a product of at least 2^21 multiply-adds is split over them).")
    var blasThreads: Int = 1

    @Option(help: "Which training steps to time: mlp, lenet or all.")
    var steps: String = "all"

    @Flag(help: "Skip the single-product measurements; time only the training steps.")
    var stepsOnly = false

    @Flag(help: "Also time lenet's convolution products with several images per GEMM.")
    var convGroups = false

    func validate() throws {
        try FlagCheck.atLeast(1, "--batch-size", batchSize)
        try FlagCheck.atLeast(1, "--repeats", repeats)
        try FlagCheck.threads("--blas-threads", blasThreads)
        guard ["all", "mlp", "lenet"].contains(steps) else {
            throw ValidationError("--steps must be mlp, lenet or all, not '\(steps)'")
        }
    }

    func run() throws {
        BLAS.configureThreads(blasThreads)
        var out = JSONObject()
        out.set("benchmark", "gemm")
        out.set("blas_threads", BLAS.threads)
        out.set("blas_core", BLAS.coreName)
        if let forced = BLAS.forcedCore { out.set("openblas_coretype", forced) }
        out.set("batch_size", batchSize)

        // The machine's figure: one large square sgemm.
        let big = 1024
        out.set("sgemm_1024_gflops", gemmGflops(m: big, n: big, k: big, transB: false, repeats: 10))

        let b = batchSize
        if !stepsOnly {
            out.set("products", products(batch: b))
        }

        var stepResults: [JSONObject] = []
        for (name, symbol, shape) in [
            ("mlp", try Models.mlp(), [b, 784]), ("lenet", try Models.lenet(), [b, 1, 28, 28]),
        ] where steps == "all" || steps == name {
            stepResults.append(try stepBenchmark(name: name, symbol: symbol, dataShape: shape))
        }
        out.set("steps", stepResults)
        out.set(
            "reference",
            "anchors.md: sgemm ~100 GFLOP/s on one thread; one mlp step at batch 128 is 0.68 ms of BLAS + element-wise work (189K samples/s)"
        )
        print(out.text)
    }

    /// The single matrix products of the mlp and lenet at batch `b`, each with its GFLOP/s.
    func products(batch b: Int) -> [JSONObject] {
        // (name, m, n, k, transA, transB): forward y = x·Wᵀ, backward dx = dy·W, dW = dyᵀ·x.
        var products: [JSONObject] = []
        let mlpLayers = [(784, 128), (128, 64), (64, 10)]
        for (i, (inDim, outDim)) in mlpLayers.enumerated() {
            for (pass, m, n, k, ta, tb) in [
                ("forward", b, outDim, inDim, false, true), ("backward_data", b, inDim, outDim, false, false),
                ("backward_weight", outDim, inDim, b, true, false),
            ] {
                let (p, _) = product(
                    model: "mlp", layer: "fc\(i + 1)", pass: pass, m: m, n: n, k: k, transA: ta, transB: tb)
                products.append(p)
            }
        }
        // lenet convolutions as one GEMM per `group` images (1 = per image): forward W (F × CKK) · col
        // (CKK × G·oh·ow), backward_weight dy (F × G·oh·ow) · colᵀ, backward_data Wᵀ · dy (CKK × G·oh·ow).
        for (name, f, ckk, spatial) in [("conv1", 20, 25, 24 * 24), ("conv2", 50, 500, 8 * 8)] {
            for group in convGroups ? [1, 2, 4, 8, 16, 128] : [1] {
                let cols = group * spatial
                for (pass, m, n, k, ta, tb) in [
                    ("forward", f, cols, ckk, false, false), ("backward_weight", f, ckk, cols, false, true),
                    ("backward_data", ckk, cols, f, true, false),
                    // dWᵀ (CKK × F) = col · dyᵀ: the same product with the roles of m and n swapped.
                    ("backward_weight_transposed", ckk, f, cols, false, true),
                ] {
                    let (json, gflops) = product(
                        model: "lenet", layer: name, pass: pass, imagesPerGemm: group, m: m, n: n, k: k, transA: ta,
                        transB: tb)
                    var p = json
                    p.set("ms_per_batch", 2 * Double(f * ckk * spatial * b) / gflops / 1e6)
                    products.append(p)
                }
            }
        }
        for (pass, m, n, k, ta, tb) in [
            ("forward", b, 500, 800, false, true), ("backward_data", b, 800, 500, false, false),
            ("backward_weight", 500, 800, b, true, false),
        ] {
            let (p, _) = product(model: "lenet", layer: "fc1", pass: pass, m: m, n: n, k: k, transA: ta, transB: tb)
            products.append(p)
        }
        return products
    }

    /// Times one `m`×`k` · `k`×`n` product (`repeats * 4` runs) and describes it as one entry of
    /// `products`: `model`, `layer`, `pass`, `images_per_gemm` (when given), `m`, `n`, `k`, `gflops`.
    func product(
        model: String, layer: String, pass: String, imagesPerGemm: Int? = nil, m: Int, n: Int, k: Int,
        transA: Bool, transB: Bool
    ) -> (json: JSONObject, gflops: Double) {
        var p = JSONObject()
        p.set("model", model)
        p.set("layer", layer)
        p.set("pass", pass)
        if let imagesPerGemm { p.set("images_per_gemm", imagesPerGemm) }
        p.set("m", m)
        p.set("n", n)
        p.set("k", k)
        let gflops = gemmGflops(m: m, n: n, k: k, transA: transA, transB: transB, repeats: repeats * 4)
        p.set("gflops", gflops)
        return (p, gflops)
    }

    /// Times one forward+backward step through the executor and reports its matrix-product FLOP rate.
    func stepBenchmark(name: String, symbol: Symbol, dataShape: [Int]) throws -> JSONObject {
        let b = dataShape[0]
        // As Module binds for training: every parameter .write, the data (and label) .null.
        var reqs: [String: GradReq] = [:]
        for argName in symbol.listArguments() where argName != "data" && argName != "softmax_label" {
            reqs[argName] = .write
        }
        let exec = try symbol.simpleBind(shapes: ["data": dataShape, "softmax_label": [b]], gradReqs: reqs)
        var rng = RandomGenerator(seed: 1)
        for (argName, array) in exec.argDict {
            if argName == "softmax_label" {
                for i in 0..<array.count { array.data[i] = Float(i % 10) }
            } else {
                rng.fillUniform(array, low: -0.05, high: 0.05)
            }
        }
        let reps = name == "lenet" ? max(5, repeats / 5) : repeats * 4
        let (median, best) = try measure(repeats: reps) {
            exec.forward(isTrain: true)
            try exec.backward(outGrads: nil)
        }
        let flops = Double(stepFlops(name: name, batch: b))
        var s = JSONObject()
        s.set("model", name)
        s.set("step_ms_median", median * 1000)
        s.set("step_ms_best", best * 1000)
        s.set("samples_per_sec", Double(b) / median)
        s.set("gemm_gflops_in_step", flops / median / 1e9)
        if name == "mlp" {
            // anchors.md: 0.68 ms per step at batch 128 on one thread is the BLAS + element-wise floor.
            s.set("reference_step_ms", 0.68 * Double(b) / 128)
            s.set("fraction_of_reference", 0.68 * Double(b) / 128 / (median * 1000))
        }
        return s
    }

    /// The multiply-add FLOPs of one forward+backward step's matrix products: 3 GEMMs per layer, except
    /// the first layer, whose input is the data and so needs no data gradient (2 GEMMs).
    func stepFlops(name: String, batch b: Int) -> Int {
        if name == "mlp" {
            let all = [(784, 128), (128, 64), (64, 10)].reduce(0) { $0 + 3 * 2 * b * $1.0 * $1.1 }
            return all - 2 * b * 784 * 128
        }
        // lenet: conv1 (20×25 · 25×576), conv2 (50×500 · 500×64) per image; fc 800→500, 500→10.
        let conv = 2 * b * (20 * 25 * 576 + 50 * 500 * 64)
        let fc = 2 * b * (800 * 500 + 500 * 10)
        // conv1's data gradient is not needed (its input is data), so it does two GEMMs.
        return conv * 3 - 2 * b * 20 * 25 * 576 + fc * 3
    }

    func gemmGflops(m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool, repeats: Int) -> Double {
        let a = NDArray(shape: transA ? [k, m] : [m, k], repeating: 0.5)
        let bm = NDArray(shape: transB ? [n, k] : [k, n], repeating: 0.25)
        let c = NDArray(shape: [m, n])
        let (median, _) = measure(repeats: repeats) {
            BLAS.gemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a.data, b: bm.data, c: c.data)
        }
        return 2 * Double(m) * Double(n) * Double(k) / median / 1e9
    }
}
