import Foundation
import SwiftPSTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Attribute readers shared by the operators: 2-D tuples, ranges, rejected settings.
extension AttributeReader {
    /// The error for attribute `name` with value `value`.
    func bad(_ name: String, _ value: String, _ reason: String) -> GraphError {
        .badAttribute(op: op, name: name, value: value, reason: reason)
    }

    /// The largest entry of a kernel, stride or pad (2^20): far beyond any real network, and small
    /// enough that every operator's window arithmetic (`start + kernel`, a window's padded area, a
    /// ceiling division by the stride) stays within `Int` for any input that fits in memory.
    static let largestWindowEntry = 1 << 20

    /// A 2-element tuple such as MXNet's `kernel="(5, 5)"`; `nil` default means required. An empty
    /// tuple `()` is the default, as in MXNet (which writes `dilate=()` for its default).
    /// Every entry must be at least `minimum` and at most `largestWindowEntry`.
    func pair(_ name: String, default d: [Int]?, minimum: Int) throws -> [Int] {
        try window(name, default: d, minimum: minimum, entries: 2...2, "SwiftPS supports 2-D NCHW only")
    }

    /// A tuple of a window (kernel, stride, pad) with a number of entries in `entries`; `nil`
    /// default means required, and an empty tuple `()` is the default. Every entry must be at least
    /// `minimum` and at most `largestWindowEntry`; `why` explains the allowed counts.
    func window(
        _ name: String, default d: [Int]?, minimum: Int, entries: ClosedRange<Int>, _ why: String
    ) throws -> [Int] {
        let given = try tuple(name)
        guard let t = given?.isEmpty == false ? given : d else { throw bad(name, raw[name] ?? "", "is required") }
        let raw = self.raw[name] ?? AttributeReader.format(t)
        guard entries.contains(t.count) else {
            let count = entries.count == 1 ? "\(entries.lowerBound)" : "\(entries.lowerBound) to \(entries.upperBound)"
            throw bad(name, raw, "must have \(count) entries (\(why))")
        }
        guard t.allSatisfy({ $0 >= minimum }) else { throw bad(name, raw, "entries must be at least \(minimum)") }
        guard t.allSatisfy({ $0 <= Self.largestWindowEntry }) else {
            throw bad(name, raw, "entries must be at most \(Self.largestWindowEntry)")
        }
        return t
    }

    /// A float in `range`.
    func float(_ name: String, default d: Float, in range: ClosedRange<Float>) throws -> Float {
        let v = try float(name, default: d)
        guard range.contains(v) else {
            throw bad(name, raw[name] ?? "\(v)", "must lie in [\(range.lowerBound), \(range.upperBound)]")
        }
        return v
    }

    /// Throws when attribute `name` is present and differs from the only supported value.
    func requireAbsentOr(_ name: String, _ accepted: Set<String>, reason: String) throws {
        guard let v = raw[name] else { return }
        let norm = v.trimmingSpaces
        guard accepted.contains(norm) || accepted.contains(norm.replacingSpaces()) else { throw bad(name, v, reason) }
    }
}

extension String {
    /// The string without any space characters: `"(1, 1)"` → `"(1,1)"`.
    func replacingSpaces() -> String { String(filter { $0 != " " }) }
}

/// Writes a gradient element-wise, overwriting or accumulating; the branch is hoisted out of the
/// loop so each loop vectorizes.
@inline(__always)
func writeGrad(_ n: Int, _ dst: UnsafeMutablePointer<Float>, accumulate: Bool, _ value: (Int) -> Float) {
    if accumulate {
        for i in 0..<n { dst[i] += value(i) }
    } else {
        for i in 0..<n { dst[i] = value(i) }
    }
}

/// An operator of one `data` input and no attributes (`_copy`, `BlockGrad`, `Flatten`): MXNet's
/// attribute checks and, unless it says otherwise, an output of the input's shape.
protocol PlainUnaryOperator: Operator {
    init()
}

extension PlainUnaryOperator {
    public static var attributeNames: [String] { [] }
    public init(attributes: [String: String]) throws { self.init() }
    public var attributes: [String: String] { [:] }
    public func listArguments() -> [String] { ["data"] }
    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        try elementwiseShape(s, Self.typeName)
    }
}

