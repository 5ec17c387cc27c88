import SwiftPSTensor

/// MXNet's `UpSampling` of one input by an integer `scale`, in either of its two ways:
///
/// - `sample_type="nearest"` (`num_args=1`): each pixel of (N, C, H, W) data repeated into a
///   `scale` × `scale` block of the (N, C, H·scale, W·scale) output; backward sums each block's
///   gradient into its pixel. More than one input is refused.
/// - `sample_type="bilinear"`: MXNet's learned upsampling, a depthwise `Deconvolution` of arguments
///   `data` and `weight` (C, 1, k, k) with `k = 2·scale − scale mod 2`, stride `scale`, pad
///   `⌈(scale − 1) / 2⌉`, `num_group = num_filter`, no bias, which gives (N, C, H·scale, W·scale).
///   MXNet computes it only when `num_filter` equals the data's channels (other values fail or
///   crash there), so any other is a shape error here. The weight variable a symbol creates gets
///   MXNet's `__init__` attribute `["bilinear", {}]`, naming the initializer a module draws it
///   with (MXNet's `mx.init.Bilinear`); a weight loaded from a checkpoint needs none. `num_args`
///   changes nothing (MXNet writes 1, or 2 with the weight given).
///
/// `multi_input_mode` (several inputs') and `workspace` are accepted and change nothing here.
public struct UpSampling: Operator {
    public static let typeName = "UpSampling"
    public static let attributeNames: [String] = [
        "scale", "num_filter", "sample_type", "multi_input_mode", "num_args", "workspace",
    ]

    /// MXNet's `sample_type` values.
    public enum SampleType: String, Sendable, CaseIterable {
        case nearest, bilinear
    }

    /// The repeat factor along each spatial axis.
    public let scale: Int
    /// How the output is made.
    public let sampleType: SampleType
    /// Bilinear's channels (MXNet's `num_filter`, its deconvolution's filters and groups); 0 for nearest.
    public let numFilter: Int
    /// MXNet's `num_args` as given (bilinear ignores it).
    public let numArgs: Int

    /// MXNet's initializer attribute of the bilinear weight variable.
    public static let bilinearWeightInit = #"["bilinear", {}]"#

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        scale = try r.int("scale")
        guard scale >= 1, scale <= AttributeReader.largestWindowEntry else {
            throw r.bad("scale", "\(scale)", "must be from 1 to \(AttributeReader.largestWindowEntry)")
        }
        guard attributes["sample_type"] != nil else { throw r.bad("sample_type", "", "is required") }
        sampleType =
            SampleType(rawValue: try r.choice("sample_type", SampleType.allCases.map(\.rawValue), default: "nearest"))
            ?? .nearest
        numArgs = try r.int("num_args")
        let filters = try r.int("num_filter", default: 0)
        switch sampleType {
        case .nearest:
            guard numArgs == 1 else {
                throw r.bad("num_args", "\(numArgs)", "must be 1: SwiftPS upsamples one input (nearest)")
            }
            numFilter = 0
        case .bilinear:
            guard numArgs >= 1 else { throw r.bad("num_args", "\(numArgs)", "must be at least 1") }
            guard filters > 0 else {
                throw r.bad(
                    "num_filter", "\(filters)",
                    "must be the data's channels for bilinear upsampling (MXNet cannot compute it otherwise)")
            }
            numFilter = filters
        }
        _ = try r.choice("multi_input_mode", ["concat", "sum"], default: "concat")
        _ = try r.int("workspace", default: 512)
    }

    /// Nearest-neighbour upsampling of one input by `scale`.
    public init(scale: Int) {
        self.scale = scale
        sampleType = .nearest
        numFilter = 0
        numArgs = 1
    }

    /// Bilinear (learned) upsampling of `channels`-channel data by `scale`.
    public init(bilinearScale scale: Int, channels: Int) {
        precondition(scale >= 1 && channels >= 1, "bilinear upsampling needs a scale and channels")
        self.scale = scale
        sampleType = .bilinear
        numFilter = channels
        numArgs = 1
    }

    public var attributes: [String: String] {
        var a = ["scale": String(scale), "sample_type": sampleType.rawValue, "num_args": String(numArgs)]
        if sampleType == .bilinear { a["num_filter"] = String(numFilter) }
        return a
    }

    /// MXNet's names: `arg0` for nearest's one input, `data` and `weight` for bilinear.
    public func listArguments() -> [String] { sampleType == .nearest ? ["arg0"] : ["data", "weight"] }

    public func argumentAttributes(_ argument: String) -> [String: String] {
        sampleType == .bilinear && argument == "weight" ? ["__init__": Self.bilinearWeightInit] : [:]
    }

    /// Bilinear upsampling's kernel size, `2·scale − scale mod 2`.
    var kernel: Int { 2 * scale - scale % 2 }

    /// Bilinear upsampling's deconvolution: kernel `kernel`, stride `scale`, pad `⌈(scale − 1) / 2⌉`,
    /// one group per channel, no bias (MXNet's `GetDeconvolutionParam`).
    var deconvolution: Deconvolution {
        let pad = scale / 2  // ⌈(scale − 1) / 2⌉
        return Deconvolution(
            kernel: [kernel, kernel], numFilter: numFilter, stride: [scale, scale], pad: [pad, pad],
            numGroup: numFilter, noBias: true)
    }

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
        guard sampleType == .bilinear else { return ([data], [[data[0], data[1], h, w]], []) }
        guard data[1] == numFilter else {
            throw GraphError.shapeError(
                "UpSampling bilinear with num_filter \(numFilter) needs data of \(numFilter) channels, got \(data)")
        }
        let weight = [numFilter, 1, kernel, kernel]
        if s.count > 1, let given = s[1], given != weight {
            throw GraphError.shapeError(
                "UpSampling bilinear weight shape \(given) does not match data \(data): expected \(weight)")
        }
        // The deconvolution's output is the scaled image: s·(H − 1) + k − 2·pad = s·H.
        return try deconvolution.inferShape([data, weight])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        if sampleType == .bilinear { return try deconvolution.makeInstance(context) }
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
