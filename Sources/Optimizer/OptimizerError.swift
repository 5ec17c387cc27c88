import SwiftPSTensor

/// Errors raised by optimizers and learning-rate schedules.
public enum OptimizerError: Error, CustomStringConvertible, Equatable {
    /// An optimizer name SwiftPS does not implement.
    case unknownOptimizer(String)
    /// A hyper-parameter out of range; names it and the value.
    case badParameter(String)
    /// Saved optimizer state that cannot be read.
    case badState(String)
    /// An optimizer-state file (`OptimizerStateFile`) that cannot be read: `path` names the file,
    /// `reason` the record and what is wrong with it. Where MXNet's `Updater.set_states` fails inside
    /// `pickle.loads` without naming the file, this says which file to replace.
    case badStateFile(path: String, reason: String)
    /// An optimizer-state file that could not be opened or read.
    case io(AtomicFileError)

    /// The file the error is about, when it comes from reading one.
    public var path: String? {
        switch self {
        case .badStateFile(let path, _): return path
        case .io(let error): return error.path
        case .unknownOptimizer, .badParameter, .badState: return nil
        }
    }

    /// What is wrong, in one sentence.
    public var description: String {
        switch self {
        case .unknownOptimizer(let n): return "unknown optimizer '\(n)': use sgd, nag, adam, adagrad or rmsprop"
        case .badParameter(let s): return "bad optimizer parameter: \(s)"
        case .badState(let s): return "bad optimizer state: \(s)"
        case .badStateFile(let path, let reason):
            return "\(path): bad optimizer-state file: \(reason) (write it again, or load another epoch)"
        case .io(let error): return "cannot read optimizer-state file: \(error)"
        }
    }
}
