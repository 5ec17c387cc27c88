import SwiftPSTensor

/// MXNet's fused recurrent operator `RNN` (what `mx.rnn.FusedRNNCell` and Gluon's `rnn.LSTM`,
/// `rnn.GRU` and `rnn.RNN` run): `num_layers` stacked layers of `mode` cells (rnn_relu, rnn_tanh,
/// lstm, gru), each optionally bidirectional, over data of shape (T, N, input) in TNC layout.
///
/// Arguments: `data`, `parameters` (one flat vector, laid out as MXNet 1.9.1 lays it out, so an
/// MXNet checkpoint's `*_parameters` loads as is), `state` (layers·directions, N, state_size) and,
/// for lstm, `state_cell`. Outputs: `output` (T, N, directions·state_size), and with
/// `state_outputs` the final states `state_output` (and `statecell_output` for lstm).
///
/// The parameter vector holds every weight first, then every bias: for each layer, for each
/// direction, the input weights `W_x` (gates·H × input of that layer) then the recurrent weights
/// `W_h` (gates·H × H); then for each layer and direction `b_x` then `b_h` (gates·H each). Gates are
/// stacked in the order lstm i, f, g, o and gru r, z, n; a gru's candidate is
/// `n = tanh(W_xn·x + b_xn + r ⊙ (W_hn·h + b_hn))`. Layers above the first read the previous
/// layer's output (directions·H values).
///
/// Each layer and direction computes its input projections for all time steps in one sgemm and
/// each step's recurrence in one more; backward through time mirrors that. `p` drops the outputs
/// of every layer but the last in training (inverted dropout, seeded as `Dropout`).
/// `projection_size`, `lstm_state_clip_min/max` and `use_sequence_length` are refused.
public struct RNN: Operator {
    public static let typeName = "RNN"
    public static let attributeNames: [String] = [
        "state_size", "num_layers", "bidirectional", "mode", "p", "state_outputs", "projection_size",
        "lstm_state_clip_min", "lstm_state_clip_max", "lstm_state_clip_nan", "use_sequence_length",
    ]

    /// The cell type.
    public enum Mode: String, Sendable, CaseIterable {
        case rnnRelu = "rnn_relu"
        case rnnTanh = "rnn_tanh"
        case lstm
        case gru

        /// The number of gates stacked in each weight matrix.
        public var gates: Int {
            switch self {
            case .rnnRelu, .rnnTanh: return 1
            case .lstm: return 4
            case .gru: return 3
            }
        }
    }

