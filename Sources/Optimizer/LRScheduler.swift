import Foundation

/// How the learning rate rises during warm-up (MXNet 1.x `LRScheduler`'s `warmup_mode`).
public enum WarmupMode: String, Codable, Sendable, Equatable {
    /// From `warmupBeginLR` up to the base rate in equal increments.
    case linear
    /// `warmupBeginLR` for every warm-up step.
    case constant
}

/// A learning-rate schedule as data, MXNet 1.x's `mx.lr_scheduler` classes.
///
/// `kind` picks the schedule: "factor" (`FactorScheduler`: `step`, `factor`, `stopFactorLR`),
/// "multifactor" (`MultiFactorScheduler`: `steps`, `factor`), "poly" (`PolyScheduler`: `maxUpdate`,
/// `power`, `finalLR`) or "cosine" (`CosineScheduler`: `maxUpdate`, `finalLR`). Each may warm up first
/// (`warmupSteps`, `warmupBeginLR`, `warmupMode`). `baseLR` nil means "the optimizer's learning rate".
public struct LRSchedulerConfig: Codable, Sendable, Equatable {
    /// The schedules SwiftPS implements.
    public enum Kind: String, Codable, Sendable, Equatable {
        /// `FactorScheduler`: multiply by `factor` every `step` updates.
        case factor
        /// `MultiFactorScheduler`: multiply by `factor` after each update count in `steps`.
        case multifactor
        /// `PolyScheduler`: polynomial decay to `finalLR` at `maxUpdate`.
        case poly
        /// `CosineScheduler`: half-cosine decay to `finalLR` at `maxUpdate`.
        case cosine
    }

    /// Which schedule.
    public var kind: Kind
    /// The rate the schedule starts from after warm-up (MXNet's `base_lr`); nil = the optimizer's rate.
    public var baseLR: Double?
    /// factor: the number of updates between two decays (MXNet's `step`, at least 1).
    public var step: Int
    /// multifactor: the strictly increasing update counts after which the rate decays (MXNet's `step` list).
    public var steps: [Int]
    /// factor, multifactor: the decay multiplier, at most 1 (MXNet's `factor`, default 1).
    public var factor: Double
    /// factor: the rate never drops below this (MXNet's `stop_factor_lr`, default 1e-8).
    public var stopFactorLR: Double
    /// poly, cosine: the update count at which the rate reaches `finalLR` (MXNet's `max_update`).
    public var maxUpdate: Int
    /// poly: the power of the decay (MXNet's `pwr`, default 2).
    public var power: Double
    /// poly, cosine: the rate at and after `maxUpdate` (MXNet's `final_lr`, default 0).
    public var finalLR: Double
    /// The number of warm-up updates (MXNet's `warmup_steps`, default 0 = none).
    public var warmupSteps: Int
    /// The rate warm-up starts from (MXNet's `warmup_begin_lr`, default 0).
    public var warmupBeginLR: Double
    /// How warm-up rises (MXNet's `warmup_mode`, default linear).
    public var warmupMode: WarmupMode

    /// A schedule with every field given; the static constructors below are easier to read.
    public init(
        kind: Kind, baseLR: Double? = nil, step: Int = 1, steps: [Int] = [], factor: Double = 1,
        stopFactorLR: Double = 1e-8, maxUpdate: Int = 1, power: Double = 2, finalLR: Double = 0,
        warmupSteps: Int = 0, warmupBeginLR: Double = 0, warmupMode: WarmupMode = .linear
    ) {
        self.kind = kind
        self.baseLR = baseLR
        self.step = step
        self.steps = steps
        self.factor = factor
        self.stopFactorLR = stopFactorLR
        self.maxUpdate = maxUpdate
        self.power = power
        self.finalLR = finalLR
        self.warmupSteps = warmupSteps
        self.warmupBeginLR = warmupBeginLR
        self.warmupMode = warmupMode
    }

