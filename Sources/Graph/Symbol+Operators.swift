/// Typed builders for the supported operators, MXNet's `mx.sym.<Op>(…)` functions.
///
/// Each builder writes its parameters as the strings MXNet stores in symbol JSON (`"(5, 5)"`,
/// `"True"`) and calls `Symbol.operation`, so the node is created through `OperatorRegistry`.
/// Optional parameters left nil are not written, so the operator's (MXNet's) default applies.
extension Symbol {
    private static func attrs(_ pairs: [(String, String?)]) -> [String: String] {
        var out: [String: String] = [:]
        for (k, v) in pairs { if let v { out[k] = v } }
        return out
    }

    private static func tuple(_ t: [Int]?) -> String? { t.map(AttributeReader.format) }
    private static func flag(_ b: Bool?) -> String? { b.map(AttributeReader.format) }
    private static func number(_ f: Float?) -> String? { f.map { String($0) } }

    /// `FullyConnected`: `data · weightᵀ + bias` with `num_hidden` outputs (MXNet's parameters
    /// `num_hidden`, `no_bias`, `flatten`).
    public static func fullyConnected(
        _ data: Symbol, numHidden: Int, noBias: Bool = false, flatten: Bool = true, name: String? = nil
    ) throws -> Symbol {
        try operation(
            "FullyConnected", name: name, inputs: [("data", data)],
            attributes: [
                "num_hidden": String(numHidden), "no_bias": AttributeReader.format(noBias),
                "flatten": AttributeReader.format(flatten),
            ])
    }

    /// `Activation` with `act_type` one of relu, sigmoid, tanh, softrelu, softsign.
    public static func activation(_ data: Symbol, actType: String, name: String? = nil) throws -> Symbol {
        try operation("Activation", name: name, inputs: [("data", data)], attributes: ["act_type": actType])
    }

    /// `LeakyReLU` with `act_type` (leaky, the default; elu, selu, gelu, prelu with a learned `gamma`
    /// argument, rrelu) and `slope` (MXNet default 0.25).
    public static func leakyReLU(
        _ data: Symbol, actType: String = "leaky", slope: Float? = nil, name: String? = nil
    ) throws -> Symbol {
        try operation(
            "LeakyReLU", name: name, inputs: [("data", data)],
            attributes: attrs([("act_type", actType), ("slope", number(slope))]))
    }

    /// `Convolution` (2-D, NCHW) with `kernel`, `num_filter`, and optional `stride`, `pad`, `dilate`,
    /// `num_group`, `no_bias`.
    public static func convolution(
        _ data: Symbol, kernel: [Int], numFilter: Int, stride: [Int]? = nil, pad: [Int]? = nil,
        dilate: [Int]? = nil, numGroup: Int? = nil, noBias: Bool = false, name: String? = nil
    ) throws -> Symbol {
        try operation(
            "Convolution", name: name, inputs: [("data", data)],
            attributes: attrs([
                ("kernel", tuple(kernel)), ("num_filter", String(numFilter)), ("stride", tuple(stride)),
                ("pad", tuple(pad)), ("dilate", tuple(dilate)), ("num_group", numGroup.map(String.init)),
                ("no_bias", AttributeReader.format(noBias)),
            ]))
    }

    /// `Deconvolution` (2-D, NCHW, a transposed convolution) with `kernel`, `num_filter`, and optional
    /// `stride`, `pad`, `adj`, `target_shape`, `dilate`, `num_group`, `no_bias` (MXNet's default: true).
    public static func deconvolution(
        _ data: Symbol, kernel: [Int], numFilter: Int, stride: [Int]? = nil, pad: [Int]? = nil, adj: [Int]? = nil,
        targetShape: [Int]? = nil, dilate: [Int]? = nil, numGroup: Int? = nil, noBias: Bool? = nil,
        name: String? = nil
    ) throws -> Symbol {
        try operation(
            "Deconvolution", name: name, inputs: [("data", data)],
            attributes: attrs([
                ("kernel", tuple(kernel)), ("num_filter", String(numFilter)), ("stride", tuple(stride)),
                ("pad", tuple(pad)), ("adj", tuple(adj)), ("target_shape", tuple(targetShape)),
                ("dilate", tuple(dilate)), ("num_group", numGroup.map(String.init)), ("no_bias", flag(noBias)),
            ]))
    }