    /// The hidden state size H of every layer.
    public let stateSize: Int
    /// The number of stacked layers.
    public let numLayers: Int
    /// Whether every layer also runs backwards in time (its output is both directions' states).
    public let bidirectional: Bool
    /// The cell type.
    public let mode: Mode
    /// The dropout rate on the outputs of every layer but the last, in training.
    public let p: Float
    /// Whether the final states are outputs.
    public let stateOutputs: Bool

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        stateSize = try r.int("state_size")
        numLayers = try r.int("num_layers")
        guard stateSize > 0 else { throw r.bad("state_size", "\(stateSize)", "must be positive") }
        guard numLayers > 0 else { throw r.bad("num_layers", "\(numLayers)", "must be positive") }
        bidirectional = try r.bool("bidirectional", default: false)
        guard attributes["mode"] != nil else { throw r.bad("mode", "", "is required") }
        mode = Mode(rawValue: try r.choice("mode", Mode.allCases.map(\.rawValue), default: ""))!
        p = try r.float("p", default: 0, in: 0...1)
        stateOutputs = try r.bool("state_outputs", default: false)
        for name in ["projection_size", "lstm_state_clip_min", "lstm_state_clip_max"] {
            try r.requireAbsentOr(name, ["None", ""], reason: "is not supported by SwiftPS")
        }
        _ = try r.bool("lstm_state_clip_nan", default: false)
        if try r.bool("use_sequence_length", default: false) {
            throw r.bad(
                "use_sequence_length", attributes["use_sequence_length"] ?? "",
                "is not supported by SwiftPS (every sequence runs its full length)")
        }
    }

    /// An RNN with the given settings.
    public init(
        stateSize: Int, numLayers: Int, mode: Mode, bidirectional: Bool = false, p: Float = 0,
        stateOutputs: Bool = false
    ) {
        self.stateSize = stateSize
        self.numLayers = numLayers
        self.mode = mode
        self.bidirectional = bidirectional
        self.p = p
        self.stateOutputs = stateOutputs
    }

    public var attributes: [String: String] {
        [
            "state_size": String(stateSize), "num_layers": String(numLayers),
            "bidirectional": AttributeReader.format(bidirectional), "mode": mode.rawValue, "p": formatFloat(p),
            "state_outputs": AttributeReader.format(stateOutputs),
        ]
    }

    /// The number of directions, 1 or 2.
    public var directions: Int { bidirectional ? 2 : 1 }

    public func listArguments() -> [String] {
        mode == .lstm ? ["data", "parameters", "state", "state_cell"] : ["data", "parameters", "state"]
    }

    public func listOutputs() -> [String] {
        guard stateOutputs else { return ["output"] }
        return mode == .lstm ? ["output", "state_output", "statecell_output"] : ["output", "state_output"]
    }

    /// The length of the flat parameter vector for inputs of `inputSize` features (MXNet's
    /// `GetRnnParamSize`): per layer and direction, gates·H·(input + H) weights and 2·gates·H biases.
    public func parameterCount(inputSize: Int) -> Int {
        RNNLayout(self, inputSize: inputSize).count
    }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil else { throw GraphError.shapeError("RNN needs the data shape") }
        guard data.count == 3 else {
            throw GraphError.shapeError(
                "RNN data must have rank 3 (sequence length, batch size, input size), got \(data)")
        }
        let state = [numLayers * directions, data[1], stateSize]
        var inputs = [data, [parameterCount(inputSize: data[2])], state]
        if mode == .lstm { inputs.append(state) }
        let names = listArguments()
        for i in 1..<inputs.count where i < s.count {
            if let given = s[i], given != inputs[i] {
                throw GraphError.shapeError(
                    "RNN \(names[i]) shape \(given) does not match data \(data): expected \(inputs[i])")
            }
        }
        var outputs = [[data[0], data[1], directions * stateSize]]
        if stateOutputs { outputs += Array(repeating: state, count: mode == .lstm ? 2 : 1) }
        return (inputs, outputs, [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let data = context.inputShapes[0]
        return try RNNInstance(self, steps: data[0], batch: data[1], inputSize: data[2], seed: context.seed)
    }
}

/// Where each layer's and direction's weights and biases lie in the flat parameter vector.
public struct RNNLayout: Sendable {
    /// Offsets of W_x, W_h, b_x and b_h, indexed by layer·directions + direction.
    public private(set) var wx: [Int] = [], wh: [Int] = [], bx: [Int] = [], bh: [Int] = []
    /// Each layer's input size.
    public private(set) var inputs: [Int] = []
    /// The vector's length.
    public private(set) var count = 0

    /// The layout of `op`'s parameters for inputs of `inputSize` features.
    public init(_ op: RNN, inputSize: Int) {
        let rows = op.mode.gates * op.stateSize
        let d = op.directions
        for layer in 0..<op.numLayers {
            let input = layer == 0 ? inputSize : d * op.stateSize
            inputs.append(input)
            for _ in 0..<d {
                wx.append(count)
                count += rows * input
                wh.append(count)
                count += rows * op.stateSize
            }
        }
        for _ in 0..<(op.numLayers * d) {
            bx.append(count)
            bh.append(count + rows)
            count += 2 * rows
        }
    }
}

