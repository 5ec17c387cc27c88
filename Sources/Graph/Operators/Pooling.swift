import Foundation
import SwiftPSTensor

/// MXNet's `Pooling` in 1-D (NCW), 2-D (NCHW) or 3-D (NCDHW), the kernel's entries saying which:
/// max, average, sum or Lp over `kernel` windows.
///
/// MXNet's defaults: `pool_type` max, `stride` 1 on every axis (not the kernel), `pad` 0,
/// `pooling_convention` valid (`out = (in + 2·pad − k) / s + 1` rounded down; `full` rounds up;
/// `same`, which MXNet 1.9.1 takes for 1-D pooling only and without padding, gives `⌈in / s⌉`
/// windows starting at `o·s`, the last ones clipped at the end), `count_include_pad` True (an
/// average divides by the window size clipped to the padded input, so padding counts as zeros;
/// with `same` that is the window clipped to the input). `global_pool` pools each whole plane to
/// one value. `pool_type="lp"` with `p_value` 1, 2 or 3 outputs `(Σ xᵖ)^(1/p)` over the window's
/// input (MXNet's formula: no absolute value, so p = 1 is the plain sum and p = 3 a signed cube
/// root), with gradient `dy · (x / y)^(p − 1)`, 0 where y = 0. Max pooling ignores padding, keeps
/// the argmax of each window at forward and routes the gradient to it (for 2×2 windows at stride 2,
/// backward finds the argmax again from the data and the output). A max window that lies wholly in
/// the padding (or past the input, with `full`) outputs −3.4028235e38 (the lowest Float, as
/// MXNet's own kernels do) and passes no gradient; avg, sum and lp give 0 there.
public struct Pooling: Operator {
    public static let typeName = "Pooling"
    public static let attributeNames: [String] = [
        "kernel", "pool_type", "global_pool", "cudnn_off", "pooling_convention", "stride", "pad", "p_value",
        "count_include_pad", "layout",
    ]

    /// MXNet's `pool_type` values.
    public enum Kind: String, Sendable, CaseIterable {
        case max, avg, sum, lp
    }

    /// MXNet's `pooling_convention` values: how many windows fit along an axis.
    public enum Convention: String, Sendable, CaseIterable {
        /// `⌊(in + 2·pad − k) / s⌋ + 1`.
        case valid
        /// `⌈(in + 2·pad − k) / s⌉ + 1` (Caffe's).
        case full
        /// `⌈in / s⌉`, no padding (1-D only in MXNet 1.9.1).
        case same
    }

    /// The reduction.
    public let kind: Kind
    /// The window, one entry per spatial axis (1 to 3); empty for `globalPool` without one.
    public let kernel: [Int]
    /// The step between windows.
    public let stride: [Int]
    /// The padding on each side.
    public let pad: [Int]
    /// Pool each whole plane to one value.
    public let globalPool: Bool
    /// The output-size rule.
    public let convention: Convention
    /// Count padding in an average's divisor.
    public let countIncludePad: Bool
    /// The p of Lp pooling (1, 2 or 3); nil for the other kinds.
    public let pValue: Int?

