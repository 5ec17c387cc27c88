import SwiftPSTensor

/// MXNet's `Pooling` in 2-D, NCHW: max, average or sum over `kernel` windows.
///
/// MXNet's defaults: `pool_type` max, `stride` (1, 1) (not the kernel), `pad` (0, 0),
/// `pooling_convention` valid (`Ho = (H + 2·pad − k) / s + 1` rounded down; `full` rounds up),
/// `count_include_pad` True (an average divides by the window size clipped to the padded image,
/// so padding counts as zeros). `global_pool` pools each whole plane to 1×1. Max pooling ignores
/// padding, keeps the argmax of each window at forward and routes the gradient to it (for 2×2
/// windows at stride 2, backward finds the argmax again from the data and the output). A window
/// that lies wholly outside the image (possible with `full`) outputs 0 (MXNet leaves the lowest Float).
public struct Pooling: Operator {
    public static let typeName = "Pooling"
    public static let attributeNames: [String] = [
        "kernel", "pool_type", "global_pool", "cudnn_off", "pooling_convention", "stride", "pad", "p_value",
        "count_include_pad", "layout",
    ]

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
        return try Instance(kind: kind, window: g, planes: data[0] * data[1], countIncludePad: countIncludePad)
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
        /// For max pooling, the flat index within its plane of each output's argmax (−1: empty window);
        /// empty for the 2×2 stride-2 case, whose backward finds the argmax from the data.
        let argmax: IndexBuffer
        /// Max pooling with 2×2 windows at stride 2 and no padding (lenet's), which gets its own loops.
        let isMax2x2: Bool