/// A bound RNN: every layer's outputs, gate activations and cell states of the last forward, kept
/// for backward through time.
final class RNNInstance: OperatorInstance {
    let mode: RNN.Mode
    let steps: Int, batch: Int, hidden: Int, layers: Int, dirs: Int, gates: Int
    let p: Float, stateOutputs: Bool
    let layout: RNNLayout
    var rng: RandomGenerator
    /// Every layer's output (T, N, dirs·H).
    let ys: NDArray
    /// Post-activation gates of every layer and direction (T, N, gates·H).
    let gateValues: NDArray
    /// LSTM cell states; for gru, `W_hn·h + b_hn` of every step (T, N, H) per layer and direction.
    let cells: NDArray
    /// Dropout masks and the dropped outputs of every layer but the last (empty without dropout).
    let masks: NDArray, dropped: NDArray
    /// Scratch: a gru's recurrent product (N, gates·H); backward's gate gradients (T, N, gates·H),
    /// twice for gru (input and recurrent sides differ in the candidate); output and input gradients
    /// of a layer (T, N, dirs·H); running state gradients (N, H).
    let recurrent: NDArray, dGx: NDArray, dGh: NDArray, dY: NDArray, dX: NDArray
    let dh: NDArray, dhNext: NDArray, dcNext: NDArray
    /// Whether the last forward dropped.
    var droppedLast = false

    var layerSize: Int { steps * batch * dirs * hidden }
    var rows: Int { gates * hidden }

    init(_ op: RNN, steps: Int, batch: Int, inputSize: Int, seed: UInt64) throws {
        mode = op.mode
        self.steps = steps
        self.batch = batch
        hidden = op.stateSize
        layers = op.numLayers
        dirs = op.directions
        gates = op.mode.gates
        p = op.p
        stateOutputs = op.stateOutputs
        layout = RNNLayout(op, inputSize: inputSize)
        rng = RandomGenerator(seed: seed)
        let hint = "lower the batch size or the sequence length"
        func buffer(_ count: Int, _ what: String) throws -> NDArray {
            try Symbol.allocate([count], for: "an RNN's \(what)", hint: hint)
        }
        let tn = steps * batch
        let perLayer = tn * dirs * hidden
        ys = try buffer(layers * perLayer, "layer outputs")
        gateValues = try buffer(layers * dirs * tn * gates * hidden, "gate values")
        cells = try buffer(mode == .lstm || mode == .gru ? layers * dirs * tn * hidden : 0, "cell states")
        let dropping = op.p > 0 && layers > 1
        masks = try buffer(dropping ? (layers - 1) * perLayer : 0, "dropout masks")
        dropped = try buffer(dropping ? (layers - 1) * perLayer : 0, "dropped outputs")
        recurrent = try buffer(mode == .gru ? batch * gates * hidden : 0, "recurrent products")
        dGx = try buffer(tn * gates * hidden, "gate gradients")
        dGh = mode == .gru ? try buffer(tn * gates * hidden, "recurrent gate gradients") : dGx
        dY = try buffer(perLayer, "output gradients")
        dX = try buffer(layers > 1 ? perLayer : 0, "input gradients")
        dh = try buffer(batch * hidden, "state gradients")
        dhNext = try buffer(batch * hidden, "state gradients")
        dcNext = try buffer(batch * hidden, "cell gradients")
    }

    func reseed(_ seed: UInt64) { rng = RandomGenerator(seed: seed) }

    /// The time index of forward step `s` in direction `d`.
    @inline(__always) func time(_ s: Int, _ d: Int) -> Int { d == 0 ? s : steps - 1 - s }

    /// Layer `l`'s input (T·N rows) as the layer reads it: the data, or the previous layer's output
    /// (dropped when the last forward dropped).
    func layerInput(_ l: Int, data: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        if l == 0 { return data }
        return droppedLast ? dropped.data + (l - 1) * layerSize : ys.data + (l - 1) * layerSize
    }

    /// The state before forward step `s` of layer/direction `k`: the initial state, or the previous
    /// step's output, with its row stride.
    func previous(
        _ s: Int, _ l: Int, _ d: Int, initial: UnsafeMutablePointer<Float>
    ) -> (UnsafeMutablePointer<Float>, Int) {
        if s == 0 { return (initial + (l * dirs + d) * batch * hidden, hidden) }
        return (ys.data + l * layerSize + time(s - 1, d) * batch * dirs * hidden + d * hidden, dirs * hidden)
    }