/// The shapes of an operator whose one output has its one input's shape (element-wise operators).
func elementwiseShape(_ s: [[Int]?], _ op: String) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
    guard let data = s.first ?? nil else { throw GraphError.shapeError("\(op) needs the data shape") }
    return ([data], [data], [])
}

/// A Float formatted the way MXNet writes float attributes (`0.5`, `0.001`).
func formatFloat(_ v: Float) -> String {
    let s = "\(v)"
    return s.hasSuffix(".0") ? String(s.dropLast(2)) : s
}

/// A buffer of `Int32` indices owned by an operator instance (for example max-pooling argmax), zeroed.
final class IndexBuffer {
    let base: UnsafeMutablePointer<Int32>
    let count: Int
    /// Throws `GraphError.bindError` naming `what` when this machine cannot hold it now (its size
    /// follows the batch size).
    init(count: Int, for what: String) throws {
        let elements = max(count, 1)
        let bytes = MachineMemory.times(UInt64(elements), UInt64(MemoryLayout<Int32>.stride))
        if let shortfall = MachineMemory.shortfall(bytes) {
            throw GraphError.bindError("\(what) of \(count) indices \(shortfall): lower the batch size")
        }
        guard let raw = calloc(elements, MemoryLayout<Int32>.stride) else {
            throw GraphError.bindError(
                "\(what) of \(count) indices: the system refused the memory: lower the batch size")
        }
        self.count = count
        base = raw.bindMemory(to: Int32.self, capacity: elements)
    }
    deinit { free(base) }
}

/// The output length of a window sweep: `(in + 2·pad − kernel) / stride + 1`, rounded down (MXNet's
/// `valid` convention) or up (`full`); nil when the window does not fit.
func windowOutputLength(_ input: Int, kernel: Int, stride: Int, pad: Int, roundUp: Bool = false) -> Int? {
    // Overflow-checked: kernel, stride and pad come from a symbol's attributes.
    let (twice, o1) = pad.multipliedReportingOverflow(by: 2)
    let (padded, o2) = input.addingReportingOverflow(twice)
    let (span, o3) = padded.subtractingReportingOverflow(kernel)
    guard !o1, !o2, !o3, span >= 0, stride > 0 else { return nil }
    return (roundUp ? span / stride + (span % stride == 0 ? 0 : 1) : span / stride) + 1
}

/// The window of a `Convolution` or `Deconvolution` (2-D, NCHW), from MXNet's attributes: kernel,
/// stride (default (1, 1)), pad ((0, 0)), dilate ((1, 1)), num_filter, num_group (1, dividing
/// num_filter), no_bias.
public struct ConvolutionWindow: Sendable, Equatable {
    public let kernel: [Int], stride: [Int], pad: [Int], dilate: [Int]
    public let numFilter: Int, numGroup: Int
    public let noBias: Bool

    init(_ r: AttributeReader, noBiasDefault: Bool) throws {
        kernel = try r.pair("kernel", default: nil, minimum: 1)
        stride = try r.pair("stride", default: [1, 1], minimum: 1)
        pad = try r.pair("pad", default: [0, 0], minimum: 0)
        dilate = try r.pair("dilate", default: [1, 1], minimum: 1)
        numFilter = try r.int("num_filter")
        noBias = try r.bool("no_bias", default: noBiasDefault)
        guard numFilter > 0 else { throw r.bad("num_filter", "\(numFilter)", "must be positive") }
        numGroup = try r.int("num_group", default: 1)
        guard numGroup > 0 else { throw r.bad("num_group", "\(numGroup)", "must be positive") }
        guard numFilter % numGroup == 0 else {
            throw r.bad("num_group", "\(numGroup)", "must divide num_filter (\(numFilter))")
        }
        try r.requireAbsentOr("layout", ["NCHW", "None"], reason: "is not supported: SwiftPS convolves NCHW data only")
    }