    /// `LayerNorm` over `axis` (default the last) with `eps` (MXNet default 1e-5).
    public static func layerNorm(_ data: Symbol, axis: Int? = nil, eps: Float? = nil, name: String? = nil) throws
        -> Symbol
    {
        try operation(
            "LayerNorm", name: name, inputs: [("data", data)],
            attributes: attrs([("axis", axis.map(String.init)), ("eps", number(eps))]))
    }

    /// `InstanceNorm` with `eps` (MXNet default 1e-3).
    public static func instanceNorm(_ data: Symbol, eps: Float? = nil, name: String? = nil) throws -> Symbol {
        try operation("InstanceNorm", name: name, inputs: [("data", data)], attributes: attrs([("eps", number(eps))]))
    }

    /// `GroupNorm` of `numGroups` groups of channels (MXNet default 1) with `eps` (MXNet default
    /// 1e-5); creates `<name>_gamma` and `<name>_beta` of shape (numGroups,), as MXNet 1.9.1's.
    public static func groupNorm(
        _ data: Symbol, numGroups: Int? = nil, eps: Float? = nil, outputMeanVar: Bool? = nil, name: String? = nil
    ) throws -> Symbol {
        try operation(
            "GroupNorm", name: name, inputs: [("data", data)],
            attributes: attrs([
                ("num_groups", numGroups.map(String.init)), ("eps", number(eps)),
                ("output_mean_var", flag(outputMeanVar)),
            ]))
    }

    /// `L2Normalization` with `mode` (instance, channel, spatial) and `eps` (MXNet default 1e-10).
    public static func l2Normalization(_ data: Symbol, mode: String? = nil, eps: Float? = nil, name: String? = nil)
        throws -> Symbol
    {
        try operation(
            "L2Normalization", name: name, inputs: [("data", data)],
            attributes: attrs([("mode", mode), ("eps", number(eps))]))
    }

    /// `Pooling` with `kernel`, `pool_type` (max, avg, sum), optional `stride`, `pad`, `global_pool`.
    public static func pooling(
        _ data: Symbol, kernel: [Int], poolType: String = "max", stride: [Int]? = nil, pad: [Int]? = nil,
        globalPool: Bool = false, name: String? = nil
    ) throws -> Symbol {
        try operation(
            "Pooling", name: name, inputs: [("data", data)],
            attributes: attrs([
                ("kernel", tuple(kernel)), ("pool_type", poolType), ("stride", tuple(stride)),
                ("pad", tuple(pad)), ("global_pool", globalPool ? AttributeReader.format(true) : nil),
            ]))
    }

    /// `Flatten`: (N, d1, d2, …) → (N, d1·d2·…).
    public static func flatten(_ data: Symbol, name: String? = nil) throws -> Symbol {
        try operation("Flatten", name: name, inputs: [("data", data)])
    }

    /// `Reshape` to `shape`, with MXNet's special values (0 keeps a dimension, -1 infers one).
    public static func reshape(_ data: Symbol, shape: [Int], name: String? = nil) throws -> Symbol {
        try operation(
            "Reshape", name: name, inputs: [("data", data)], attributes: ["shape": AttributeReader.format(shape)])
    }

    /// `BatchNorm` over axis 1 with `eps`, `momentum`, `fix_gamma`, `use_global_stats`; creates
    /// `<name>_gamma`, `<name>_beta` and the auxiliary states `<name>_moving_mean`, `<name>_moving_var`.
    public static func batchNorm(
        _ data: Symbol, eps: Float? = nil, momentum: Float? = nil, fixGamma: Bool? = nil,
        useGlobalStats: Bool? = nil, name: String? = nil
    ) throws -> Symbol {
        try operation(
            "BatchNorm", name: name, inputs: [("data", data)],
            attributes: attrs([
                ("eps", number(eps)), ("momentum", number(momentum)), ("fix_gamma", flag(fixGamma)),
                ("use_global_stats", flag(useGlobalStats)),
            ]))
    }

