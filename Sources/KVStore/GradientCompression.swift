import Foundation
import SwiftPSTensor

/// Gradient compression for distributed stores: MXNet's `kv.set_gradient_compression` (fit.py's
/// `--gc-type`/`--gc-threshold`), and the fp16 compression of Horovod and PyTorch DDP.
///
/// `2bit` (MXNet's): workers send each pushed gradient as 2-bit codes, 16 to a 32-bit word, a
/// sixteenth of the float32 bytes. Servers expand the codes before summing; pulls (weights) travel
/// uncompressed.
///
/// `fp16`: pushed gradients travel as IEEE half precision (rounded to nearest even, no error
/// feedback, as Horovod's `Compression.fp16` and DDP's `fp16_compress_hook`), and so do the new
/// weights answering each pushpull: half the bytes both ways. Servers sum and update in float32 and
/// keep float32 weights (MXNet's multi-precision masters); a worker trains on those weights rounded
/// to half precision between pulls, and `Module.getParams` (every epoch end in `fit`) pulls them in
/// float32, so scores and checkpoints see exactly what the servers hold. Half precision holds
/// magnitudes up to 65504: a push with a value beyond it (or infinite) is refused naming the key,
/// and a server answers weights beyond it in float32.
///
/// `2bit` with threshold `t`: the worker adds the gradient to a residual it keeps per key; where the
/// residual reaches `t` it sends `+t` and subtracts `t`, where it reaches `-t` it sends `-t` and adds
/// `t`, elsewhere it sends 0. What is not sent stays in the residual for later pushes (error
/// feedback), so nothing is lost, only delayed. Pushes are gradients summed over the worker's batch
/// (the server's optimizer rescales them), so `t` is on that scale; MXNet's default is 0.5.
public struct GradientCompression: Sendable, Equatable, CustomStringConvertible {
    /// The kinds MXNet 1.x offers.
    public enum Kind: String, Sendable, CaseIterable {
        /// No compression: float32 on the wire.
        case none
        /// 2-bit codes with error feedback.
        case twoBit = "2bit"
        /// Half precision both ways: pushed gradients and the weights answering them.
        case fp16
    }

    /// The kind of compression.
    public let kind: Kind
    /// The magnitude sent for a code (2bit).
    public let threshold: Float

    /// No compression.
    public static let none = GradientCompression(checkedKind: .none, threshold: 0.5)

    /// Compression of `kind` (`"none"`, `"2bit"` as MXNet's `type`, or `"fp16"`) with `threshold` (2bit
    /// only, MXNet's default 0.5); throws for an unknown kind or a threshold that is not a positive
    /// finite number.
    public init(kind: String, threshold: Float = 0.5) throws(KVStoreError) {
        guard let known = Kind(rawValue: kind.lowercased()) else {
            throw .badConfiguration(
                "gradient compression type '\(kind)' is unknown: use none, 2bit or fp16"
            )
        }
        guard threshold > 0, threshold.isFinite else {
            throw .badConfiguration("gradient compression threshold \(threshold) must be a positive number")
        }
        self.init(checkedKind: known, threshold: threshold)
    }

    private init(checkedKind: Kind, threshold: Float) {
        kind = checkedKind
        self.threshold = threshold
    }

    /// Whether pushes are compressed.
    public var isActive: Bool { kind != .none }

    /// Whether workers keep what their pushes did not send (2bit's error feedback), which a checkpoint
    /// must then hold.
    public var keepsResiduals: Bool { kind == .twoBit }

    /// Whether the answers to pushpulls (the new weights) travel in half precision.
    public var halvesWeights: Bool { kind == .fp16 }

    /// `none`, `fp16`, or `2bit (threshold 0.5)`.
    public var description: String {
        kind == .twoBit ? "\(kind.rawValue) (threshold \(threshold))" : kind.rawValue
    }

    // MARK: - 2-bit codes

    /// Values per 32-bit word.
    public static let valuesPerWord = 16

    /// The words that hold `count` 2-bit codes.
    public static func wordCount(_ count: Int) -> Int { (count + valuesPerWord - 1) / valuesPerWord }

