/// Errors raised by initializers where MXNet 1.x's `initializer.py` raises `ValueError`.
public enum InitializerError: Error, CustomStringConvertible, Equatable {
    /// A parameter name whose suffix selects no default pattern (MXNet's `_init_default`).
    case unknownPattern(name: String)
    /// No pattern of a `Mixed` initializer matches the parameter name.
    case noPatternMatches(name: String, patterns: [String])
    /// A `Mixed` pattern that is not a valid regular expression.
    case invalidPattern(String, reason: String)
    /// An array whose shape the initializer cannot handle (Xavier on a vector).
    case unsupportedShape(name: String, shape: [Int], reason: String)
    /// An initializer name that `Initializers.create` does not know.
    case unknownInitializer(name: String, valid: [String])
    /// A bad argument in an initializer spec (`"uniform:abc"`, `"xavier:cubic"`).
    case invalidArgument(String)

    /// A message that says what is wrong and what to do about it.
    public var description: String {
        switch self {
        case .unknownPattern(let name):
            return "Unknown initialization pattern for \(name): default initialization is limited to names ending "
                + "in weight, bias, gamma (1.0), beta (0.0), moving_mean, moving_var, moving_inv_var and moving_avg; "
                + "use Mixed to give \(name) its own initializer"
        case .noPatternMatches(let name, let patterns):
            return "Parameter name \(name) did not match any pattern \(patterns); "
                + "add a \".*\" pattern at the end with a default initializer"
        case .invalidPattern(let pattern, let reason):
            return "invalid initializer pattern '\(pattern)': \(reason)"
        case .unsupportedShape(let name, let shape, let reason):
            return "cannot initialize \(name) of shape \(shape): \(reason)"
        case .unknownInitializer(let name, let valid):
            return "unknown initializer '\(name)'; valid names are: \(valid.joined(separator: ", "))"
        case .invalidArgument(let s):
            return "invalid initializer argument: \(s)"
        }
    }
}
