import SwiftPSTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Bilinear-interpolation kernels for upsampling, MXNet 1.x's `mx.init.Bilinear` (`"bilinear"`),
/// the usual weights of a `Deconvolution` that upsamples (MXNet's bilinear `UpSampling`).
///
/// For a weight of shape `(…, height, width)` (at least 4 dimensions, as MXNet reads `shape[3]`),
/// with `f = ceil(width / 2)` and `c = (2f − 1 − f mod 2) / (2f)`, the element at column `x` and
/// row `y` of every kernel is `(1 − |x/f − c|) · (1 − |y/f − c|)`. MXNet takes `f` from the width
/// for both axes, so a kernel that is not square is filled with the width's `f` along its height
/// too; SwiftPS does the same. Arrays with fewer than 4 dimensions throw `unsupportedShape`, where
/// MXNet raises `IndexError`. Deterministic: `rng` is not used.
public struct Bilinear: Initializer {
    /// A bilinear initializer (MXNet's `Bilinear()` takes no arguments).
    public init() {}

    /// Fills every kernel of the weight with the bilinear filter.
    public func initWeight(name: String, array: NDArray, rng: inout RandomGenerator) throws {
        guard array.ndim >= 4 else {
            throw InitializerError.unsupportedShape(
                name: name, shape: array.shape,
                reason: "Bilinear fills (filters, channels, height, width) kernels and needs at least 4 dimensions")
        }
        let (height, width) = (array.shape[2], array.shape[3])
        guard array.count > 0 else { return }
        let f = (Double(width) / 2).rounded(.up)
        let c = (2 * f - 1 - f.truncatingRemainder(dividingBy: 2)) / (2 * f)
        let out = array.data
        for i in 0..<array.count {
            let x = Double(i % width)
            let y = Double((i / width) % height)
            out[i] = Float((1 - abs(x / f - c)) * (1 - abs(y / f - c)))
        }
    }
}

/// Orthogonal weights, MXNet 1.x's `mx.init.Orthogonal(scale=1.414, rand_type="uniform")`
/// (`"orthogonal"`; Saxe et al., "Exact solutions to the nonlinear dynamics of learning in deep
/// linear neural networks").
///
/// As MXNet does: the weight is seen as a `nout × nin` matrix (`nout = shape[0]`, `nin` the product
/// of the other dimensions), a matrix of that shape is drawn from U(−1, 1) or N(0, 1), and of its
/// thin SVD `U·S·Vᵀ` the factor with the matrix's shape is kept (`U` when `nin ≤ nout`, else `Vᵀ`),
/// times `scale`. So the rows are orthogonal with norm `scale` when `nout ≤ nin`, and the columns
/// are when `nout ≥ nin`. The SVD is LAPACK's `sgesvd` from OpenBLAS. Arrays with fewer than 2
/// dimensions throw `unsupportedShape`, where MXNet fails too.
public struct Orthogonal: Initializer {
    /// The distribution of the matrix that is decomposed (MXNet's `rand_type`).
    public enum RandomType: String, Sendable, CaseIterable {
        /// U(−1, 1).
        case uniform
        /// N(0, 1).
        case normal
    }

    /// The norm of each orthogonal row (or column).
    public let scale: Float
    /// The distribution decomposed.
    public let randType: RandomType

    /// An orthogonal initializer with MXNet's defaults (scale 1.414, uniform).
    public init(scale: Float = 1.414, randType: RandomType = .uniform) {
        self.scale = scale
        self.randType = randType
    }

    /// Fills the weight with `scale` times the orthogonal factor of a random matrix.
    public func initWeight(name: String, array: NDArray, rng: inout RandomGenerator) throws {
        guard array.ndim >= 2 else {
            throw InitializerError.unsupportedShape(
                name: name, shape: array.shape, reason: "Orthogonal requires at least 2 dimensions")
        }
        guard array.count > 0 else { return }
        let nout = array.shape[0]
        let nin = array.count / nout
        let draw = NDArray(shape: [nout, nin])
        switch randType {
        case .uniform: rng.fillUniform(draw, low: -1, high: 1)
        case .normal: rng.fillNormal(draw, mean: 0, std: 1)
        }
        let svd = try LAPACK.thinSVD(draw.toArray(), rows: nout, columns: nin)
        let factor = nin <= nout ? svd.u : svd.vt
        let out = array.data
        for i in 0..<array.count { out[i] = scale * factor[i] }
    }
}

/// LSTM biases, MXNet 1.x's `mx.init.LSTMBias(forget_bias=1.0)` (`"lstmbias"`): zeros, except the
/// forget gate's quarter, the second of the four gates along the first axis (rows
/// `n/4 ..< 2·n/4`, `n/4` rounded down), which is `forgetBias`.
///
/// MXNet applies it through a variable's initializer (`Variable('i2h_bias',
/// init=mx.init.LSTMBias(1.0))`, the `__init__` attribute), which fills the bias with this rule.
/// As a global initializer its name rules come first, as in MXNet: a parameter named `…bias` gets
/// 0 and only `…weight` names get the rule. Deterministic: `rng` is not used.
public struct LSTMBias: Initializer {
    /// The forget gate's bias (Jozefowicz et al. 2015 recommend 1).
    public let forgetBias: Float

    /// An LSTM bias initializer; MXNet's default forget bias is 1.
    public init(forgetBias: Float = 1) { self.forgetBias = forgetBias }

    /// Zeros, with the forget gate's rows set to `forgetBias`.
    public func initWeight(name: String, array: NDArray, rng: inout RandomGenerator) throws {
        guard let rows = array.shape.first else {
            throw InitializerError.unsupportedShape(
                name: name, shape: array.shape, reason: "LSTMBias needs the gates along a first dimension")
        }
        array.fill(0)
        guard array.count > 0 else { return }
        let hidden = rows / 4
        let perRow = array.count / rows
        (array.data + hidden * perRow).update(repeating: forgetBias, count: hidden * perRow)
    }
}