    /// MXNet's `FactorScheduler(step, factor=1, stop_factor_lr=1e-8, base_lr, warmup_*)`.
    public static func factor(
        step: Int, factor: Double = 1, stopFactorLR: Double = 1e-8, baseLR: Double? = nil,
        warmupSteps: Int = 0, warmupBeginLR: Double = 0, warmupMode: WarmupMode = .linear
    ) -> LRSchedulerConfig {
        LRSchedulerConfig(
            kind: .factor, baseLR: baseLR, step: step, factor: factor, stopFactorLR: stopFactorLR,
            warmupSteps: warmupSteps, warmupBeginLR: warmupBeginLR, warmupMode: warmupMode)
    }

    /// MXNet's `MultiFactorScheduler(step=[...], factor=1, base_lr, warmup_*)`.
    public static func multifactor(
        steps: [Int], factor: Double = 1, baseLR: Double? = nil,
        warmupSteps: Int = 0, warmupBeginLR: Double = 0, warmupMode: WarmupMode = .linear
    ) -> LRSchedulerConfig {
        LRSchedulerConfig(
            kind: .multifactor, baseLR: baseLR, steps: steps, factor: factor,
            warmupSteps: warmupSteps, warmupBeginLR: warmupBeginLR, warmupMode: warmupMode)
    }

    /// MXNet's `PolyScheduler(max_update, base_lr, pwr=2, final_lr=0, warmup_*)`.
    public static func poly(
        maxUpdate: Int, baseLR: Double? = nil, power: Double = 2, finalLR: Double = 0,
        warmupSteps: Int = 0, warmupBeginLR: Double = 0, warmupMode: WarmupMode = .linear
    ) -> LRSchedulerConfig {
        LRSchedulerConfig(
            kind: .poly, baseLR: baseLR, maxUpdate: maxUpdate, power: power, finalLR: finalLR,
            warmupSteps: warmupSteps, warmupBeginLR: warmupBeginLR, warmupMode: warmupMode)
    }

    /// MXNet's `CosineScheduler(max_update, base_lr, final_lr=0, warmup_*)`.
    public static func cosine(
        maxUpdate: Int, baseLR: Double? = nil, finalLR: Double = 0,
        warmupSteps: Int = 0, warmupBeginLR: Double = 0, warmupMode: WarmupMode = .linear
    ) -> LRSchedulerConfig {
        LRSchedulerConfig(
            kind: .cosine, baseLR: baseLR, maxUpdate: maxUpdate, finalLR: finalLR,
            warmupSteps: warmupSteps, warmupBeginLR: warmupBeginLR, warmupMode: warmupMode)
    }

    /// Checks the schedule as MXNet's constructors do (their `ValueError`s), plus finiteness.
    ///
    /// `baseLR` is the optimizer's rate, used when `self.baseLR` is nil. Poly and cosine also need
    /// `maxUpdate > warmupSteps`, since MXNet divides by `max_update - warmup_steps`.
    public func validate(baseLR optimizerLR: Double) throws(OptimizerError) {
        let base = baseLR ?? optimizerLR
        let reals = [base, factor, stopFactorLR, power, finalLR, warmupBeginLR]
        guard reals.allSatisfy(\.isFinite) else {
            throw .badParameter("lr scheduler \(kind.rawValue) has a non-finite value")
        }
        guard warmupSteps >= 0 else { throw .badParameter("warmupSteps is \(warmupSteps); it must be 0 or more") }
        if warmupSteps > 0 && warmupBeginLR > base {
            throw .badParameter("warmupBeginLR \(warmupBeginLR) exceeds the base learning rate \(base)")
        }
        switch kind {
        case .factor:
            guard step >= 1 else { throw .badParameter("factor schedule step is \(step); it must be at least 1") }
            guard factor <= 1 else { throw .badParameter("schedule factor \(factor) must be at most 1") }
        case .multifactor:
            guard !steps.isEmpty else { throw .badParameter("multifactor schedule needs at least one step") }
            for (i, s) in steps.enumerated() {
                guard s >= 1 else { throw .badParameter("multifactor step \(s) must be at least 1") }
                if i > 0 && s <= steps[i - 1] {
                    throw .badParameter("multifactor steps \(steps) must be strictly increasing")
                }
            }
            guard factor <= 1 else { throw .badParameter("schedule factor \(factor) must be at most 1") }
        case .poly, .cosine:
            guard maxUpdate >= 1 else { throw .badParameter("maxUpdate is \(maxUpdate); it must be at least 1") }
            guard maxUpdate > warmupSteps else {
                throw .badParameter("maxUpdate \(maxUpdate) must exceed warmupSteps \(warmupSteps)")
            }
        }
    }
}

