extension Symbol {
    /// Applies the operator `opName` to named inputs, MXNet's `mx.sym.<Op>(data=…, name=…, **attrs)`.
    ///
    /// Inputs are matched by argument name (`"data"`, `"weight"`, `"label"`) or auxiliary-state
    /// name (`"moving_mean"`). Every input that is not given becomes a new variable named
    /// `<node>_<input>` (`fc1_weight`, `bn1_moving_mean`, `softmax_label`), as MXNet creates them.
    /// An unnamed node gets an automatic name from `NameManager.current` (`fullyconnected0`).
    /// Attributes are MXNet strings (`"num_hidden": "128"`); keys of the form `__name__`
    /// (`__lr_mult__`) are kept on the node but not passed to the operator.
    ///
    /// - Throws: `GraphError.unknownOperator` for an operator SwiftPS lacks,
    ///   `GraphError.badAttribute` for bad attributes or an input name the operator does not have.
    public static func operation(
        _ opName: String, name: String? = nil, inputs: [(String, Symbol)] = [], attributes: [String: String] = [:]
    ) throws -> Symbol {
        try compose(opName, name: name, positional: [], named: inputs, attributes: attributes)
    }

    /// Applies the operator `opName` to inputs given by name in a dictionary; see
    /// `operation(_:name:inputs:attributes:)` with ordered pairs.
    public static func operation(
        _ opName: String, name: String? = nil, inputs: [String: Symbol], attributes: [String: String] = [:]
    ) throws -> Symbol {
        let pairs = inputs.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return try compose(opName, name: name, positional: [], named: pairs, attributes: attributes)
    }

    /// Applies the operator `opName` to positional inputs, in its `listArguments()` order (MXNet's
    /// `mx.sym.Concat(a, b, c, dim=1)`); the remaining inputs become variables as with named inputs.
    public static func operation(
        _ opName: String, name: String? = nil, arguments: [Symbol], attributes: [String: String] = [:]
    ) throws -> Symbol {
        try compose(opName, name: name, positional: arguments, named: [], attributes: attributes)
    }

    /// True for attribute keys MXNet treats as hints rather than operator parameters (`__shape__`).
    static func isHintKey(_ key: String) -> Bool {
        key.count > 4 && key.hasPrefix("__") && key.hasSuffix("__")
    }

    /// The attributes the operator itself parses: all but the `__hint__` keys.
    static func operatorAttributes(_ attributes: [String: String]) -> [String: String] {
        attributes.filter { !isHintKey($0.key) }
    }

    private static func compose(
        _ opName: String, name: String?, positional: [Symbol], named: [(String, Symbol)],
        attributes: [String: String]
    ) throws -> Symbol {
        let op = try OperatorRegistry.make(opName, attributes: operatorAttributes(attributes))
        let nodeName = name ?? NameManager.current.nextName(hint: opName.lowercased())
        let slots = op.listArguments() + op.listAuxiliaryStates()
        func badInput(_ input: String, _ given: Symbol, _ reason: String) -> GraphError {
            .badAttribute(
                op: opName, name: input, value: given.listOutputs().joined(separator: ", "),
                reason: "\(reason) (node '\(nodeName)', inputs: \(slots.joined(separator: ", ")))")
        }
        func single(_ input: String, _ s: Symbol) throws -> Entry {
            guard s.heads.count == 1 else {
                throw badInput(input, s, "has \(s.heads.count) outputs; an input needs exactly one")
            }
            return s.heads[0]
        }
        var entries = [Entry?](repeating: nil, count: slots.count)
        guard positional.count <= slots.count else {
            throw badInput(
                "arguments", group(positional), "gives \(positional.count) inputs, more than the \(slots.count)")
        }
        for (i, s) in positional.enumerated() { entries[i] = try single(slots[i], s) }
        for (input, s) in named {
            guard let i = slots.firstIndex(of: input) else { throw badInput(input, s, "is not an input") }
            guard entries[i] == nil else { throw badInput(input, s, "is given twice") }
            entries[i] = try single(input, s)
        }
        let inputs = entries.enumerated().map { i, entry in
            entry ?? variable(nodeName + "_" + slots[i], attributes: op.inputVariableAttributes(slots[i])).heads[0]
        }
        let node = Node(
            op: op, opName: opName, name: nodeName, attributes: attributes, inputs: inputs, shapeHint: nil)
        return Symbol(heads: (0..<node.outputCount).map { Entry(node: node, index: $0) })
    }
}