    func forward(_ b: OpBinding, isTrain: Bool) {
        guard steps > 0 && batch > 0 else { return }
        let data = b.inputs[0].data
        let w = b.inputs[1].data
        let h0 = b.inputs[2].data
        let c0 = mode == .lstm ? b.inputs[3].data : h0
        droppedLast = isTrain && dropped.count > 0
        let tn = steps * batch
        let gh = rows
        for l in 0..<layers {
            let x = layerInput(l, data: data)
            let input = layout.inputs[l]
            for d in 0..<dirs {
                let k = l * dirs + d
                let g = gateValues.data + k * tn * gh
                let cell = cells.data + k * tn * hidden
                // Input projections of every step, plus the biases that sit outside any gate product.
                let bx = w + layout.bx[k]
                let bh = w + layout.bh[k]
                for r in 0..<tn {
                    let row = g + r * gh
                    for j in 0..<gh { row[j] = bx[j] }
                    let recurrentBias = mode == .gru ? 2 * hidden : gh
                    for j in 0..<recurrentBias { row[j] += bh[j] }
                }
                BLAS.gemm(transB: true, m: tn, n: gh, k: input, a: x, b: w + layout.wx[k], beta: 1, c: g)
                for s in 0..<steps {
                    let t = time(s, d)
                    let (hp, ldp) = previous(s, l, d, initial: h0)
                    let gt = g + t * batch * gh
                    let out = ys.data + l * layerSize + t * batch * dirs * hidden + d * hidden
                    let ld = dirs * hidden
                    switch mode {
                    case .rnnRelu, .rnnTanh:
                        BLAS.gemm(
                            transB: true, m: batch, n: gh, k: hidden, a: hp, lda: ldp, b: w + layout.wh[k], beta: 1,
                            c: gt)
                        if mode == .rnnTanh {
                            tanhApproximation(batch * gh, gt, gt)
                        } else {
                            reluInPlace(batch * gh, gt)
                        }
                        for n in 0..<batch { (out + n * ld).update(from: gt + n * gh, count: hidden) }
                    case .lstm:
                        BLAS.gemm(
                            transB: true, m: batch, n: gh, k: hidden, a: hp, lda: ldp, b: w + layout.wh[k], beta: 1,
                            c: gt)
                        let ct = cell + t * batch * hidden
                        let cp = s == 0 ? c0 + k * batch * hidden : cell + time(s - 1, d) * batch * hidden
                        for n in 0..<batch {
                            let row = gt + n * gh
                            sigmoidInPlace(2 * hidden, row)
                            tanhApproximation(hidden, row + 2 * hidden, row + 2 * hidden)
                            sigmoidInPlace(hidden, row + 3 * hidden)
                            lstmCell(hidden, row, cp + n * hidden, ct + n * hidden, out + n * ld)
                        }
                    case .gru:
                        let rec = recurrent.data
                        BLAS.gemm(
                            transB: true, m: batch, n: gh, k: hidden, a: hp, lda: ldp, b: w + layout.wh[k], c: rec)
                        let hn = cell + t * batch * hidden
                        for n in 0..<batch {
                            let row = gt + n * gh
                            let rrow = rec + n * gh
                            for j in 0..<(2 * hidden) { row[j] += rrow[j] }
                            sigmoidInPlace(2 * hidden, row)
                            gruCell(
                                hidden, row, rrow + 2 * hidden, bh + 2 * hidden, hp + n * ldp, hn + n * hidden,
                                out + n * ld)
                        }
                    }
                }
            }
            if droppedLast && l < layers - 1 { drop(l) }
        }
        b.outputs[0].data.update(from: ys.data + (layers - 1) * layerSize, count: layerSize)
        if stateOutputs && b.outputs.count > 1 { writeFinalStates(b) }
    }

    /// Draws layer `l`'s dropout mask and applies it to its output.
    func drop(_ l: Int) {
        let keep = 1 - p
        let scale: Float = keep > 0 ? 1 / keep : 0
        let m = masks.data + l * layerSize
        for i in 0..<layerSize { m[i] = rng.nextUnit() < keep ? scale : 0 }
        Kernels.mul(layerSize, ys.data + l * layerSize, m, dropped.data + l * layerSize)
    }

