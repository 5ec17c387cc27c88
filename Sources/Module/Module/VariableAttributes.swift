import SwiftPSGraph

/// What MXNet reads from the attributes of a parameter's variable (`mx.sym.Variable(name,
/// init=…, lr_mult=…, wd_mult=…)`, kept in symbol JSON as `__init__`, `__lr_mult__` and
/// `__wd_mult__`):
/// - the initializer `initParams` uses for that parameter instead of the global one (MXNet's
///   `Initializer.__call__` calls `create(init)._init_weight` for it, whatever its name);
/// - the learning-rate and weight-decay multipliers of the optimizer the module creates (MXNet's
///   `Optimizer.set_lr_mult`/`set_wd_mult` with `sym=`): they override the name rule that spares
///   biases from weight decay, and explicit `OptimizerConfig.lrMult`/`wdMult` override them.
struct VariableAttributes {
    /// Each variable's own initializer, or why it cannot be used: that is an error only when
    /// `initParams` must draw the variable (a module whose parameters all come from a `.params` file
    /// never needs it, whatever MXNet initializer the symbol names).
    var initializers: [String: Result<any Initializer, ModuleError>] = [:]
    var lrMult: [String: Double] = [:]
    var wdMult: [String: Double] = [:]

    /// Reads the attributes of the variables `names` in `symbol`; throws `ModuleError.badInput`
    /// naming the variable and the multiplier that is not a number.
    init(symbol: Symbol, names: [String]) throws {
        let attributes = symbol.attributeDictionary()
        let consumers = symbol.variableConsumers()
        for name in names {
            // A fused RNN's vector and states, which MXNet's name rules refuse ("Unknown
            // initialization pattern"): the vector gate by gate as mx.rnn.FusedRNNCell does, the
            // states zero, unless the variable names its own initializer.
            if attributes[name]?["__init__"] == nil, let (op, argument) = consumers[name], let rnn = op as? RNN {
                initializers[name] = .success(argument == "parameters" ? FusedRNN(nil, rnn: rnn) : Zero())
            }
            guard let attrs = attributes[name] else { continue }
            if let spec = attrs["__init__"], !spec.isEmpty {
                do {
                    initializers[name] = .success(try Initializers.create(attribute: spec))
                } catch {
                    initializers[name] = .failure(
                        .badInput("variable \(name): its __init__ '\(spec)' cannot be used: \(error)"))
                }
            }
            lrMult[name] = try Self.multiplier(attrs, "__lr_mult__", of: name)
            wdMult[name] = try Self.multiplier(attrs, "__wd_mult__", of: name)
        }
    }

    private static func multiplier(_ attrs: [String: String], _ key: String, of name: String) throws -> Double? {
        guard let text = attrs[key] else { return nil }
        guard let value = Double(text), value.isFinite, value >= 0 else {
            throw ModuleError.badInput("variable \(name): \(key) '\(text)' is not a number of 0 or more")
        }
        return value
    }
}
