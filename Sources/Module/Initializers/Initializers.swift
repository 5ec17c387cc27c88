/// Creating initializers by name, MXNet 1.x's `mx.init.create` / `init_params(initializer="xavier")`.
public enum Initializers {
    /// The names `create` accepts: MXNet's registered names and aliases.
    public static let validNames: [String] = [
        "constant", "msra", "msraprelu", "normal", "one", "ones", "uniform", "xavier", "zero", "zeros",
    ]

    /// An initializer from a spec `name` or `name:arg1,arg2,…`, the arguments in the order of
    /// MXNet's constructor: `"uniform:0.1"` (scale), `"normal:0.02"` (sigma), `"constant:0.5"`
    /// (value, required), `"xavier:gaussian,in,2"` (rnd_type, factor_type, magnitude),
    /// `"msra:avg,0.25"` (factor_type, slope), `"zero"`, `"one"`. Names are case-insensitive;
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
        default:
            throw InitializerError.unknownInitializer(name: name, valid: validNames)
        }
    }

    /// `text` without leading and trailing spaces.
    private static func trimmed(_ text: Substring) -> String {
        String(text.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
