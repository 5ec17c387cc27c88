/// A seeded pseudo-random generator (xoshiro256**), so every run can be reproduced.
///
/// One generator per purpose (initializer, shuffling, dropout) keeps streams independent:
/// derive them with `fork(_:)`.
public struct RandomGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)
    private var spareNormal: Float?

    /// A generator whose whole stream is fixed by `seed`.
    public init(seed: UInt64) {
        s = (
            Self.derivedSeed(seed, stream: 1), Self.derivedSeed(seed, stream: 2), Self.derivedSeed(seed, stream: 3),
            Self.derivedSeed(seed, stream: 4)
        )
    }

    /// A seed for use number `stream` of one user seed (the `stream`-th output of splitmix64 from
    /// `seed`): distinct, reproducible seeds for independent purposes, such as one per graph node,
    /// per epoch or per worker.
    public static func derivedSeed(_ seed: UInt64, stream: UInt64) -> UInt64 {
        var z = seed &+ stream &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always) private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = RandomGenerator.rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = RandomGenerator.rotl(s.3, 45)
        return result
    }

    /// A new generator derived from this one's seed stream and `stream`, independent of it.
    public mutating func fork(_ stream: UInt64) -> RandomGenerator {
        RandomGenerator(seed: next() ^ (stream &* 0x9E37_79B9_7F4A_7C15))
    }

    /// A uniform Float in [0, 1).
    public mutating func nextUnit() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// A uniform Float in [low, high).
    public mutating func uniform(_ low: Float, _ high: Float) -> Float { low + (high - low) * nextUnit() }

    /// A normal sample with the given mean and standard deviation (Box-Muller).
    public mutating func normal(mean: Float = 0, std: Float = 1) -> Float {
        if let z = spareNormal {
            spareNormal = nil
            return mean + std * z
        }
        var u1 = nextUnit()
        while u1 <= Float.leastNormalMagnitude { u1 = nextUnit() }
        let u2 = nextUnit()
        let r = (-2 * logf(u1)).squareRoot()
        let theta = 2 * Float.pi * u2
        spareNormal = r * sinf(theta)
        return mean + std * r * cosf(theta)
    }

    /// 1 with probability `p`, else 0.
    public mutating func bernoulli(_ p: Float) -> Float { nextUnit() < p ? 1 : 0 }

    /// Fills `x` with uniform values in [low, high).
    public mutating func fillUniform(_ x: NDArray, low: Float, high: Float) {
        for i in 0..<x.count { x.data[i] = uniform(low, high) }
    }

    /// Fills `x` with normal values.
    public mutating func fillNormal(_ x: NDArray, mean: Float = 0, std: Float) {
        for i in 0..<x.count { x.data[i] = normal(mean: mean, std: std) }
    }

    /// Fills `x` with Bernoulli(p) values (0 or 1).
    public mutating func fillBernoulli(_ x: NDArray, p: Float) {
        for i in 0..<x.count { x.data[i] = bernoulli(p) }
    }

    /// A random permutation of 0..<n (Fisher-Yates).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = Int(next() % UInt64(i + 1))
            p.swapAt(i, j)
        }
        return p
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
