import Foundation
import SwiftPSTensor

/// Groups of elements normalized together: group `g` is the `length` elements at
/// `base(g) + k·stride`, k < length. For the axis `a` of a shape, `inner` is the product of the axes
/// after it and `stride` = `inner`; groups are numbered in the row-major order of the shape with
/// axis `a` reduced to 1 (so per-group statistics lie as MXNet's `mean`/`std` outputs do).
struct NormalizationGroups {
    let count: Int, length: Int, inner: Int

    /// The groups that normalize over axis `axis` of `shape`.
    init(shape: [Int], axis: Int) {
        inner = shape[(axis + 1)...].reduce(1, *)
        length = shape[axis]
        count = shape[..<axis].reduce(1, *) * inner
    }

    /// The groups that normalize over all axes from `axis` on (contiguous runs).
    init(shape: [Int], from axis: Int) {
        inner = 1
        length = shape[axis...].reduce(1, *)
        count = shape[..<axis].reduce(1, *)
    }

    var stride: Int { inner }
    @inline(__always) func base(_ g: Int) -> Int { (g / inner) * length * inner + g % inner }
}

/// What `LayerNorm`, `InstanceNorm` and `GroupNorm` share: `y = γ_p · (x − μ) / σ + β_p` over each
/// group, σ = √(var + eps) with the biased variance; the parameter index p is the element's position
/// in its group (`perPosition`, LayerNorm) or the group's channel (InstanceNorm) or channel group
/// (GroupNorm), `g mod channels`.
final class AffineNormalizationInstance: OperatorInstance {
    let groups: NormalizationGroups
    let eps: Float
    let perPosition: Bool
    let channels: Int
    /// Each group's mean and σ from the last forward.
    let mean: NDArray, std: NDArray
    /// Whether outputs 1 and 2 are the mean and σ (LayerNorm's `output_mean_var`).
    let exposesStatistics: Bool

    init(groups: NormalizationGroups, eps: Float, perPosition: Bool, channels: Int, exposesStatistics: Bool) throws {
        self.groups = groups
        self.eps = eps
        self.perPosition = perPosition
        self.channels = channels
        self.exposesStatistics = exposesStatistics
        mean = try Symbol.allocate([groups.count], for: "a normalization's means", hint: "lower the batch size")
        std = try Symbol.allocate([groups.count], for: "a normalization's deviations", hint: "lower the batch size")
    }

    @inline(__always) private func parameter(_ g: Int, _ k: Int) -> Int { perPosition ? k : g % channels }

    func forward(_ b: OpBinding, isTrain: Bool) {
        let x = b.inputs[0].data
        let gamma = b.inputs[1].data
        let beta = b.inputs[2].data
        let y = b.outputs[0].data
        let (n, s) = (groups.length, groups.stride)
        for g in 0..<groups.count {
            let base = groups.base(g)
            var sum: Double = 0
            for k in 0..<n { sum += Double(x[base + k * s]) }
            let mu = Float(sum / Double(n))
            var squares: Double = 0
            for k in 0..<n {
                let d = Double(x[base + k * s] - mu)
                squares += d * d
            }
            let sigma = Float((squares / Double(n) + Double(eps)).squareRoot())
            mean.data[g] = mu
            std.data[g] = sigma
            for k in 0..<n {
                let p = parameter(g, k)
                y[base + k * s] = gamma[p] * (x[base + k * s] - mu) / sigma + beta[p]
            }
        }
        if exposesStatistics {
            b.outputs[1].data.update(from: mean.data, count: groups.count)
            b.outputs[2].data.update(from: std.data, count: groups.count)
        }
    }

