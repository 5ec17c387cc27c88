import Foundation
import SwiftPSTensor

/// The softmax of each run of `n` values `inner` apart, for `outer` such runs: the layout of one axis
/// of an array (`outer` = the product of the axes before it, `inner` = of those after it).
struct SoftmaxAxis {
    let outer: Int
    let n: Int
    let inner: Int

    /// The runs along axis `axis` (negative counts from the end) of `shape`; throws when out of range.
    init(shape: [Int], axis: Int, op: String) throws {
        let a = axis < 0 ? axis + shape.count : axis
        guard a >= 0, a < shape.count else {
            throw GraphError.shapeError("\(op): axis \(axis) is out of range for \(shape.count)-D data \(shape)")
        }
        outer = shape[..<a].reduce(1, *)
        n = shape[a]
        inner = shape[(a + 1)...].reduce(1, *)
    }

    /// `y = softmax(x / temperature)`, or its logarithm with `log`, along each run.
    func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, temperature: Float, log: Bool) {
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * n * inner + i
                var top = -Float.infinity
                for k in 0..<n { top = max(top, x[base + k * inner] / temperature) }
                var sum: Float = 0
                for k in 0..<n {
                    let e = expf(x[base + k * inner] / temperature - top)
                    y[base + k * inner] = e
                    sum += e
                }
                if log {
                    let shift = top + logf(sum)
                    for k in 0..<n { y[base + k * inner] = x[base + k * inner] / temperature - shift }
                } else {
                    for k in 0..<n { y[base + k * inner] /= sum }
                }
            }
        }
    }

    /// The input gradient from `y` (the forward's output) and `dy`, written or added to `dx`:
    /// softmax `y ⊙ (dy − Σ dy ⊙ y) / T`, log-softmax `(dy − e^y Σ dy) / T`.
    func backward(
        _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
        temperature: Float, log: Bool, accumulate: Bool
    ) {
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * n * inner + i
                var dot: Float = 0
                for k in 0..<n { dot += log ? dy[base + k * inner] : dy[base + k * inner] * y[base + k * inner] }
                for k in 0..<n {
                    let j = base + k * inner
                    let g = (log ? dy[j] - expf(y[j]) * dot : y[j] * (dy[j] - dot)) / temperature
                    dx[j] = accumulate ? dx[j] + g : g
                }
            }
        }
    }
}

/// The instance of the softmax operators: forward and backward along one axis.
final class SoftmaxAxisInstance: OperatorInstance {
    let layout: SoftmaxAxis
    let temperature: Float
    let log: Bool

    init(layout: SoftmaxAxis, temperature: Float, log: Bool) {
        self.layout = layout
        self.temperature = temperature
        self.log = log
    }

    func forward(_ b: OpBinding, isTrain: Bool) {
        layout.forward(b.inputs[0].data, b.outputs[0].data, temperature: temperature, log: log)
    }

    func backward(_ b: OpBinding) {
        b.withGrad(0) { dx, accumulate in
            layout.backward(
                b.outputs[0].data, b.outputGrads[0].data, dx.data, temperature: temperature, log: log,
                accumulate: accumulate)
        }
    }
}

/// MXNet's `softmax` (and, with `log`, `log_softmax`): the softmax of `data / temperature` along
/// `axis` (default the last). `use_length` and a `dtype` other than the input's are refused.
public struct SoftmaxOp: Operator {
    public static let typeName = "softmax"
    public static let attributeNames: [String] = ["axis", "temperature", "dtype", "use_length"]
    public let axis: Int
    public let temperature: Float
    public let log: Bool
    /// Whether the data is negated first (`softmin`).
    let negated: Bool

    /// The operator's MXNet name: `softmax`, `log_softmax` or `softmin`.
    var name: String { log ? "log_softmax" : (negated ? "softmin" : Self.typeName) }

    public init(attributes: [String: String]) throws { try self.init(attributes: attributes, log: false) }