/// A learning-rate schedule: the rate as a pure function of the update count.
///
/// Matches MXNet 1.x's `lr_scheduler.py` (the version with warm-up). MXNet's schedulers keep state
/// (`FactorScheduler` multiplies `base_lr` in place as `num_update` grows; `PolyScheduler` and
/// `CosineScheduler` keep the last rate once `num_update > max_update`). For update counts that
/// only increase, as in training, that state equals a function of `num_update`, which is what this
/// computes. So the rate is deterministic and a resumed run (or a server that restored its state)
/// gets exactly the rate an uninterrupted run would. Where MXNet's state would differ on a jump
/// (resuming past `max_update` without ever calling at it), this returns the value MXNet reaches
/// when called at every step: `finalLR`.
///
/// The rate is computed in `Double`, as MXNet does in Python; `FactorScheduler`'s repeated
/// `base_lr *= factor` becomes `base * pow(factor, k)`, equal up to rounding in the last bits.
public struct LRScheduler: Sendable, Equatable {
    /// The schedule.
    public let config: LRSchedulerConfig
    /// The rate after warm-up: `config.baseLR`, or the optimizer's learning rate.
    public let baseLR: Double

    /// A scheduler for `config`; `baseLR` is used when `config.baseLR` is nil. Throws on bad values.
    ///
    /// MXNet's `Optimizer.__init__` overwrites `lr_scheduler.base_lr` with its `learning_rate`; that
    /// only reaches factor/multifactor (poly/cosine and warm-up copy `base_lr` at construction).
    /// SwiftPS has one rule for every kind instead: an explicit `config.baseLR` wins.
    public init(_ config: LRSchedulerConfig, baseLR optimizerLR: Double) throws(OptimizerError) {
        try config.validate(baseLR: optimizerLR)
        self.config = config
        self.baseLR = config.baseLR ?? optimizerLR
    }

    /// The learning rate at update count `numUpdate` (MXNet's `scheduler(num_update)`).
    ///
    /// MXNet calls the scheduler with the count *including* the update being made, so the first
    /// update of a run uses `learningRate(at: 1)`.
    public func learningRate(at numUpdate: Int) -> Double {
        let c = config
        if numUpdate < c.warmupSteps {
            // LRScheduler.get_warmup_lr
            switch c.warmupMode {
            case .linear:
                return c.warmupBeginLR + (baseLR - c.warmupBeginLR) * Double(numUpdate) / Double(c.warmupSteps)
            case .constant:
                return c.warmupBeginLR
            }
        }
        switch c.kind {
        case .factor:
            // The loop `while n > count + step { count += step; lr *= factor }` runs
            // floor((n - 1) / step) times for n >= 1; each pass clamps lr at stop_factor_lr.
            let k = numUpdate >= 1 ? (numUpdate - 1) / c.step : 0
            if k == 0 { return baseLR }
            return max(baseLR * pow(c.factor, Double(k)), c.stopFactorLR)
        case .multifactor:
            var lr = baseLR
            for s in c.steps where numUpdate > s { lr *= c.factor }
            return lr
        case .poly:
            guard numUpdate <= c.maxUpdate else { return c.finalLR }
            let frac = 1 - Double(numUpdate - c.warmupSteps) / Double(c.maxUpdate - c.warmupSteps)
            return c.finalLR + (baseLR - c.finalLR) * pow(frac, c.power)
        case .cosine:
            guard numUpdate <= c.maxUpdate else { return c.finalLR }
            let frac = Double(numUpdate - c.warmupSteps) / Double(c.maxUpdate - c.warmupSteps)
            return c.finalLR + (baseLR - c.finalLR) * (1 + cos(Double.pi * frac)) / 2
        }
    }
}