    /// dx = (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) / σ with dx̂ = dy·γ; dγ_p += Σ dy·x̂, dβ_p += Σ dy. The
    /// mean and σ outputs pass no gradient back (as MXNet's).
    func backward(_ b: OpBinding) {
        let x = b.inputs[0].data
        let gamma = b.inputs[1].data
        let dy = b.outputGrads[0].data
        let (n, s) = (groups.length, groups.stride)
        let dx = b.needsGrad(0) ? b.inputGrads[0] : nil
        let dgamma = b.needsGrad(1) ? b.inputGrads[1] : nil
        let dbeta = b.needsGrad(2) ? b.inputGrads[2] : nil
        if let dgamma, b.gradReqs[1] != .add { dgamma.fill(0) }
        if let dbeta, b.gradReqs[2] != .add { dbeta.fill(0) }
        let addX = b.gradReqs[0] == .add
        for g in 0..<groups.count {
            let base = groups.base(g)
            let mu = mean.data[g]
            let sigma = std.data[g]
            var sumD: Float = 0
            var sumDX: Float = 0
            for k in 0..<n {
                let i = base + k * s
                let xhat = (x[i] - mu) / sigma
                let p = parameter(g, k)
                let d = dy[i] * gamma[p]
                sumD += d
                sumDX += d * xhat
                dgamma?.data[p] += dy[i] * xhat
                dbeta?.data[p] += dy[i]
            }
            guard let dx else { continue }
            let a = sumD / Float(n)
            let c = sumDX / Float(n)
            for k in 0..<n {
                let i = base + k * s
                let xhat = (x[i] - mu) / sigma
                let value = (dy[i] * gamma[parameter(g, k)] - a - xhat * c) / sigma
                if addX { dx.data[i] += value } else { dx.data[i] = value }
            }
        }
    }
}

/// MXNet's `LayerNorm`: each position's values along `axis` (default −1, the last) normalized to
/// mean 0 and variance 1, then scaled by `gamma` and shifted by `beta` (both of the axis's length):
/// `y = γ · (x − μ) / √(var + eps) + β`, eps default 1e-5. With `output_mean_var` it has MXNet's two
/// more outputs, the mean and the σ (the data's shape with the axis reduced to 1).
public struct LayerNorm: Operator {
    public static let typeName = "LayerNorm"
    public static let attributeNames: [String] = ["axis", "eps", "output_mean_var"]
    public let axis: Int
    public let eps: Float
    public let outputMeanVar: Bool

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        axis = try r.int("axis", default: -1)
        eps = try r.float("eps", default: 1e-5)
        outputMeanVar = try r.bool("output_mean_var", default: false)
        guard eps >= 0 else { throw r.bad("eps", attributes["eps"] ?? "", "must not be negative") }
    }

    /// A LayerNorm over `axis`.
    public init(axis: Int = -1, eps: Float = 1e-5, outputMeanVar: Bool = false) {
        self.axis = axis
        self.eps = eps
        self.outputMeanVar = outputMeanVar
    }

    public var attributes: [String: String] {
        ["axis": String(axis), "eps": formatFloat(eps), "output_mean_var": AttributeReader.format(outputMeanVar)]
    }

    public func listArguments() -> [String] { ["data", "gamma", "beta"] }
    public func listOutputs() -> [String] { outputMeanVar ? ["output", "mean", "std"] : ["output"] }

    /// The axis of `data` that is normalized.
    func resolvedAxis(_ data: [Int]) throws -> Int {
        let a = axis < 0 ? axis + data.count : axis
        guard a >= 0, a < data.count else {
            throw GraphError.shapeError("LayerNorm axis \(axis) is out of range for data \(data)")
        }
        return a
    }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("LayerNorm needs the data shape") }
        let a = try resolvedAxis(data)
        let parameter = [data[a]]
        try checkParameters(s, expected: parameter, op: "LayerNorm", data: data)
        var reduced = data
        reduced[a] = 1
        return ([data, parameter, parameter], outputMeanVar ? [data, reduced, reduced] : [data], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let data = context.inputShapes[0]
        return try AffineNormalizationInstance(
            groups: NormalizationGroups(shape: data, axis: try resolvedAxis(data)), eps: eps, perPosition: true,
            channels: 1, exposesStatistics: outputMeanVar)
    }
}

