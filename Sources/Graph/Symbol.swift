/// A symbolic computation graph, MXNet's `Symbol`: variables and operator nodes, with one or more
/// outputs (the heads).
///
/// Symbols are immutable values with reference semantics for their nodes: composing two symbols
/// shares the nodes they have in common, as in MXNet. Build them with `variable(_:shape:attributes:)`,
/// `operation(_:name:inputs:attributes:)` and the typed builders (`fullyConnected`, `convolution`, …),
/// combine outputs with `group(_:)`, and read or write them as MXNet 1.x symbol JSON.
public final class Symbol: Sendable, CustomStringConvertible {
    /// One node of the graph: a variable (`op == nil`) or an operator application.
    final class Node: Sendable {
        /// The operator, or nil for a variable.
        let op: (any Operator)?
        /// The MXNet operator name (`"FullyConnected"`), or `"null"` for a variable.
        let opName: String
        /// The node name (`fc1`, `fc1_weight`).
        let name: String
        /// The string attributes as given (operator parameters and `__dunder__` hints).
        let attributes: [String: String]
        /// Inputs: the operator's arguments in `listArguments()` order, then its auxiliary states.
        let inputs: [Entry]
        /// A shape hint for a variable (`__shape__`), used by shape inference when none is given.
        let shapeHint: [Int]?

        init(
            op: (any Operator)?, opName: String, name: String, attributes: [String: String], inputs: [Entry],
            shapeHint: [Int]?
        ) {
            self.op = op
            self.opName = opName
            self.name = name
            self.attributes = attributes
            self.inputs = inputs
            self.shapeHint = shapeHint
        }

        /// True for a variable node.
        var isVariable: Bool { op == nil }

        /// The number of arguments (inputs before the auxiliary states).
        var argumentCount: Int { op?.listArguments().count ?? 0 }

        /// The number of outputs.
        var outputCount: Int { op?.listOutputs().count ?? 1 }

        /// The name of output `i`: `fc1_output`, or the variable's own name.
        func outputName(_ i: Int) -> String {
            guard let op else { return name }
            return name + "_" + op.listOutputs()[i]
        }
    }

    /// One output of one node.
    struct Entry: Sendable {
        let node: Node
        let index: Int
    }

    /// The outputs of this symbol.
    let heads: [Entry]

    /// The names of the outputs whose gradient backward needs from the caller (`outGrads`): those of
    /// operators other than the losses (SoftmaxOutput without `out_grad`, the regression outputs,
    /// MakeLoss) and BlockGrad; a variable passed through as an output is not one. Without head
    /// gradients the executor uses ones, which trains on the sum of such an output (MXNet refuses
    /// that backward).
    public var outputsNeedingHeadGradient: [String] {
        zip(heads, listOutputs()).filter { $0.0.node.op?.readsOutputGradient ?? false }.map(\.1)
    }

    init(heads: [Entry]) { self.heads = heads }

    /// A variable, MXNet's `mx.sym.Variable(name, shape=…, attr=…)`.
    ///
    /// - Parameters:
    ///   - name: the variable name (`data`, `softmax_label`, `fc1_weight`).
    ///   - shape: an optional shape hint, written to symbol JSON as `__shape__` and used by shape
    ///     inference when the caller does not give the shape.
    ///   - attributes: extra string attributes, such as `__lr_mult__`; kept and written to JSON.
    public static func variable(_ name: String, shape: [Int]? = nil, attributes: [String: String] = [:])
        -> Symbol
    {
        var attrs = attributes
        if let shape { attrs["__shape__"] = AttributeReader.format(shape) }
        let node = Node(op: nil, opName: "null", name: name, attributes: attrs, inputs: [], shapeHint: shape)
        return Symbol(heads: [Entry(node: node, index: 0)])
    }

    /// Several symbols as one with all their outputs, MXNet's `mx.sym.Group`.
    public static func group(_ symbols: [Symbol]) -> Symbol {
        Symbol(heads: symbols.flatMap(\.heads))
    }

    /// The name of this symbol's single output node (MXNet's `Symbol.name`); nil for a group.
    public var name: String? { heads.count == 1 ? heads[0].node.name : nil }

