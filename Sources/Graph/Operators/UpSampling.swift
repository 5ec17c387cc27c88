import SwiftPSTensor

/// MXNet's `UpSampling` with `sample_type="nearest"` of one input (`num_args=1`): each pixel of
/// (N, C, H, W) data repeated into a `scale` × `scale` block of the (N, C, H·scale, W·scale)
/// output. Backward sums each block's gradient into its pixel.
///
/// `sample_type="bilinear"` is refused: MXNet computes it as a Deconvolution with a learned weight,
/// which SwiftPS does not implement; so is more than one input. `num_filter` (bilinear's),
/// `multi_input_mode` (several inputs') and `workspace` are accepted and change nothing here.
public struct UpSampling: Operator {
    public static let typeName = "UpSampling"
    public static let attributeNames: [String] = [
        "scale", "num_filter", "sample_type", "multi_input_mode", "num_args", "workspace",
    ]
    /// The repeat factor along each spatial axis.
    public let scale: Int

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        scale = try r.int("scale")
        guard scale >= 1, scale <= AttributeReader.largestWindowEntry else {
            throw r.bad("scale", "\(scale)", "must be from 1 to \(AttributeReader.largestWindowEntry)")
        }
        guard attributes["sample_type"] != nil else { throw r.bad("sample_type", "", "is required") }
        if try r.choice("sample_type", ["nearest", "bilinear"], default: "nearest") == "bilinear" {
            throw r.bad(
                "sample_type", "bilinear",
                "is not supported: MXNet's bilinear upsampling is a Deconvolution with a learned weight, which "
                    + "SwiftPS does not implement (use nearest)")
        }
        let numArgs = try r.int("num_args")
        guard numArgs == 1 else {
            throw r.bad("num_args", "\(numArgs)", "must be 1: SwiftPS upsamples one input (nearest)")
        }
        _ = try r.int("num_filter", default: 0)
        _ = try r.choice("multi_input_mode", ["concat", "sum"], default: "concat")
        _ = try r.int("workspace", default: 512)
    }

    /// Nearest-neighbour upsampling of one input by `scale`.
    public init(scale: Int) { self.scale = scale }

    public var attributes: [String: String] {
        ["scale": String(scale), "sample_type": "nearest", "num_args": "1"]
    }

    /// MXNet's name for the one input of nearest upsampling.
    public func listArguments() -> [String] { ["arg0"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("UpSampling needs the data shape") }
        guard data.count == 4 else {
            throw GraphError.shapeError("UpSampling needs 4-D (N, C, H, W) data, as MXNet's; got \(data)")
        }
        let (h, o1) = data[2].multipliedReportingOverflow(by: scale)
        let (w, o2) = data[3].multipliedReportingOverflow(by: scale)
        guard !o1, !o2 else {
            throw GraphError.shapeError("UpSampling of \(data) by \(scale) has more elements than memory can hold")
        }
        return ([data], [[data[0], data[1], h, w]], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let shape = context.inputShapes[0]
        return Instance(planes: shape[0] * shape[1], height: shape[2], width: shape[3], scale: scale)
    }

    final class Instance: OperatorInstance {
        /// N · C.
        let planes: Int
        let height: Int
        let width: Int
        let scale: Int
        init(planes: Int, height: Int, width: Int, scale: Int) {
            self.planes = planes
            self.height = height
            self.width = width
            self.scale = scale
        }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0].data
            let y = b.outputs[0].data
            let outWidth = width * scale
            for p in 0..<planes {
                for h in 0..<height {
                    let src = x + (p * height + h) * width
                    let row = y + (p * height + h) * scale * outWidth
                    for w in 0..<width { (row + w * scale).update(repeating: src[w], count: scale) }
                    // The other rows of the block repeat the first.
                    for i in 1..<scale { (row + i * outWidth).update(from: row, count: outWidth) }
                }
            }
        }

        func backward(_ b: OpBinding) {
            let dy = b.outputGrads[0].data
            let outWidth = width * scale
            b.withGrad(0) { dxArray, accumulate in
                let dx = dxArray.data
                for p in 0..<planes {
                    for h in 0..<height {
                        let dst = dx + (p * height + h) * width
                        let block = dy + (p * height + h) * scale * outWidth
                        for w in 0..<width {
                            var s: Float = 0
                            for i in 0..<scale {
                                let run = block + i * outWidth + w * scale
                                for j in 0..<scale { s += run[j] }
                            }
                            dst[w] = accumulate ? dst[w] + s : s
                        }
                    }
                }
            }
        }
    }
}
