import SwiftPSTensor

/// MXNet's `SliceChannel` (`split`): the data cut into `num_outputs` equal parts along `axis`
/// (default 1; negative counts from the end), one output each, named `output0`, `output1`, ….
/// With `squeeze_axis`, the cut axis (which must then have `num_outputs` entries) is removed from
/// the outputs. Backward puts each output's gradient back in its part.
public struct SliceChannel: Operator {
    public static let typeName = "SliceChannel"
    public static let attributeNames: [String] = ["num_outputs", "axis", "squeeze_axis"]
    /// How many parts.
    public let numOutputs: Int
    /// The axis they are cut along, as given (may be negative).
    public let axis: Int
    /// Whether the cut axis is removed from the outputs.
    public let squeezeAxis: Bool

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        numOutputs = try r.int("num_outputs")
        axis = try r.int("axis", default: 1)
        squeezeAxis = try r.bool("squeeze_axis", default: false)
        guard numOutputs >= 1 else { throw r.bad("num_outputs", "\(numOutputs)", "must be at least 1") }
        // Each output is named and listed: a symbol file's num_outputs must not size that list unchecked.
        guard numOutputs <= Concat.maxArgs else {
            throw r.bad("num_outputs", "\(numOutputs)", "must be at most \(Concat.maxArgs) (SwiftPS's limit)")
        }
    }

    /// A split into `numOutputs` parts along `axis`.
    public init(numOutputs: Int, axis: Int = 1, squeezeAxis: Bool = false) {
        self.numOutputs = numOutputs
        self.axis = axis
        self.squeezeAxis = squeezeAxis
    }

    public var attributes: [String: String] {
        [
            "num_outputs": String(numOutputs), "axis": String(axis),
            "squeeze_axis": AttributeReader.format(squeezeAxis),
        ]
    }

    public func listArguments() -> [String] { ["data"] }
    public func listOutputs() -> [String] { (0..<numOutputs).map { "output\($0)" } }

    /// The cut axis of `shape` and the shape of one part before any squeeze.
    func part(of shape: [Int]) throws -> (axis: Int, shape: [Int]) {
        let a = axis < 0 ? axis + shape.count : axis
        guard a >= 0, a < shape.count else {
            throw GraphError.shapeError("SliceChannel axis \(axis) is out of range for data of shape \(shape)")
        }
        guard shape[a] % numOutputs == 0 else {
            throw GraphError.shapeError(
                "SliceChannel cannot cut axis \(a) of data of shape \(shape) into num_outputs=\(numOutputs) equal parts"
            )
        }
        if squeezeAxis {
            guard shape[a] == numOutputs else {
                throw GraphError.shapeError(
                    "SliceChannel with squeeze_axis needs axis \(a) of the data to have num_outputs=\(numOutputs) "
                        + "entries; the data has shape \(shape)")
            }
            guard shape.count > 1 else {
                throw GraphError.shapeError("SliceChannel with squeeze_axis would leave 0-D outputs of 1-D data")
            }
        }
        var p = shape
        p[a] /= numOutputs
        return (a, p)
    }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("SliceChannel needs the data shape") }
        var (a, out) = try part(of: data)
        if squeezeAxis { out.remove(at: a) }
        return ([data], Array(repeating: out, count: numOutputs), [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let (a, p) = try part(of: context.inputShapes[0])
        return Instance(layout: AxisBlocks(parts: Array(repeating: p, count: numOutputs), axis: a))
    }

    /// The parts lie in the data as Concat's inputs lie in its output.
    final class Instance: OperatorInstance {
        let layout: AxisBlocks
        init(layout: AxisBlocks) { self.layout = layout }

        func forward(_ b: OpBinding, isTrain: Bool) {
            for k in b.outputs.indices {
                layout.take(k, from: b.inputs[0].data, into: b.outputs[k].data, accumulate: false)
            }
        }

        func backward(_ b: OpBinding) {
            b.withGrad(0) { dx, accumulate in
                for k in b.outputGrads.indices {
                    layout.put(k, b.outputGrads[k].data, into: dx.data, accumulate: accumulate)
                }
            }
        }
    }
}
