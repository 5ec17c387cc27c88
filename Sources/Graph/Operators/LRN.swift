import Foundation
import SwiftPSTensor

/// MXNet's `LRN`: local response normalization across channels of (N, C, H, W) data,
/// `y = x / (knorm + alpha / nsize · Σ x²)^beta`, the sum running over the `nsize` channels centred on
/// each one (fewer at the edges). MXNet divides `alpha` by `nsize`, as this does.
///
/// `nsize` must be odd: MXNet 1.9.1's own implementation refuses even windows ("LRN only supports
/// odd values for local_size"; its MKL-DNN path takes them but centres them differently).
/// The defaults are MXNet's: alpha 1e-4, beta 0.75, knorm 2; `nsize` is required.
public struct LRN: Operator {
    public static let typeName = "LRN"
    public static let attributeNames: [String] = ["alpha", "beta", "knorm", "nsize"]
    public let alpha: Float
    public let beta: Float
    public let knorm: Float
    /// The window width in channels (odd).
    public let nsize: Int

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        alpha = try r.float("alpha", default: 1e-4)
        beta = try r.float("beta", default: 0.75)
        knorm = try r.float("knorm", default: 2)
        nsize = try r.int("nsize")
        guard nsize >= 1, nsize % 2 == 1 else {
            throw r.bad(
                "nsize", attributes["nsize"] ?? "",
                "must be odd and positive (MXNet 1.9.1's LRN supports odd windows only)")
        }
    }

    /// An LRN over `nsize` channels (odd).
    public init(nsize: Int, alpha: Float = 1e-4, beta: Float = 0.75, knorm: Float = 2) {
        self.nsize = nsize
        self.alpha = alpha
        self.beta = beta
        self.knorm = knorm
    }

    public var attributes: [String: String] {
        [
            "alpha": formatFloat(alpha), "beta": formatFloat(beta), "knorm": formatFloat(knorm),
            "nsize": String(nsize),
        ]
    }

    public func listArguments() -> [String] { ["data"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("LRN needs the data shape") }
        guard data.count == 4 else {
            throw GraphError.shapeError("LRN needs 4-D (N, C, H, W) data, as MXNet's; got \(data)")
        }
        return ([data], [data], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let shape = context.inputShapes[0]
        let norm = try Symbol.allocate(shape, for: "LRN's normalizer", hint: "lower the batch size")
        return Instance(op: self, shape: shape, norm: norm)
    }

    /// Keeps each element's normalizer `knorm + alpha/nsize · Σ x²` from forward for backward.
    final class Instance: OperatorInstance {
        let op: LRN
        let images: Int
        let channels: Int
        /// Elements per channel plane (H · W).
        let plane: Int
        let norm: NDArray
        init(op: LRN, shape: [Int], norm: NDArray) {
            self.op = op
            images = shape[0]
            channels = shape[1]
            plane = shape[2] * shape[3]
            self.norm = norm
        }

        /// For each image and channel c, calls `body` with the offsets of c's plane and of each plane
        /// in its window (the channels within nsize/2 of c).
        @inline(__always)
        private func forEachWindow(_ body: (_ c: Int, _ neighbour: Int) -> Void) {
            let half = op.nsize / 2
            for n in 0..<images {
                let image = n * channels * plane
                for c in 0..<channels {
                    for k in max(0, c - half)...min(channels - 1, c + half) {
                        body(image + c * plane, image + k * plane)
                    }
                }
            }
        }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0].data
            let y = b.outputs[0].data
            let s = norm.data
            let count = norm.count
            let scale = op.alpha / Float(op.nsize)
            Kernels.fill(count, 0, s)
            forEachWindow { c, k in for i in 0..<plane { s[c + i] += x[k + i] * x[k + i] } }
            for i in 0..<count {
                s[i] = op.knorm + scale * s[i]
                y[i] = x[i] * powf(s[i], -op.beta)
            }
        }

        /// dx_c = dy_c · s_c^−β − 2β·alpha/nsize · x_c · Σ_{k in c's window} dy_k · y_k / s_k (the
        /// windows are symmetric: c lies in k's window when k lies in c's).
        func backward(_ b: OpBinding) {
            let x = b.inputs[0].data
            let y = b.outputs[0].data
            let dy = b.outputGrads[0].data
            let s = norm.data
            let count = norm.count
            let factor = -2 * op.beta * op.alpha / Float(op.nsize)
            b.withGrad(0) { dxArray, accumulate in
                let dx = dxArray.data
                if !accumulate { Kernels.fill(count, 0, dx) }
                for i in 0..<count { dx[i] += dy[i] * powf(s[i], -op.beta) }
                forEachWindow { c, k in
                    for i in 0..<plane { dx[c + i] += factor * x[c + i] * dy[k + i] * y[k + i] / s[k + i] }
                }
            }
        }
    }
}