    /// `RNN`, MXNet's fused recurrent operator over TNC `data`: `numLayers` layers of `mode` cells
    /// (rnn_relu, rnn_tanh, lstm, gru) of `stateSize`, optionally bidirectional, with dropout `p`
    /// between layers in training. `parameters`, `state` and (lstm) `stateCell` become variables
    /// (`<name>_parameters`, …) when not given; `stateOutputs` adds the final states as outputs.
    public static func rnn(
        _ data: Symbol, parameters: Symbol? = nil, state: Symbol? = nil, stateCell: Symbol? = nil,
        stateSize: Int, numLayers: Int, mode: RNN.Mode, bidirectional: Bool = false, p: Float? = nil,
        stateOutputs: Bool = false, name: String? = nil
    ) throws -> Symbol {
        let given: [(String, Symbol?)] = [
            ("data", data), ("parameters", parameters), ("state", state), ("state_cell", stateCell),
        ]
        return try operation(
            "RNN", name: name, inputs: given.compactMap { key, value in value.map { (key, $0) } },
            attributes: attrs([
                ("state_size", String(stateSize)), ("num_layers", String(numLayers)),
                ("bidirectional", flag(bidirectional)), ("mode", mode.rawValue), ("p", number(p)),
                ("state_outputs", flag(stateOutputs)),
            ]))
    }

    /// `SequenceMask`: steps at or past each entry's `sequenceLength` set to `value` (MXNet default 0);
    /// time on `axis` 0 or 1. Without `sequenceLength`, the identity.
    public static func sequenceMask(
        _ data: Symbol, sequenceLength: Symbol? = nil, value: Float? = nil, axis: Int? = nil, name: String? = nil
    ) throws -> Symbol {
        try sequenceOperation(
            "SequenceMask", data, sequenceLength, [("value", number(value)), ("axis", axis.map(String.init))], name)
    }

    /// `SequenceLast`: each entry's last step (by `sequenceLength` when given); time on `axis` 0 or 1.
    public static func sequenceLast(
        _ data: Symbol, sequenceLength: Symbol? = nil, axis: Int? = nil, name: String? = nil
    ) throws -> Symbol {
        try sequenceOperation("SequenceLast", data, sequenceLength, [("axis", axis.map(String.init))], name)
    }

    /// `SequenceReverse`: each entry's first `sequenceLength` steps (all without it) reversed; time on
    /// axis 0.
    public static func sequenceReverse(_ data: Symbol, sequenceLength: Symbol? = nil, name: String? = nil) throws
        -> Symbol
    {
        try sequenceOperation("SequenceReverse", data, sequenceLength, [], name)
    }

    private static func sequenceOperation(
        _ op: String, _ data: Symbol, _ length: Symbol?, _ pairs: [(String, String?)], _ name: String?
    ) throws -> Symbol {
        var inputs = [("data", data)]
        if let length { inputs.append(("sequence_length", length)) }
        return try operation(
            op, name: name, inputs: inputs,
            attributes: attrs(pairs + [("use_sequence_length", flag(length != nil))]))
    }

    /// `Dropout` with drop probability `p` (MXNet default 0.5); identity when not training.
    public static func dropout(_ data: Symbol, p: Float = 0.5, name: String? = nil) throws -> Symbol {
        try operation("Dropout", name: name, inputs: [("data", data)], attributes: ["p": String(p)])
    }

    /// `elemwise_add`: `lhs + rhs` of equal shapes.
    public static func elemwiseAdd(_ lhs: Symbol, _ rhs: Symbol, name: String? = nil) throws -> Symbol {
        try operation("elemwise_add", name: name, arguments: [lhs, rhs])
    }

    /// `broadcast_add`: `lhs + rhs`, broadcast as numpy does (a size-1 axis repeats; the shorter
    /// shape is padded with leading 1s).
    public static func broadcastAdd(_ lhs: Symbol, _ rhs: Symbol, name: String? = nil) throws -> Symbol {
        try operation("broadcast_add", name: name, arguments: [lhs, rhs])
    }

    /// `broadcast_sub`: `lhs − rhs`, broadcast as `broadcastAdd`.
    public static func broadcastSub(_ lhs: Symbol, _ rhs: Symbol, name: String? = nil) throws -> Symbol {
        try operation("broadcast_sub", name: name, arguments: [lhs, rhs])
    }