    /// Adds `count` gradient values to `residual`, writes their 2-bit codes to `words` (value `i` in
    /// bits `2(i % 16)` and `2(i % 16) + 1` of word `i / 16`: `11` for `+threshold`, `10` for
    /// `-threshold`, `00` for 0) and leaves in `residual` what was not sent.
    public static func quantize(
        _ gradient: UnsafePointer<Float>, residual: UnsafeMutablePointer<Float>, count: Int, threshold: Float,
        into words: UnsafeMutablePointer<UInt32>
    ) {
        // Whole words 16 lanes at a time (about 20x the scalar loop), the rest value by value. The
        // lanes are chosen with bit masks rather than `replace(with:where:)`, which this toolchain
        // does not turn into vector selects (20% slower in a scratch benchmark on 1M values).
        let full = count / valuesPerWord
        let t = SIMD16<Float>(repeating: threshold)
        let plus = SIMD16<UInt32>(repeating: threshold.bitPattern)
        let minus = SIMD16<UInt32>(repeating: (-threshold).bitPattern)
        let shifts = codeShifts
        let g = UnsafeRawPointer(gradient)
        let r = UnsafeMutableRawPointer(residual)
        for w in 0..<full {
            let offset = w * MemoryLayout<SIMD16<Float>>.stride
            let x =
                r.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
                + g.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            // All ones in the lanes at or past +t (or -t), zero elsewhere.
            let positive = unsafeBitCast(x .>= t, to: SIMD16<UInt32>.self)
            let negative = unsafeBitCast(x .<= -t, to: SIMD16<UInt32>.self)
            // x - t, x + t, or x itself (each lane subtracts +t, -t or 0; a -0 stays -0).
            let sent =
                x - unsafeBitCast(plus & positive, to: SIMD16<Float>.self)
                - unsafeBitCast(minus & negative, to: SIMD16<Float>.self)
            r.storeBytes(of: sent, toByteOffset: offset, as: SIMD16<Float>.self)
            // The codes occupy disjoint bits, so their sum is their bitwise or.
            words[w] = (((positive & 0b11) | (negative & 0b10)) &<< shifts).wrappedSum()
        }
        let done = full * valuesPerWord
        guard done < count else { return }
        var word: UInt32 = 0
        for i in done..<count {
            var x = residual[i] + gradient[i]
            let shift = UInt32(2 * (i - done))
            if x >= threshold {
                word |= 0b11 << shift
                x -= threshold
            } else if x <= -threshold {
                word |= 0b10 << shift
                x += threshold
            }
            residual[i] = x
        }
        words[full] = word
    }

    /// Writes (`accumulate` false) or adds (`accumulate` true) the `count` values that `words` encode
    /// into `out`.
    public static func dequantize(
        _ words: UnsafePointer<UInt32>, count: Int, threshold: Float, into out: UnsafeMutablePointer<Float>,
        accumulate: Bool
    ) {
        // Whole words 16 lanes at a time, building each value's bits from its code (in a scratch
        // benchmark on 1M values, half the time of the table lookup below): bit 1 says a value was
        // sent, bit 0 its sign.
        let full = count / valuesPerWord
        let magnitude = SIMD16<UInt32>(repeating: threshold.magnitude.bitPattern)
        let shifts = codeShifts
        let raw = UnsafeMutableRawPointer(out)
        for w in 0..<full {
            let codes = SIMD16<UInt32>(repeating: words[w]) &>> shifts
            let sent = SIMD16<UInt32>(repeating: 0) &- ((codes &>> 1) & 1)
            let sign = ((codes & 1) ^ 1) &<< 31
            var values = unsafeBitCast((magnitude | sign) & sent, to: SIMD16<Float>.self)
            let offset = w * MemoryLayout<SIMD16<Float>>.stride
            if accumulate { values += raw.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self) }
            raw.storeBytes(of: values, toByteOffset: offset, as: SIMD16<Float>.self)
        }
        // Code 11 → +t, 10 → -t, 00 (and 01, never sent) → 0: a table lookup per value.
        let base = full * valuesPerWord
        guard base < count else { return }
        let table: SIMD4<Float> = [0, 0, -threshold, threshold]
        let word = words[full]
        let tail = out + base
        for i in 0..<(count - base) {
            let value = table[Int((word >> UInt32(2 * i)) & 0b11)]
            if accumulate { tail[i] += value } else { tail[i] = value }
        }
    }

    /// Lane `i`'s code goes to bits `2i`, `2i + 1` of a word.
    private static let codeShifts = SIMD16<UInt32>(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
}
