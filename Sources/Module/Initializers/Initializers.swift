import Foundation
import SwiftPSGraph

/// Creating initializers by name, MXNet 1.x's `mx.init.create` / `init_params(initializer="xavier")`.
public enum Initializers {
    /// The names `create` accepts: MXNet's registered names and aliases.
    public static let validNames: [String] = [
        "bilinear", "constant", "lstmbias", "msra", "msraprelu", "normal", "one", "ones", "orthogonal", "uniform",
        "xavier", "zero", "zeros",
    ]

    /// An initializer from a spec `name` or `name:arg1,arg2,…`, the arguments in the order of
    /// MXNet's constructor: `"uniform:0.1"` (scale), `"normal:0.02"` (sigma), `"constant:0.5"`
    /// (value, required), `"xavier:gaussian,in,2"` (rnd_type, factor_type, magnitude),
    /// `"msra:avg,0.25"` (factor_type, slope), `"orthogonal:1.414,normal"` (scale, rand_type),
    /// `"lstmbias:1"` (forget_bias), `"bilinear"`, `"zero"`, `"one"`. Names are case-insensitive;
    /// omitted arguments take MXNet's defaults. Unknown names throw `unknownInitializer` listing
    /// the valid ones; bad arguments throw `invalidArgument`.
    public static func create(_ spec: String) throws -> any Initializer {
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let name = trimmed(parts[0]).lowercased()
        let args =
            parts.count > 1
            ? parts[1].split(separator: ",", omittingEmptySubsequences: false).map(trimmed) : []
        func float(_ i: Int, _ what: String, default value: Float?) throws -> Float {
            guard i < args.count else {
                guard let value else { throw InitializerError.invalidArgument("\(name) needs a \(what): '\(name):…'") }
                return value
            }
            guard let v = Float(args[i]), v.isFinite else {
                throw InitializerError.invalidArgument("\(name): \(what) '\(args[i])' is not a finite number")
            }
            return v
        }
        func choice<T: RawRepresentable & CaseIterable>(_ i: Int, _ what: String, default value: T) throws -> T
        where T.RawValue == String {
            guard i < args.count else { return value }
            guard let v = T(rawValue: args[i].lowercased()) else {
                let valid = T.allCases.map(\.rawValue).joined(separator: ", ")
                throw InitializerError.invalidArgument("\(name): \(what) '\(args[i])' is not one of \(valid)")
            }
            return v
        }
        func expectArguments(atMost n: Int) throws {
            guard args.count <= n else {
                throw InitializerError.invalidArgument("\(name) takes at most \(n) argument(s), got \(args.count)")
            }
        }

        switch name {
        case "zero", "zeros":
            try expectArguments(atMost: 0)
            return Zero()
        case "one", "ones":
            try expectArguments(atMost: 0)
            return One()
        case "constant":
            try expectArguments(atMost: 1)
            return Constant(value: try float(0, "value", default: nil))
        case "uniform":
            try expectArguments(atMost: 1)
            return Uniform(scale: try float(0, "scale", default: 0.07))
        case "normal":
            try expectArguments(atMost: 1)
            return Normal(sigma: try float(0, "sigma", default: 0.01))
        case "xavier":
            try expectArguments(atMost: 3)
            return Xavier(
                rndType: try choice(0, "rnd_type", default: Xavier.RandomType.uniform),
                factorType: try choice(1, "factor_type", default: Xavier.FactorType.avg),
                magnitude: try float(2, "magnitude", default: 3))
        case "msra", "msraprelu":
            try expectArguments(atMost: 2)
            return MSRAPrelu(
                factorType: try choice(0, "factor_type", default: Xavier.FactorType.avg),
                slope: try float(1, "slope", default: 0.25))
        case "orthogonal":
            try expectArguments(atMost: 2)
            return Orthogonal(
                scale: try float(0, "scale", default: 1.414),
                randType: try choice(1, "rand_type", default: Orthogonal.RandomType.uniform))
        case "lstmbias":
            try expectArguments(atMost: 1)
            return LSTMBias(forgetBias: try float(0, "forget_bias", default: 1))
        case "bilinear":
            try expectArguments(atMost: 0)
            return Bilinear()
        default:
            throw InitializerError.unknownInitializer(name: name, valid: validNames)
        }
    }

