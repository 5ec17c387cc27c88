/// A complete, typed description of an optimizer: what travels to the parameter servers as data.
///
/// This replaces MXNet 1.x's pickled `mx.optimizer.Optimizer` (sent by `kvstore.set_optimizer` in a
/// `kController` command): it holds only names and numbers, never code. The fields are the keyword
/// arguments of MXNet's `Optimizer.__init__` and of the optimizer classes (`SGD`, `NAG`, `Adam`,
/// `AdaGrad`, `RMSProp` in `python/mxnet/optimizer/optimizer.py`), with MXNet's defaults.
///
/// Hyper-parameters are kept as `Double` (Python floats); the update kernels use them as `Float`,
/// as MXNet's C++ kernels do.
///
/// Equal when every hyper-parameter is (synthesized, so a field added later takes part): whether
/// `rescaleGrad` was given or left at its default is where a value came from, not a difference in
/// training, so that flag lives in a `Provenance`, which compares equal to every other.
public struct OptimizerConfig: Codable, Sendable, Equatable {
    /// Where a value came from; never makes two configurations differ.
    struct Provenance: Equatable, Sendable {
        var given: Bool
        static func == (_: Provenance, _: Provenance) -> Bool { true }
    }

    /// The optimizer names SwiftPS implements (MXNet's registry names, lower case).
    public static let knownNames = ["sgd", "nag", "adam", "adagrad", "rmsprop"]

    /// The optimizer: "sgd", "nag", "adam", "adagrad" or "rmsprop" (MXNet's `create(name)`).
    public var name: String
    /// The base learning rate (MXNet's `learning_rate`): 0.01 by default, 0.001 for adam and rmsprop.
    public var learningRate: Double
    /// The weight decay coefficient (MXNet's `wd`, default 0).
    public var wd: Double
    /// The factor applied to every gradient first (MXNet's `rescale_grad`, default 1).
    public var rescaleGrad: Double { didSet { rescaleGradOrigin.given = true } }
    /// Whether `rescaleGrad` was given (to `init`, decoded or assigned) rather than left at MXNet's
    /// default. `Module.initOptimizer` replaces only a default one by 1 / the global batch, as MXNet
    /// injects `rescale_grad` only into optimizer parameters that lack it: an explicit 1 stays 1.
    public var rescaleGradIsGiven: Bool { rescaleGradOrigin.given }
    private var rescaleGradOrigin: Provenance
    /// Clip gradients to `[-c, c]` (MXNet's `clip_gradient`); nil turns clipping off (MXNet's None / -1).
    public var clipGradient: Double?
    /// The momentum of SGD and NAG (MXNet default 0: plain SGD, no state).
    public var momentum: Double
    /// Adam's decay rate of the first moment (MXNet default 0.9).
    public var beta1: Double
    /// Adam's decay rate of the second moment (MXNet default 0.999).
    public var beta2: Double
    /// The numerical-stability constant: adam 1e-8 (`epsilon`), adagrad 1e-7 (`eps`), rmsprop 1e-8.
    public var epsilon: Double
    /// RMSProp's decay factor of the squared-gradient average (MXNet's `gamma1`, default 0.9).
    public var gamma1: Double
    /// RMSProp's momentum factor, used only when `centered` (MXNet's `gamma2`, default 0.9).
    public var gamma2: Double
    /// RMSProp: Graves's centered version when true, Tieleman & Hinton's otherwise (MXNet default false).
    public var centered: Bool
    /// RMSProp: clip weights to `[-c, c]` after each update (MXNet's `clip_weights`); nil = off.
    public var clipWeights: Double?
    /// The learning-rate schedule (MXNet's `lr_scheduler`); nil keeps `learningRate` constant.
    public var lrScheduler: LRSchedulerConfig?
    /// The update count a new parameter starts from (MXNet's `begin_num_update`, default 0).
    public var beginNumUpdate: Int
    /// Learning-rate multipliers by parameter name (MXNet's `set_lr_mult`); absent names use 1.
    public var lrMult: [String: Double]
    /// Weight-decay multipliers by parameter name (MXNet's `set_wd_mult`); absent names use 1.
    public var wdMult: [String: Double]

