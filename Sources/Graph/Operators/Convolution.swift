import SwiftPSTensor

/// MXNet's `Convolution` in 2-D, NCHW: `output[n, f] = Σ_c weight[f, c] ⋆ data[n, c] + bias[f]`.
///
/// Arguments data (N, C, H, W), weight (num_filter, C, kh, kw), bias (num_filter) unless `no_bias`.
/// Output (N, num_filter, Ho, Wo) with `Ho = (H + 2·pad − kh) / stride + 1`. Each image is unrolled
/// by im2col into a reused buffer and multiplied by one GEMM (measured faster here than one
/// whole-batch GEMM); with several compute threads each takes a chunk of the batch
/// (`ComputeThreads`). `dilate` other than (1, 1) and `num_group` other than 1 are rejected.
public struct Convolution: Operator {
    public static let typeName = "Convolution"
    public static let attributeNames: [String] = [
        "kernel", "stride", "dilate", "pad", "num_filter", "num_group", "workspace", "no_bias", "cudnn_tune",
        "cudnn_off", "layout",
    ]
    /// The kernel size (kh, kw).
    public let kernel: [Int]
    /// The stride (sh, sw); MXNet's default (1, 1).
    public let stride: [Int]
    /// The zero padding (ph, pw) on each side; default (0, 0).
    public let pad: [Int]
    /// The number of output channels.
    public let numFilter: Int
    /// No bias argument when true.
    public let noBias: Bool

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        kernel = try r.pair("kernel", default: nil, minimum: 1)
        stride = try r.pair("stride", default: [1, 1], minimum: 1)
        pad = try r.pair("pad", default: [0, 0], minimum: 0)
        numFilter = try r.int("num_filter")
        noBias = try r.bool("no_bias", default: false)
        guard numFilter > 0 else { throw r.bad("num_filter", "\(numFilter)", "must be positive") }
        if let d = try r.tuple("dilate"), !d.allSatisfy({ $0 == 1 }) {
            throw r.bad(
                "dilate", attributes["dilate"] ?? "", "is not supported: SwiftPS convolves with dilate (1, 1) only")
        }
        let groups = try r.int("num_group", default: 1)
        guard groups == 1 else {
            throw r.bad("num_group", "\(groups)", "is not supported: SwiftPS convolves with num_group 1 only")
        }
        try r.requireAbsentOr("layout", ["NCHW", "None"], reason: "is not supported: SwiftPS convolves NCHW data only")
    }

    /// A Convolution with the given settings.
    public init(kernel: [Int], numFilter: Int, stride: [Int] = [1, 1], pad: [Int] = [0, 0], noBias: Bool = false) {
        precondition(kernel.count == 2 && stride.count == 2 && pad.count == 2, "Convolution is 2-D")
        self.kernel = kernel
        self.stride = stride
        self.pad = pad
        self.numFilter = numFilter
        self.noBias = noBias
    }

    public var attributes: [String: String] {
        [
            "kernel": AttributeReader.format(kernel), "stride": AttributeReader.format(stride),
            "pad": AttributeReader.format(pad), "num_filter": String(numFilter),
            "no_bias": AttributeReader.format(noBias),
        ]
    }

    public func listArguments() -> [String] { noBias ? ["data", "weight"] : ["data", "weight", "bias"] }

    func geometry(_ data: [Int]) throws -> Im2Col {
        guard data.count == 4 else {
            throw GraphError.shapeError("Convolution needs 4-D NCHW data, got \(data)")
        }
        guard let oh = windowOutputLength(data[2], kernel: kernel[0], stride: stride[0], pad: pad[0]),
            let ow = windowOutputLength(data[3], kernel: kernel[1], stride: stride[1], pad: pad[1])
        else {
            throw GraphError.shapeError(
                "Convolution kernel \(kernel) with pad \(pad) is larger than the input \(data[2])x\(data[3])")
        }
        return Im2Col(
            channels: data[1], height: data[2], width: data[3], kernelH: kernel[0], kernelW: kernel[1],
            strideH: stride[0], strideW: stride[1], padH: pad[0], padW: pad[1], outH: oh, outW: ow)
    }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("Convolution needs the data shape") }
        let g = try geometry(data)
        let weight = [numFilter, data[1], kernel[0], kernel[1]]
        if s.count > 1, let w = s[1], w != weight {
            throw GraphError.shapeError("Convolution weight shape \(w) does not match data \(data): expected \(weight)")
        }
        if !noBias, s.count > 2, let bias = s[2], bias != [numFilter] {
            throw GraphError.shapeError("Convolution bias shape \(bias) should be [\(numFilter)]")
        }
        var inputs = [data, weight]
        if !noBias { inputs.append([numFilter]) }
        return (inputs, [[data[0], numFilter, g.outH, g.outW]], [])
    }

    /// What the workspaces of a convolution's parallel chunks after the first may take together.
    static let extraWorkspaceBytes = 64 << 20

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let data = context.inputShapes[0]
        let g = try geometry(data)
        // Images are convolved in parallel, one chunk of the batch per compute thread, each with its
        // own workspace (and its own weight-gradient sum, added up in chunk order at the end). The
        // chunks past the first may take `Self.extraWorkspaceBytes` in all: with many CPUs and a large
        // image, fewer chunks than threads.
        let perChunk = (g.rows * g.columns + numFilter * g.rows) * MemoryLayout<Float>.stride
        let chunks = min(ComputeThreads.chunks(for: data[0]), 1 + Self.extraWorkspaceBytes / max(1, perChunk))
        // One image's patches can dwarf the weights and the output (a large kernel over many
        // channels): an error naming the workspace, not an allocation that kills the process.
        let cols = try (0..<chunks).map { _ in
            try Symbol.allocate(
                [g.rows, g.columns], for: "the im2col workspace of a Convolution",
                hint: "use a smaller kernel or fewer input channels")
        }
        let partials = try (1..<max(1, chunks)).map { _ in
            try Symbol.allocate(
                [numFilter, g.rows], for: "a weight-gradient workspace of a Convolution",
                hint: "use a smaller kernel or fewer input channels")
        }
        return Instance(geometry: g, cols: cols, partials: partials, batch: data[0], filters: numFilter, noBias: noBias)
    }

    final class Instance: OperatorInstance {
        let g: Im2Col, batch: Int, filters: Int, noBias: Bool
        /// Per chunk of the batch: one image's unrolled patches (C·kh·kw × Ho·Wo), reused for each image.
        let cols: [NDArray]
        /// Per chunk after the first: its sum of the weight gradient (F × C·kh·kw).
        let partials: [NDArray]

        init(geometry: Im2Col, cols: [NDArray], partials: [NDArray], batch: Int, filters: Int, noBias: Bool) {
            g = geometry
            self.cols = cols
            self.partials = partials
            self.batch = batch
            self.filters = filters
            self.noBias = noBias
        }

        /// Chunks of the batch for this pass: the compute threads, within the workspaces made at bind.
        private var chunks: Int { min(ComputeThreads.chunks(for: batch), cols.count) }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0].data
            let w = b.inputs[1].data
            let y = b.outputs[0].data
            let bias = noBias ? nil : b.inputs[2].data
            let inSize = g.channels * g.height * g.width
            let outSize = filters * g.columns
            ComputeThreads.forEach(batch, chunks: chunks) { images, chunk in
                let col = cols[chunk].data
                for n in images {
                    g.unroll(x + n * inSize, into: col)
                    let yn = y + n * outSize
                    if let bias {
                        for f in 0..<filters { (yn + f * g.columns).update(repeating: bias[f], count: g.columns) }
                    }
                    // y_n (F × HoWo) = W (F × CKK) · col (CKK × HoWo)
                    BLAS.gemm(m: filters, n: g.columns, k: g.rows, a: w, b: col, beta: bias == nil ? 0 : 1, c: yn)
                }
            }
        }

        func backward(_ b: OpBinding) {
            let x = b.inputs[0].data
            let w = b.inputs[1].data
            let dy = b.outputGrads[0].data
            let inSize = g.channels * g.height * g.width
            let outSize = filters * g.columns
            // Bias: sum of dy over images and positions.
            if !noBias {
                b.withGrad(2) { db, acc in
                    if !acc { db.fill(0) }
                    for n in 0..<batch {
                        for f in 0..<filters {
                            db.data[f] += Kernels.sum(g.columns, dy + n * outSize + f * g.columns)
                        }
                    }
                }
            }
            let wantW = b.needsGrad(1)
            let wantX = b.needsGrad(0)
            if !wantW && !wantX { return }
            let accW = b.gradReqs[1] == .add
            let dw = wantW ? b.inputGrads[1] : nil
            if let dw, !accW, batch == 0 { dw.fill(0) }
            let dx = wantX ? b.inputGrads[0] : nil
            let addX = b.gradReqs[0] == .add
            let chunks = chunks
            ComputeThreads.forEach(batch, chunks: chunks) { images, chunk in
                let col = cols[chunk].data
                // The first chunk sums into dW itself (after what is there when accumulating), the
                // others into their own workspace.
                let sum = dw.map { chunk == 0 ? $0.data : partials[chunk - 1].data }
                let keep = chunk == 0 && accW
                for n in images {
                    let dyn = dy + n * outSize
                    if let sum {
                        g.unroll(x + n * inSize, into: col)
                        // dW (F × CKK) (+)= dy_n (F × HoWo) · col_nᵀ
                        BLAS.gemm(
                            transB: true, m: filters, n: g.rows, k: g.columns, a: dyn, b: col,
                            beta: (n == images.lowerBound && !keep) ? 0 : 1, c: sum)
                    }
                    if let dx {
                        // dcol (CKK × HoWo) = Wᵀ · dy_n, then fold back into the image.
                        BLAS.gemm(transA: true, m: g.rows, n: g.columns, k: filters, a: w, b: dyn, beta: 0, c: col)
                        let dxn = dx.data + n * inSize
                        if !addX { dxn.update(repeating: 0, count: inSize) }
                        g.fold(col, into: dxn)
                    }
                }
            }
            if let dw {
                for chunk in 1..<max(1, chunks) {
                    Kernels.addInPlace(filters * g.rows, partials[chunk - 1].data, dw.data)
                }
            }
        }
    }
}
