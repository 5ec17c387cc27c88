/// What went wrong reading or writing an MXNet `.params` file.
///
/// MXNet's `NDArray::Load` answers a bad file with a bare "Invalid NDArray file format" check
/// failure; every case here names the file (or `<memory>` for `ParamsFile.decode` without a path),
/// the byte offset where reading stopped and what was expected there.
public enum ParamsFileError: Error, CustomStringConvertible, Equatable {
    /// The bytes end at `offset` while `expected` was still to come.
    case truncated(path: String, offset: Int, expected: String)
    /// The value at `offset` is not a valid `expected`; `found` is what is there.
    case corrupt(path: String, offset: Int, expected: String, found: String)
    /// A valid MXNet feature this reader does not load (sparse storage, unknown dtype).
    case unsupported(path: String, offset: Int, what: String)
    /// An array or key that cannot be written, or a key that breaks the checkpoint naming.
    case invalidEntry(path: String, name: String, reason: String)
    /// The file could not be read or written.
    case io(AtomicFileError)

    /// The file the error is about.
    public var path: String {
        switch self {
        case .truncated(let path, _, _), .corrupt(let path, _, _, _), .unsupported(let path, _, _),
            .invalidEntry(let path, _, _):
            return path
        case .io(let error): return error.path
        }
    }

    /// The byte offset where decoding stopped, when the error comes from decoding.
    public var offset: Int? {
        switch self {
        case .truncated(_, let offset, _), .corrupt(_, let offset, _, _), .unsupported(_, let offset, _):
            return offset
        case .invalidEntry, .io: return nil
        }
    }

    public var description: String {
        switch self {
        case .truncated(let path, let offset, let expected):
            return "\(path): truncated .params file: expected \(expected) at byte \(offset), but the file ends there"
        case .corrupt(let path, let offset, let expected, let found):
            return "\(path): corrupt .params file at byte \(offset): expected \(expected), found \(found)"
        case .unsupported(let path, let offset, let what):
            return "\(path): unsupported .params content at byte \(offset): \(what)"
        case .invalidEntry(let path, let name, let reason):
            return "\(path): array '\(name)': \(reason)"
        case .io(let error):
            return "cannot access .params file: \(error)"
        }
    }
}
