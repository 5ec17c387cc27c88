/// Creates operators by their MXNet names, as symbol JSON names them.
public enum OperatorRegistry {
    /// Every supported operator type, by MXNet name.
    public static let types: [String: any Operator.Type] = {
        var t: [String: any Operator.Type] = [:]
        for op in allOperatorTypes { t[op.typeName] = op }
        // MXNet aliases (listed beside the operators in Operators/AllOperators.swift).
        for (alias, name) in operatorAliases { t[alias] = t[name] }
        return t
    }()

    /// The supported operator names, sorted.
    public static var names: [String] { types.keys.sorted() }

    /// Makes the operator `name` from MXNet string attributes. An attribute the operator does not
    /// take (a misspelt `nobias`, say) is refused, naming the ones it takes, as MXNet refuses it;
    /// MXNet's `__hint__` keys are the caller's to remove (`Symbol.operatorAttributes`).
    public static func make(_ name: String, attributes: [String: String]) throws -> any Operator {
        guard let type = types[name] else { throw GraphError.unknownOperator(name) }
        let known = type.attributeNames
        if let unknown = attributes.keys.filter({ !known.contains($0) }).min() {
            let takes = known.isEmpty ? "takes no attributes" : "takes \(known.joined(separator: ", "))"
            let guess = closest(to: unknown, among: known).map { "; did you mean \($0)?" } ?? ""
            throw GraphError.badAttribute(
                op: name, name: unknown, value: attributes[unknown] ?? "",
                reason: "is not an attribute of \(name) (it \(takes)\(guess))")
        }
        return try type.init(attributes: attributes)
    }

    /// The name in `candidates` nearest to `name` when it is near enough to be a likely typo: the
    /// same once underscores and case are ignored, or within two single-character edits.
    static func closest(to name: String, among candidates: [String]) -> String? {
        func plain(_ s: String) -> [Character] { Array(s.lowercased().filter { $0 != "_" }) }
        let target = plain(name)
        let scored = candidates.map { ($0, editDistance(target, plain($0))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= 2, best.1 < target.count else { return nil }
        return best.0
    }

    /// Levenshtein distance.
    private static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1] + Array(repeating: 0, count: b.count)
            for (j, y) in b.enumerated() {
                current[j + 1] = Swift.min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