    /// `broadcast_mul`: `lhs ⊙ rhs`, broadcast as `broadcastAdd`.
    public static func broadcastMul(_ lhs: Symbol, _ rhs: Symbol, name: String? = nil) throws -> Symbol {
        try operation("broadcast_mul", name: name, arguments: [lhs, rhs])
    }

    /// `broadcast_div`: `lhs / rhs`, broadcast as `broadcastAdd`.
    public static func broadcastDiv(_ lhs: Symbol, _ rhs: Symbol, name: String? = nil) throws -> Symbol {
        try operation("broadcast_div", name: name, arguments: [lhs, rhs])
    }

    /// `dot`: the sum product over the last axis of `lhs` and the first of `rhs` (vectors, matrices,
    /// N-D arrays); `transposeA` sums over `lhs`'s first axis instead, `transposeB` over `rhs`'s last.
    public static func dot(
        _ lhs: Symbol, _ rhs: Symbol, transposeA: Bool? = nil, transposeB: Bool? = nil, name: String? = nil
    ) throws -> Symbol {
        try operation(
            "dot", name: name, inputs: [("lhs", lhs), ("rhs", rhs)],
            attributes: attrs([("transpose_a", flag(transposeA)), ("transpose_b", flag(transposeB))]))
    }

    /// `batch_dot`: the matrix products of the trailing matrices of N-D (N ≥ 3) `lhs` and `rhs` whose
    /// leading axes agree, each transposed first with `transposeA`/`transposeB`.
    public static func batchDot(
        _ lhs: Symbol, _ rhs: Symbol, transposeA: Bool? = nil, transposeB: Bool? = nil, name: String? = nil
    ) throws -> Symbol {
        try operation(
            "batch_dot", name: name, inputs: [("lhs", lhs), ("rhs", rhs)],
            attributes: attrs([("transpose_a", flag(transposeA)), ("transpose_b", flag(transposeB))]))
    }

    /// `_linalg_gemm2` (`mx.sym.linalg.gemm2`): `alpha · op(A) · op(B)` per matrix of `a` and `b`, the
    /// matrices' rows along `axis` (MXNet default −2) and columns along the last axis.
    public static func linalgGemm2(
        _ a: Symbol, _ b: Symbol, transposeA: Bool? = nil, transposeB: Bool? = nil, alpha: Float? = nil,
        axis: Int? = nil, name: String? = nil
    ) throws -> Symbol {
        try operation(
            "_linalg_gemm2", name: name, inputs: [("A", a), ("B", b)],
            attributes: attrs([
                ("transpose_a", flag(transposeA)), ("transpose_b", flag(transposeB)), ("alpha", number(alpha)),
                ("axis", axis.map(String.init)),
            ]))
    }

    /// `elemwise_div` (`a / b` on two symbols in MXNet): `lhs / rhs` of equal shapes.
    public static func elemwiseDiv(_ lhs: Symbol, _ rhs: Symbol, name: String? = nil) throws -> Symbol {
        try binary(.divide, lhs, rhs, name: name)
    }

    /// `_maximum` (MXNet's `maximum(a, b)` of two symbols), or `broadcast_maximum` with `broadcasts`.
    public static func maximum(_ lhs: Symbol, _ rhs: Symbol, broadcasts: Bool = false, name: String? = nil) throws
        -> Symbol
    {
        try binary(.maximum, lhs, rhs, broadcasts: broadcasts, name: name)
    }

    /// `_minimum` (MXNet's `minimum(a, b)` of two symbols), or `broadcast_minimum` with `broadcasts`.
    public static func minimum(_ lhs: Symbol, _ rhs: Symbol, broadcasts: Bool = false, name: String? = nil) throws
        -> Symbol
    {
        try binary(.minimum, lhs, rhs, broadcasts: broadcasts, name: name)
    }

    /// `_power` (`a ** b` on two symbols in MXNet), or `broadcast_power` with `broadcasts`.
    public static func power(_ lhs: Symbol, _ rhs: Symbol, broadcasts: Bool = false, name: String? = nil) throws
        -> Symbol
    {
        try binary(.power, lhs, rhs, broadcasts: broadcasts, name: name)
    }