    /// The initializer a variable's `__init__` attribute names (`mx.sym.Variable(name, init=…)`), as
    /// MXNet writes it with `Initializer.dumps()`: a JSON pair of the registered name and the
    /// constructor's keyword arguments, `["xavier", {"rnd_type": "gaussian", "magnitude": 2}]`;
    /// `["fusedrnn", {…}]` for a fused RNN's parameter vector (`FusedRNN`),
    /// or a plain name or `create` spec (MXNet accepts an initializer's name there too). Throws
    /// `invalidArgument` or `unknownInitializer` saying what is wrong.
    public static func create(attribute text: String) throws -> any Initializer {
        let spec = trimmed(Substring(text))
        guard spec.hasPrefix("[") else { return try create(spec) }
        guard let pair = try? JSONSerialization.jsonObject(with: Data(spec.utf8)) as? [Any], pair.count == 2,
            let name = (pair[0] as? String)?.lowercased(), let kwargs = pair[1] as? [String: Any]
        else {
            throw InitializerError.invalidArgument(
                "'\(spec)' is not an initializer as MXNet writes it: [\"name\", {…}]")
        }
        if name == "fusedrnn" { return try fusedRNN(kwargs, spec: spec) }
        // MXNet's keyword arguments in constructor order, with the defaults that fill earlier gaps.
        let parameters: [String: [(key: String, fallback: String?)]] = [
            "zero": [], "zeros": [], "one": [], "ones": [], "constant": [("value", nil)],
            "uniform": [("scale", "0.07")], "normal": [("sigma", "0.01")],
            "xavier": [("rnd_type", "uniform"), ("factor_type", "avg"), ("magnitude", "3")],
            "msra": [("factor_type", "avg"), ("slope", "0.25")],
            "msraprelu": [("factor_type", "avg"), ("slope", "0.25")],
            "orthogonal": [("scale", "1.414"), ("rand_type", "uniform")], "lstmbias": [("forget_bias", "1.0")],
            "bilinear": [],
        ]
        guard let keys = parameters[name] else {
            throw InitializerError.unknownInitializer(name: name, valid: validNames)
        }
        if let unknown = kwargs.keys.sorted().first(where: { key in !keys.contains { $0.key == key } }) {
            throw InitializerError.invalidArgument("\(name) has no argument '\(unknown)' (it takes \(keys.map(\.key)))")
        }
        func spelled(_ value: Any) -> String {
            if let string = value as? String { return string }
            if let number = value as? NSNumber { return "\(number.doubleValue)" }
            return "\(value)"
        }
        let given = keys.lastIndex { kwargs[$0.key] != nil }.map { keys[...$0] } ?? []
        let args = given.map { parameter in kwargs[parameter.key].map(spelled) ?? parameter.fallback ?? "" }
        return try create(args.isEmpty ? name : "\(name):\(args.joined(separator: ","))")
    }

    /// `["fusedrnn", {"init": null, "num_hidden": 4, "num_layers": 2, "mode": "lstm",
    /// "bidirectional": true, "forget_bias": 1.0}]`, as `mx.rnn.FusedRNNCell` writes it; `init` is
    /// null (the global initializer) or another initializer as MXNet writes it.
    private static func fusedRNN(_ kwargs: [String: Any], spec: String) throws -> any Initializer {
        func number(_ key: String) -> Double? { (kwargs[key] as? NSNumber)?.doubleValue }
        guard let hidden = number("num_hidden"), let layers = number("num_layers"),
            let mode = (kwargs["mode"] as? String).flatMap(RNN.Mode.init(rawValue:))
        else {
            throw InitializerError.invalidArgument(
                "fusedrnn needs num_hidden, num_layers and mode (rnn_relu, rnn_tanh, lstm, gru): '\(spec)'")
        }
        var inner: (any Initializer)?
        if let text = kwargs["init"] as? String { inner = try create(attribute: text) }
        let rnn = RNN(
            stateSize: Int(hidden), numLayers: Int(layers), mode: mode,
            bidirectional: (kwargs["bidirectional"] as? NSNumber)?.boolValue ?? false)
        return FusedRNN(inner, rnn: rnn, forgetBias: Float(number("forget_bias") ?? 1))
    }

    /// `text` without leading and trailing spaces.
    private static func trimmed(_ text: Substring) -> String {
        String(text.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
