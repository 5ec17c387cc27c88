import SwiftPSTensor

/// MXNet's `Dropout`: in training, each element is kept with probability 1 − p and scaled by
/// 1/(1 − p) (inverted dropout), else zeroed; at inference it is the identity. `mode="always"`
/// drops at inference too. The mask comes from a `RandomGenerator` seeded with
/// `OpCreationContext.seed` and kept in the instance, so a run is reproducible; `Module.fit`
/// restarts it every epoch (`reseed`), so a resumed run is too. Backward reuses the mask of the last
/// forward.
public struct Dropout: Operator {
    public static let typeName = "Dropout"
    public static let attributeNames: [String] = ["p", "mode", "axes", "cudnn_off"]
    /// The probability of dropping an element, in [0, 1].
    public let p: Float
    /// Drop at inference as well (MXNet's `mode="always"`).
    public let always: Bool

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        p = try r.float("p", default: 0.5, in: 0...1)
        always = try r.choice("mode", ["training", "always"], default: "training") == "always"
        if let axes = try r.tuple("axes"), !axes.isEmpty {
            throw r.bad("axes", attributes["axes"] ?? "", "is not supported by SwiftPS (variational dropout)")
        }
    }

    /// A Dropout with drop probability `p`.
    public init(p: Float = 0.5, always: Bool = false) {
        self.p = p
        self.always = always
    }

    public var attributes: [String: String] { ["p": formatFloat(p), "mode": always ? "always" : "training"] }

    public func listArguments() -> [String] { ["data"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        try elementwiseShape(s, "Dropout")
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let count = NDArray.elementCount(context.inputShapes[0])
        let mask = try Symbol.allocate([count], for: "a Dropout mask", hint: "lower the batch size")
        return Instance(p: p, always: always, count: count, seed: context.seed, mask: mask)
    }

    final class Instance: OperatorInstance {
        let p: Float, always: Bool, count: Int
        var rng: RandomGenerator
        /// 0 or 1/(1 − p) per element, from the last dropping forward.
        let mask: NDArray
        /// Whether the last forward dropped (else it was the identity).
        var dropped = false

        init(p: Float, always: Bool, count: Int, seed: UInt64, mask: NDArray) {
            self.p = p
            self.always = always
            self.count = count
            rng = RandomGenerator(seed: seed)
            self.mask = mask
        }

        func reseed(_ seed: UInt64) { rng = RandomGenerator(seed: seed) }

        func forward(_ b: OpBinding, isTrain: Bool) {
            let x = b.inputs[0].data
            let y = b.outputs[0].data
            dropped = (isTrain || always) && p > 0
            guard dropped else {
                if x != y { y.update(from: x, count: count) }
                return
            }
            let keep = 1 - p
            let scale: Float = keep > 0 ? 1 / keep : 0
            let m = mask.data
            for i in 0..<count { m[i] = rng.nextUnit() < keep ? scale : 0 }
            Kernels.mul(count, x, m, y)
        }

        func backward(_ b: OpBinding) {
            let dy = b.outputGrads[0].data
            let m = mask.data
            let wasDropped = dropped
            b.withGrad(0) { dx, acc in
                if wasDropped {
                    writeGrad(count, dx.data, accumulate: acc) { dy[$0] * m[$0] }
                } else {
                    writeGrad(count, dx.data, accumulate: acc) { dy[$0] }
                }
            }
        }
    }
}