    init(kernel: [Int], numFilter: Int, stride: [Int], pad: [Int], dilate: [Int], numGroup: Int, noBias: Bool) {
        precondition(
            kernel.count == 2 && stride.count == 2 && pad.count == 2 && dilate.count == 2, "convolutions are 2-D")
        precondition(numGroup > 0 && numFilter % numGroup == 0, "num_group must divide num_filter")
        self.kernel = kernel
        self.stride = stride
        self.pad = pad
        self.dilate = dilate
        self.numFilter = numFilter
        self.numGroup = numGroup
        self.noBias = noBias
    }

    /// The settings as MXNet writes them (dilate and num_group only when not the default).
    var attributes: [String: String] {
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

    /// What the workspaces of a convolution's parallel chunks after the first may take together.
    static let extraWorkspaceBytes = 64 << 20

    /// The workspaces of an operator `op` convolving images by `g` in parallel, one chunk of the batch
    /// per compute thread: each chunk's im2col buffer, and each chunk's after the first weight
    /// gradient (of `weights` elements, added up in chunk order at the end). The chunks past the first
    /// may take `extraWorkspaceBytes` in all: with many CPUs and a large image, fewer chunks than
    /// threads. One image's patches can dwarf the weights and the output (a large kernel over many
    /// channels): an error naming the workspace, not an allocation that kills the process. `columns`
    /// (default `g.columns`) is the im2col buffer's width (`WideRows` makes it wider).
    func workspaces(_ g: Im2Col, batch: Int, weights: Int, of op: String, columns: Int? = nil) throws -> (
        cols: [NDArray], partials: [NDArray]
    ) {
        let columns = columns ?? g.columns
        let perChunk = (g.rows * columns + weights) * MemoryLayout<Float>.stride
        let chunks = min(ComputeThreads.chunks(for: batch), 1 + Self.extraWorkspaceBytes / max(1, perChunk))
        let hint = "use a smaller kernel or fewer channels"
        let cols = try (0..<chunks).map { _ in
            try Symbol.allocate([g.rows, columns], for: "the im2col workspace of a \(op)", hint: hint)
        }
        let partials = try (1..<max(1, chunks)).map { _ in
            try Symbol.allocate([weights], for: "a weight-gradient workspace of a \(op)", hint: hint)
        }
        return (cols, partials)
    }

    /// The im2col geometry of one group of a convolution over `channels` channels of
    /// `height`×`width` with an `outH`×`outW` output, padded by `pad` (default the window's).
    func im2col(channels: Int, height: Int, width: Int, outH: Int, outW: Int, pad: [Int]? = nil) -> Im2Col {
        let pad = pad ?? self.pad
        return Im2Col(
            channels: channels / numGroup, height: height, width: width, kernelH: kernel[0], kernelW: kernel[1],
            strideH: stride[0], strideW: stride[1], padH: pad[0], padW: pad[1], outH: outH, outW: outW,
            dilateH: dilate[0], dilateW: dilate[1])
    }
}

/// What a `Convolution` and a `Deconvolution` instance share: the im2col geometry of one group, the
/// per-chunk workspaces (`ConvolutionWindow.workspaces`), and the bias and chunked weight gradients.
class ConvolutionWork {
    let g: Im2Col, batch: Int, filters: Int, groups: Int, noBias: Bool
    /// Per chunk of the batch: one group of one image's columns (`g.rows` × `g.columns`), reused.
    let cols: [NDArray]
    /// Per chunk after the first: its sum of the weight gradient.
    let partials: [NDArray]

    init(geometry: Im2Col, workspaces: (cols: [NDArray], partials: [NDArray]), batch: Int, window: ConvolutionWindow) {
        g = geometry
        cols = workspaces.cols
        partials = workspaces.partials
        self.batch = batch
        filters = window.numFilter
        groups = window.numGroup
        noBias = window.noBias
    }

    /// Chunks of the batch for this pass: the compute threads, within the workspaces made at bind.
    var chunks: Int { min(ComputeThreads.chunks(for: batch), cols.count) }

    /// The bias gradient (input 2): the sum of `dy` (N × filters × `plane`) over images and positions.
    func biasGradient(_ b: OpBinding, plane: Int) {
        if noBias { return }
        let dy = b.outputGrads[0].data
        b.withGrad(2) { db, acc in
            if !acc { db.fill(0) }
            for n in 0..<batch {
                for f in 0..<filters { db.data[f] += Kernels.sum(plane, dy + (n * filters + f) * plane) }
            }
        }
    }