    /// Any binary element-wise operator between two symbols: `elemwise_*`/`_maximum`/`_greater`…
    /// of equal shapes, or with `broadcasts` its `broadcast_*` form (`BinaryOperation.operatorName`).
    public static func binary(
        _ operation: BinaryOperation, _ lhs: Symbol, _ rhs: Symbol, broadcasts: Bool = false, name: String? = nil
    ) throws -> Symbol {
        try Symbol.operation(operation.operatorName(broadcasts: broadcasts), name: name, arguments: [lhs, rhs])
    }

    /// A `_…_scalar` operator: `data ∘ scalar` (`data + 1`, `data ** 2`, `data > 0` in MXNet), or
    /// `scalar ∘ data` for the reversed ones (`1 - data`, `2 ** data`).
    public static func scalar(
        _ arithmetic: ScalarArithmetic, _ data: Symbol, _ scalar: Float, name: String? = nil
    ) throws -> Symbol {
        try operation(
            arithmetic.operatorName, name: name, inputs: [("data", data)], attributes: ["scalar": formatFloat(scalar)])
    }

    /// `transpose`: the data's axes reordered, output axis `i` being input axis `axes[i]`; all axes
    /// reversed when `axes` is nil.
    public static func transpose(_ data: Symbol, axes: [Int]? = nil, name: String? = nil) throws -> Symbol {
        try operation("transpose", name: name, inputs: [("data", data)], attributes: attrs([("axes", tuple(axes))]))
    }

    /// `SliceChannel` (`split`): the data cut into `numOutputs` equal parts along `axis` (MXNet
    /// default 1), one output each (`<name>_output0`, …); `squeezeAxis` removes the cut axis.
    public static func sliceChannel(
        _ data: Symbol, numOutputs: Int, axis: Int? = nil, squeezeAxis: Bool? = nil, name: String? = nil
    ) throws -> Symbol {
        try operation(
            "SliceChannel", name: name, inputs: [("data", data)],
            attributes: attrs([
                ("num_outputs", String(numOutputs)), ("axis", axis.map(String.init)),
                ("squeeze_axis", flag(squeezeAxis)),
            ]))
    }

    /// `Embedding`: each index of `data` (a float) replaced by its row of `<name>_weight`, of shape
    /// (inputDim, outputDim); indices are clipped to the rows as in MXNet.
    public static func embedding(_ data: Symbol, inputDim: Int, outputDim: Int, name: String? = nil) throws -> Symbol {
        try operation(
            "Embedding", name: name, inputs: [("data", data)],
            attributes: ["input_dim": String(inputDim), "output_dim": String(outputDim)])
    }

    /// `LRN`: local response normalization across `nsize` channels (odd), MXNet's
    /// `x / (knorm + alpha/nsize · Σ x²)^beta`; nil parameters take MXNet's defaults (1e-4, 0.75, 2).
    public static func lrn(
        _ data: Symbol, nsize: Int, alpha: Float? = nil, beta: Float? = nil, knorm: Float? = nil, name: String? = nil
    ) throws -> Symbol {
        try operation(
            "LRN", name: name, inputs: [("data", data)],
            attributes: attrs([
                ("nsize", String(nsize)), ("alpha", number(alpha)), ("beta", number(beta)), ("knorm", number(knorm)),
            ]))
    }

    /// `Cast` to float32, the one type SwiftPS arrays hold: the data as it is (MXNet writes it where a
    /// network casts its input; other types are refused when the symbol is built or loaded).
    public static func cast(_ data: Symbol, name: String? = nil) throws -> Symbol {
        try operation("Cast", name: name, inputs: [("data", data)], attributes: ["dtype": "float32"])
    }

    /// `UpSampling` with `sample_type="nearest"`: each pixel of (N, C, H, W) data repeated into a
    /// `scale` × `scale` block.
    public static func upSampling(_ data: Symbol, scale: Int, name: String? = nil) throws -> Symbol {
        try operation(
            "UpSampling", name: name, arguments: [data],
            attributes: ["scale": String(scale), "sample_type": "nearest", "num_args": "1"])
    }

