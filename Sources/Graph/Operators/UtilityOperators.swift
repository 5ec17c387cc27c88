import SwiftPSTensor

/// MXNet's `_copy` (`mx.sym.identity`, which MXNet's ResNet symbols put after the data): the output
/// is the input; the gradient passes through.
public struct Identity: PlainUnaryOperator {
    public static let typeName = "_copy"

    /// An identity.
    public init() {}

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        CopyInstance(count: NDArray.elementCount(context.inputShapes[0]))
    }
}

/// MXNet's `BlockGrad` (`stop_gradient`): the output is the input, and no gradient flows back (the
/// input's gradient is zero), so what feeds it is not trained through it.
public struct BlockGrad: PlainUnaryOperator {
    public static let typeName = "BlockGrad"
    public var readsOutputGradient: Bool { false }

    /// A BlockGrad.
    public init() {}

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        CopyInstance(count: NDArray.elementCount(context.inputShapes[0]), passesGradient: false)
    }
}

/// MXNet's `MakeLoss` (and `make_loss`): makes any output a loss. Forward is the identity; backward
/// ignores the head gradient and gives the input `grad_scale`, divided by nothing
/// (`normalization="null"`), by the batch size (`"batch"`, the first axis), or by the number of
/// output elements above `valid_thresh` (`"valid"`, at least 1).
public struct MakeLoss: Operator {
    public static let typeName = "MakeLoss"
    public static let attributeNames: [String] = ["grad_scale", "valid_thresh", "normalization"]
    public let gradScale: Float
    public let validThreshold: Float
    public let normalization: String

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        gradScale = try r.float("grad_scale", default: 1)
        validThreshold = try r.float("valid_thresh", default: 0)
        normalization = try r.choice("normalization", ["null", "batch", "valid"], default: "null")
    }

    /// A MakeLoss.
    public init(gradScale: Float = 1, validThreshold: Float = 0, normalization: String = "null") {
        self.gradScale = gradScale
        self.validThreshold = validThreshold
        self.normalization = normalization
    }

    public var attributes: [String: String] {
        [
            "grad_scale": formatFloat(gradScale), "valid_thresh": formatFloat(validThreshold),
            "normalization": normalization,
        ]
    }

    public func listArguments() -> [String] { ["data"] }
    public var readsOutputGradient: Bool { false }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        try elementwiseShape(s, Self.typeName)
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let shape = context.inputShapes[0]
        return Instance(op: self, count: NDArray.elementCount(shape), batch: shape.first ?? 1)
    }

    final class Instance: OperatorInstance {
        let op: MakeLoss
        let count: Int
        let batch: Int
        init(op: MakeLoss, count: Int, batch: Int) {
            self.op = op
            self.count = count
            self.batch = batch
        }

        func forward(_ b: OpBinding, isTrain: Bool) { CopyInstance.copy(b, count) }

        func backward(_ b: OpBinding) {
            var scale = op.gradScale
            switch op.normalization {
            case "batch": scale /= Float(max(batch, 1))
            case "valid":
                let y = b.outputs[0].data
                var valid = 0
                for i in 0..<count where y[i] > op.validThreshold { valid += 1 }
                scale /= Float(max(valid, 1))
            default: break
            }
            b.withGrad(0) { dx, accumulate in
                if accumulate {
                    for i in 0..<count { dx.data[i] += scale }
                } else {
                    dx.fill(scale)
                }
            }
        }
    }
}

/// MXNet's `clip`: each element limited to [`a_min`, `a_max`]; the gradient passes where the input
/// lies within them (bounds included) and is zero outside.
public struct Clip: Operator {
    public static let typeName = "clip"
    public static let attributeNames: [String] = ["a_min", "a_max"]
    public let low: Float
    public let high: Float

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        guard attributes["a_min"] != nil else { throw r.bad("a_min", "", "is required") }
        guard attributes["a_max"] != nil else { throw r.bad("a_max", "", "is required") }
        low = try r.float("a_min", default: 0)
        high = try r.float("a_max", default: 0)
        guard low <= high else { throw r.bad("a_min", formatFloat(low), "must not exceed a_max \(formatFloat(high))") }
    }

    /// A clip to [`low`, `high`].
    public init(low: Float, high: Float) {
        self.low = low
        self.high = high
    }

    public var attributes: [String: String] { ["a_min": formatFloat(low), "a_max": formatFloat(high)] }

    public func listArguments() -> [String] { ["data"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        try elementwiseShape(s, Self.typeName)
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        Instance(low: low, high: high, count: NDArray.elementCount(context.inputShapes[0]))
    }

    final class Instance: OperatorInstance {
        let low: Float, high: Float, count: Int
        init(low: Float, high: Float, count: Int) {
            self.low = low
            self.high = high
            self.count = count
        }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0].data
            let y = b.outputs[0].data
            for i in 0..<count { y[i] = min(max(x[i], low), high) }
        }

        func backward(_ b: OpBinding) {
            let x = b.inputs[0].data
            let dy = b.outputGrads[0].data
            b.withGrad(0) { dx, accumulate in
                let d = dx.data
                for i in 0..<count {
                    let g: Float = x[i] < low || x[i] > high ? 0 : dy[i]
                    d[i] = accumulate ? d[i] + g : g
                }
            }
        }
    }
}

/// MXNet's `add_n` (`ElementWiseSum`): the sum of `num_args` arrays of one shape; each gradient is
/// the output's.
public struct AddN: Operator {
    public static let typeName = "add_n"
    public static let attributeNames: [String] = ["num_args"]
    public let numArgs: Int

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        numArgs = try r.int("num_args")
        guard numArgs >= 1, numArgs <= Concat.maxArgs else {
            throw r.bad("num_args", "\(numArgs)", "must be from 1 to \(Concat.maxArgs)")
        }
    }

    /// A sum of `numArgs` arrays.
    public init(numArgs: Int) { self.numArgs = numArgs }

    public var attributes: [String: String] { ["num_args": String(numArgs)] }

    public func listArguments() -> [String] { (0..<numArgs).map { "arg\($0)" } }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard s.count == numArgs else {
            throw GraphError.shapeError("add_n has num_args=\(numArgs) but \(s.count) inputs")
        }
        let known = s.compactMap { $0 }
        guard let shape = known.first else { throw GraphError.shapeError("add_n needs the shape of an input") }
        if let other = known.first(where: { $0 != shape }) {
            throw GraphError.shapeError("add_n needs inputs of one shape, got \(shape) and \(other)")
        }
        return (Array(repeating: shape, count: numArgs), [shape], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        Instance(count: NDArray.elementCount(context.inputShapes[0]))
    }

    final class Instance: OperatorInstance {
        let count: Int
        init(count: Int) { self.count = count }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let y = b.outputs[0].data
            Kernels.copy(count, b.inputs[0].data, y)
            for input in b.inputs.dropFirst() { Kernels.addInPlace(count, input.data, y) }
        }

        func backward(_ b: OpBinding) {
            let dy = b.outputGrads[0].data
            for i in b.inputs.indices {
                b.withGrad(i) { dx, accumulate in
                    if accumulate { Kernels.addInPlace(count, dy, dx.data) } else { Kernels.copy(count, dy, dx.data) }
                }
            }
        }
    }
}