    /// hy (and cy): each layer's and direction's state after its last step.
    func writeFinalStates(_ b: OpBinding) {
        for l in 0..<layers {
            for d in 0..<dirs {
                let k = l * dirs + d
                let t = time(steps - 1, d)
                let hy = b.outputs[1].data + k * batch * hidden
                let src = ys.data + l * layerSize + t * batch * dirs * hidden + d * hidden
                for n in 0..<batch { (hy + n * hidden).update(from: src + n * dirs * hidden, count: hidden) }
                if mode == .lstm && b.outputs.count > 2 {
                    let cy = b.outputs[2].data + k * batch * hidden
                    cy.update(from: cells.data + (k * steps + t) * batch * hidden, count: batch * hidden)
                }
            }
        }
    }

    func backward(_ b: OpBinding) {
        guard steps > 0 && batch > 0 else { return }
        let w = b.inputs[1].data
        let h0 = b.inputs[2].data
        let c0 = mode == .lstm ? b.inputs[3].data : h0
        let tn = steps * batch
        let gh = rows
        // The gradient reaching the top layer's output.
        dY.data.update(from: b.outputGrads[0].data, count: layerSize)
        for l in stride(from: layers - 1, through: 0, by: -1) {
            let x = layerInput(l, data: b.inputs[0].data)
            let input = layout.inputs[l]
            let wantsInput = l > 0 || b.needsGrad(0)
            for d in 0..<dirs {
                let k = l * dirs + d
                startStateGradients(b, k)
                for s in stride(from: steps - 1, through: 0, by: -1) {
                    backwardStep(s, l, d, w: w, h0: h0, c0: c0)
                }
                let dhv = dhNext.data
                let dcv = dcNext.data
                b.withGrad(2) { ds, acc in
                    writeGrad(batch * hidden, ds.data + k * batch * hidden, accumulate: acc) { dhv[$0] }
                }
                if mode == .lstm {
                    b.withGrad(3) { dc, acc in
                        writeGrad(batch * hidden, dc.data + k * batch * hidden, accumulate: acc) { dcv[$0] }
                    }
                }
                b.withGrad(1) { dp, acc in
                    parameterGradients(dp.data, acc, l, d, x: x, input: input, h0: h0)
                }
                if wantsInput {
                    let wx = w + layout.wx[k]
                    if l > 0 {
                        BLAS.gemm(m: tn, n: input, k: gh, a: dGx.data, b: wx, beta: d == 0 ? 0 : 1, c: dX.data)
                    } else {
                        b.withGrad(0) { dd, acc in
                            BLAS.gemm(
                                m: tn, n: input, k: gh, a: dGx.data, b: wx, beta: d == 0 && !acc ? 0 : 1, c: dd.data)
                        }
                    }
                }
            }
            if l > 0 {
                // The layer below's output gradient, through its dropout mask.
                if droppedLast {
                    Kernels.mul(layerSize, dX.data, masks.data + (l - 1) * layerSize, dY.data)
                } else {
                    dY.data.update(from: dX.data, count: layerSize)
                }
            }
        }
    }

    /// Starts the running state gradients of layer/direction `k` at the final states' gradients
    /// (zero without state outputs).
    func startStateGradients(_ b: OpBinding, _ k: Int) {
        let count = batch * hidden
        if stateOutputs && b.outputGrads.count > 1 {
            dhNext.data.update(from: b.outputGrads[1].data + k * count, count: count)
        } else {
            dhNext.data.update(repeating: 0, count: count)
        }
        if stateOutputs && mode == .lstm && b.outputGrads.count > 2 {
            dcNext.data.update(from: b.outputGrads[2].data + k * count, count: count)
        } else {
            dcNext.data.update(repeating: 0, count: count)
        }
    }

