import Foundation
import SwiftPSTensor

/// MXNet's gradient compression for distributed stores (`kv.set_gradient_compression`, fit.py's
/// `--gc-type`/`--gc-threshold`): workers send each pushed gradient as 2-bit codes, 16 to a 32-bit
/// word, a sixteenth of the float32 bytes. Servers expand the codes before summing; pulls (weights)
/// travel uncompressed.
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
    }

    /// The kind of compression.
    public let kind: Kind
    /// The magnitude sent for a code (2bit).
    public let threshold: Float

    /// No compression.
    public static let none = GradientCompression(checkedKind: .none, threshold: 0.5)

    /// Compression of `kind` (`"none"` or `"2bit"`, as MXNet's `type`) with `threshold` (MXNet's
    /// default 0.5); throws for an unknown kind or a threshold that is not a positive finite number.
    public init(kind: String, threshold: Float = 0.5) throws(KVStoreError) {
        guard let known = Kind(rawValue: kind.lowercased()) else {
            throw .badConfiguration(
                "gradient compression type '\(kind)' is unknown: use \(Kind.allCases.map(\.rawValue).joined(separator: " or "))"
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

    /// `none`, or `2bit (threshold 0.5)`.
    public var description: String {
        isActive ? "\(kind.rawValue) (threshold \(threshold))" : kind.rawValue
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
        var base = 0
        for w in 0..<wordCount(count) {
            var word: UInt32 = 0
            let end = min(count, base + valuesPerWord)
            for i in base..<end {
                var r = residual[i] + gradient[i]
                let shift = UInt32(2 * (i - base))
                if r >= threshold {
                    word |= 0b11 << shift
                    r -= threshold
                } else if r <= -threshold {
                    word |= 0b10 << shift
                    r += threshold
                }
                residual[i] = r
            }
            words[w] = word
            base = end
        }
    }

    /// Writes (`accumulate` false) or adds (`accumulate` true) the `count` values that `words` encode
    /// into `out`.
    public static func dequantize(
        _ words: UnsafePointer<UInt32>, count: Int, threshold: Float, into out: UnsafeMutablePointer<Float>,
        accumulate: Bool
    ) {
        var base = 0
        for w in 0..<wordCount(count) {
            let word = words[w]
            let end = min(count, base + valuesPerWord)
            for i in base..<end {
                // 11 → +t, 10 → -t, 00 (and 01, never sent) → 0.
                let code = (word >> UInt32(2 * (i - base))) & 0b11
                let value: Float = code == 0b11 ? threshold : code == 0b10 ? -threshold : 0
                out[i] = accumulate ? out[i] + value : value
            }
            base = end
        }
    }
}
