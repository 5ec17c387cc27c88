extension OptimizerConfig {
    /// Builds a configuration from MXNet-style string options, as a CLI passes them.
    ///
    /// Keys follow MXNet's `optimizer` / `optimizer_params` keyword names (a few have Swift aliases):
    /// `optimizer` (or `name`, required), `learning_rate` (`lr`), `wd`, `rescale_grad`,
    /// `clip_gradient`, `momentum`, `beta1`, `beta2`, `epsilon` (`eps`), `gamma1`, `gamma2`,
    /// `centered`, `clip_weights`, `begin_num_update`; for the schedule `lr_scheduler`
    /// (factor, multifactor, poly, cosine), `lr_step` (`step`), `lr_steps` (comma list),
    /// `lr_factor` (`factor`), `stop_factor_lr`, `base_lr`, `max_update`, `pwr`, `final_lr`,
    /// `warmup_steps`, `warmup_begin_lr`, `warmup_mode`; and `lr_mult.<param>` / `wd_mult.<param>`.
    /// A `clip_gradient` or `clip_weights` of 0 or less means off, as -1 does in MXNet.
    ///
    /// Throws `OptimizerError.badParameter` naming an unknown key or an unreadable value, and
    /// whatever `validate()` finds.
    public static func parse(from options: [String: String]) throws(OptimizerError) -> OptimizerConfig {
        var p = Reader(options: options)
        guard let name = p.take("optimizer", "name") else {
            throw .badParameter("no optimizer given: set 'optimizer' to sgd, nag, adam, adagrad or rmsprop")
        }
        var c = OptimizerConfig(
            name: name, learningRate: try p.double("learning_rate", "lr"), epsilon: try p.double("epsilon", "eps"))
        if let v = try p.double("wd") { c.wd = v }
        if let v = try p.double("rescale_grad") { c.rescaleGrad = v }
        if let v = try p.double("clip_gradient") { c.clipGradient = v > 0 ? v : nil }
        if let v = try p.double("momentum") { c.momentum = v }
        if let v = try p.double("beta1") { c.beta1 = v }
        if let v = try p.double("beta2") { c.beta2 = v }
        if let v = try p.double("gamma1") { c.gamma1 = v }
        if let v = try p.double("gamma2") { c.gamma2 = v }
        if let v = try p.bool("centered") { c.centered = v }
        if let v = try p.double("clip_weights") { c.clipWeights = v > 0 ? v : nil }
        if let v = try p.int("begin_num_update") { c.beginNumUpdate = v }
        c.lrMult = try p.multipliers("lr_mult.")
        c.wdMult = try p.multipliers("wd_mult.")
        c.lrScheduler = try parseScheduler(&p)
        if let unknown = p.remaining.keys.sorted().first {
            throw .badParameter("unknown optimizer option '\(unknown)'")
        }
        try c.validate()
        return c
    }

    private static func parseScheduler(_ p: inout Reader) throws(OptimizerError) -> LRSchedulerConfig? {
        guard let kindName = p.take("lr_scheduler") else { return nil }
        guard let kind = LRSchedulerConfig.Kind(rawValue: kindName.lowercased()) else {
            throw .badParameter("unknown lr_scheduler '\(kindName)': use factor, multifactor, poly or cosine")
        }
        var s = LRSchedulerConfig(kind: kind)
        s.baseLR = try p.double("base_lr")
        if let v = try p.int("lr_step", "step") { s.step = v }
        if let text = p.take("lr_steps", "steps") {
            var steps: [Int] = []
            for part in text.split(separator: ",") {
                guard let v = Int(part.trimmingSpaces) else {
                    throw .badParameter("lr_steps '\(text)' is not a comma-separated list of integers")
                }
                steps.append(v)
            }
            s.steps = steps
        }
        if let v = try p.double("lr_factor", "factor") { s.factor = v }
        if let v = try p.double("stop_factor_lr") { s.stopFactorLR = v }
        if let v = try p.int("max_update") { s.maxUpdate = v }
        if let v = try p.double("pwr") { s.power = v }
        if let v = try p.double("final_lr") { s.finalLR = v }
        if let v = try p.int("warmup_steps") { s.warmupSteps = v }
        if let v = try p.double("warmup_begin_lr") { s.warmupBeginLR = v }
        if let text = p.take("warmup_mode") {
            guard let m = WarmupMode(rawValue: text.lowercased()) else {
                throw .badParameter("warmup_mode '\(text)' must be linear or constant")
            }
            s.warmupMode = m
        }
        return s
    }

    /// Takes keys out of the options so that whatever is left over can be reported as unknown.
    private struct Reader {
        var remaining: [String: String]

        init(options: [String: String]) { remaining = options }

        mutating func take(_ keys: String...) -> String? {
            var found: String?
            for k in keys { if let v = remaining.removeValue(forKey: k), found == nil { found = v } }
            return found?.trimmingSpaces
        }

        mutating func double(_ keys: String...) throws(OptimizerError) -> Double? {
            var found: (String, String)?
            for k in keys { if let v = remaining.removeValue(forKey: k), found == nil { found = (k, v) } }
            guard let (k, text) = found else { return nil }
            guard let v = Double(text.trimmingSpaces) else { throw .badParameter("\(k) '\(text)' is not a number") }
            return v
        }

        mutating func int(_ keys: String...) throws(OptimizerError) -> Int? {
            var found: (String, String)?
            for k in keys { if let v = remaining.removeValue(forKey: k), found == nil { found = (k, v) } }
            guard let (k, text) = found else { return nil }
            guard let v = Int(text.trimmingSpaces) else { throw .badParameter("\(k) '\(text)' is not an integer") }
            return v
        }

        mutating func bool(_ key: String) throws(OptimizerError) -> Bool? {
            guard let text = take(key) else { return nil }
            switch text.lowercased() {
            case "true", "1", "yes": return true
            case "false", "0", "no": return false
            default: throw .badParameter("\(key) '\(text)' is not true or false")
            }
        }

        mutating func multipliers(_ prefix: String) throws(OptimizerError) -> [String: Double] {
            var out: [String: Double] = [:]
            for key in remaining.keys.sorted() where key.hasPrefix(prefix) && key.count > prefix.count {
                let text = remaining.removeValue(forKey: key) ?? ""
                guard let v = Double(text.trimmingSpaces) else {
                    throw .badParameter("\(key) '\(text)' is not a number")
                }
                out[String(key.dropFirst(prefix.count))] = v
            }
            return out
        }
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    fileprivate var trimmingSpaces: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