    /// A unary math operator (`exp`, `log`, `sqrt`, `relu`, `sin`, …): `function` of each element.
    public static func math(_ function: UnaryFunction, _ data: Symbol, name: String? = nil) throws -> Symbol {
        try operation(function.operatorName, name: name, inputs: [("data", data)])
    }

    /// `hard_sigmoid`: clip(`alpha`·x + `beta`, 0, 1) of each element.
    public static func hardSigmoid(
        _ data: Symbol, alpha: Float? = nil, beta: Float? = nil, name: String? = nil
    ) throws -> Symbol {
        try operation(
            "hard_sigmoid", name: name, inputs: [("data", data)],
            attributes: attrs([("alpha", number(alpha)), ("beta", number(beta))]))
    }

    /// `smooth_l1` of each element with σ = `scalar`.
    public static func smoothL1(_ data: Symbol, scalar: Float? = nil, name: String? = nil) throws -> Symbol {
        try operation(
            "smooth_l1", name: name, inputs: [("data", data)], attributes: attrs([("scalar", number(scalar))]))
    }

    /// `where`: `x`'s element where `condition` is nonzero, else `y`'s (a 1-D condition picks rows).
    public static func `where`(_ condition: Symbol, _ x: Symbol, _ y: Symbol, name: String? = nil) throws -> Symbol {
        try operation("where", name: name, inputs: [("condition", condition), ("x", x), ("y", y)])
    }

    /// `softmax_cross_entropy`: the (1,) sum of −log softmax(row)[label] over the rows of `data`.
    public static func softmaxCrossEntropy(_ data: Symbol, label: Symbol, name: String? = nil) throws -> Symbol {
        try operation("softmax_cross_entropy", name: name, inputs: [("data", data), ("label", label)])
    }

    /// A reduction (`sum`, `mean`, `max`, `min`, `prod`; `norm1`/`norm2` write `norm` with its `ord`)
    /// over `axis` (nil: every axis; negative counts from the end), keeping the folded axes as size 1
    /// with `keepdims`, or folding the axes not named with `exclude` (not for norm).
    public static func reduce(
        _ reduction: ReduceOperation, _ data: Symbol, axis: [Int]? = nil, keepdims: Bool? = nil, exclude: Bool? = nil,
        name: String? = nil
    ) throws -> Symbol {
        let norm = reduction == .norm1 || reduction == .norm2
        return try operation(
            norm ? "norm" : reduction.rawValue, name: name, inputs: [("data", data)],
            attributes: attrs([
                ("axis", tuple(axis)), ("keepdims", flag(keepdims)), ("exclude", flag(exclude)),
                ("ord", norm ? (reduction == .norm1 ? "1" : "2") : nil),
            ]))
    }

    /// `UpSampling` with `sample_type="bilinear"` of `channels`-channel (N, C, H, W) data: a learned
    /// depthwise deconvolution by `scale` whose weight `<name>_weight` (C, 1, k, k) carries MXNet's
    /// `__init__` `["bilinear", {}]`.
    public static func bilinearUpSampling(
        _ data: Symbol, scale: Int, channels: Int, name: String? = nil
    ) throws -> Symbol {
        try operation(
            "UpSampling", name: name, inputs: [("data", data)],
            attributes: [
                "scale": String(scale), "sample_type": "bilinear", "num_filter": String(channels), "num_args": "1",
            ])
    }

    /// `Concat` of `inputs` along `dim` (MXNet default 1); writes `num_args`.
    public static func concat(_ inputs: [Symbol], dim: Int = 1, name: String? = nil) throws -> Symbol {
        try operation(
            "Concat", name: name, arguments: inputs,
            attributes: ["num_args": String(inputs.count), "dim": String(dim)])
    }

    /// `stack` of `inputs` (all of one shape) along a new axis `axis` (MXNet default 0); writes
    /// `num_args`.
    public static func stack(_ inputs: [Symbol], axis: Int? = nil, name: String? = nil) throws -> Symbol {
        try operation(
            "stack", name: name, arguments: inputs,
            attributes: attrs([("axis", axis.map(String.init)), ("num_args", String(inputs.count))]))
    }

