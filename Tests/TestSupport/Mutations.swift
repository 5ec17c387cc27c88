/// Seeded, deterministic mutations of a valid input, for the decoders' fuzz tests: every decode of
/// a mutant must succeed or throw the format's typed error, never trap.
///
/// The same seed gives the same mutants on every run and platform (SplitMix64), so a failure
/// reproduces; the case index of a mutant is its position in the returned array.
public enum Mutations {
    /// The values written over 1-, 2-, 4- and 8-byte fields: zero, one, all ones (-1), the largest
    /// and smallest signed values, and a few small counts.
    public static let specialValues: [UInt64] = [
        0, 1, 2, 0x20, 0x7F, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
        0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF,
    ]

    /// Every proper prefix of `valid`, shortest first (lengths 0 ..< count).
    public static func truncations(_ valid: [UInt8]) -> [[UInt8]] {
        (0..<valid.count).map { Array(valid[0..<$0]) }
    }

    /// For every offset in `offsets`: the byte flipped (xor 0xFF) and the byte's bits flipped one
    /// at a time.
    public static func bitFlips(_ valid: [UInt8], offsets: Range<Int>) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for offset in offsets.clamped(to: 0..<valid.count) {
            for mask in [0xFF, 1, 2, 4, 8, 16, 32, 64, 128] as [UInt8] {
                var bytes = valid
                bytes[offset] ^= mask
                out.append(bytes)
            }
        }
        return out
    }

    /// For every offset in `offsets` and every width of 1, 2, 4 and 8 bytes that fits: the field
    /// starting there overwritten with each of `specialValues` (little-endian, or big-endian when
    /// `bigEndian`), truncated to the width.
    public static func fieldOverwrites(_ valid: [UInt8], offsets: Range<Int>, bigEndian: Bool = false) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for offset in offsets.clamped(to: 0..<valid.count) {
            for width in [1, 2, 4, 8] where offset + width <= valid.count {
                var seen = Set<UInt64>()
                for value in specialValues {
                    let truncated = width == 8 ? value : value & ((1 << (8 * UInt64(width))) - 1)
                    guard seen.insert(truncated).inserted else { continue }
                    var bytes = valid
                    for i in 0..<width {
                        let shift = 8 * UInt64(bigEndian ? width - 1 - i : i)
                        bytes[offset + i] = UInt8(truncatingIfNeeded: truncated >> shift)
                    }
                    out.append(bytes)
                }
            }
        }
        return out
    }

    /// `count` mutants, each 1 to 4 bytes replaced at random offsets, a quarter of them also cut at a
    /// random length and a tenth grown by random bytes; deterministic for `seed`.
    public static func random(_ valid: [UInt8], count: Int, seed: UInt64) -> [[UInt8]] {
        guard !valid.isEmpty else { return [] }
        var rng = SplitMix64(seed: seed)
        var out: [[UInt8]] = []
        out.reserveCapacity(count)
        for _ in 0..<count {
            var bytes = valid
            for _ in 0...Int(rng.next() % 4) {
                bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
            }
            if rng.next() % 4 == 0 { bytes.removeLast(Int(rng.next() % UInt64(bytes.count))) }
            if rng.next() % 10 == 0 {
                bytes += (0..<Int(1 + rng.next() % 16)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            }
            out.append(bytes)
        }
        return out
    }

    /// Truncations, bit flips and field overwrites over the first `header` bytes, and `random`
    /// mutants: the standard set a fuzz test runs for one valid input.
    public static func standard(_ valid: [UInt8], header: Int, random count: Int, seed: UInt64, bigEndian: Bool = false)
        -> [[UInt8]]
    {
        truncations(valid) + bitFlips(valid, offsets: 0..<header)
            + fieldOverwrites(valid, offsets: 0..<header, bigEndian: bigEndian)
            + random(valid, count: count, seed: seed)
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a small seeded generator whose sequence is the same
/// everywhere, for reproducible fuzz cases.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    /// A generator starting from `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
