import SwiftPSTensor

/// MXNet's `Pooling` in 2-D, NCHW: max, average or sum over `kernel` windows.
///
/// MXNet's defaults: `pool_type` max, `stride` (1, 1) (not the kernel), `pad` (0, 0),
/// `pooling_convention` valid (`Ho = (H + 2·pad − k) / s + 1` rounded down; `full` rounds up),
/// `count_include_pad` True (an average divides by the window size clipped to the padded image,
/// so padding counts as zeros). `global_pool` pools each whole plane to 1×1. Max pooling ignores
/// padding, keeps the argmax of each window at forward and routes the gradient to it. A window
/// that lies wholly outside the image (possible with `full`) outputs 0 (MXNet leaves the lowest Float).
public struct Pooling: Operator {
    public static let typeName = "Pooling"

    /// MXNet's `pool_type` values.
    public enum Kind: String, Sendable, CaseIterable {
        case max, avg, sum
    }

    /// The reduction.
    public let kind: Kind
    /// The window (kh, kw); ignored with `globalPool`.
    public let kernel: [Int]
    /// The step between windows.
    public let stride: [Int]
    /// The padding on each side.
    public let pad: [Int]
    /// Pool each whole plane to 1×1.
    public let globalPool: Bool
    /// Round the output size up (MXNet's `pooling_convention="full"`).
    public let fullConvention: Bool
    /// Count padding in an average's divisor.
    public let countIncludePad: Bool

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        kind = Kind(rawValue: try r.choice("pool_type", Kind.allCases.map(\.rawValue), default: "max")) ?? .max
        globalPool = try r.bool("global_pool", default: false)
        kernel = try r.pair("kernel", default: globalPool ? [1, 1] : nil, minimum: 1)
        stride = try r.pair("stride", default: [1, 1], minimum: 1)
        pad = try r.pair("pad", default: [0, 0], minimum: 0)
        fullConvention = try r.choice("pooling_convention", ["valid", "full"], default: "valid") == "full"
        countIncludePad = try r.bool("count_include_pad", default: true)
        try r.requireAbsentOr("layout", ["NCHW", "None"], reason: "is not supported: SwiftPS pools NCHW data only")
    }

    /// A Pooling with the given settings.
    public init(
        kind: Kind, kernel: [Int], stride: [Int] = [1, 1], pad: [Int] = [0, 0], globalPool: Bool = false,
        fullConvention: Bool = false, countIncludePad: Bool = true
    ) {
        precondition(kernel.count == 2 && stride.count == 2 && pad.count == 2, "Pooling is 2-D")
        self.kind = kind
        self.kernel = kernel
        self.stride = stride
        self.pad = pad
        self.globalPool = globalPool
        self.fullConvention = fullConvention
        self.countIncludePad = countIncludePad
    }

    public var attributes: [String: String] {
        [
            "pool_type": kind.rawValue, "kernel": AttributeReader.format(kernel),
            "stride": AttributeReader.format(stride), "pad": AttributeReader.format(pad),
            "global_pool": AttributeReader.format(globalPool),
            "pooling_convention": fullConvention ? "full" : "valid",
            "count_include_pad": AttributeReader.format(countIncludePad),
        ]
    }

    public func listArguments() -> [String] { ["data"] }

    /// The window sweep over one plane for `data`.
    func geometry(_ data: [Int]) throws -> Window {
        guard data.count == 4 else { throw GraphError.shapeError("Pooling needs 4-D NCHW data, got \(data)") }
        let (h, w) = (data[2], data[3])
        if globalPool {
            return Window(height: h, width: w, kh: h, kw: w, sh: 1, sw: 1, ph: 0, pw: 0, outH: 1, outW: 1)
        }
        guard
            let oh = windowOutputLength(h, kernel: kernel[0], stride: stride[0], pad: pad[0], roundUp: fullConvention),
            let ow = windowOutputLength(w, kernel: kernel[1], stride: stride[1], pad: pad[1], roundUp: fullConvention)
        else {
            throw GraphError.shapeError("Pooling kernel \(kernel) with pad \(pad) is larger than the input \(h)x\(w)")
        }
        return Window(
            height: h, width: w, kh: kernel[0], kw: kernel[1], sh: stride[0], sw: stride[1], ph: pad[0], pw: pad[1],
            outH: oh, outW: ow)
    }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("Pooling needs the data shape") }
        let g = try geometry(data)
        return ([data], [[data[0], data[1], g.outH, g.outW]], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let data = context.inputShapes[0]
        let g = try geometry(data)
        return Instance(kind: kind, window: g, planes: data[0] * data[1], countIncludePad: countIncludePad)
    }

    /// One plane's window sweep.
    struct Window {
        let height: Int, width: Int, kh: Int, kw: Int, sh: Int, sw: Int, ph: Int, pw: Int, outH: Int, outW: Int

        /// The rows (or columns) of window `o` inside the image, and its size clipped to the padded image.
        @inline(__always)
        static func span(_ o: Int, stride: Int, pad: Int, kernel: Int, size: Int) -> (Range<Int>, Int) {
            let start = o * stride - pad
            let paddedEnd = min(start + kernel, size + pad)
            let lo = max(start, 0)
            let hi = min(paddedEnd, size)
            return (lo < hi ? lo..<hi : lo..<lo, paddedEnd - start)
        }
    }

    final class Instance: OperatorInstance {
        let kind: Kind, g: Window, planes: Int, countIncludePad: Bool
        /// For max pooling, the flat index within its plane of each output's argmax (−1: empty window).
        let argmax: IndexBuffer

        init(kind: Kind, window: Window, planes: Int, countIncludePad: Bool) {
            self.kind = kind
            g = window
            self.planes = planes
            self.countIncludePad = countIncludePad
            argmax = IndexBuffer(count: kind == .max ? planes * window.outH * window.outW : 0)
        }

        /// The divisor of output (oh, ow) for avg, 1 for sum.
        @inline(__always)
        func divisor(_ rows: Range<Int>, _ padRows: Int, _ cols: Range<Int>, _ padCols: Int) -> Float {
            switch kind {
            case .sum, .max: return 1
            case .avg:
                let n = countIncludePad ? padRows * padCols : rows.count * cols.count
                return n > 0 ? Float(n) : 1
            }
        }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0].data
            let y = b.outputs[0].data
            let plane = g.height * g.width
            let outPlane = g.outH * g.outW
            for p in 0..<planes {
                let xp = x + p * plane
                for oh in 0..<g.outH {
                    let (rows, padRows) = Window.span(oh, stride: g.sh, pad: g.ph, kernel: g.kh, size: g.height)
                    for ow in 0..<g.outW {
                        let (cols, padCols) = Window.span(ow, stride: g.sw, pad: g.pw, kernel: g.kw, size: g.width)
                        let o = p * outPlane + oh * g.outW + ow
                        if kind == .max {
                            var best = -1
                            var v = -Float.greatestFiniteMagnitude
                            for r in rows {
                                for c in cols where best < 0 || xp[r * g.width + c] > v {
                                    v = xp[r * g.width + c]
                                    best = r * g.width + c
                                }
                            }
                            argmax.base[o] = Int32(best)
                            y[o] = best < 0 ? 0 : v
                        } else {
                            var s: Float = 0
                            for r in rows {
                                let row = xp + r * g.width
                                for c in cols { s += row[c] }
                            }
                            y[o] = s / divisor(rows, padRows, cols, padCols)
                        }
                    }
                }
            }
        }

        func backward(_ b: OpBinding) {
            let dy = b.outputGrads[0].data
            let plane = g.height * g.width
            let outPlane = g.outH * g.outW
            b.withGrad(0) { dxArr, acc in
                if !acc { dxArr.fill(0) }
                let dx = dxArr.data
                for p in 0..<planes {
                    let dxp = dx + p * plane
                    if kind == .max {
                        for o in 0..<outPlane {
                            let i = Int(argmax.base[p * outPlane + o])
                            if i >= 0 { dxp[i] += dy[p * outPlane + o] }
                        }
                        continue
                    }
                    for oh in 0..<g.outH {
                        let (rows, padRows) = Window.span(oh, stride: g.sh, pad: g.ph, kernel: g.kh, size: g.height)
                        for ow in 0..<g.outW {
                            let (cols, padCols) = Window.span(ow, stride: g.sw, pad: g.pw, kernel: g.kw, size: g.width)
                            let d = dy[p * outPlane + oh * g.outW + ow] / divisor(rows, padRows, cols, padCols)
                            for r in rows {
                                let row = dxp + r * g.width
                                for c in cols { row[c] += d }
                            }
                        }
                    }
                }
            }
        }
    }
}
