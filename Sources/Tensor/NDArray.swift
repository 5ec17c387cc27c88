import COpenBLAS

#if canImport(Glibc)
    import Glibc
#endif

/// The memory behind one or more `NDArray`s: a 64-byte aligned block of Float32 values.
///
/// Views (`slice`, `reshaped`) share one storage; it is freed when the last view goes away.
public final class TensorStorage: @unchecked Sendable {
    /// The first value.
    public let base: UnsafeMutablePointer<Float>
    /// How many values the block holds.
    public let capacity: Int

    /// Allocates `capacity` values, zero-filled; a failed allocation is a programmer error here (sizes
    /// from input go through `init?(allocating:)`).
    public init(capacity: Int) {
        precondition(capacity >= 0, "TensorStorage: negative capacity \(capacity)")
        guard let base = Self.allocateZeroed(capacity) else {
            preconditionFailure("TensorStorage: cannot allocate \(capacity) float32 values")
        }
        self.base = base
        self.capacity = capacity
    }

    /// Allocates `capacity` values, zero-filled, or nil when `capacity` is negative, its byte count
    /// overflows, or the system refuses the memory.
    public init?(allocating capacity: Int) {
        guard capacity >= 0, let base = Self.allocateZeroed(capacity) else { return nil }
        self.base = base
        self.capacity = capacity
    }

    private static func allocateZeroed(_ capacity: Int) -> UnsafeMutablePointer<Float>? {
        let elements = max(capacity, 1)
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        var raw: UnsafeMutableRawPointer?
        guard !overflow, posix_memalign(&raw, 64, bytes) == 0, let raw else { return nil }
        memset(raw, 0, bytes)
        return raw.bindMemory(to: Float.self, capacity: elements)
    }

    deinit { free(base) }
}

/// Errors raised by tensor operations on bad input.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    /// Two shapes that must agree do not.
    case shapeMismatch(String)
    /// An index or range lies outside an array.
    case outOfRange(String)
    /// An array sized by input that this machine cannot hold (`NDArray(checkedShape:for:hint:)`).
    case outOfMemory(String)
    /// A numerical routine that did not converge (LAPACK's SVD).
    case notConverged(String)

    public var description: String {
        switch self {
        case .shapeMismatch(let s): return "shape mismatch: \(s)"
        case .outOfRange(let s): return "out of range: \(s)"
        case .outOfMemory(let s): return s
        case .notConverged(let s): return "did not converge: \(s)"
        }
    }
}

/// A dense, row-major, contiguous array of Float32, MXNet's `NDArray` on the CPU.
///
/// `NDArray` is a reference type, as in MXNet: an executor binds arrays once and every step
/// writes into the same memory. `slice(_:)` along the first axis and `reshaped(_:)` return views
/// that share storage (MXNet's `slice`/`reshape`); `copy()` makes an independent array.
public final class NDArray: @unchecked Sendable, CustomStringConvertible {
    /// The dimensions, outermost first.
    public private(set) var shape: [Int]
    /// The storage this array views.
    public let storage: TensorStorage
    /// Where this array starts in `storage`.
    public let offset: Int
    /// The number of elements (the product of `shape`).
    public let count: Int