    /// `slice_axis`: elements `begin ..< end` of axis `axis` (nil `end`: to the axis's end; negative
    /// values count from the end).
    public static func sliceAxis(_ data: Symbol, axis: Int, begin: Int, end: Int?, name: String? = nil) throws
        -> Symbol
    {
        try operation(
            "slice_axis", name: name, inputs: [("data", data)],
            attributes: SliceAxis(axis: axis, begin: begin, end: end).attributes)
    }

    /// `slice` (`crop`): Python's `begin:end:step` on each of the first axes (nil entries: MXNet's
    /// `None`; no `step`: all 1).
    public static func slice(_ data: Symbol, begin: [Int?], end: [Int?], step: [Int?]? = nil, name: String? = nil)
        throws -> Symbol
    {
        var attributes = ["begin": AttributeReader.format(begin), "end": AttributeReader.format(end)]
        if let step { attributes["step"] = AttributeReader.format(step) }
        return try operation("slice", name: name, inputs: [("data", data)], attributes: attributes)
    }

    /// `reverse` (`flip`): the order of the elements along each axis of `axis` reversed.
    public static func reverse(_ data: Symbol, axis: [Int], name: String? = nil) throws -> Symbol {
        try operation(
            "reverse", name: name, inputs: [("data", data)], attributes: ["axis": AttributeReader.format(axis)])
    }

    /// `tile`: the data repeated `reps` times along each axis.
    public static func tile(_ data: Symbol, reps: [Int], name: String? = nil) throws -> Symbol {
        try operation("tile", name: name, inputs: [("data", data)], attributes: ["reps": AttributeReader.format(reps)])
    }

    /// `repeat`: each element repeated `repeats` times along `axis` (nil: of the flattened data).
    public static func repeatElements(_ data: Symbol, repeats: Int, axis: Int? = nil, name: String? = nil) throws
        -> Symbol
    {
        try operation(
            "repeat", name: name, inputs: [("data", data)],
            attributes: attrs([("repeats", String(repeats)), ("axis", axis.map(String.init))]))
    }

    /// `take`: the slices of `a` along `axis` (MXNet default 0) that `indices` name; `mode` clip (the
    /// default) or wrap.
    public static func take(
        _ a: Symbol, _ indices: Symbol, axis: Int? = nil, mode: String? = nil, name: String? = nil
    ) throws -> Symbol {
        try operation(
            "take", name: name, inputs: [("a", a), ("indices", indices)],
            attributes: attrs([("axis", axis.map(String.init)), ("mode", mode)]))
    }

    /// `pick`: the element of `data` along `axis` (MXNet default −1) that `index` names; `keepdims`;
    /// `mode` clip (the default) or wrap.
    public static func pick(
        _ data: Symbol, _ index: Symbol, axis: Int? = nil, keepdims: Bool? = nil, mode: String? = nil,
        name: String? = nil
    ) throws -> Symbol {
        try operation(
            "pick", name: name, inputs: [("data", data), ("index", index)],
            attributes: attrs([("axis", axis.map(String.init)), ("keepdims", flag(keepdims)), ("mode", mode)]))
    }

    /// `one_hot`: a row of `depth` values per index, `onValue` (MXNet default 1) at the index and
    /// `offValue` (0) elsewhere.
    public static func oneHot(
        _ indices: Symbol, depth: Int, onValue: Float? = nil, offValue: Float? = nil, name: String? = nil
    ) throws -> Symbol {
        try operation(
            "one_hot", name: name, inputs: [("indices", indices)],
            attributes: attrs([
                ("depth", String(depth)), ("on_value", onValue.map(formatFloat)),
                ("off_value", offValue.map(formatFloat)),
            ]))
    }

    /// `_copy` (MXNet's `identity`): the data as it is.
    public static func identity(_ data: Symbol, name: String? = nil) throws -> Symbol {
        try operation("_copy", name: name, inputs: [("data", data)])
    }

    /// `BlockGrad` (`stop_gradient`): the data as it is, with no gradient flowing back.
    public static func blockGrad(_ data: Symbol, name: String? = nil) throws -> Symbol {
        try operation("BlockGrad", name: name, inputs: [("data", data)])
    }

