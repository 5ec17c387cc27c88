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

    /// Makes the operator `name` from MXNet string attributes.
    public static func make(_ name: String, attributes: [String: String]) throws -> any Operator {
        guard let type = types[name] else { throw GraphError.unknownOperator(name) }
        return try type.init(attributes: attributes)
    }
}
