/// Why a checkpoint could not be written, found or read. Every case names the file concerned.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    /// A file the checkpoint needs does not exist (or cannot be read).
    case missing(path: String, hint: String)
    /// A file exists but its content is wrong: bad JSON, wrong size or checksum, a bad record.
    case corrupt(path: String, reason: String)
    /// The pieces of a checkpoint do not fit together (slices with gaps or overlaps, a parameter
    /// the job needs that the checkpoint lacks, a shape that does not match).
    case inconsistent(String)
    /// A file could not be written.
    case cannotWrite(path: String, reason: String)

    /// A one-line explanation naming the file.
    public var description: String {
        switch self {
        case .missing(let path, let hint): return "checkpoint file \(path) is missing: \(hint)"
        case .corrupt(let path, let reason): return "checkpoint file \(path) is damaged: \(reason)"
        case .inconsistent(let reason): return "checkpoint is inconsistent: \(reason)"
        case .cannotWrite(let path, let reason): return "cannot write checkpoint file \(path): \(reason)"
        }
    }
}