    /// Backward through forward step `s` of layer `l`, direction `d`: the gate gradients of that
    /// step into `dGx` (and `dGh`), and the running state gradients one step back.
    func backwardStep(
        _ s: Int, _ l: Int, _ d: Int, w: UnsafeMutablePointer<Float>, h0: UnsafeMutablePointer<Float>,
        c0: UnsafeMutablePointer<Float>
    ) {
        let k = l * dirs + d
        let t = time(s, d)
        let gh = rows
        let ld = dirs * hidden
        let tn = steps * batch
        let g = gateValues.data + (k * tn + t * batch) * gh
        let dgx = dGx.data + t * batch * gh
        let dgh = dGh.data + t * batch * gh
        let dyt = dY.data + t * batch * ld + d * hidden
        let dhv = dh.data
        let dn = dhNext.data
        let dc = dcNext.data
        for n in 0..<batch {
            let src = dyt + n * ld
            let run = dn + n * hidden
            let dst = dhv + n * hidden
            for j in 0..<hidden { dst[j] = src[j] + run[j] }
        }
        let (hp, ldp) = previous(s, l, d, initial: h0)
        switch mode {
        case .rnnTanh:
            for i in 0..<(batch * gh) { dgx[i] = dhv[i] * (1 - g[i] * g[i]) }
        case .rnnRelu:
            for i in 0..<(batch * gh) { dgx[i] = g[i] > 0 ? dhv[i] : 0 }
        case .lstm:
            let cell = cells.data + k * tn * hidden
            let ct = cell + t * batch * hidden
            let cp = s == 0 ? c0 + k * batch * hidden : cell + time(s - 1, d) * batch * hidden
            for n in 0..<batch {
                lstmCellBackward(
                    hidden, g + n * gh, cp + n * hidden, ct + n * hidden, dhv + n * hidden, dc + n * hidden,
                    dgx + n * gh)
            }
        case .gru:
            let hn = cells.data + (k * tn + t * batch) * hidden
            for n in 0..<batch {
                gruCellBackward(
                    hidden, g + n * gh, hn + n * hidden, hp + n * ldp, dhv + n * hidden, dgx + n * gh, dgh + n * gh,
                    direct: dn + n * hidden)
            }
        }
        // The previous state's gradient through the recurrent weights (added to gru's direct path).
        BLAS.gemm(
            m: batch, n: hidden, k: gh, a: dgh, b: w + layout.wh[k], beta: mode == .gru ? 1 : 0, c: dn)
    }

    /// Adds (or writes) layer `l`, direction `d`'s weight and bias gradients from the gate gradients.
    func parameterGradients(
        _ dp: UnsafeMutablePointer<Float>, _ acc: Bool, _ l: Int, _ d: Int, x: UnsafeMutablePointer<Float>,
        input: Int, h0: UnsafeMutablePointer<Float>
    ) {
        let k = l * dirs + d
        let tn = steps * batch
        let gh = rows
        let beta: Float = acc ? 1 : 0
        BLAS.gemm(transA: true, m: gh, n: input, k: tn, a: dGx.data, b: x, beta: beta, c: dp + layout.wx[k])
        // dW_h = Σ_t dG_h(t)ᵀ · h(t−1): the first step reads the initial state, the others the
        // layer's own outputs, one product over all of them.
        let first = time(0, d)
        let dwh = dp + layout.wh[k]
        BLAS.gemm(
            transA: true, m: gh, n: hidden, k: batch, a: dGh.data + first * batch * gh,
            b: h0 + k * batch * hidden, beta: beta, c: dwh)
        if steps > 1 {
            let later = d == 0 ? 1 : 0
            let prev = d == 0 ? 0 : 1
            BLAS.gemm(
                transA: true, m: gh, n: hidden, k: (steps - 1) * batch, a: dGh.data + later * batch * gh,
                b: ys.data + l * layerSize + prev * batch * dirs * hidden + d * hidden, ldb: dirs * hidden, beta: 1,
                c: dwh)
        }
        Kernels.sumRows(rows: tn, cols: gh, dGx.data, dp + layout.bx[k], accumulate: acc)
        Kernels.sumRows(rows: tn, cols: gh, dGh.data, dp + layout.bh[k], accumulate: acc)
    }
}

/// `x = sigmoid(x)` over `n` values, as 0.5 + 0.5·tanh(x/2) so the loop vectorizes.
@inline(__always)
func sigmoidInPlace(_ n: Int, _ x: UnsafeMutablePointer<Float>) {
    for i in 0..<n { x[i] = 0.5 + 0.5 * tanhApproximation(0.5 * x[i]) }
}

