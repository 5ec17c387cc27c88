/// Errors raised by data iterators: bad arguments, unreadable or malformed files, stalls.
///
/// MXNet's iterators fail with a `dmlc::Error` string; these cases name the file, and for text
/// files the line and column, so the input can be fixed.
public enum DataIterError: Error, CustomStringConvertible, Equatable {
    /// An argument that cannot work (batch size 0, part index out of range, mismatched sample counts).
    case invalidArgument(String)
    /// A data file that is missing; `hint` says how to get it.
    case missingFile(path: String, hint: String)
    /// A data file that cannot be read or is not in the expected format.
    case badFile(path: String, reason: String)
    /// A bad cell in a text file, at a 1-based line and column.
    case badCell(path: String, line: Int, column: Int, reason: String)
    /// A background iterator that produced nothing within its deadline.
    case timedOut(String)

    public var description: String {
        switch self {
        case .invalidArgument(let s): return s
        case .missingFile(let path, let hint): return "\(path): no such file; \(hint)"
        case .badFile(let path, let reason): return "\(path): \(reason)"
        case .badCell(let path, let line, let column, let reason):
            return "\(path):\(line):\(column): \(reason)"
        case .timedOut(let s): return s
        }
    }
}
