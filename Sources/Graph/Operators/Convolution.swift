import SwiftPSTensor

/// MXNet's `Convolution` in 2-D, NCHW: `output[n, f] = Σ_c weight[f, c] ⋆ data[n, c] + bias[f]`.
///
/// Arguments data (N, C, H, W), weight (num_filter, C / num_group, kh, kw), bias (num_filter) unless
/// `no_bias`. Output (N, num_filter, Ho, Wo) with `Ho = (H + 2·pad − (dilate·(kh − 1) + 1)) / stride
/// + 1`. With `num_group` G the channels and filters form G groups, filter group g seeing only channel
/// group g (G = C = num_filter is a depthwise convolution). Each image is unrolled by im2col into a
/// reused buffer and multiplied by one GEMM per group (measured faster here than one whole-batch
/// GEMM); with several compute threads each takes a chunk of the batch (`ComputeThreads`).
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
    /// The spacing (dh, dw) of the kernel's taps on the input; default (1, 1).
    public let dilate: [Int]
    /// The number of groups the channels and filters are split into; default 1.
    public let numGroup: Int
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
        dilate = try r.pair("dilate", default: [1, 1], minimum: 1)
        numGroup = try r.int("num_group", default: 1)
        guard numGroup > 0 else { throw r.bad("num_group", "\(numGroup)", "must be positive") }
        guard numFilter % numGroup == 0 else {
            throw r.bad("num_group", "\(numGroup)", "must divide num_filter (\(numFilter))")
        }
        try r.requireAbsentOr("layout", ["NCHW", "None"], reason: "is not supported: SwiftPS convolves NCHW data only")
    }

    /// A Convolution with the given settings.
    public init(
        kernel: [Int], numFilter: Int, stride: [Int] = [1, 1], pad: [Int] = [0, 0], dilate: [Int] = [1, 1],
        numGroup: Int = 1, noBias: Bool = false
    ) {
        precondition(
            kernel.count == 2 && stride.count == 2 && pad.count == 2 && dilate.count == 2, "Convolution is 2-D")
        precondition(numGroup > 0 && numFilter % numGroup == 0, "num_group must divide num_filter")
        self.kernel = kernel
        self.stride = stride
        self.pad = pad
        self.dilate = dilate
        self.numGroup = numGroup
        self.numFilter = numFilter
        self.noBias = noBias
    }

    public var attributes: [String: String] {
        var a = [
            "kernel": AttributeReader.format(kernel), "stride": AttributeReader.format(stride),
            "pad": AttributeReader.format(pad), "num_filter": String(numFilter),
            "no_bias": AttributeReader.format(noBias),
        ]
        if dilate != [1, 1] { a["dilate"] = AttributeReader.format(dilate) }
        if numGroup != 1 { a["num_group"] = String(numGroup) }
        return a
    }

    /// The extent of the dilated kernel on the input: `d·(k − 1) + 1` per axis.
    var extent: [Int] { [dilate[0] * (kernel[0] - 1) + 1, dilate[1] * (kernel[1] - 1) + 1] }

    public func listArguments() -> [String] { noBias ? ["data", "weight"] : ["data", "weight", "bias"] }

    /// One group's im2col geometry for `data` (the group's C / num_group channels).
    func geometry(_ data: [Int]) throws -> Im2Col {
        guard data.count == 4 else {
            throw GraphError.shapeError("Convolution needs 4-D NCHW data, got \(data)")
        }
        guard data[1] % numGroup == 0 else {
            throw GraphError.shapeError(
                "Convolution with num_group \(numGroup) needs channels divisible by it, got \(data[1]) in \(data)")
        }
        let span = extent
        guard let oh = windowOutputLength(data[2], kernel: span[0], stride: stride[0], pad: pad[0]),
            let ow = windowOutputLength(data[3], kernel: span[1], stride: stride[1], pad: pad[1])
        else {
            let dilated = dilate == [1, 1] ? "" : " dilated by \(dilate)"
            throw GraphError.shapeError(
                "Convolution kernel \(kernel)\(dilated) with pad \(pad) is larger than the input \(data[2])x\(data[3])")
        }
        return Im2Col(
            channels: data[1] / numGroup, height: data[2], width: data[3], kernelH: kernel[0], kernelW: kernel[1],
            strideH: stride[0], strideW: stride[1], padH: pad[0], padW: pad[1], outH: oh, outW: ow,
            dilateH: dilate[0], dilateW: dilate[1])
    }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("Convolution needs the data shape") }
        let g = try geometry(data)
        let weight = [numFilter, data[1] / numGroup, kernel[0], kernel[1]]
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
        return Instance(
            geometry: g, cols: cols, partials: partials, batch: data[0], filters: numFilter, groups: numGroup,
            noBias: noBias)
    }

    final class Instance: OperatorInstance {
        let g: Im2Col, batch: Int, filters: Int, groups: Int, noBias: Bool
        /// Per chunk of the batch: one group of one image's unrolled patches (C/G·kh·kw × Ho·Wo),
        /// reused for each image and group.
        let cols: [NDArray]
        /// Per chunk after the first: its sum of the weight gradient (F × C/G·kh·kw).
        let partials: [NDArray]
        /// Filters per group.
        let groupFilters: Int

        init(
            geometry: Im2Col, cols: [NDArray], partials: [NDArray], batch: Int, filters: Int, groups: Int,
            noBias: Bool
        ) {
            g = geometry
            self.cols = cols
            self.partials = partials
            self.batch = batch
            self.filters = filters
            self.groups = groups
            self.noBias = noBias
            groupFilters = filters / groups
        }

        /// Chunks of the batch for this pass: the compute threads, within the workspaces made at bind.
        private var chunks: Int { min(ComputeThreads.chunks(for: batch), cols.count) }

        /// Elements of one image's channel group (input), one filter group's output, and one filter
        /// group's weights.
        private var groupIn: Int { g.channels * g.height * g.width }
        private var groupOut: Int { groupFilters * g.columns }
        private var groupWeights: Int { groupFilters * g.rows }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0].data
            let w = b.inputs[1].data
            let y = b.outputs[0].data
            let bias = noBias ? nil : b.inputs[2].data
            let inSize = groupIn * groups
            let outSize = filters * g.columns
            ComputeThreads.forEach(batch, chunks: chunks) { images, chunk in
                let col = cols[chunk].data
                for n in images {
                    let yn = y + n * outSize
                    if let bias {
                        for f in 0..<filters { (yn + f * g.columns).update(repeating: bias[f], count: g.columns) }
                    }
                    for group in 0..<groups {
                        g.unroll(x + n * inSize + group * groupIn, into: col)
                        // y_n,g (F/G × HoWo) = W_g (F/G × C/G·KK) · col (C/G·KK × HoWo)
                        BLAS.gemm(
                            m: groupFilters, n: g.columns, k: g.rows, a: w + group * groupWeights, b: col,
                            beta: bias == nil ? 0 : 1, c: yn + group * groupOut)
                    }
                }
            }
        }

        func backward(_ b: OpBinding) {
            let x = b.inputs[0].data
            let w = b.inputs[1].data
            let dy = b.outputGrads[0].data
            let inSize = groupIn * groups
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
                    let dxn = dx.map { $0.data + n * inSize }
                    if let dxn, !addX { dxn.update(repeating: 0, count: inSize) }
                    for group in 0..<groups {
                        let dyn = dy + n * outSize + group * groupOut
                        if let sum {
                            g.unroll(x + n * inSize + group * groupIn, into: col)
                            // dW_g (F/G × C/G·KK) (+)= dy_n,g (F/G × HoWo) · col_n,gᵀ
                            BLAS.gemm(
                                transB: true, m: groupFilters, n: g.rows, k: g.columns, a: dyn, b: col,
                                beta: (n == images.lowerBound && !keep) ? 0 : 1, c: sum + group * groupWeights)
                        }
                        if let dxn {
                            // dcol (C/G·KK × HoWo) = W_gᵀ · dy_n,g, then fold back into the image.
                            BLAS.gemm(
                                transA: true, m: g.rows, n: g.columns, k: groupFilters, a: w + group * groupWeights,
                                b: dyn, beta: 0, c: col)
                            g.fold(col, into: dxn + group * groupIn)
                        }
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