/// `x = max(x, 0)` over `n` values.
@inline(__always)
func reluInPlace(_ n: Int, _ x: UnsafeMutablePointer<Float>) {
    for i in 0..<n { x[i] = max(x[i], 0) }
}

/// One sample's LSTM step from its activated gates `[i f g o]`: c = f·c′ + i·g, h = o·tanh(c).
@inline(__always)
func lstmCell(
    _ h: Int, _ gates: UnsafeMutablePointer<Float>, _ cPrev: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    _ out: UnsafeMutablePointer<Float>
) {
    for j in 0..<h {
        let cj = gates[h + j] * cPrev[j] + gates[j] * gates[2 * h + j]
        c[j] = cj
        out[j] = gates[3 * h + j] * tanhApproximation(cj)
    }
}

/// One sample's GRU step from its activated r and z (`gates[0..<2h]`): stores `W_hn·h′ + b_hn` in
/// `hn`, the candidate n = tanh(x_n + r·hn) in `gates[2h..<3h]`, and h = (1 − z)·n + z·h′ in `out`.
@inline(__always)
func gruCell(
    _ h: Int, _ gates: UnsafeMutablePointer<Float>, _ recurrentN: UnsafePointer<Float>, _ biasN: UnsafePointer<Float>,
    _ hPrev: UnsafePointer<Float>, _ hn: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>
) {
    for j in 0..<h {
        let a = recurrentN[j] + biasN[j]
        hn[j] = a
        let n = tanhApproximation(gates[2 * h + j] + gates[j] * a)
        gates[2 * h + j] = n
        let z = gates[h + j]
        out[j] = (1 - z) * n + z * hPrev[j]
    }
}

/// One sample's LSTM step backward: from the state gradient `dh` and the running cell gradient
/// `dc` (replaced by the previous cell's), the pre-activation gate gradients `dg`.
@inline(__always)
func lstmCellBackward(
    _ h: Int, _ gates: UnsafePointer<Float>, _ cPrev: UnsafePointer<Float>, _ c: UnsafePointer<Float>,
    _ dh: UnsafePointer<Float>, _ dc: UnsafeMutablePointer<Float>, _ dg: UnsafeMutablePointer<Float>
) {
    for j in 0..<h {
        let i = gates[j]
        let f = gates[h + j]
        let g = gates[2 * h + j]
        let o = gates[3 * h + j]
        let tc = tanhApproximation(c[j])
        let dcj = dc[j] + dh[j] * o * (1 - tc * tc)
        dg[j] = dcj * g * i * (1 - i)
        dg[h + j] = dcj * cPrev[j] * f * (1 - f)
        dg[2 * h + j] = dcj * i * (1 - g * g)
        dg[3 * h + j] = dh[j] * tc * o * (1 - o)
        dc[j] = dcj * f
    }
}

/// One sample's GRU step backward: the input-side gate gradients `dgx`, the recurrent-side ones
/// `dgh` (which differ in the candidate, scaled by r), and the previous state's direct gradient
/// z·dh in `direct`.
@inline(__always)
func gruCellBackward(
    _ h: Int, _ gates: UnsafePointer<Float>, _ hn: UnsafePointer<Float>, _ hPrev: UnsafePointer<Float>,
    _ dh: UnsafePointer<Float>, _ dgx: UnsafeMutablePointer<Float>, _ dgh: UnsafeMutablePointer<Float>,
    direct: UnsafeMutablePointer<Float>
) {
    for j in 0..<h {
        let r = gates[j]
        let z = gates[h + j]
        let n = gates[2 * h + j]
        let dan = dh[j] * (1 - z) * (1 - n * n)
        let dar = dan * hn[j] * r * (1 - r)
        let daz = dh[j] * (hPrev[j] - n) * z * (1 - z)
        dgx[j] = dar
        dgx[h + j] = daz
        dgx[2 * h + j] = dan
        dgh[j] = dar
        dgh[h + j] = daz
        dgh[2 * h + j] = dan * r
        direct[j] = dh[j] * z
    }
}
