/// Errors raised by optimizers and learning-rate schedules.
public enum OptimizerError: Error, CustomStringConvertible, Equatable {
    /// An optimizer name SwiftPS does not implement.
    case unknownOptimizer(String)
    /// A hyper-parameter out of range; names it and the value.
    case badParameter(String)
    /// Saved optimizer state that cannot be read.
    case badState(String)

    /// What is wrong, in one sentence.
    public var description: String {
        switch self {
        case .unknownOptimizer(let n): return "unknown optimizer '\(n)': use sgd, nag, adam, adagrad or rmsprop"
        case .badParameter(let s): return "bad optimizer parameter: \(s)"
        case .badState(let s): return "bad optimizer state: \(s)"
        }
    }
}
