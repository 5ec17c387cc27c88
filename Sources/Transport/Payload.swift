import Foundation

/// One data frame of a `Message`: a typed, immutable byte buffer that travels without copying.
///
/// This plays the part of ps-lite's `SArray<V>` (`include/ps/sarray.h`): a send wraps a Swift-owned
/// buffer in a ZeroMQ frame with no copy (`zmq_msg_init_data`, released when ZeroMQ is done with it),
/// and a receive wraps the ZeroMQ frame itself. Received buffers are only 8-byte aligned, so typed
/// access goes through `withUnsafeBufferPointer(of:_:)` (which copies when the alignment is not
/// enough) or `toArray(of:)`; never rebind the bytes to over-aligned SIMD types.
///
/// A payload must not be mutated after it is created: the transport may still be reading it on
/// ZeroMQ's I/O thread after `send` returns. `onRelease` (if given) runs when the last reference
/// is dropped, which after a zero-copy send happens on ZeroMQ's I/O thread: keep it cheap.
public final class Payload: @unchecked Sendable {
    enum Storage {
        /// Allocated (64-byte aligned) and freed by the payload.
        case owned(UnsafeMutableRawPointer?)
        /// A caller's buffer, handed back to `deallocator` on release.
        case wrapped(@Sendable (UnsafeMutableRawBufferPointer) -> Void)
        /// A received ZeroMQ frame.
        case frame(ZMQFrame)
    }

    /// The element type of the bytes.
    public let dataType: WireDataType
    /// The number of bytes.
    public let byteCount: Int
    let storage: Storage
    private let base: UnsafeRawPointer?
    private let onRelease: (@Sendable () -> Void)?

    /// A payload holding a copy of `values` in a 64-byte-aligned buffer it owns.
    public convenience init<T: WireElement>(copying values: [T], onRelease: (@Sendable () -> Void)? = nil) {
        self.init(count: values.count, of: T.self, onRelease: onRelease) { buffer in
            _ = buffer.initialize(from: values)
        }
    }