        init(kind: Kind, window: Window, planes: Int, countIncludePad: Bool) throws {
            self.kind = kind
            g = window
            self.planes = planes
            self.countIncludePad = countIncludePad
            let g = window
            isMax2x2 =
                kind == .max && g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0
                && g.outH == g.height / 2 && g.outW == g.width / 2
            argmax = try IndexBuffer(
                count: kind == .max && !isMax2x2 ? planes * window.outH * window.outW : 0,
                for: "a max-pooling index buffer")
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
            if isMax2x2 {
                ComputeThreads.forEach(planes, grain: planeGrain) { forwardMax2x2(x, y, planes: $0) }
                return
            }
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

        /// Planes worth a thread of their own (`ComputeThreads`).
        private var planeGrain: Int { max(1, ComputeThreads.elementGrain / max(1, g.height * g.width)) }

        /// The 2×2 stride-2 max of `planes`, four windows at a time with selects rather than branches
        /// (which mispredict on real data). No argmax is stored: backward finds it again from x and y.
        func forwardMax2x2(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes: Range<Int>) {
            let (w, outH, outW) = (g.width, g.outH, g.outW)
            let plane = g.height * w
            for p in planes {
                let xp = x + p * plane
                let yp = y + p * outH * outW
                for oh in 0..<outH {
                    let r0 = xp + 2 * oh * w
                    let r1 = r0 + w
                    let yo = yp + oh * outW
                    var ow = 0
                    while ow + 4 <= outW {
                        let top = UnsafeRawPointer(r0 + 2 * ow).loadUnaligned(as: SIMD8<Float>.self)
                        let bottom = UnsafeRawPointer(r1 + 2 * ow).loadUnaligned(as: SIMD8<Float>.self)
                        // The first largest in row-major order, as the general loop: replace only on >.
                        var v = top.evenHalf
                        v.replace(with: top.oddHalf, where: top.oddHalf .> v)
                        v.replace(with: bottom.evenHalf, where: bottom.evenHalf .> v)
                        v.replace(with: bottom.oddHalf, where: bottom.oddHalf .> v)
                        UnsafeMutableRawPointer(yo + ow).storeBytes(of: v, as: SIMD4<Float>.self)
                        ow += 4
                    }
                    while ow < outW {
                        var v = r0[2 * ow]
                        if r0[2 * ow + 1] > v { v = r0[2 * ow + 1] }
                        if r1[2 * ow] > v { v = r1[2 * ow] }
                        if r1[2 * ow + 1] > v { v = r1[2 * ow + 1] }
                        yo[ow] = v
                        ow += 1
                    }
                }
            }
        }

        /// The 2×2 stride-2 max backward of `planes`: each window's four gradients written (or added)
        /// at once, so the gradient needs no separate zero fill. The window's argmax is its first
        /// element equal to the output (the first element when the output is NaN), which is the element
        /// forward chose.
        func backwardMax2x2(
            _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
            _ dx: UnsafeMutablePointer<Float>, accumulate: Bool, planes: Range<Int>
        ) {
            let (h, w, outH, outW) = (g.height, g.width, g.outH, g.outW)
            let plane = h * w
            var accumulate = accumulate
            if !accumulate && (h % 2 != 0 || w % 2 != 0) {
                // An odd last row or column lies in no window: zero these planes, then add.
                (dx + planes.lowerBound * plane).update(repeating: 0, count: planes.count * plane)
                accumulate = true
            }
            for p in planes {
                let xp = x + p * plane
                let dxp = dx + p * plane
                let yp = y + p * outH * outW
                let dyp = dy + p * outH * outW
                for oh in 0..<outH {
                    let offset = 2 * oh * w
                    let (x0, x1) = (xp + offset, xp + offset + w)
                    let (d0, d1) = (dxp + offset, dxp + offset + w)
                    let yo = yp + oh * outW
                    let dyo = dyp + oh * outW
                    var ow = 0
                    while ow + 4 <= outW {
                        let top = UnsafeRawPointer(x0 + 2 * ow).loadUnaligned(as: SIMD8<Float>.self)
                        let bottom = UnsafeRawPointer(x1 + 2 * ow).loadUnaligned(as: SIMD8<Float>.self)
                        let v = UnsafeRawPointer(yo + ow).loadUnaligned(as: SIMD4<Float>.self)
                        let d = UnsafeRawPointer(dyo + ow).loadUnaligned(as: SIMD4<Float>.self)
                        let e0 = (top.evenHalf .== v) .| (v .!= v)
                        let e1 = .!e0 .& (top.oddHalf .== v)
                        let e01 = e0 .| e1
                        let e2 = .!e01 .& (bottom.evenHalf .== v)
                        let e3 = .!(e01 .| e2)
                        let zero = SIMD4<Float>()
                        var gTop = SIMD8<Float>()
                        var gBottom = SIMD8<Float>()
                        gTop.evenHalf = zero.replacing(with: d, where: e0)
                        gTop.oddHalf = zero.replacing(with: d, where: e1)
                        gBottom.evenHalf = zero.replacing(with: d, where: e2)
                        gBottom.oddHalf = zero.replacing(with: d, where: e3)
                        let t = UnsafeMutableRawPointer(d0 + 2 * ow)
                        let u = UnsafeMutableRawPointer(d1 + 2 * ow)
                        if accumulate {
                            gTop += t.loadUnaligned(as: SIMD8<Float>.self)
                            gBottom += u.loadUnaligned(as: SIMD8<Float>.self)
                        }
                        t.storeBytes(of: gTop, as: SIMD8<Float>.self)
                        u.storeBytes(of: gBottom, as: SIMD8<Float>.self)
                        ow += 4
                    }
                    while ow < outW {
                        let v = yo[ow]
                        let d = dyo[ow]
                        let e0 = x0[2 * ow] == v || v.isNaN
                        let e1 = !e0 && x0[2 * ow + 1] == v
                        let e2 = !e0 && !e1 && x1[2 * ow] == v
                        let e3 = !e0 && !e1 && !e2
                        let grads: (Float, Float, Float, Float) = (e0 ? d : 0, e1 ? d : 0, e2 ? d : 0, e3 ? d : 0)
                        if accumulate {
                            d0[2 * ow] += grads.0
                            d0[2 * ow + 1] += grads.1
                            d1[2 * ow] += grads.2
                            d1[2 * ow + 1] += grads.3
                        } else {
                            d0[2 * ow] = grads.0
                            d0[2 * ow + 1] = grads.1
                            d1[2 * ow] = grads.2
                            d1[2 * ow + 1] = grads.3
                        }
                        ow += 1
                    }
                }
            }
        }

        func backward(_ b: OpBinding) {
            let dy = b.outputGrads[0].data
            let plane = g.height * g.width
            let outPlane = g.outH * g.outW
            if isMax2x2 {
                let (x, y) = (b.inputs[0].data, b.outputs[0].data)
                b.withGrad(0) { dxArr, acc in
                    ComputeThreads.forEach(planes, grain: planeGrain) {
                        backwardMax2x2(x, y, dy, dxArr.data, accumulate: acc, planes: $0)
                    }
                }
                return
            }
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