/// MXNet's `InstanceNorm`: each image's channel (its spatial values, axes 2…) normalized to mean 0
/// and variance 1, then scaled by `gamma` and shifted by `beta` (one each per channel):
/// `y = γ_c · (x − μ) / √(var + eps) + β_c`, eps default 1e-3.
public struct InstanceNorm: Operator {
    public static let typeName = "InstanceNorm"
    public static let attributeNames: [String] = ["eps"]
    public let eps: Float

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        eps = try r.float("eps", default: 1e-3)
        guard eps >= 0 else { throw r.bad("eps", attributes["eps"] ?? "", "must not be negative") }
    }

    /// An InstanceNorm.
    public init(eps: Float = 1e-3) { self.eps = eps }

    public var attributes: [String: String] { ["eps": formatFloat(eps)] }

    public func listArguments() -> [String] { ["data", "gamma", "beta"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("InstanceNorm needs the data shape") }
        guard data.count >= 3 else {
            throw GraphError.shapeError("InstanceNorm needs data (N, C, spatial…) of 3 axes or more, got \(data)")
        }
        let parameter = [data[1]]
        try checkParameters(s, expected: parameter, op: "InstanceNorm", data: data)
        return ([data, parameter, parameter], [data], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let data = context.inputShapes[0]
        return try AffineNormalizationInstance(
            groups: NormalizationGroups(shape: data, from: 2), eps: eps, perPosition: false, channels: data[1],
            exposesStatistics: false)
    }
}

/// Throws unless the given gamma and beta shapes (inputs 1 and 2, when known) are `expected`.
private func checkParameters(_ s: [[Int]?], expected: [Int], op: String, data: [Int]) throws {
    for (i, name) in [(1, "gamma"), (2, "beta")] where s.count > i {
        if let given = s[i], given != expected {
            throw GraphError.shapeError("\(op) \(name) shape \(given) should be \(expected) for data \(data)")
        }
    }
}

/// MXNet's `L2Normalization`: `y = x / √(Σ x² + eps)`, the sum over each instance (`mode`
/// "instance", the default: all axes but the first), each position's channels ("channel": axis 1),
/// or each channel's spatial values ("spatial": axes 2…). eps default 1e-10.
public struct L2Normalization: Operator {
    public static let typeName = "L2Normalization"
    public static let attributeNames: [String] = ["eps", "mode"]
    public let eps: Float
    public let mode: String

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        eps = try r.float("eps", default: 1e-10)
        mode = try r.choice("mode", ["instance", "channel", "spatial"], default: "instance")
        guard eps >= 0 else { throw r.bad("eps", attributes["eps"] ?? "", "must not be negative") }
    }

    /// An L2Normalization of `mode` (instance, channel or spatial).
    public init(eps: Float = 1e-10, mode: String = "instance") {
        precondition(["instance", "channel", "spatial"].contains(mode), "L2Normalization mode \(mode)")
        self.eps = eps
        self.mode = mode
    }

    public var attributes: [String: String] { ["eps": formatFloat(eps), "mode": mode] }

    public func listArguments() -> [String] { ["data"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        let shapes = try elementwiseShape(s, Self.typeName)
        let data = shapes.inputs[0]
        let least = mode == "spatial" ? 3 : 2
        guard data.count >= least else {
            throw GraphError.shapeError("L2Normalization mode \(mode) needs data of \(least) axes or more, got \(data)")
        }
        return shapes
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let data = context.inputShapes[0]
        let groups: NormalizationGroups =
            switch mode {
            case "channel": NormalizationGroups(shape: data, axis: 1)
            case "spatial": NormalizationGroups(shape: data, from: 2)
            default: NormalizationGroups(shape: data, from: 1)
            }
        return try Instance(groups: groups, eps: eps)
    }

    /// Keeps each group's norm for backward: dx = (dy − y · Σ dy·y) / norm.
    final class Instance: OperatorInstance {
        let groups: NormalizationGroups
        let eps: Float
        let norms: NDArray

        init(groups: NormalizationGroups, eps: Float) throws {
            self.groups = groups
            self.eps = eps
            norms = try Symbol.allocate([groups.count], for: "L2Normalization's norms", hint: "lower the batch size")
        }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0].data
            let y = b.outputs[0].data
            let (n, s) = (groups.length, groups.stride)
            for g in 0..<groups.count {
                let base = groups.base(g)
                var squares: Double = 0
                for k in 0..<n { squares += Double(x[base + k * s]) * Double(x[base + k * s]) }
                let norm = Float((squares + Double(eps)).squareRoot())
                norms.data[g] = norm
                for k in 0..<n { y[base + k * s] = x[base + k * s] / norm }
            }
        }

        func backward(_ b: OpBinding) {
            let y = b.outputs[0].data
            let dy = b.outputGrads[0].data
            let (n, s) = (groups.length, groups.stride)
            b.withGrad(0) { dxArray, accumulate in
                let dx = dxArray.data
                for g in 0..<groups.count {
                    let base = groups.base(g)
                    var dot: Float = 0
                    for k in 0..<n { dot += dy[base + k * s] * y[base + k * s] }
                    let norm = norms.data[g]
                    for k in 0..<n {
                        let i = base + k * s
                        let value = (dy[i] - y[i] * dot) / norm
                        if accumulate { dx[i] += value } else { dx[i] = value }
                    }
                }
            }
        }
    }
}