    /// Every node reachable from the heads, inputs before their consumers, in MXNet's depth-first
    /// post-order (the order `list_arguments` and symbol JSON use).
    var topologicalNodes: [Node] {
        var seen = Set<ObjectIdentifier>()
        var order: [Node] = []
        // Iterative depth-first search so deep graphs cannot overflow the stack.
        var stack: [(node: Node, next: Int)] = []
        for head in heads {
            guard seen.insert(ObjectIdentifier(head.node)).inserted else { continue }
            stack.append((head.node, 0))
            while let top = stack.last {
                if top.next < top.node.inputs.count {
                    stack[stack.count - 1].next += 1
                    let child = top.node.inputs[top.next].node
                    if seen.insert(ObjectIdentifier(child)).inserted { stack.append((child, 0)) }
                } else {
                    order.append(top.node)
                    stack.removeLast()
                }
            }
        }
        return order
    }

    /// The variables and whether each one is an auxiliary state, in topological order, one per name.
    ///
    /// Matches MXNet: a variable is auxiliary when an operator uses it in an auxiliary-state slot
    /// (BatchNorm's `moving_mean`), whatever its name.
    var variables: [(name: String, isAux: Bool)] {
        let nodes = topologicalNodes
        var auxNames = Set<String>()
        for node in nodes where !node.isVariable {
            for entry in node.inputs.dropFirst(node.argumentCount) where entry.node.isVariable {
                auxNames.insert(entry.node.name)
            }
        }
        var seen = Set<String>()
        var out: [(name: String, isAux: Bool)] = []
        for node in nodes where node.isVariable && seen.insert(node.name).inserted {
            out.append((node.name, auxNames.contains(node.name)))
        }
        return out
    }

    /// The argument names (data, labels and parameters) in MXNet's order: depth-first, inputs in
    /// argument order, first appearance wins (`["data", "fc1_weight", "fc1_bias", …, "softmax_label"]`).
    public func listArguments() -> [String] { variables.filter { !$0.isAux }.map(\.name) }

    /// The auxiliary state names (`bn1_moving_mean`, `bn1_moving_var`), MXNet's
    /// `list_auxiliary_states`.
    public func listAuxiliaryStates() -> [String] { variables.filter(\.isAux).map(\.name) }

    /// The output names, MXNet's `list_outputs`: `<node>_<output>` (`softmax_output`), or the
    /// variable name for a variable head.
    public func listOutputs() -> [String] { heads.map { $0.node.outputName($0.index) } }

    /// The string attributes of every node that has any, keyed by node name (MXNet's `attr_dict`).
    public func attributeDictionary() -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        for node in topologicalNodes where !node.attributes.isEmpty { out[node.name] = node.attributes }
        return out
    }

    /// For each variable that an operator reads, the first such operator and the argument it fills
    /// (`"parameters"` of an `RNN`): what a default initializer may need beyond the name.
    public func variableConsumers() -> [String: (op: any Operator, argument: String)] {
        var out: [String: (op: any Operator, argument: String)] = [:]
        for node in topologicalNodes {
            guard let op = node.op else { continue }
            let arguments = op.listArguments()
            for (i, entry) in node.inputs.enumerated() where i < arguments.count && entry.node.isVariable {
                if out[entry.node.name] == nil { out[entry.node.name] = (op, arguments[i]) }
            }
        }
        return out
    }

    /// Every output of every node, variables included, as one symbol (MXNet's `get_internals`).
    public var internals: Symbol {
        var entries: [Entry] = []
        for node in topologicalNodes {
            for i in 0..<node.outputCount { entries.append(Entry(node: node, index: i)) }
        }
        return Symbol(heads: entries)
    }

    /// The output called `name` (as `listOutputs()` names it), MXNet's `symbol[name]`; use it on
    /// `internals` to cut a graph at an inner layer (`internals.output(named: "fc2_output")`).
    public func output(named name: String) -> Symbol? {
        guard let i = listOutputs().firstIndex(of: name) else { return nil }
        return Symbol(heads: [heads[i]])
    }

    /// Output `index` alone, MXNet's `symbol[index]`: one output of a multi-output operator
    /// (`SliceChannel`'s parts) to feed another. `index` must be below `listOutputs().count`.
    public subscript(_ index: Int) -> Symbol { Symbol(heads: [heads[index]]) }

    /// A one-line summary: the outputs and arguments.
    public var description: String {
        "Symbol(outputs: \(listOutputs()), arguments: \(listArguments()))"
    }
}