    /// A payload of `count` elements of `T` in a 64-byte-aligned buffer it owns, filled in place by
    /// `initializer` (the way to build a frame with no intermediate array).
    public init<T: WireElement>(
        count: Int, of type: T.Type, onRelease: (@Sendable () -> Void)? = nil,
        initializer: (UnsafeMutableBufferPointer<T>) throws -> Void
    ) rethrows {
        let bytes = count * MemoryLayout<T>.stride
        let raw: UnsafeMutableRawPointer? =
            bytes > 0 ? UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64) : nil
        if let raw {
            // Zero bytes are a valid value of every bitwise-copyable element type.
            raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
            let typed = raw.bindMemory(to: T.self, capacity: count)
            do {
                try initializer(UnsafeMutableBufferPointer(start: typed, count: count))
            } catch {
                raw.deallocate()
                throw error
            }
        } else {
            try initializer(UnsafeMutableBufferPointer(start: nil, count: 0))
        }
        dataType = T.wireType
        byteCount = bytes
        storage = .owned(raw)
        base = UnsafeRawPointer(raw)
        self.onRelease = onRelease
    }

    /// A payload holding a copy of `bytes`, whose elements are of type `dataType`, in a 64-byte-aligned
    /// buffer it owns (bytes produced elsewhere, such as a decrypted frame, keep their frame's type).
    public init(copying bytes: UnsafeRawBufferPointer, dataType: WireDataType) {
        let raw: UnsafeMutableRawPointer? =
            bytes.isEmpty ? nil : UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 64)
        if let raw, let source = bytes.baseAddress { raw.copyMemory(from: source, byteCount: bytes.count) }
        self.dataType = dataType
        byteCount = bytes.count
        storage = .owned(raw)
        base = UnsafeRawPointer(raw)
        onRelease = nil
    }

    /// Wraps a buffer the caller owns, with no copy. The caller must keep it alive and unchanged
    /// until `deallocator` is called (when the last reference to the payload goes away, possibly on
    /// ZeroMQ's I/O thread after a send).
    public init(
        bytesNoCopy buffer: UnsafeMutableRawBufferPointer, dataType: WireDataType,
        deallocator: @escaping @Sendable (UnsafeMutableRawBufferPointer) -> Void
    ) {
        self.dataType = dataType
        byteCount = buffer.count
        base = UnsafeRawPointer(buffer.baseAddress)
        storage = .wrapped(deallocator)
        onRelease = nil
    }

    /// A payload over a received ZeroMQ frame (zero-copy receive).
    init(frame: ZMQFrame, dataType: WireDataType) {
        self.dataType = dataType
        byteCount = frame.count
        base = frame.withUnsafeBytes { $0.baseAddress }
        storage = .frame(frame)
        onRelease = nil
    }

    deinit {
        switch storage {
        case .owned(let raw): raw?.deallocate()
        case .wrapped(let deallocator):
            deallocator(UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(mutating: base), count: byteCount))
        case .frame: break
        }
        onRelease?()
    }

    /// The start of the bytes, for the zero-copy send path; valid while `self` is alive.
    var baseAddress: UnsafeRawPointer? { base }

    /// Calls `body` with the raw bytes, valid only inside `body`.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(UnsafeRawBufferPointer(start: base, count: byteCount)) }
    }

    /// The number of `T` elements, or `nil` when the byte count is not a multiple of `T`'s size.
    public func count<T: WireElement>(of type: T.Type) -> Int? {
        byteCount % MemoryLayout<T>.stride == 0 ? byteCount / MemoryLayout<T>.stride : nil
    }

    /// Calls `body` with the elements as `T`. Throws when the frame's data type is not `T`'s or its size
    /// is not a whole number of elements. When the buffer is not aligned for `T` (received frames are
    /// only 8-byte aligned), the elements are first copied into an aligned buffer.
    public func withUnsafeBufferPointer<T: WireElement, R>(
        of type: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R
    ) throws -> R {
        let count = try checkedCount(of: T.self)
        return try withUnsafeBytes { raw in
            guard let start = raw.baseAddress, count > 0 else {
                return try body(UnsafeBufferPointer(start: nil, count: 0))
            }
            if Int(bitPattern: start) % MemoryLayout<T>.alignment == 0 {
                return try body(UnsafeBufferPointer(start: start.assumingMemoryBound(to: T.self), count: count))
            }
            let copy = UnsafeMutableBufferPointer<T>.allocate(capacity: count)
            defer { copy.deallocate() }
            UnsafeMutableRawBufferPointer(copy).copyMemory(from: raw)
            return try body(UnsafeBufferPointer(copy))
        }
    }

    /// Copies the elements out into a new array (alignment-safe).
    public func toArray<T: WireElement>(of type: T.Type) throws -> [T] {
        let count = try checkedCount(of: T.self)
        return withUnsafeBytes { raw in
            [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                if count > 0 { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw) }
                initialized = count
            }
        }
    }

    /// Copies the elements into `destination`, which must hold exactly as many elements.
    public func copyElements<T: WireElement>(into destination: UnsafeMutableBufferPointer<T>) throws {
        let count = try checkedCount(of: T.self)
        guard count == destination.count else {
            throw PayloadError.countMismatch(expected: destination.count, found: count)
        }
        if count > 0 { withUnsafeBytes { UnsafeMutableRawBufferPointer(destination).copyMemory(from: $0) } }
    }

    private func checkedCount<T: WireElement>(of type: T.Type) throws -> Int {
        guard dataType == T.wireType else {
            throw PayloadError.typeMismatch(requested: T.wireType, actual: dataType)
        }
        guard let count = count(of: T.self) else {
            throw PayloadError.partialElement(byteCount: byteCount, elementType: T.wireType)
        }
        return count
    }
}

/// Why a payload cannot be read as the requested type (ps-lite `CHECK`-fails here; SwiftPS throws).
public enum PayloadError: Error, Equatable, CustomStringConvertible {
    /// The frame is tagged with another element type.
    case typeMismatch(requested: WireDataType, actual: WireDataType)
    /// The frame's size is not a whole number of elements.
    case partialElement(byteCount: Int, elementType: WireDataType)
    /// The destination holds a different number of elements.
    case countMismatch(expected: Int, found: Int)

    /// A readable explanation.
    public var description: String {
        switch self {
        case .typeMismatch(let requested, let actual):
            return
                "payload holds \(actual) elements, not \(requested): the sender and receiver disagree on the frame layout"
        case .partialElement(let bytes, let type):
            return "payload of \(bytes) bytes is not a whole number of \(type) elements (\(type.byteWidth) bytes each)"
        case .countMismatch(let expected, let found):
            return "payload holds \(found) elements but the destination has room for \(expected)"
        }
    }
}
