import SwiftPSTensor

/// MXNet's `Convolution` in 2-D, NCHW: `output[n, f] = Σ_c weight[f, c] ⋆ data[n, c] + bias[f]`.
///
/// Arguments data (N, C, H, W), weight (num_filter, C / num_group, kh, kw), bias (num_filter) unless
/// `no_bias`. Output (N, num_filter, Ho, Wo) with `Ho = (H + 2·pad − (dilate·(kh − 1) + 1)) / stride
/// + 1`. With `num_group` G the channels and filters form G groups, filter group g seeing only channel
/// group g (G = C = num_filter is a depthwise convolution). Each image is unrolled by im2col into a
/// reused buffer and multiplied by one GEMM per group (measured faster here than one whole-batch
/// GEMM), except a depthwise convolution, which runs its taps directly (`Depthwise.swift`); with
/// several compute threads each takes a chunk of the batch (`ComputeThreads`).
public struct Convolution: Operator {
    public static let typeName = "Convolution"
    public static let attributeNames: [String] = [
        "kernel", "stride", "dilate", "pad", "num_filter", "num_group", "workspace", "no_bias", "cudnn_tune",
        "cudnn_off", "layout",
    ]
    /// The kernel, stride, pad, dilation, filters and groups.
    public let window: ConvolutionWindow
    /// The kernel size (kh, kw).
    public var kernel: [Int] { window.kernel }
    /// The stride (sh, sw); MXNet's default (1, 1).
    public var stride: [Int] { window.stride }
    /// The zero padding (ph, pw) on each side; default (0, 0).
    public var pad: [Int] { window.pad }
    /// The spacing (dh, dw) of the kernel's taps on the input; default (1, 1).
    public var dilate: [Int] { window.dilate }
    /// The number of groups the channels and filters are split into; default 1.
    public var numGroup: Int { window.numGroup }
    /// The number of output channels.
    public var numFilter: Int { window.numFilter }
    /// No bias argument when true.
    public var noBias: Bool { window.noBias }

    public init(attributes: [String: String]) throws {
        window = try ConvolutionWindow(AttributeReader(op: Self.typeName, attributes), noBiasDefault: false)
    }

    /// A Convolution with the given settings.
    public init(
        kernel: [Int], numFilter: Int, stride: [Int] = [1, 1], pad: [Int] = [0, 0], dilate: [Int] = [1, 1],
        numGroup: Int = 1, noBias: Bool = false
    ) {
        window = ConvolutionWindow(
            kernel: kernel, numFilter: numFilter, stride: stride, pad: pad, dilate: dilate, numGroup: numGroup,
            noBias: noBias)
    }