    init(attributes: [String: String], log: Bool, negated: Bool = false) throws {
        self.log = log
        self.negated = negated
        let r = AttributeReader(op: log ? "log_softmax" : (negated ? "softmin" : Self.typeName), attributes)
        axis = try r.int("axis", default: -1)
        let t = attributes["temperature"].map { $0.trimmingCharacters(in: .whitespaces) }
        temperature = t == nil || t == "None" ? 1 : try r.float("temperature", default: 1)
        guard temperature > 0, temperature.isFinite else {
            throw r.bad("temperature", attributes["temperature"] ?? "", "must be a positive number")
        }
        if try r.bool("use_length", default: false) {
            throw r.bad("use_length", attributes["use_length"] ?? "", "is not supported by SwiftPS")
        }
        if let dtype = attributes["dtype"], !["None", "float32"].contains(dtype) {
            throw r.bad("dtype", dtype, "must be None or float32 (SwiftPS computes in float32)")
        }
    }

    /// A softmax (or log-softmax) along `axis`.
    public init(axis: Int = -1, temperature: Float = 1, log: Bool = false) {
        self.init(axis: axis, temperature: temperature, log: log, negated: false)
    }

    init(axis: Int, temperature: Float, log: Bool, negated: Bool) {
        self.axis = axis
        self.temperature = temperature
        self.log = log
        self.negated = negated
    }

    public var attributes: [String: String] { ["axis": String(axis), "temperature": formatFloat(temperature)] }

    public func listArguments() -> [String] { ["data"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        let shapes = try elementwiseShape(s, name)
        _ = try SoftmaxAxis(shape: shapes.inputs[0], axis: axis, op: name)
        return shapes
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let layout = try SoftmaxAxis(shape: context.inputShapes[0], axis: axis, op: name)
        // softmin(x) = softmax(x / −T): the temperature's sign negates the data, and the gradient.
        return SoftmaxAxisInstance(layout: layout, temperature: negated ? -temperature : temperature, log: log)
    }
}

/// `log_softmax` and `softmin`: a `softmax` set up differently, with its attributes, checks and
/// instance.
protocol SoftmaxVariant: Operator {
    var base: SoftmaxOp { get }
}

extension SoftmaxVariant {
    public static var attributeNames: [String] { SoftmaxOp.attributeNames }
    public var attributes: [String: String] { base.attributes }
    public func listArguments() -> [String] { ["data"] }
    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        try base.inferShape(s)
    }
    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        try base.makeInstance(context)
    }
}

/// MXNet's `log_softmax`: `softmax`'s logarithm, computed stably.
public struct LogSoftmax: SoftmaxVariant {
    public static let typeName = "log_softmax"
    let base: SoftmaxOp

    public init(attributes: [String: String]) throws { base = try SoftmaxOp(attributes: attributes, log: true) }

    /// A log-softmax along `axis`.
    public init(axis: Int = -1, temperature: Float = 1) {
        base = SoftmaxOp(axis: axis, temperature: temperature, log: true)
    }

}

/// MXNet's `softmin`: the softmax of `−data / temperature` along `axis`, with `softmax`'s attributes
/// and checks.
public struct Softmin: SoftmaxVariant {
    public static let typeName = "softmin"
    let base: SoftmaxOp

    public init(attributes: [String: String]) throws {
        base = try SoftmaxOp(attributes: attributes, log: false, negated: true)
    }

    /// A softmin along `axis`.
    public init(axis: Int = -1, temperature: Float = 1) {
        base = SoftmaxOp(axis: axis, temperature: temperature, log: false, negated: true)
    }

}

/// MXNet's `SoftmaxActivation`: with `mode="instance"` (the default) the softmax of each sample's
/// values, all axes but the first together; with `"channel"` along axis 1.
public struct SoftmaxActivation: Operator {
    public static let typeName = "SoftmaxActivation"
    public static let attributeNames: [String] = ["mode"]
    public let channel: Bool

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        channel = try r.choice("mode", ["instance", "channel"], default: "instance") == "channel"
    }

    /// A SoftmaxActivation over each instance, or along the channel axis.
    public init(channel: Bool = false) { self.channel = channel }

    public var attributes: [String: String] { ["mode": channel ? "channel" : "instance"] }

    public func listArguments() -> [String] { ["data"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil, data.count >= (channel ? 2 : 1) else {
            throw GraphError.shapeError(
                "SoftmaxActivation needs the data shape\(channel ? ", with a channel axis" : "")")
        }
        return ([data], [data], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let shape = context.inputShapes[0]
        let flat = [shape[0], shape.dropFirst().reduce(1, *)]
        let layout = try SoftmaxAxis(shape: channel ? shape : flat, axis: 1, op: Self.typeName)
        return SoftmaxAxisInstance(layout: layout, temperature: 1, log: false)
    }
}
