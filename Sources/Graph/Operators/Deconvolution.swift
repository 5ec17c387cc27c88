import SwiftPSTensor

/// MXNet's `Deconvolution` in 2-D, NCHW (a transposed convolution): the adjoint of the `Convolution`
/// with the same window that maps num_filter channels back to the data's C, so its forward is that
/// convolution's data gradient.
///
/// Arguments data (N, C, H, W), weight (C, num_filter / num_group, kh, kw), bias (num_filter) unless
/// `no_bias` (MXNet's default here is `no_bias=True`). Output (N, num_filter, Ho, Wo) with
/// `Ho = stride·(H − 1) + dilate·(kh − 1) + 1 − 2·pad + adj`, `adj` smaller than the stride. A
/// `target_shape` (Ho, Wo) sets pad and adj instead, as MXNet's: the surplus `t = stride·(H − 1) +
/// dilate·(kh − 1) + 1 − Ho` gives `adj = t mod 2`, `pad = ⌈t / 2⌉`. Per image and group,
/// `col = W_gᵀ · x_g` is folded back by col2im (the convolution's im2col adjoint) into the output.
public struct Deconvolution: Operator {
    public static let typeName = "Deconvolution"
    public static let attributeNames: [String] = [
        "kernel", "stride", "dilate", "pad", "adj", "target_shape", "num_filter", "num_group", "workspace",
        "no_bias", "cudnn_tune", "cudnn_off", "layout",
    ]
    /// The kernel, stride, pad, dilation, filters (output channels) and groups.
    public let window: ConvolutionWindow
    /// Extra rows and columns at the bottom and right of the output; default (0, 0).
    public let adj: [Int]
    /// The output's (Ho, Wo), when given: it sets pad and adj.
    public let targetShape: [Int]?

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        window = try ConvolutionWindow(r, noBiasDefault: true)
        adj = try r.pair("adj", default: [0, 0], minimum: 0)
        // MXNet writes `target_shape=(0, 0)` for none.
        let target = try r.pair("target_shape", default: [0, 0], minimum: 0)
        targetShape = target == [0, 0] ? nil : target
    }

    /// A Deconvolution with the given settings.
    public init(
        kernel: [Int], numFilter: Int, stride: [Int] = [1, 1], pad: [Int] = [0, 0], adj: [Int] = [0, 0],
        targetShape: [Int]? = nil, dilate: [Int] = [1, 1], numGroup: Int = 1, noBias: Bool = true
    ) {
        precondition(adj.count == 2 && (targetShape?.count ?? 2) == 2, "Deconvolution is 2-D")
        window = ConvolutionWindow(
            kernel: kernel, numFilter: numFilter, stride: stride, pad: pad, dilate: dilate, numGroup: numGroup,
            noBias: noBias)
        self.adj = adj
        self.targetShape = targetShape
    }

    public var attributes: [String: String] {
        var a = window.attributes
        a["adj"] = AttributeReader.format(adj)
        if let targetShape { a["target_shape"] = AttributeReader.format(targetShape) }
        return a
    }

    public func listArguments() -> [String] { window.noBias ? ["data", "weight"] : ["data", "weight", "bias"] }

    /// One group's im2col geometry of the adjoint convolution: from the output (F/G channels of
    /// Ho×Wo, padded as pad or target_shape say) to the data's H×W positions.
    func geometry(_ data: [Int]) throws -> Im2Col {
        guard data.count == 4 else {
            throw GraphError.shapeError("Deconvolution needs 4-D NCHW data, got \(data)")
        }
        let groups = window.numGroup
        guard data[1] % groups == 0 else {
            throw GraphError.shapeError(
                "Deconvolution with num_group \(groups) needs channels divisible by it, got \(data[1]) in \(data)")
        }
        var out = [0, 0]
        var pads = window.pad
        for axis in 0..<2 {
            let input = data[2 + axis]
            guard input > 0 else { throw GraphError.shapeError("Deconvolution needs a non-empty image, got \(data)") }
            // s·(in − 1) + extent ≤ 2^20·in + 2^40: within Int for any array that fits in memory.
            let full = window.stride[axis] * (input - 1) + window.extent[axis]
            var adj = adj[axis]
            if let targetShape {
                guard full >= targetShape[axis] else {
                    throw GraphError.shapeError(
                        "Deconvolution target_shape \(targetShape) is larger than data \(data) can give (\(full) on axis \(axis + 2))"
                    )
                }
                adj = (full - targetShape[axis]) % 2
                pads[axis] = (full - targetShape[axis] + 1) / 2
            }
            guard adj < window.stride[axis] else {
                let source = targetShape.map { " (from target_shape \($0))" } ?? ""
                throw GraphError.shapeError(
                    "Deconvolution adj \(adj) must be smaller than the stride \(window.stride[axis])\(source)")
            }
            out[axis] = full - 2 * pads[axis] + adj
            guard out[axis] > 0 else {
                throw GraphError.shapeError("Deconvolution pad \(pads) leaves no output for data \(data)")
            }
        }
        return window.im2col(
            channels: window.numFilter, height: out[0], width: out[1], outH: data[2], outW: data[3], pad: pads)
    }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("Deconvolution needs the data shape") }
        let g = try geometry(data)
        let f = window.numFilter
        let weight = [data[1], f / window.numGroup, window.kernel[0], window.kernel[1]]
        if s.count > 1, let w = s[1], w != weight {
            throw GraphError.shapeError(
                "Deconvolution weight shape \(w) does not match data \(data): expected \(weight)")
        }
        if !window.noBias, s.count > 2, let bias = s[2], bias != [f] {
            throw GraphError.shapeError("Deconvolution bias shape \(bias) should be [\(f)]")
        }
        var inputs = [data, weight]
        if !window.noBias { inputs.append([f]) }
        return (inputs, [[data[0], f, g.height, g.width]], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let data = context.inputShapes[0]
        let g = try geometry(data)
        let (cols, partials) = try window.workspaces(g, batch: data[0], weights: data[1] * g.rows, of: Self.typeName)
        return Instance(geometry: g, workspaces: (cols, partials), batch: data[0], window: window, channels: data[1])
    }

    final class Instance: ConvolutionWork, OperatorInstance {
        /// The data's channels.
        let channels: Int

        init(
            geometry: Im2Col, workspaces: (cols: [NDArray], partials: [NDArray]), batch: Int,
            window: ConvolutionWindow, channels: Int
        ) {
            self.channels = channels
            super.init(geometry: geometry, workspaces: workspaces, batch: batch, window: window)
        }

        /// Per group: the data's channels, the data's and the output's elements of one image, and
        /// the weights.
        private var groupChannels: Int { channels / groups }
        private var groupIn: Int { groupChannels * g.columns }
        private var groupOut: Int { g.channels * g.height * g.width }
        private var groupWeights: Int { groupChannels * g.rows }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0].data
            let w = b.inputs[1].data
            let y = b.outputs[0].data
            let bias = noBias ? nil : b.inputs[2].data
            let plane = g.height * g.width
            ComputeThreads.forEach(batch, chunks: chunks) { images, chunk in
                let col = cols[chunk].data
                for n in images {
                    let yn = y + n * filters * plane
                    for f in 0..<filters { (yn + f * plane).update(repeating: bias?[f] ?? 0, count: plane) }
                    for group in 0..<groups {
                        // col (F/G·KK × HW) = W_gᵀ (F/G·KK × C/G) · x_n,g (C/G × HW), folded into y_n,g.
                        BLAS.gemm(
                            transA: true, m: g.rows, n: g.columns, k: groupChannels, a: w + group * groupWeights,
                            b: x + (n * groups + group) * groupIn, beta: 0, c: col)
                        g.fold(col, into: yn + group * groupOut)
                    }
                }
            }
        }

        func backward(_ b: OpBinding) {
            let x = b.inputs[0].data
            let w = b.inputs[1].data
            let dy = b.outputGrads[0].data
            let plane = g.height * g.width
            biasGradient(b, plane: plane)
            let dw = b.needsGrad(1) ? b.inputGrads[1] : nil
            let dx = b.needsGrad(0) ? b.inputGrads[0] : nil
            if dw == nil && dx == nil { return }
            let accW = b.gradReqs[1] == .add
            if let dw, !accW, batch == 0 { dw.fill(0) }
            let addX = b.gradReqs[0] == .add
            let chunks = chunks
            ComputeThreads.forEach(batch, chunks: chunks) { images, chunk in
                let col = cols[chunk].data
                let sum = dw.map { chunk == 0 ? $0.data : partials[chunk - 1].data }
                let keep = chunk == 0 && accW
                for n in images {
                    for group in 0..<groups {
                        // The output's gradient unrolled: dcol (F/G·KK × HW).
                        g.unroll(dy + n * filters * plane + group * groupOut, into: col)
                        let xg = x + (n * groups + group) * groupIn
                        let wg = w + group * groupWeights
                        if let sum {
                            // dW_g (C/G × F/G·KK) (+)= x_n,g (C/G × HW) · dcolᵀ
                            BLAS.gemm(
                                transB: true, m: groupChannels, n: g.rows, k: g.columns, a: xg, b: col,
                                beta: (n == images.lowerBound && !keep) ? 0 : 1, c: sum + group * groupWeights)
                        }
                        if let dx {
                            // dx_n,g (C/G × HW) (+)= W_g (C/G × F/G·KK) · dcol
                            BLAS.gemm(
                                m: groupChannels, n: g.columns, k: g.rows, a: wg, b: col, beta: addX ? 1 : 0,
                                c: dx.data + (n * groups + group) * groupIn)
                        }
                    }
                }
            }
            if let dw { addPartials(chunks, into: dw) }
        }
    }
}