    /// A configuration with MXNet's defaults for `name`; nil arguments take the per-optimizer default.
    ///
    /// `learningRate` defaults to 0.01 (MXNet's `Optimizer`), except adam and rmsprop, whose MXNet
    /// classes default to 0.001. `epsilon` defaults to 1e-8, except adagrad's `eps` of 1e-7.
    public init(
        name: String, learningRate: Double? = nil, wd: Double = 0, rescaleGrad: Double? = nil,
        clipGradient: Double? = nil, momentum: Double = 0, beta1: Double = 0.9, beta2: Double = 0.999,
        epsilon: Double? = nil, gamma1: Double = 0.9, gamma2: Double = 0.9, centered: Bool = false,
        clipWeights: Double? = nil, lrScheduler: LRSchedulerConfig? = nil, beginNumUpdate: Int = 0,
        lrMult: [String: Double] = [:], wdMult: [String: Double] = [:]
    ) {
        let lower = name.lowercased()
        self.name = lower
        self.learningRate = learningRate ?? OptimizerConfig.defaultLearningRate(lower)
        self.wd = wd
        self.rescaleGrad = rescaleGrad ?? 1
        self.rescaleGradOrigin = Provenance(given: rescaleGrad != nil)
        self.clipGradient = clipGradient
        self.momentum = momentum
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon ?? OptimizerConfig.defaultEpsilon(lower)
        self.gamma1 = gamma1
        self.gamma2 = gamma2
        self.centered = centered
        self.clipWeights = clipWeights
        self.lrScheduler = lrScheduler
        self.beginNumUpdate = beginNumUpdate
        self.lrMult = lrMult
        self.wdMult = wdMult
    }

    /// MXNet's default learning rate for an optimizer: 0.001 for adam and rmsprop, 0.01 otherwise.
    public static func defaultLearningRate(_ name: String) -> Double {
        switch name.lowercased() {
        case "adam", "rmsprop": return 0.001
        default: return 0.01
        }
    }

    /// MXNet's default stability constant: 1e-7 for adagrad (`eps`), 1e-8 otherwise.
    public static func defaultEpsilon(_ name: String) -> Double {
        name.lowercased() == "adagrad" ? 1e-7 : 1e-8
    }

    /// The learning-rate multiplier of a parameter: `lrMult[name]`, or 1 (MXNet's `_get_lr`).
    @inlinable public func lrMultiplier(for parameter: String) -> Double { lrMult[parameter] ?? 1 }

    /// The weight-decay multiplier of a parameter: `wdMult[name]`, or 1 (MXNet's `_get_wd`).
    @inlinable public func wdMultiplier(for parameter: String) -> Double { wdMult[parameter] ?? 1 }

    /// Sets MXNet's default weight-decay multipliers for a model's arguments.
    ///
    /// MXNet 1.x's `Optimizer.set_wd_mult` (run by the constructor when `param_idx2name` is known, as
    /// it is under `Module`) sets `wd_mult` to 0 for every parameter whose name ends with neither
    /// `_weight` nor `_gamma`, so biases, BatchNorm's `_beta` and the like are not decayed while
    /// BatchNorm's `_gamma` is. This does the same, then keeps any multiplier already present in
    /// `wdMult` (MXNet applies the user's `args_wd_mult` last, so explicit values win).
    public mutating func applyMXNetDefaultMultipliers(argNames: [String]) {
        for n in argNames where !(n.hasSuffix("_weight") || n.hasSuffix("_gamma")) && wdMult[n] == nil {
            wdMult[n] = 0
        }
    }

