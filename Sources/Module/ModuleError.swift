/// Errors raised by modules: calls in the wrong state, and names that do not match the symbol.
public enum ModuleError: Error, CustomStringConvertible, Equatable {
    /// A call made before what it needs; says what to call first (`forward` before `bind`).
    case wrongState(call: String, needs: String)
    /// Names that are not arguments of the symbol, with MXNet's "Did you mean one of" hint.
    case unknownNames(kind: String, names: [String], candidates: [String])
    /// A parameter missing from the given params while `allowMissing` is false.
    case missingParameter(String)
    /// Shapes or arrays that do not fit the bound module.
    case badInput(String)
    /// Training diverged: after epoch `epoch` (from 0) these parameters hold NaN or infinite values
    /// (see `stopOnNonFiniteParams`).
    case diverged(epoch: Int, names: [String])

    public var description: String {
        switch self {
        case .wrongState(let call, let needs):
            return "\(call) called before \(needs): call \(needs) first"
        case .unknownNames(let kind, let names, let candidates):
            return "Unknown name(s) \(names.map { "'\($0)'" }.joined(separator: ", ")) in \(kind). "
                + "Did you mean one of:\n\t" + candidates.joined(separator: "\n\t")
        case .missingParameter(let n): return "\(n) is not presented (pass allowMissing: true to initialize it)"
        case .badInput(let s): return s
        case .diverged(let epoch, let names):
            let shown =
                names.prefix(5).joined(separator: ", ") + (names.count > 5 ? " and \(names.count - 5) more" : "")
            let earlier =
                epoch > 0 ? "; checkpoints numbered \(epoch) or below hold weights from before it diverged" : ""
            return
                "training diverged: after epoch \(epoch), \(names.count) parameter\(names.count == 1 ? "" : "s") (\(shown)) hold NaN or infinite values, and every later step would too: lower the learning rate (or clip gradients) and train again\(earlier)"
        }
    }
}
