import Testing

@testable import SwiftPSTensor

/// Half-precision conversions against Swift's own `Float16` (round to nearest even), through both
/// the F16C path and the portable one.
@Suite struct HalfTests {
    typealias Encode = (UnsafePointer<Float>, Int, UnsafeMutablePointer<UInt16>) -> Int
    typealias Decode = (UnsafePointer<UInt16>, Int, UnsafeMutablePointer<Float>, Bool) -> Void
    static var paths: [(String, Encode, Decode)] {
        [
            (
                "dispatched", { Half.encode($0, count: $1, into: $2) },
                { Half.decode($0, count: $1, into: $2, accumulate: $3) }
            ),
            (
                "portable", { Half.encodePortable($0, count: $1, into: $2) },
                { Half.decodePortable($0, count: $1, into: $2, accumulate: $3) }
            ),
        ]
    }

    /// Every one of the 65,536 half values widens exactly as `Float(Float16)`; NaNs stay NaN with
    /// their sign; adding to what is there adds.
    @Test func everyHalfValueWidensExactly() {
        let all = (0...UInt16.max).map { $0 }
        for (name, _, decode) in Self.paths {
            var out = [Float](repeating: 0, count: all.count)
            decode(all, all.count, &out, false)
            for (bits, value) in zip(all, out) {
                let expected = Float(Float16(bitPattern: bits))
                if expected.isNaN {
                    #expect(value.isNaN && value.sign == expected.sign, "\(name): \(bits)")
                } else {
                    #expect(value.bitPattern == expected.bitPattern, "\(name): half \(bits) gave \(value)")
                }
            }
            var sums = [Float](repeating: 1.5, count: 9)
            let halves = (0..<9).map { Float16(Float($0) * 0.25).bitPattern }
            decode(halves, 9, &sums, true)
            #expect(sums == (0..<9).map { 1.5 + Float($0) * 0.25 }, "\(name)")
        }
    }

    /// Float32 values narrow as `Float16(Float)`: the edges of each range (the largest finite half,
    /// the ties at 65520 and 2^-25, subnormals, signed zeros, infinities), every exponent, and a
    /// million seeded bit patterns, each conversion counting the infinite results. Counts that are
    /// not a multiple of eight take the tail loop.
    @Test func floatsNarrowToTheNearestEvenHalf() {
        var values: [Float] = [
            0, -0, 1, -1, 65504, 65505, 65519.99, 65520, -65520, 1e10, .infinity, -.infinity,
            0x1p-24, 0x1p-25, 0x1.000002p-25, 0x1.8p-25, 0x1p-26, 0x1p-14, 0x1.ffcp-15, 0x1.ffep-15, 5.9604645e-8,
            1.0009766, 1.0004883, 1.0014648, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
            -.greatestFiniteMagnitude,
        ]
        for exponent in -30...17 { values += [Float(sign: .plus, exponent: exponent, significand: 1.337)] }
        var random = RandomGenerator(seed: 7)
        for _ in 0..<1_000_000 { values.append(Float(bitPattern: UInt32(truncatingIfNeeded: random.next()))) }
        for (name, encode, _) in Self.paths {
            for count in [values.count, 27, 5] {
                var out = [UInt16](repeating: 0xAAAA, count: count)
                let infinite = encode(values, count, &out)
                #expect(infinite == values.prefix(count).filter { Float16($0).isInfinite }.count, "\(name): \(count)")
                for (value, bits) in zip(values.prefix(count), out) {
                    let expected = Float16(value)
                    if expected.isNaN {
                        #expect(
                            Float16(bitPattern: bits).isNaN && (bits >> 15) == (expected.bitPattern >> 15), "\(name)")
                    } else if bits != expected.bitPattern {
                        Issue.record(
                            "\(name): \(value) (\(value.bitPattern)) gave \(bits), expected \(expected.bitPattern)")
                        return
                    }
                }
            }
        }
    }

    /// Both paths give the same bits for NaNs too (the quiet bit set, the payload's top kept), so a
    /// machine without F16C sends what one with it would.
    @Test func thePathsAgreeOnNaNPayloads() {
        let nans: [Float] = [
            .nan, -.nan, .signalingNaN, Float(bitPattern: 0x7f80_0001), Float(bitPattern: 0xffc0_2000),
            Float(bitPattern: 0x7fbf_ffff),
        ]
        var a = [UInt16](repeating: 0, count: nans.count)
        var b = a
        Half.encode(nans, count: nans.count, into: &a)
        Half.encodePortable(nans, count: nans.count, into: &b)
        #expect(a == b)
        #expect(a.allSatisfy { Float16(bitPattern: $0).isNaN && $0 & 0x0200 != 0 })
    }
}
