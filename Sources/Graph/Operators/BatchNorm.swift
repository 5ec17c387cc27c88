import SwiftPSTensor

/// MXNet's `BatchNorm`: `output = gamma · (x − mean) / sqrt(var + eps) + beta` per channel `axis`.
///
/// Arguments data, gamma, beta (each of the channel count); auxiliary states moving_mean,
/// moving_var. MXNet's defaults: `eps` 1e-3, `momentum` 0.9, `fix_gamma` True (gamma is taken
/// as 1 and its gradient is 0), `use_global_stats` False, `axis` 1.
///
/// Training (`isTrain` and not `use_global_stats`): mean and the biased variance (divided by the
/// count, as MXNet does) over every axis but `axis`, and the moving statistics are updated as
/// `moving = moving·momentum + batch·(1 − momentum)` with that same biased variance. MXNet's CPU
/// code performs this update in backward; SwiftPS performs it in the training forward, which gives
/// the same values for every forward-then-backward step and does not depend on the executor
/// running this node's backward. Otherwise the moving statistics normalise and are not changed.
/// Unlike MXNet, a fixed gamma is not overwritten with 1 in the gamma array (inputs stay
/// read-only). `output_mean_var` is not supported.
public struct BatchNorm: Operator {
    public static let typeName = "BatchNorm"
    public static let attributeNames: [String] = [
        "eps", "momentum", "fix_gamma", "use_global_stats", "output_mean_var", "axis", "cudnn_off", "min_calib_range",
        "max_calib_range",
    ]
    /// Added to the variance before the square root.
    public let eps: Float
    /// The moving-average decay.
    public let momentum: Float
    /// Treat gamma as 1 (and give it a zero gradient).
    public let fixGamma: Bool
    /// Normalise with the moving statistics in training too.
    public let useGlobalStats: Bool
    /// The channel axis, as given (may be negative).
    public let axis: Int

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        eps = try r.float("eps", default: 1e-3)
        momentum = try r.float("momentum", default: 0.9, in: 0...1)
        fixGamma = try r.bool("fix_gamma", default: true)
        useGlobalStats = try r.bool("use_global_stats", default: false)
        axis = try r.int("axis", default: 1)
        guard eps >= 0, eps.isFinite else {
            throw r.bad("eps", attributes["eps"] ?? "", "must be a non-negative number")
        }
        if try r.bool("output_mean_var", default: false) {
            throw r.bad("output_mean_var", attributes["output_mean_var"] ?? "", "is not supported by SwiftPS")
        }
    }

    /// A BatchNorm with the given settings.
    public init(
        eps: Float = 1e-3, momentum: Float = 0.9, fixGamma: Bool = true, useGlobalStats: Bool = false, axis: Int = 1
    ) {
        self.eps = eps
        self.momentum = momentum
        self.fixGamma = fixGamma
        self.useGlobalStats = useGlobalStats
        self.axis = axis
    }

    public var attributes: [String: String] {
        [
            "eps": formatFloat(eps), "momentum": formatFloat(momentum), "fix_gamma": AttributeReader.format(fixGamma),
            "use_global_stats": AttributeReader.format(useGlobalStats), "axis": String(axis),
        ]
    }

    public func listArguments() -> [String] { ["data", "gamma", "beta"] }
    public func listAuxiliaryStates() -> [String] { ["moving_mean", "moving_var"] }

    /// (outer, channels, inner) of `data` around the channel axis.
    func layout(_ data: [Int]) throws -> (outer: Int, channels: Int, inner: Int) {
        let a = axis < 0 ? axis + data.count : axis
        guard a >= 0, a < data.count else {
            throw GraphError.shapeError("BatchNorm axis \(axis) is out of range for data \(data)")
        }
        return (data[..<a].reduce(1, *), data[a], data[(a + 1)...].reduce(1, *))
    }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("BatchNorm needs the data shape") }
        let c = try layout(data).channels
        for (i, name) in ["gamma", "beta"].enumerated() where s.count > i + 1 {
            if let g = s[i + 1], g != [c] {
                throw GraphError.shapeError("BatchNorm \(name) shape \(g) should be [\(c)] for data \(data)")
            }
        }
        return ([data, [c], [c]], [data], [[c], [c]])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let l = try layout(context.inputShapes[0])
        return Instance(op: self, outer: l.outer, channels: l.channels, inner: l.inner)
    }

    final class Instance: OperatorInstance {
        let op: BatchNorm, outer: Int, channels: Int, inner: Int
        /// The mean and 1/sqrt(var + eps) used by the last forward, per channel.
        let mean: NDArray, invStd: NDArray
        /// Whether the last forward normalised with batch statistics.
        var usedBatchStats = false

        init(op: BatchNorm, outer: Int, channels: Int, inner: Int) {
            self.op = op
            self.outer = outer
            self.channels = channels
            self.inner = inner
            mean = NDArray(shape: [channels])
            invStd = NDArray(shape: [channels])
        }

        /// Calls `body` with the start of each contiguous run of channel `c` (length `inner`).
        @inline(__always)
        func forEachRun(_ c: Int, _ body: (Int) -> Void) {
            for o in 0..<outer { body((o * channels + c) * inner) }
        }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0].data
            let gamma = b.inputs[1].data
            let beta = b.inputs[2].data
            let y = b.outputs[0].data
            let movingMean = b.aux[0].data
            let movingVar = b.aux[1].data
            usedBatchStats = isTrain && !op.useGlobalStats
            let count = Float(outer * inner)
            for c in 0..<channels {
                var m: Float
                var v: Float
                if usedBatchStats {
                    var s: Float = 0
                    forEachRun(c) { s += Kernels.sum(inner, x + $0) }
                    m = count > 0 ? s / count : 0
                    var sq: Float = 0
                    forEachRun(c) { start in
                        let p = x + start
                        for i in 0..<inner {
                            let d = p[i] - m
                            sq += d * d
                        }
                    }
                    v = count > 0 ? sq / count : 0
                    movingMean[c] = movingMean[c] * op.momentum + m * (1 - op.momentum)
                    movingVar[c] = movingVar[c] * op.momentum + v * (1 - op.momentum)
                } else {
                    m = movingMean[c]
                    v = movingVar[c]
                }
                let inv = 1 / (v + op.eps).squareRoot()
                mean.data[c] = m
                invStd.data[c] = inv
                let scale = (op.fixGamma ? 1 : gamma[c]) * inv
                let shift = beta[c] - m * scale
                forEachRun(c) { start in
                    let p = x + start
                    let q = y + start
                    for i in 0..<inner { q[i] = p[i] * scale + shift }
                }
            }
        }

        func backward(_ b: OpBinding) {
            let x = b.inputs[0].data
            let gamma = b.inputs[1].data
            let dy = b.outputGrads[0].data
            let count = Float(outer * inner)
            for c in 0..<channels {
                let m = mean.data[c]
                let inv = invStd.data[c]
                // sum(dy) and sum(dy · (x − mean)) over the channel.
                var sumDy: Float = 0
                var dot: Float = 0
                forEachRun(c) { start in
                    sumDy += Kernels.sum(inner, dy + start)
                    let p = x + start
                    let g = dy + start
                    for i in 0..<inner { dot += g[i] * (p[i] - m) }
                }
                let w = op.fixGamma ? 1 : gamma[c]
                b.withGrad(0) { dxArr, acc in
                    let dx = dxArr.data
                    if usedBatchStats && count > 0 {
                        // dx = w·inv·(dy − mean(dy) − xhat·mean(dy·xhat)), xhat = (x − mean)·inv
                        let k = dot * inv * inv / count
                        let meanDy = sumDy / count
                        let wi = w * inv
                        forEachRun(c) { start in
                            let p = x + start
                            let g = dy + start
                            writeGrad(inner, dx + start, accumulate: acc) { (g[$0] - meanDy - (p[$0] - m) * k) * wi }
                        }
                    } else {
                        let wi = w * inv
                        forEachRun(c) { start in
                            let g = dy + start
                            writeGrad(inner, dx + start, accumulate: acc) { g[$0] * wi }
                        }
                    }
                }
                b.withGrad(1) { dg, acc in
                    let v: Float = op.fixGamma ? 0 : dot * inv
                    dg.data[c] = acc ? dg.data[c] + v : v
                }
                b.withGrad(2) { db, acc in db.data[c] = acc ? db.data[c] + sumDy : sumDy }
            }
        }
    }
}