    /// The product of a shape's dimensions.
    @inlinable public static func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    /// The number of elements of `shape`, or nil when a dimension is negative or the count overflows
    /// `Int`: for shapes read from a file or a message, before anything is sized by them.
    public static func checkedElementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard dim >= 0, !overflow else { return nil }
            count = product
        }
        return count
    }

    /// A zero-filled array of the given shape.
    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "NDArray: negative dimension in \(shape)")
        self.shape = shape
        self.count = NDArray.elementCount(shape)
        self.storage = TensorStorage(capacity: count)
        self.offset = 0
    }

    /// A zero-filled array of a shape that comes from input (a batch size, a file, a network's
    /// sizes), or `TensorError.outOfMemory` when a dimension is negative, the size overflows, it is
    /// more than this machine's memory or than the memory available now (`MachineMemory.shortfall`),
    /// or the system refuses it: an error naming `what` needed it and ending with `hint`, where
    /// allocating would have killed the process.
    public convenience init(checkedShape shape: [Int], for what: String, hint: String) throws(TensorError) {
        let described = "\(what) (shape \(NDArray.shapeDescription(shape)))"
        guard let count = NDArray.checkedElementCount(shape) else {
            throw .outOfMemory("\(described) has a negative or overflowing size: \(hint)")
        }
        let bytes = MachineMemory.floatBytes(count)
        if let shortfall = MachineMemory.shortfall(bytes) { throw .outOfMemory("\(described) \(shortfall): \(hint)") }
        guard let storage = TensorStorage(allocating: count) else {
            throw .outOfMemory("\(described): the system refused \(MachineMemory.format(bytes)) of memory: \(hint)")
        }
        self.init(storage: storage, offset: 0, shape: shape)
    }

    /// An array of the given shape with every element `value`.
    public convenience init(shape: [Int], repeating value: Float) {
        self.init(shape: shape)
        fill(value)
    }

    /// An array holding `values` (row-major) with the given shape.
    public convenience init(_ values: [Float], shape: [Int]) {
        precondition(
            values.count == NDArray.elementCount(shape),
            "NDArray: \(values.count) values do not fill shape \(shape)")
        self.init(shape: shape)
        values.withUnsafeBufferPointer { src in
            if let s = src.baseAddress { data.update(from: s, count: values.count) }
        }
    }

    /// A one-dimensional array holding `values`.
    public convenience init(_ values: [Float]) { self.init(values, shape: [values.count]) }

    /// A view onto existing storage; used by `slice` and `reshaped`.
    init(storage: TensorStorage, offset: Int, shape: [Int]) {
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.count = NDArray.elementCount(shape)
        precondition(offset + count <= storage.capacity || count == 0, "NDArray view exceeds its storage")
    }

    /// The first element; valid while `self` is alive.
    @inlinable public var data: UnsafeMutablePointer<Float> { storage.base + offset }

    /// The number of dimensions.
    public var ndim: Int { shape.count }

    /// The values as a buffer, for reading.
    @inlinable public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(UnsafeBufferPointer(start: data, count: count)) }
    }

    /// The values as a buffer, for writing.
    @inlinable public func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        try withExtendedLifetime(self) { try body(UnsafeMutableBufferPointer(start: data, count: count)) }
    }

    /// Element at a flat (row-major) index.
    @inlinable public subscript(flat index: Int) -> Float {
        get {
            precondition(index >= 0 && index < count, "NDArray index \(index) out of range 0..<\(count)")
            return data[index]
        }
        set {
            precondition(index >= 0 && index < count, "NDArray index \(index) out of range 0..<\(count)")
            data[index] = newValue
        }
    }

    /// Element at a multi-dimensional index.
    public subscript(_ indices: Int...) -> Float {
        get { data[flatIndex(indices)] }
        set { data[flatIndex(indices)] = newValue }
    }

    private func flatIndex(_ indices: [Int]) -> Int {
        precondition(indices.count == shape.count, "NDArray: \(indices.count) indices for shape \(shape)")
        var flat = 0
        for (i, d) in zip(indices, shape) {
            precondition(i >= 0 && i < d, "NDArray: index \(indices) out of range for shape \(shape)")
            flat = flat * d + i
        }
        return flat
    }

    /// The values as a Swift array (MXNet's `asnumpy().ravel()`).
    public func toArray() -> [Float] { withUnsafeBufferPointer { Array($0) } }

    /// An independent copy with the same shape and values.
    public func copy() -> NDArray {
        let out = NDArray(shape: shape)
        out.data.update(from: data, count: count)
        return out
    }

    /// Copies the values of `other` into this array (MXNet's `copyto`); the element counts must match.
    public func copy(from other: NDArray) throws {
        guard other.count == count else {
            throw TensorError.shapeMismatch("cannot copy \(other.shape) into \(shape)")
        }
        if other.data != data { data.update(from: other.data, count: count) }
    }

    /// Sets every element to `value`.
    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    /// A view of rows `range` along the first axis, sharing storage (MXNet's `slice`).
    public func slice(_ range: Range<Int>) -> NDArray {
        precondition(!shape.isEmpty, "NDArray.slice on a scalar")
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[0], "slice \(range) out of 0..<\(shape[0])")
        let row = shape.dropFirst().reduce(1, *)
        var s = shape
        s[0] = range.count
        return NDArray(storage: storage, offset: offset + range.lowerBound * row, shape: s)
    }

    /// A view with another shape of the same element count; one dimension may be -1 (inferred).
    /// Throws for any other shape, including negative or overflowing ones.
    public func reshaped(_ newShape: [Int]) throws -> NDArray {
        var s = newShape
        if let i = s.firstIndex(of: -1) {
            var rest = s
            rest.remove(at: i)
            guard let known = NDArray.checkedElementCount(rest), known > 0, count % known == 0 else {
                throw TensorError.shapeMismatch("cannot reshape \(shape) to \(newShape)")
            }
            s[i] = count / known
        }
        guard NDArray.checkedElementCount(s) == count else {
            throw TensorError.shapeMismatch("cannot reshape \(shape) (\(count) elements) to \(newShape)")
        }
        return NDArray(storage: storage, offset: offset, shape: s)
    }

    /// Changes this array's shape in place to one with the same element count (no -1, no negative
    /// or overflowing dimension).
    public func reshapeInPlace(_ newShape: [Int]) throws {
        guard NDArray.checkedElementCount(newShape) == count else {
            throw TensorError.shapeMismatch("cannot reshape \(shape) to \(newShape)")
        }
        shape = newShape
    }

    public var description: String {
        let shown = toArray().prefix(8).map { String($0) }.joined(separator: ", ")
        return "NDArray\(shape)[\(shown)\(count > 8 ? ", …" : "")]"
    }
}

extension NDArray {
    /// `shape` as MXNet (Python) prints it, for messages: `(128, 784)`, `(50,)`, `()`.
    public static func shapeDescription(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(\(shape.map(String.init).joined(separator: ", ")))"
    }
}
