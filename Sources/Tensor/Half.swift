import CShims

/// IEEE 754 half precision (binary16) conversions of float32 buffers, for fp16 gradient compression
/// (Horovod's `Compression.fp16`, PyTorch DDP's `fp16_compress_hook`).
///
/// Float32 to half rounds to nearest, ties to even: values of magnitude 65520 and up become
/// infinity, those below 2^-25 become zero, and those in between keep 11 significant bits
/// (subnormal below 2^-14). NaN stays NaN. On x86-64 CPUs with F16C the conversions use it, eight
/// values an instruction; elsewhere a portable loop gives the same bits.
public enum Half {
    /// Writes the half-precision bits of `count` values of `source` to `destination`; returns how many
    /// of them are infinite (values of magnitude 65520 and up, or infinite already).
    @discardableResult
    public static func encode(
        _ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutablePointer<UInt16>
    ) -> Int {
        precondition(count >= 0, "Half.encode: negative count \(count)")
        return swiftps_f32_to_f16(source, destination, count)
    }

    /// Writes (`accumulate` false) or adds (`accumulate` true) the float32 values of `count` half
    /// precision values of `source` into `destination`.
    public static func decode(
        _ source: UnsafePointer<UInt16>, count: Int, into destination: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        precondition(count >= 0, "Half.decode: negative count \(count)")
        swiftps_f16_to_f32(source, destination, count, accumulate ? 1 : 0)
    }

    /// `encode` without F16C (tests compare the two).
    @discardableResult
    static func encodePortable(
        _ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutablePointer<UInt16>
    ) -> Int {
        swiftps_f32_to_f16_portable(source, destination, count)
    }

    /// `decode` without F16C.
    static func decodePortable(
        _ source: UnsafePointer<UInt16>, count: Int, into destination: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        swiftps_f16_to_f32_portable(source, destination, count, accumulate ? 1 : 0)
    }
}