    /// The layouts MXNet names for 1-, 2- and 3-D data: SwiftPS pools channel-first data only.
    static let layouts = ["NCW", "NCHW", "NCDHW"]

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        kind = Kind(rawValue: try r.choice("pool_type", Kind.allCases.map(\.rawValue), default: "max")) ?? .max
        globalPool = try r.bool("global_pool", default: false)
        convention =
            Convention(
                rawValue: try r.choice("pooling_convention", Convention.allCases.map(\.rawValue), default: "valid"))
            ?? .valid
        let why = "1-D, 2-D or 3-D pooling"
        kernel = try r.window(
            "kernel", default: globalPool ? [] : nil, minimum: 1, entries: globalPool ? 0...3 : 1...3, why)
        // Without a kernel (global pooling) stride and pad change nothing.
        let axes = kernel.isEmpty ? 0...3 : kernel.count...kernel.count
        let alike = kernel.isEmpty ? why : "one per kernel entry"
        stride = try r.window(
            "stride", default: Array(repeating: 1, count: kernel.count), minimum: 1, entries: axes, alike)
        if convention == .same {
            // MXNet 1.9.1 runs `same` only with `pad=(0, 0, 0)` (its check reads three entries); any
            // count of zeros is taken here.
            let zeros = try r.window("pad", default: [], minimum: 0, entries: 0...3, "zeros")
            guard zeros.allSatisfy({ $0 == 0 }) else {
                throw r.bad("pad", r.raw["pad"] ?? "", "must be 0: MXNet's pooling_convention 'same' takes no padding")
            }
            guard kernel.count <= 1 else {
                throw r.bad(
                    "pooling_convention", "same",
                    "is for 1-D pooling only in MXNet 1.9.1 (kernel \(AttributeReader.format(kernel)))")
            }
            pad = Array(repeating: 0, count: kernel.count)
        } else {
            pad = try r.window(
                "pad", default: Array(repeating: 0, count: kernel.count), minimum: 0, entries: axes, alike)
        }
        countIncludePad = try r.bool("count_include_pad", default: true)
        // MXNet's `p_value` is an optional int it reads for Lp pooling only, which supports 1 to 3.
        var p: Int?
        if let given = r.raw["p_value"], given.trimmingSpaces != "None" { p = try r.int("p_value") }
        if kind == .lp {
            guard let p else { throw r.bad("p_value", "", "is required with pool_type 'lp'") }
            guard (1...3).contains(p) else {
                throw r.bad("p_value", "\(p)", "must be 1, 2 or 3 (MXNet supports no other)")
            }
        }
        pValue = kind == .lp ? p : nil
        try r.requireAbsentOr(
            "layout", Set(Self.layouts + ["None"]), reason: "is not supported: SwiftPS pools channel-first data only")
        if let layout = r.raw["layout"]?.trimmingSpaces, layout != "None", !kernel.isEmpty,
            layout != Self.layouts[kernel.count - 1]
        {
            throw r.bad("layout", layout, "does not match the kernel \(AttributeReader.format(kernel))")
        }
    }

    /// A Pooling with the given settings; `kernel` has one entry per spatial axis (1 to 3), as have
    /// `stride` and `pad` (default 1 and 0 on every axis). Lp pooling needs `pValue`.
    public init(
        kind: Kind, kernel: [Int], stride: [Int]? = nil, pad: [Int]? = nil, globalPool: Bool = false,
        convention: Convention = .valid, countIncludePad: Bool = true, pValue: Int? = nil
    ) {
        let axes = kernel.count
        let stride = stride ?? Array(repeating: 1, count: axes)
        let pad = pad ?? Array(repeating: 0, count: axes)
        precondition((globalPool ? 0...3 : 1...3).contains(axes), "Pooling is 1-, 2- or 3-D")
        precondition(stride.count == axes && pad.count == axes, "stride and pad need one entry per kernel entry")
        precondition(convention != .same || (axes <= 1 && pad.allSatisfy { $0 == 0 }), "same is 1-D, unpadded")
        precondition((kind == .lp) == (pValue != nil) && (pValue.map { (1...3).contains($0) } ?? true), "p is 1 to 3")
        self.kind = kind
        self.kernel = kernel
        self.stride = stride
        self.pad = pad
        self.globalPool = globalPool
        self.convention = convention
        self.countIncludePad = countIncludePad
        self.pValue = pValue
    }

    public var attributes: [String: String] {
        var a = [
            "pool_type": kind.rawValue, "global_pool": AttributeReader.format(globalPool),
            "pooling_convention": convention.rawValue, "count_include_pad": AttributeReader.format(countIncludePad),
        ]
        if !kernel.isEmpty {
            a["kernel"] = AttributeReader.format(kernel)
            a["stride"] = AttributeReader.format(stride)
            // MXNet 1.9.1 reads three pad entries when the convention is `same`.
            a["pad"] = AttributeReader.format(convention == .same ? [0, 0, 0] : pad)
        }
        if let pValue { a["p_value"] = String(pValue) }
        return a
    }

    public func listArguments() -> [String] { ["data"] }

    /// The window sweep over one plane for `data`.
    func geometry(_ data: [Int]) throws -> Window {
        let axes = data.count - 2
        let expected = kernel.isEmpty ? "3-D, 4-D or 5-D" : "\(kernel.count + 2)-D"
        guard (1...3).contains(axes), kernel.isEmpty || kernel.count == axes else {
            throw GraphError.shapeError(
                "Pooling needs \(expected) data (N, C and \(kernel.isEmpty ? "1 to 3" : "\(kernel.count)") spatial axes, channel first), got \(data)"
            )
        }
        if convention == .same && axes != 1 {
            throw GraphError.shapeError("Pooling with pooling_convention 'same' needs 3-D (N, C, W) data, got \(data)")
        }
        var spatial: [Window.Axis] = []
        for i in 0..<axes {
            let size = data[2 + i]
            if globalPool {
                spatial.append(Window.Axis(size: size, kernel: size, stride: 1, pad: 0, out: 1))
                continue
            }
            guard
                var out = windowOutputLength(
                    size, kernel: kernel[i], stride: stride[i], pad: pad[i], roundUp: convention == .full)
            else {
                throw GraphError.shapeError(
                    "Pooling kernel \(kernel) with pad \(pad) is larger than the input \(data[2...].map(String.init).joined(separator: "x"))"
                )
            }
            if convention == .same { out = (size + stride[i] - 1) / stride[i] }
            spatial.append(Window.Axis(size: size, kernel: kernel[i], stride: stride[i], pad: pad[i], out: out))
        }
        let unit = Window.Axis(size: 1, kernel: 1, stride: 1, pad: 0, out: 1)
        let padded = Array(repeating: unit, count: 3 - axes) + spatial
        return Window(d: padded[0], h: padded[1], w: padded[2])
    }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("Pooling needs the data shape") }
        let g = try geometry(data)
        let out = [g.d.out, g.h.out, g.w.out].suffix(data.count - 2)
        return ([data], [Array(data[..<2]) + out], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let data = context.inputShapes[0]
        let g = try geometry(data)
        return try Instance(
            kind: kind, window: g, planes: data[0] * data[1], countIncludePad: countIncludePad, p: pValue ?? 1)
    }

    /// One plane's window sweep, over depth, height and width (1-D and 2-D pooling have leading axes
    /// of size 1).
    struct Window {
        /// One axis of the sweep: the input's size there, the window and the number of windows.
        struct Axis {
            let size: Int, kernel: Int, stride: Int, pad: Int, out: Int

            /// The windows that lie wholly inside the input: each covers `kernel` positions from
            /// `o·stride − pad` on.
            var interior: Range<Int> {
                let lo = (pad + stride - 1) / stride
                let last = size + pad - kernel
                let hi = last < 0 ? lo : min(out, last / stride + 1)
                return lo..<max(lo, hi)
            }

            /// The positions of window `o` inside the input, and its size clipped to the padded input.
            @inline(__always)
            func span(_ o: Int) -> (Range<Int>, Int) {
                let start = o * stride - pad
                let paddedEnd = min(start + kernel, size + pad)
                let lo = max(start, 0)
                let hi = min(paddedEnd, size)
                return (lo < hi ? lo..<hi : lo..<lo, paddedEnd - start)
            }
        }

        let d: Axis, h: Axis, w: Axis

        /// The input's and the output's elements per plane.
        var volume: Int { d.size * h.size * w.size }
        var outVolume: Int { d.out * h.out * w.out }
        /// Shorthands of the 2-D sweeps.
        var height: Int { h.size }
        var width: Int { w.size }
        var outH: Int { h.out }
        var outW: Int { w.out }

        /// The cells of one window: their flat indices within the plane, and the window's size
        /// clipped to the padded input.
        struct Cells {
            let depths: Range<Int>, rows: Range<Int>, cols: Range<Int>, padded: Int
            let height: Int, width: Int

            /// The cells inside the input.
            var count: Int { depths.count * rows.count * cols.count }

            /// The index of the first cell (of a window with cells).
            var first: Int { (depths.lowerBound &* height &+ rows.lowerBound) &* width &+ cols.lowerBound }

            /// Calls `body` with each cell's index, in row-major order.
            @inline(__always)
            func forEachIndex(_ body: (Int) -> Void) {
                for z in depths {
                    for r in rows {
                        let row = (z &* height &+ r) &* width
                        var i = row &+ cols.lowerBound
                        let end = row &+ cols.upperBound
                        while i < end {
                            body(i)
                            i &+= 1
                        }
                    }
                }
            }
        }

        /// Calls `body` for each row of outputs (each depth and height) with the index of its first
        /// output within the plane, its windows' depths and rows inside the input, and their count
        /// clipped to the padded input.
        @inline(__always)
        func forEachOutputRow(_ body: (Int, Range<Int>, Range<Int>, Int) -> Void) {
            var o = 0
            for od in 0..<d.out {
                let (depths, padDepths) = d.span(od)
                for oh in 0..<h.out {
                    let (rows, padRows) = h.span(oh)
                    body(o, depths, rows, padDepths * padRows)
                    o += w.out
                }
            }
        }

        /// The cells of window `ow` of an output row whose windows have `depths` and `rows`.
        @inline(__always)
        func cells(_ depths: Range<Int>, _ rows: Range<Int>, _ padDepthsRows: Int, _ ow: Int) -> Cells {
            let (cols, padCols) = w.span(ow)
            return Cells(
                depths: depths, rows: rows, cols: cols, padded: padDepthsRows * padCols, height: h.size, width: w.size)
        }

        /// Calls `body` with each output's index within the plane and its window's cells, in order.
        @inline(__always)
        func forEachWindow(_ body: (Int, Cells) -> Void) {
            forEachOutputRow { o, depths, rows, padDepthsRows in
                for ow in 0..<w.out { body(o + ow, cells(depths, rows, padDepthsRows, ow)) }
            }
        }
    }

    final class Instance: OperatorInstance {
        let kind: Kind, g: Window, planes: Int, countIncludePad: Bool
        /// The p of Lp pooling.
        let p: Int
        /// For max pooling, the flat index within its plane of each output's argmax (−1: empty window);
        /// empty for the 2×2 stride-2 case, whose backward finds the argmax from the data.
        let argmax: IndexBuffer
        /// 2-D max pooling with 2×2 windows at stride 2 and no padding (lenet's), which gets its own loops.
        let isMax2x2: Bool

        init(kind: Kind, window: Window, planes: Int, countIncludePad: Bool, p: Int) throws {
            self.kind = kind
            g = window
            self.planes = planes
            self.countIncludePad = countIncludePad
            self.p = p
            let g = window
            isMax2x2 =
                kind == .max && g.d.size == 1 && g.d.kernel == 1 && g.h.kernel == 2 && g.w.kernel == 2
                && g.h.stride == 2 && g.w.stride == 2 && g.h.pad == 0 && g.w.pad == 0
                && g.outH == g.height / 2 && g.outW == g.width / 2
            argmax = try IndexBuffer(
                count: kind == .max && !isMax2x2 ? planes * window.outVolume : 0, for: "a max-pooling index buffer")
        }

        /// The divisor of a window for avg, 1 for the other kinds.
        @inline(__always)
        func divisor(_ cells: Window.Cells) -> Float {
            guard kind == .avg else { return 1 }
            let n = countIncludePad ? cells.padded : cells.count
            return n > 0 ? Float(n) : 1
        }

        /// `xᵖ` of Lp pooling, without absolute value (as MXNet).
        @inline(__always)
        func power(_ x: Float) -> Float {
            switch p {
            case 1: return x
            case 2: return x * x
            default: return x * x * x
            }
        }

        /// The p-th root of Lp pooling (a signed cube root for p = 3, as MXNet).
        @inline(__always)
        func root(_ s: Float) -> Float {
            switch p {
            case 1: return s
            case 2: return s.squareRoot()
            default: return cbrt(s)
            }
        }

        /// MXNet's Lp gradient of one input `x` of a window with output `y`: `dy · (x / y)^(p − 1)`,
        /// 0 where y is 0 for p > 1.
        @inline(__always)
        func lpGradient(_ dy: Float, _ x: Float, _ y: Float) -> Float {
            if p == 1 { return dy }
            if y == 0 { return 0 }
            let ratio = x / y
            return p == 2 ? dy * ratio : dy * ratio * ratio
        }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0].data
            let y = b.outputs[0].data
            if isMax2x2 {
                ComputeThreads.forEach(planes, grain: planeGrain) { forwardMax2x2(x, y, planes: $0) }
                return
            }
            ComputeThreads.forEach(planes, grain: planeGrain) { range in
                for plane in range {
                    let first = plane * g.outVolume
                    forwardPlane(x + plane * g.volume, y + first, argmax.base + first)
                }
            }
        }

        /// The windows of each output row swept together: those wholly inside the input, when there
        /// are at least four (fewer, as in global pooling, go faster one window at a time).
        var sweptWindows: Range<Int> {
            let inner = g.w.interior
            return inner.count >= 4 ? inner : 0..<0
        }

        /// The output of one plane, row by row. The windows of a row that lie wholly inside the
        /// input are swept together: each cell offset (depth, row, column, in row-major order) is
        /// added (or compared) into the whole row of outputs, a loop without a chain from one
        /// element to the next, which vectorizes at stride 1; in one window the cells still come in
        /// row-major order, so each output is the same as one window's loop gives. The clipped
        /// windows at the ends of a row go one at a time (`forwardWindow`).
        func forwardPlane(
            _ xp: UnsafePointer<Float>, _ yp: UnsafeMutablePointer<Float>, _ ap: UnsafeMutablePointer<Int32>
        ) {
            let inner = sweptWindows
            let (k, s, plane) = (g.w.kernel, g.w.stride, (g.h.size, g.w.size))
            // Whole groups of four windows are swept; the rest go one at a time.
            let swept = inner.lowerBound..<(inner.lowerBound + inner.count / 4 * 4)
            let lanes = SIMD4<Int32>(0, 1, 2, 3) &* Int32(truncatingIfNeeded: s)
            // The four values at cell offset `i` of four neighbouring windows.
            @inline(__always) func load(_ i: Int) -> SIMD4<Float> {
                s == 1
                    ? UnsafeRawPointer(xp + i).loadUnaligned(as: SIMD4<Float>.self)
                    : SIMD4(xp[i], xp[i &+ s], xp[i &+ 2 &* s], xp[i &+ 3 &* s])
            }
            g.forEachOutputRow { o, depths, rows, padDR in
                for ow in 0..<g.w.out where !swept.contains(ow) {
                    forwardWindow(xp, yp, ap, o + ow, g.cells(depths, rows, padDR, ow))
                }
                if swept.isEmpty { return }
                if depths.isEmpty || rows.isEmpty {
                    for ow in swept { forwardWindow(xp, yp, ap, o + ow, g.cells(depths, rows, padDR, ow)) }
                    return
                }
                // Every swept window has the same cells' count: the first one's divisor serves all.
                let sweptDivisor = SIMD4<Float>(repeating: divisor(g.cells(depths, rows, padDR, swept.lowerBound)))
                for ow in Swift.stride(from: swept.lowerBound, to: swept.upperBound, by: 4) {
                    let left = ow * s - g.w.pad  // the first window's first input column
                    switch kind {
                    case .max:
                        let first = (depths.lowerBound * plane.0 + rows.lowerBound) * plane.1 + left
                        var v = load(first)
                        var best = lanes &+ Int32(truncatingIfNeeded: first)
                        for z in depths {
                            for r in rows {
                                let base = (z &* plane.0 &+ r) &* plane.1 &+ left
                                for c in 0..<k {
                                    let candidate = load(base &+ c)
                                    let larger = candidate .> v
                                    v.replace(with: candidate, where: larger)
                                    best.replace(with: lanes &+ Int32(truncatingIfNeeded: base &+ c), where: larger)
                                }
                            }
                        }
                        UnsafeMutableRawPointer(yp + o + ow).storeBytes(of: v, as: SIMD4<Float>.self)
                        UnsafeMutableRawPointer(ap + o + ow).storeBytes(of: best, as: SIMD4<Int32>.self)
                    case .avg, .sum:
                        var sum = SIMD4<Float>()
                        for z in depths {
                            for r in rows {
                                let base = (z &* plane.0 &+ r) &* plane.1 &+ left
                                for c in 0..<k { sum += load(base &+ c) }
                            }
                        }
                        UnsafeMutableRawPointer(yp + o + ow).storeBytes(of: sum / sweptDivisor, as: SIMD4<Float>.self)
                    case .lp:
                        var sum = SIMD4<Float>()
                        for z in depths {
                            for r in rows {
                                let base = (z &* plane.0 &+ r) &* plane.1 &+ left
                                for c in 0..<k {
                                    let x = load(base &+ c)
                                    sum += SIMD4(power(x[0]), power(x[1]), power(x[2]), power(x[3]))
                                }
                            }
                        }
                        let out = SIMD4(root(sum[0]), root(sum[1]), root(sum[2]), root(sum[3]))
                        UnsafeMutableRawPointer(yp + o + ow).storeBytes(of: out, as: SIMD4<Float>.self)
                    }
                }
            }
        }

        /// One window's output (and argmax, for max) at index `o` of the plane, cell by cell.
        @inline(__always)
        func forwardWindow(
            _ xp: UnsafePointer<Float>, _ yp: UnsafeMutablePointer<Float>, _ ap: UnsafeMutablePointer<Int32>, _ o: Int,
            _ cells: Window.Cells
        ) {
            switch kind {
            case .max:
                // The first largest in row-major order: a later cell replaces only a larger value.
                guard cells.count > 0 else {
                    yp[o] = -Float.greatestFiniteMagnitude
                    ap[o] = -1
                    return
                }
                var best = cells.first
                var v = xp[best]
                cells.forEachIndex { i in
                    if xp[i] > v {
                        v = xp[i]
                        best = i
                    }
                }
                yp[o] = v
                ap[o] = Int32(truncatingIfNeeded: best)
            case .avg, .sum:
                var s: Float = 0
                cells.forEachIndex { s += xp[$0] }
                yp[o] = s / divisor(cells)
            case .lp:
                var s: Float = 0
                cells.forEachIndex { s += power(xp[$0]) }
                yp[o] = root(s)
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

        /// The gradient of one plane of avg or sum pooling, added into `dxp`: each window's share of
        /// its output's gradient to every cell. As forward, the windows of a row wholly inside the
        /// input are swept together, a cell offset at a time.
        func backwardSumPlane(_ dyp: UnsafePointer<Float>, _ dxp: UnsafeMutablePointer<Float>) {
            let inner = sweptWindows
            let (k, s, plane) = (g.w.kernel, g.w.stride, (g.h.size, g.w.size))
            let n = inner.count
            withUnsafeTemporaryAllocation(of: Float.self, capacity: max(1, n)) { shares in
                let share = shares.baseAddress!
                g.forEachOutputRow { o, depths, rows, padDR in
                    for ow in 0..<g.w.out where !inner.contains(ow) {
                        let cells = g.cells(depths, rows, padDR, ow)
                        let d = dyp[o + ow] / divisor(cells)
                        cells.forEachIndex { dxp[$0] += d }
                    }
                    if n == 0 || depths.isEmpty || rows.isEmpty { return }
                    // Every inner window has the same cells' count: the first one's divisor serves all.
                    let innerDivisor = divisor(g.cells(depths, rows, padDR, inner.lowerBound))
                    for j in 0..<n { share[j] = dyp[o + inner.lowerBound + j] / innerDivisor }
                    let left = inner.lowerBound * s - g.w.pad
                    for z in depths {
                        for r in rows {
                            let base = (z * plane.0 + r) * plane.1 + left
                            for c in 0..<k {
                                let dst = dxp + base + c
                                if s == 1 {
                                    for j in 0..<n { dst[j] += share[j] }
                                } else {
                                    for j in 0..<n { dst[j &* s] += share[j] }
                                }
                            }
                        }
                    }
                }
            }
        }

        func backward(_ b: OpBinding) {
            let dy = b.outputGrads[0].data
            if isMax2x2 {
                let (x, y) = (b.inputs[0].data, b.outputs[0].data)
                b.withGrad(0) { dxArr, acc in
                    ComputeThreads.forEach(planes, grain: planeGrain) {
                        backwardMax2x2(x, y, dy, dxArr.data, accumulate: acc, planes: $0)
                    }
                }
                return
            }
            let (x, y) = (b.inputs[0].data, b.outputs[0].data)
            b.withGrad(0) { dxArr, acc in
                let dx = dxArr.data
                // Planes are disjoint, so each thread zeroes and fills its own.
                ComputeThreads.forEach(planes, grain: planeGrain) { range in
                    if !acc { (dx + range.lowerBound * g.volume).update(repeating: 0, count: range.count * g.volume) }
                    for plane in range {
                        let dxp = dx + plane * g.volume
                        let first = plane * g.outVolume
                        switch kind {
                        case .max:
                            for o in 0..<g.outVolume {
                                let i = Int(argmax.base[first + o])
                                if i >= 0 { dxp[i] += dy[first + o] }
                            }
                        case .lp:
                            let xp = x + plane * g.volume
                            g.forEachWindow { o, cells in
                                let (d, out) = (dy[first + o], y[first + o])
                                cells.forEachIndex { dxp[$0] += lpGradient(d, xp[$0], out) }
                            }
                        case .avg, .sum: backwardSumPlane(dy + first, dxp)
                        }
                    }
                }
            }
        }
    }
}
