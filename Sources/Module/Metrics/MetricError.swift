/// Errors raised by evaluation metrics on bad input, in the cases where MXNet's `metric.py` raises
/// `ValueError`/`AssertionError` (or would index out of bounds).
public enum MetricError: Error, CustomStringConvertible, Equatable {
    /// The number of label arrays differs from the number of prediction arrays.
    case arrayCountMismatch(metric: String, labels: Int, preds: Int)
    /// A label array and its prediction array do not fit each other.
    case shapeMismatch(metric: String, label: [Int], pred: [Int], expected: String)
    /// A label is not a class index of the prediction: past the classes either way (numpy's
    /// negative indexing allows `-classes..<classes`), NaN or infinite.
    case labelOutOfRange(metric: String, label: Float, classes: Int)
    /// F1 received labels with more than two distinct values.
    case notBinary(metric: String, distinctLabels: [Float])
    /// A metric name that `Metrics.create` does not know.
    case unknownMetric(name: String, valid: [String])
    /// Partial sums that do not have the layout the metric (or the other workers) produce.
    case partialsMismatch(String)
    /// A constructor argument outside its domain (for instance `topK` below 2).
    case invalidArgument(String)

    /// A message that says what is wrong and what to do about it.
    public var description: String {
        switch self {
        case .arrayCountMismatch(let metric, let labels, let preds):
            return "\(metric): \(labels) label array(s) but \(preds) prediction array(s); pass one label per output"
        case .shapeMismatch(let metric, let label, let pred, let expected):
            return "\(metric): label shape \(label) does not fit prediction shape \(pred): \(expected)"
        case .labelOutOfRange(let metric, let label, let classes):
            return "\(metric): label \(label) is out of range for \(classes) classes: a label must be in "
                + "-\(classes)..<\(classes) (a negative label counts from the last class, as MXNet indexes with numpy)"
        case .notBinary(let metric, let distinct):
            return "\(metric) only supports binary classification, but the labels hold \(distinct.count) "
                + "distinct values \(distinct.prefix(8).map { String($0) })"
        case .unknownMetric(let name, let valid):
            return "unknown metric '\(name)'; valid names are: \(valid.joined(separator: ", "))"
        case .partialsMismatch(let s):
            return "metric partials do not match: \(s)"
        case .invalidArgument(let s):
            return "invalid metric argument: \(s)"
        }
    }
}
