import Logging
import SwiftPSTensor

/// What `fit` and `score` pass to batch-end callbacks, MXNet 1.x's `BatchEndParam(epoch, nbatch,
/// eval_metric, locals)`. MXNet's `locals` (the caller's local variables) has no Swift equivalent.
public struct BatchEndParam {
    /// The current epoch, from 0.
    public var epoch: Int
    /// The index of the batch just processed within the epoch, from 0.
    public var nbatch: Int
    /// The metric being accumulated, if any.
    public var evalMetric: (any EvalMetric)?

    /// A parameter record for one batch.
    public init(epoch: Int, nbatch: Int, evalMetric: (any EvalMetric)?) {
        self.epoch = epoch
        self.nbatch = nbatch
        self.evalMetric = evalMetric
    }
}

/// Called after every batch (MXNet's `batch_end_callback`, also `eval_batch_end_callback` and
/// `score_end_callback`).
public typealias BatchEndCallback = (BatchEndParam) -> Void

/// Errors raised when a callback is configured with arguments that cannot work.
public enum CallbackError: Error, CustomStringConvertible, Equatable {
    /// An argument outside its domain; says which and why.
    case invalidArgument(String)

    /// A message that says what is wrong and what to do about it.
    public var description: String {
        switch self {
        case .invalidArgument(let s): return "invalid callback argument: \(s)"
        }
    }
}

/// The default sink of the logging callbacks: `info` on a swift-log `Logger` with `label`
/// (MXNet's callbacks call `logging.info`).
func infoLog(label: String) -> (String) -> Void {
    let logger = Logger(label: label)
    return { message in logger.info("\(message)") }
}