/// MXNet's `GroupNorm`: each image's channels split into `num_groups` groups (default 1) of
/// consecutive channels, each group's values (its channels' spatial values) normalized to mean 0
/// and variance 1, then scaled by `gamma` and shifted by `beta`: `y = γ_g · (x − μ) / √(var + eps) +
/// β_g`, eps default 1e-5. As MXNet 1.9.1 (group_norm.cc), `gamma` and `beta` have one value per
/// group, shape (num_groups,), not per channel. With `output_mean_var` it has MXNet's two more
/// outputs, each group's mean and σ, of shape (N, num_groups).
public struct GroupNorm: Operator {
    public static let typeName = "GroupNorm"
    public static let attributeNames: [String] = ["num_groups", "eps", "output_mean_var"]
    public let numGroups: Int
    public let eps: Float
    public let outputMeanVar: Bool

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        numGroups = try r.int("num_groups", default: 1)
        eps = try r.float("eps", default: 1e-5)
        outputMeanVar = try r.bool("output_mean_var", default: false)
        // MXNet 1.9.1 divides by num_groups unchecked: 0 kills the process (SIGFPE).
        guard numGroups >= 1 else { throw r.bad("num_groups", attributes["num_groups"] ?? "", "must be positive") }
        guard eps >= 0 else { throw r.bad("eps", attributes["eps"] ?? "", "must not be negative") }
    }

    /// A GroupNorm of `numGroups` groups.
    public init(numGroups: Int = 1, eps: Float = 1e-5, outputMeanVar: Bool = false) {
        precondition(numGroups >= 1, "GroupNorm num_groups must be positive")
        self.numGroups = numGroups
        self.eps = eps
        self.outputMeanVar = outputMeanVar
    }

    public var attributes: [String: String] {
        [
            "num_groups": String(numGroups), "eps": formatFloat(eps),
            "output_mean_var": AttributeReader.format(outputMeanVar),
        ]
    }

    public func listArguments() -> [String] { ["data", "gamma", "beta"] }
    public func listOutputs() -> [String] { outputMeanVar ? ["output", "mean", "std"] : ["output"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("GroupNorm needs the data shape") }
        guard data.count >= 3 else {
            throw GraphError.shapeError("GroupNorm needs data (N, C, spatial…) of 3 axes or more, got \(data)")
        }
        guard data[1] % numGroups == 0 else {
            throw GraphError.shapeError(
                "GroupNorm data \(data): its \(data[1]) channels cannot be divided into num_groups=\(numGroups) groups")
        }
        let parameter = [numGroups]
        try checkParameters(s, expected: parameter, op: "GroupNorm", data: data)
        let statistics = [data[0], numGroups]
        return ([data, parameter, parameter], outputMeanVar ? [data, statistics, statistics] : [data], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let data = context.inputShapes[0]
        // Each (image, group) is a contiguous run: data viewed as (N, num_groups, the rest).
        let grouped = [data[0], numGroups, NDArray.elementCount(data) / max(1, data[0] * numGroups)]
        return try AffineNormalizationInstance(
            groups: NormalizationGroups(shape: grouped, from: 2), eps: eps, perPosition: false, channels: numGroups,
            exposesStatistics: outputMeanVar)
    }
}