    /// Adds the weight-gradient sums of the chunks after the first (of `chunks`) into `dw`.
    func addPartials(_ chunks: Int, into dw: NDArray) {
        for chunk in 1..<max(1, chunks) { Kernels.addInPlace(dw.count, partials[chunk - 1].data, dw.data) }
    }
}

/// A walk over a contiguous output of shape `dims`, row by row (its last axis), that carries the
/// matching offsets into two operands read with their own strides: 0 on an axis where an operand is
/// repeated (broadcasting), a permuted stride where its axes are reordered (transpose).
///
/// Axes of size 1 are dropped and neighbouring axes along which both operands advance as the output
/// does are merged, so that rows are as long as the pattern allows.
struct StridedWalk {
    /// The merged output axes.
    let dims: [Int]
    let strides: (a: [Int], b: [Int])

    /// The walk of an output of `shape` with operands of strides `a` and `b` (one per axis).
    init(shape: [Int], a: [Int], b: [Int]) {
        var dims: [Int] = []
        var sa: [Int] = []
        var sb: [Int] = []
        for i in shape.indices where shape[i] != 1 {
            // Axis i continues the previous one when each operand's stride there is the previous
            // stride divided by this axis's size.
            if let last = dims.indices.last, sa[last] == a[i] * shape[i], sb[last] == b[i] * shape[i] {
                dims[last] *= shape[i]
                sa[last] = a[i]
                sb[last] = b[i]
            } else {
                dims.append(shape[i])
                sa.append(a[i])
                sb.append(b[i])
            }
        }
        if dims.isEmpty { (dims, sa, sb) = ([1], [0], [0]) }
        self.dims = dims
        strides = (sa, sb)
    }

    /// The walk of an output of `shape` reading one operand of strides `a`.
    init(shape: [Int], reading a: [Int]) { self.init(shape: shape, a: a, b: Array(repeating: 0, count: shape.count)) }

    /// The row length and each operand's stride along a row.
    var row: (count: Int, a: Int, b: Int) {
        (dims[dims.count - 1], strides.a[dims.count - 1], strides.b[dims.count - 1])
    }

    /// Calls `body` with the start of each output row and the operands' offsets there. Allocates
    /// nothing on the heap.
    @inline(__always)
    func forEachRow(_ body: (_ out: Int, _ a: Int, _ b: Int) -> Void) {
        let outer = dims.count - 1
        let rows = dims[..<outer].reduce(1, *)
        let inner = dims[outer]
        withUnsafeTemporaryAllocation(of: Int.self, capacity: max(outer, 1)) { counter in
            counter.initialize(repeating: 0)
            var (o, a, b) = (0, 0, 0)
            for _ in 0..<rows {
                body(o, a, b)
                o += inner
                var axis = outer - 1
                while axis >= 0 {
                    counter[axis] += 1
                    a += strides.a[axis]
                    b += strides.b[axis]
                    if counter[axis] < dims[axis] { break }
                    a -= strides.a[axis] * dims[axis]
                    b -= strides.b[axis] * dims[axis]
                    counter[axis] = 0
                    axis -= 1
                }
            }
        }
    }

    /// The contiguous (row-major) strides of `shape`.
    static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 0, count: shape.count)
        var running = 1
        for i in shape.indices.reversed() {
            s[i] = running
            running *= shape[i]
        }
        return s
    }
}

/// Where element `j` of a row lies from the row's start for an operand read with `stride`: a type
/// for each common stride (1, and 0 where the operand repeats along the row), so that a row loop
/// specialized for it (`RowLoop`) vectorizes.
protocol RowStride {
    static func at(_ j: Int, _ stride: Int) -> Int
    /// True when every element of the row is the same operand element (stride 0).
    static var repeats: Bool { get }
}

enum UnitStride: RowStride {
    @inline(__always) static func at(_ j: Int, _ stride: Int) -> Int { j }
    static var repeats: Bool { false }
}