    /// Checks every hyper-parameter, throwing `OptimizerError` that names the first bad one.
    ///
    /// MXNet accepts nearly anything and fails later or silently; SwiftPS rejects values no MXNet
    /// optimizer could use: an unknown name, a negative or non-finite learning rate or weight decay,
    /// a non-positive clip bound, decay rates outside [0, 1), a negative momentum or epsilon.
    public func validate() throws(OptimizerError) {
        guard OptimizerConfig.knownNames.contains(name) else { throw .unknownOptimizer(name) }
        try Self.check("learningRate", learningRate, learningRate >= 0)
        try Self.check("wd", wd, wd >= 0)
        try Self.check("rescaleGrad", rescaleGrad, true)
        if let c = clipGradient { try Self.check("clipGradient", c, c > 0) }
        if let c = clipWeights { try Self.check("clipWeights", c, c > 0) }
        try Self.check("momentum", momentum, momentum >= 0)
        try Self.check("beta1", beta1, beta1 >= 0 && beta1 < 1)
        try Self.check("beta2", beta2, beta2 >= 0 && beta2 < 1)
        try Self.check("epsilon", epsilon, epsilon >= 0)
        try Self.check("gamma1", gamma1, gamma1 >= 0 && gamma1 < 1)
        try Self.check("gamma2", gamma2, gamma2 >= 0 && gamma2 < 1)
        guard beginNumUpdate >= 0 else {
            throw .badParameter("beginNumUpdate is \(beginNumUpdate); it must be 0 or more")
        }
        for (n, m) in lrMult { try Self.check("lrMult[\(n)]", m, m >= 0) }
        for (n, m) in wdMult { try Self.check("wdMult[\(n)]", m, m >= 0) }
        try lrScheduler?.validate(baseLR: learningRate)
    }

    private static func check(_ field: String, _ value: Double, _ ok: Bool) throws(OptimizerError) {
        guard value.isFinite, ok else { throw .badParameter("\(field) = \(value) is out of range") }
    }

    private enum CodingKeys: String, CodingKey {
        case name, learningRate, wd, rescaleGrad, clipGradient, momentum, beta1, beta2, epsilon
        case gamma1, gamma2, centered, clipWeights, lrScheduler, beginNumUpdate, lrMult, wdMult
    }

    /// Decodes a configuration; only `name` is required, missing fields take MXNet's defaults.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .name),
            learningRate: try c.decodeIfPresent(Double.self, forKey: .learningRate),
            wd: try c.decodeIfPresent(Double.self, forKey: .wd) ?? 0,
            rescaleGrad: try c.decodeIfPresent(Double.self, forKey: .rescaleGrad),
            clipGradient: try c.decodeIfPresent(Double.self, forKey: .clipGradient),
            momentum: try c.decodeIfPresent(Double.self, forKey: .momentum) ?? 0,
            beta1: try c.decodeIfPresent(Double.self, forKey: .beta1) ?? 0.9,
            beta2: try c.decodeIfPresent(Double.self, forKey: .beta2) ?? 0.999,
            epsilon: try c.decodeIfPresent(Double.self, forKey: .epsilon),
            gamma1: try c.decodeIfPresent(Double.self, forKey: .gamma1) ?? 0.9,
            gamma2: try c.decodeIfPresent(Double.self, forKey: .gamma2) ?? 0.9,
            centered: try c.decodeIfPresent(Bool.self, forKey: .centered) ?? false,
            clipWeights: try c.decodeIfPresent(Double.self, forKey: .clipWeights),
            lrScheduler: try c.decodeIfPresent(LRSchedulerConfig.self, forKey: .lrScheduler),
            beginNumUpdate: try c.decodeIfPresent(Int.self, forKey: .beginNumUpdate) ?? 0,
            lrMult: try c.decodeIfPresent([String: Double].self, forKey: .lrMult) ?? [:],
            wdMult: try c.decodeIfPresent([String: Double].self, forKey: .wdMult) ?? [:])
    }

    /// Encodes every field (nil optionals, and a `rescaleGrad` left at its default, are omitted).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(learningRate, forKey: .learningRate)
        try c.encode(wd, forKey: .wd)
        if rescaleGradIsGiven { try c.encode(rescaleGrad, forKey: .rescaleGrad) }
        try c.encodeIfPresent(clipGradient, forKey: .clipGradient)
        try c.encode(momentum, forKey: .momentum)
        try c.encode(beta1, forKey: .beta1)
        try c.encode(beta2, forKey: .beta2)
        try c.encode(epsilon, forKey: .epsilon)
        try c.encode(gamma1, forKey: .gamma1)
        try c.encode(gamma2, forKey: .gamma2)
        try c.encode(centered, forKey: .centered)
        try c.encodeIfPresent(clipWeights, forKey: .clipWeights)
        try c.encodeIfPresent(lrScheduler, forKey: .lrScheduler)
        try c.encode(beginNumUpdate, forKey: .beginNumUpdate)
        try c.encode(lrMult, forKey: .lrMult)
        try c.encode(wdMult, forKey: .wdMult)
    }
}
