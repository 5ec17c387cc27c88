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

    /// A 2-element tuple such as MXNet's `kernel="(5, 5)"`; `nil` default means required.
    /// Every entry must be at least `minimum` and at most `largestWindowEntry`.
    func pair(_ name: String, default d: [Int]?, minimum: Int) throws -> [Int] {
        guard let t = try tuple(name) ?? d else { throw bad(name, "", "is required") }
        let raw = self.raw[name] ?? AttributeReader.format(t)
        guard t.count == 2 else {
            throw bad(name, raw, "must have 2 entries (SwiftPS supports 2-D NCHW only)")
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