    /// `MakeLoss`: `data` as a loss; its gradient is `gradScale`, normalized by nothing (`null`),
    /// the batch (`batch`) or the elements above `validThreshold` (`valid`).
    public static func makeLoss(
        _ data: Symbol, gradScale: Float? = nil, validThreshold: Float? = nil, normalization: String? = nil,
        name: String? = nil
    ) throws -> Symbol {
        try operation(
            "MakeLoss", name: name, inputs: [("data", data)],
            attributes: attrs([
                ("grad_scale", number(gradScale)), ("valid_thresh", number(validThreshold)),
                ("normalization", normalization),
            ]))
    }

    /// `clip`: each element limited to [`low`, `high`].
    public static func clip(_ data: Symbol, low: Float, high: Float, name: String? = nil) throws -> Symbol {
        try operation(
            "clip", name: name, inputs: [("data", data)],
            attributes: ["a_min": formatFloat(low), "a_max": formatFloat(high)])
    }

    /// `add_n` (`ElementWiseSum`): the sum of `inputs`, all of one shape.
    public static func addN(_ inputs: [Symbol], name: String? = nil) throws -> Symbol {
        try operation("add_n", name: name, arguments: inputs, attributes: ["num_args": String(inputs.count)])
    }

    /// `softmin`: the softmax of `−data / temperature` along `axis` (default the last).
    public static func softmin(
        _ data: Symbol, axis: Int? = nil, temperature: Float? = nil, name: String? = nil
    ) throws -> Symbol {
        try operation(
            "softmin", name: name, inputs: [("data", data)],
            attributes: attrs([("axis", axis.map(String.init)), ("temperature", number(temperature))]))
    }

    /// `softmax` (or `log_softmax` with `log`) along `axis` (default the last).
    public static func softmax(_ data: Symbol, axis: Int = -1, log: Bool = false, name: String? = nil) throws
        -> Symbol
    {
        try operation(
            log ? "log_softmax" : "softmax", name: name, inputs: [("data", data)], attributes: ["axis": String(axis)])
    }

    /// `SoftmaxOutput`: softmax forward, cross-entropy gradient backward. Without `label`, a variable
    /// `<name>_label` is created (`softmax_label` for the usual name `softmax`).
    public static func softmaxOutput(
        _ data: Symbol, label: Symbol? = nil, name: String? = nil, gradScale: Float? = nil,
        normalization: String? = nil, ignoreLabel: Float? = nil, useIgnore: Bool? = nil
    ) throws -> Symbol {
        var inputs = [("data", data)]
        if let label { inputs.append(("label", label)) }
        return try operation(
            "SoftmaxOutput", name: name, inputs: inputs,
            attributes: attrs([
                ("grad_scale", number(gradScale)), ("normalization", normalization),
                ("ignore_label", number(ignoreLabel)), ("use_ignore", flag(useIgnore)),
            ]))
    }

    /// `LinearRegressionOutput`: identity forward, `(out - label) · grad_scale` backward.
    public static func linearRegressionOutput(
        _ data: Symbol, label: Symbol? = nil, gradScale: Float? = nil, name: String? = nil
    ) throws -> Symbol {
        try regression("LinearRegressionOutput", data, label, gradScale, name)
    }

    /// `LogisticRegressionOutput`: sigmoid forward, `(sigmoid - label) · grad_scale` backward.
    public static func logisticRegressionOutput(
        _ data: Symbol, label: Symbol? = nil, gradScale: Float? = nil, name: String? = nil
    ) throws -> Symbol {
        try regression("LogisticRegressionOutput", data, label, gradScale, name)
    }

    /// `MAERegressionOutput`: identity forward, `sign(out - label) · grad_scale` backward.
    public static func maeRegressionOutput(
        _ data: Symbol, label: Symbol? = nil, gradScale: Float? = nil, name: String? = nil
    ) throws -> Symbol {
        try regression("MAERegressionOutput", data, label, gradScale, name)
    }

    private static func regression(
        _ op: String, _ data: Symbol, _ label: Symbol?, _ gradScale: Float?, _ name: String?
    ) throws -> Symbol {
        var inputs = [("data", data)]
        if let label { inputs.append(("label", label)) }
        return try operation(op, name: name, inputs: inputs, attributes: attrs([("grad_scale", number(gradScale))]))
    }
}
