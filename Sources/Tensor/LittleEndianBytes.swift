/// Float32 values and fixed-width integers as little-endian bytes: the byte order of the formats
/// SwiftPS shares with MXNet (`.params` files, `.npy` `<f4`) and of its own (optimizer-state files,
/// the threshold of a 2-bit compressed push, arrays in epoch reports).
///
/// A float32 is its IEEE-754 binary32 bit pattern, least significant byte first: 1.0 is
/// `00 00 80 3F`. On a little-endian host the bulk functions copy memory; elsewhere they swap each
/// value. Offsets are in bytes and need no alignment.
public enum LittleEndianBytes {
    /// Appends `value` as `MemoryLayout<T>.size` little-endian bytes.
    @inlinable
    public static func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    /// Appends `value` as its 4 binary32 bytes, little-endian.
    @inlinable
    public static func append(_ value: Float, to out: inout [UInt8]) {
        append(value.bitPattern, to: &out)
    }

    /// Appends every value of `values`, in order, as 4 little-endian bytes each.
    @inlinable
    public static func append(_ values: UnsafeBufferPointer<Float>, to out: inout [UInt8]) {
        #if _endian(little)
            out.append(contentsOf: UnsafeRawBufferPointer(values))
        #else
            out.reserveCapacity(out.count + 4 * values.count)
            for value in values { append(value.bitPattern, to: &out) }
        #endif
    }

    /// The `T` whose little-endian bytes start at byte `offset` of `source`.
    ///
    /// `source` must hold `MemoryLayout<T>.size` bytes from `offset` (callers check lengths first).
    @inlinable
    public static func integer<T: FixedWidthInteger>(
        _: T.Type, from source: UnsafeRawBufferPointer, at offset: Int = 0
    ) -> T {
        T(littleEndian: source.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// The float32 whose 4 little-endian bytes start at byte `offset` of `source`.
    ///
    /// `source` must hold 4 bytes from `offset` (callers check lengths first).
    @inlinable
    public static func float(from source: UnsafeRawBufferPointer, at offset: Int = 0) -> Float {
        Float(bitPattern: integer(UInt32.self, from: source, at: offset))
    }

    /// Reads `count` float32 values, 4 little-endian bytes each, from the start of `source` into
    /// `destination`.
    ///
    /// `source` must hold at least `4 * count` bytes: callers check lengths first, so a shorter
    /// one is a programmer error.
    @inlinable
    public static func read(
        _ source: UnsafeRawBufferPointer, into destination: UnsafeMutablePointer<Float>, count: Int
    ) {
        precondition(count >= 0 && source.count >= 4 * count, "\(source.count) bytes cannot hold \(count) floats")
        guard count > 0, let base = source.baseAddress else { return }
        #if _endian(little)
            UnsafeMutableRawPointer(destination).copyMemory(from: base, byteCount: 4 * count)
        #else
            for i in 0..<count { destination[i] = float(from: source, at: 4 * i) }
        #endif
    }
}
