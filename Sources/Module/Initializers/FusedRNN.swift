import SwiftPSGraph
import SwiftPSTensor

/// The flat parameter vector of a fused `RNN` operator, MXNet 1.x's `mx.init.FusedRNN(init,
/// num_hidden, num_layers, mode, bidirectional, forget_bias)` (`"fusedrnn"`, what
/// `mx.rnn.FusedRNNCell` writes as its parameters' `__init__`).
///
/// As MXNet does, it cuts the vector into its per-gate matrices and vectors (`l0_i2h_i_weight`
/// of shape (H, input), `l0_h2h_i_bias` of shape (H), …, `r0_…` for the backward direction) and
/// fills each by `inner`'s name rules (weights by its algorithm, so Xavier's fans are those of one
/// gate's matrix; biases 0), except an LSTM's forget-gate biases, input and recurrent both, which
/// get `forgetBias`. Without `inner` (MXNet's `init=None`) the module's global initializer does.
///
/// SwiftPS also uses it for an RNN's `parameters` variable that names no initializer, where MXNet
/// refuses the name ("Unknown initialization pattern"): see `Module.initParams`.
public struct FusedRNN: Initializer {
    /// What fills each gate's weights and biases; nil for the global initializer.
    public let inner: (any Initializer)?
    /// The RNN the vector belongs to.
    public let rnn: RNN
    /// The LSTM forget gates' biases (MXNet's default 1).
    public let forgetBias: Float

    /// An initializer for the parameters of `rnn`.
    public init(_ inner: (any Initializer)?, rnn: RNN, forgetBias: Float = 1) {
        self.inner = inner
        self.rnn = rnn
        self.forgetBias = forgetBias
    }

    /// The same initializer with `global` filling the gates when it names no initializer of its own.
    public func with(global: any Initializer) -> FusedRNN {
        FusedRNN(inner ?? global, rnn: rnn, forgetBias: forgetBias)
    }

    /// Fills the vector gate by gate; the input size comes from the vector's length.
    public func initWeight(name: String, array: NDArray, rng: inout RandomGenerator) throws {
        let h = rnn.stateSize
        let gates = rnn.mode.gates
        let d = rnn.directions
        // count = per layer and direction gates·H·(input + H + 2); only layer 0's input is unknown.
        let upper = (rnn.numLayers - 1) * d * gates * h * (d * h + h + 2)
        let first = array.count - upper
        guard first > 0, first % (d * gates * h) == 0, first / (d * gates * h) > h + 2 else {
            throw InitializerError.unsupportedShape(
                name: name, shape: array.shape,
                reason: "not the parameter vector of a \(rnn.numLayers)-layer \(rnn.mode.rawValue) of state size \(h)")
        }
        let input = first / (d * gates * h) - h - 2
        let layout = RNNLayout(rnn, inputSize: input)
        let initializer = inner ?? Xavier()
        let gateNames: [String] =
            switch rnn.mode {
            case .lstm: ["_i", "_f", "_c", "_o"]
            case .gru: ["_r", "_z", "_o"]
            case .rnnRelu, .rnnTanh: [""]
            }
        let out = array.data
        for layer in 0..<rnn.numLayers {
            for direction in 0..<d {
                let k = layer * d + direction
                let prefix = (direction == 0 ? "l" : "r") + "\(layer)_"
                for (gate, suffix) in gateNames.enumerated() {
                    for (side, columns, weight, bias) in [
                        ("i2h", layout.inputs[layer], layout.wx[k], layout.bx[k]),
                        ("h2h", h, layout.wh[k], layout.bh[k]),
                    ] {
                        let part = NDArray(shape: [h, columns])
                        try initializer.initialize(name: prefix + side + suffix + "_weight", array: part, rng: &rng)
                        (out + weight + gate * h * columns).update(from: part.data, count: h * columns)
                        let biasPart = NDArray(shape: [h])
                        if rnn.mode == .lstm && gate == 1 {
                            biasPart.fill(forgetBias)
                        } else {
                            try initializer.initialize(
                                name: prefix + side + suffix + "_bias", array: biasPart, rng: &rng)
                        }
                        (out + bias + gate * h).update(from: biasPart.data, count: h)
                    }
                }
            }
        }
    }
}