    public var attributes: [String: String] { window.attributes }

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
        let span = window.extent
        guard let oh = windowOutputLength(data[2], kernel: span[0], stride: stride[0], pad: pad[0]),
            let ow = windowOutputLength(data[3], kernel: span[1], stride: stride[1], pad: pad[1])
        else {
            let dilated = dilate == [1, 1] ? "" : " dilated by \(dilate)"
            throw GraphError.shapeError(
                "Convolution kernel \(kernel)\(dilated) with pad \(pad) is larger than the input \(data[2])x\(data[3])")
        }
        return window.im2col(channels: data[1], height: data[2], width: data[3], outH: oh, outW: ow)
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

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let data = context.inputShapes[0]
        let g = try geometry(data)
        // A depthwise convolution runs directly; others padded at stride 1 over wide rows.
        let wide = g.channels == 1 && numFilter == numGroup ? nil : WideRows(g)
        let (cols, partials) = try window.workspaces(
            g, batch: data[0], weights: numFilter * g.rows, of: Self.typeName, columns: wide?.columns)
        // Per chunk: the padded image, the padded data gradient, and one group's wide output.
        let scratch = try wide.map { wide in
            try cols.indices.map { _ in
                try Symbol.allocate(
                    [2 * wide.paddedCount + numFilter / numGroup * wide.columns],
                    for: "the padded-image workspace of a \(Self.typeName)", hint: "use fewer channels")
            }
        }
        return Instance(
            geometry: g, workspaces: (cols, partials), batch: data[0], window: window, wide: wide,
            scratch: scratch ?? [])
    }

    final class Instance: ConvolutionWork, OperatorInstance {
        /// Stride 1 with padding: im2col over whole padded rows (`WideRows`), with `scratch` per chunk.
        let wide: WideRows?
        let scratch: [NDArray]

        init(
            geometry: Im2Col, workspaces: (cols: [NDArray], partials: [NDArray]), batch: Int,
            window: ConvolutionWindow, wide: WideRows?, scratch: [NDArray]
        ) {
            self.wide = wide
            self.scratch = scratch
            super.init(geometry: geometry, workspaces: workspaces, batch: batch, window: window)
        }

        /// One input channel and one filter per group (a depthwise convolution): `Depthwise.swift`'s
        /// direct loops instead of im2col and a 1-row GEMM per filter, 5-6x faster for a 3×3 layer
        /// of 64 channels at 28×28 (`swiftps bench layers`). With a channel multiplier (several
        /// filters per group) the GEMM has rows to work with and was faster.
        private var direct: Bool { g.channels == 1 && groupFilters == 1 }
        /// Filters per group.
        private var groupFilters: Int { filters / groups }
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
                    if let bias, wide == nil {
                        for f in 0..<filters { (yn + f * g.columns).update(repeating: bias[f], count: g.columns) }
                    } else if direct {
                        yn.update(repeating: 0, count: outSize)
                    }
                    if direct {
                        for f in 0..<filters {
                            g.depthwiseForward(
                                x + n * inSize + (f / groupFilters) * groupIn, w + f * g.rows, into: yn + f * g.columns)
                        }
                        continue
                    }
                    if let wide {
                        let padded = scratch[chunk].data
                        let out = padded + 2 * wide.paddedCount
                        for group in 0..<groups {
                            wide.pad(x + n * inSize + group * groupIn, into: padded)
                            wide.unroll(padded, into: col)
                            BLAS.gemm(
                                m: groupFilters, n: wide.columns, k: g.rows, a: w + group * groupWeights, b: col,
                                beta: 0,
                                c: out)
                            wide.narrow(
                                out, into: yn + group * groupOut, filters: groupFilters,
                                bias: bias.map { $0 + group * groupFilters })
                        }
                        continue
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
            biasGradient(b, plane: g.columns)
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
                if direct, let sum, !keep { sum.update(repeating: 0, count: filters * g.rows) }
                for n in images {
                    let dxn = dx.map { $0.data + n * inSize }
                    if let dxn, !addX { dxn.update(repeating: 0, count: inSize) }
                    if direct {
                        for f in 0..<filters {
                            let xf = (f / groupFilters) * groupIn
                            let dyf = dy + n * outSize + f * g.columns
                            if let sum { g.depthwiseWeight(dyf, x + n * inSize + xf, into: sum + f * g.rows) }
                            if let dxn { g.depthwiseData(dyf, w + f * g.rows, into: dxn + xf) }
                        }
                        continue
                    }
                    if let wide {
                        let padded = scratch[chunk].data
                        let paddedGrad = padded + wide.paddedCount
                        let dyWide = padded + 2 * wide.paddedCount
                        for group in 0..<groups {
                            wide.widen(dy + n * outSize + group * groupOut, into: dyWide, filters: groupFilters)
                            if let sum {
                                wide.pad(x + n * inSize + group * groupIn, into: padded)
                                wide.unroll(padded, into: col)
                                BLAS.gemm(
                                    transB: true, m: groupFilters, n: g.rows, k: wide.columns, a: dyWide, b: col,
                                    beta: (n == images.lowerBound && !keep) ? 0 : 1, c: sum + group * groupWeights)
                            }
                            if let dxn {
                                BLAS.gemm(
                                    transA: true, m: g.rows, n: wide.columns, k: groupFilters,
                                    a: w + group * groupWeights,
                                    b: dyWide, beta: 0, c: col)
                                wide.fold(col, paddedGrad, into: dxn + group * groupIn)
                            }
                        }
                        continue
                    }
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
            if let dw { addPartials(chunks, into: dw) }
        }
    }
}