enum ZeroStride: RowStride {
    @inline(__always) static func at(_ j: Int, _ stride: Int) -> Int { 0 }
    static var repeats: Bool { true }
}

enum AnyStride: RowStride {
    @inline(__always) static func at(_ j: Int, _ stride: Int) -> Int { j * stride }
    static var repeats: Bool { false }
}

/// The rows of a `StridedWalk`, run by `StridedWalk.run` with the operands' row strides as types.
protocol RowLoop {
    func rows<A: RowStride, B: RowStride>(_: A.Type, _: B.Type)
}

extension StridedWalk {
    /// Runs `loop` specialized for the operands' strides along a row: both 1, one of them 0 (a
    /// broadcast operand), or any other.
    @inline(__always) func run(_ loop: some RowLoop) {
        switch (row.a, row.b) {
        case (1, 1): loop.rows(UnitStride.self, UnitStride.self)
        case (1, 0): loop.rows(UnitStride.self, ZeroStride.self)
        case (0, 1): loop.rows(ZeroStride.self, UnitStride.self)
        default: loop.rows(AnyStride.self, AnyStride.self)
        }
    }
}

/// An output that copies its input read through a `StridedWalk` (operand `a`, from `offset`; `b`
/// unused): the permuted strides of `transpose`, each input element read once; a box of the data
/// (`slice`, `slice_axis`, `reverse`: offset at its first element, negative strides where it runs
/// backwards), each element read at most once; or stride-0 axes (`broadcast_to`, `tile`, `repeat`),
/// where backward sums each element's gradients.
final class StridedCopyInstance: OperatorInstance {
    /// How the output reads the input's elements, which decides how backward writes the gradient.
    enum Reads {
        /// Every input element once: the gradient is written in place.
        case eachOnce
        /// Some input elements once, others never: the gradient is zero off the box.
        case atMostOnce
        /// Some input elements several times: their gradients add.
        case repeatedly
    }

    let walk: StridedWalk
    let offset: Int
    let reads: Reads
    init(_ walk: StridedWalk, offset: Int = 0, reads: Reads) {
        self.walk = walk
        self.offset = offset
        self.reads = reads
    }

    func forward(_ b: OpBinding, isTrain: Bool) {
        let x = b.inputs[0].data + offset
        let y = b.outputs[0].data
        let (n, s, _) = walk.row
        walk.forEachRow { o, i, _ in
            // The common strides get loops of their own, which vectorize.
            switch s {
            case 1: (y + o).update(from: x + i, count: n)
            case 0: Kernels.fill(n, x[i], y + o)
            case -1: for j in 0..<n { y[o &+ j] = x[i &- j] }
            default: for j in 0..<n { y[o &+ j] = x[i &+ j &* s] }
            }
        }
    }

    func backward(_ b: OpBinding) {
        let dy = b.outputGrads[0].data
        let (n, s, _) = walk.row
        b.withGrad(0) { dxArray, accumulate in
            let dx = dxArray.data + offset
            if !accumulate && reads != .eachOnce { dxArray.fill(0) }
            // Each input element meets one output element unless it repeats: then its gradients add.
            let adds = accumulate || reads == .repeatedly
            walk.forEachRow { o, i, _ in
                if s == 0 {
                    // A row of one element repeated (or the one element of a 1-element array).
                    let total = Kernels.sum(n, dy + o)
                    if adds { dx[i] += total } else { dx[i] = total }
                } else if s == -1 {
                    if adds {
                        for j in 0..<n { dx[i &- j] += dy[o &+ j] }
                    } else {
                        for j in 0..<n { dx[i &- j] = dy[o &+ j] }
                    }
                } else if adds {
                    for j in 0..<n { dx[i &+ j &* s] += dy[o &+ j] }
                } else {
                    for j in 0..<n { dx[i &+ j &* s] = dy[o &+ j] }
                }
            }
        }
    }
}

/// The gradient of an input that receives none (a comparison's): zeros written, nothing added.
@inline(__always)
func zeroGrad(_ dx: NDArray, accumulate: Bool) {
    if !accumulate { dx.fill(0) }
}
