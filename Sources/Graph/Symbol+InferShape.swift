import SwiftPSTensor

/// The shapes of every variable and every node output of a graph, as shape inference found them.
struct GraphShapes {
    /// Variable shapes by name (arguments and auxiliary states).
    var variables: [String: [Int]] = [:]
    /// Output shapes of each operator node.
    var outputs: [ObjectIdentifier: [[Int]]] = [:]

    func shape(of entry: Symbol.Entry) -> [Int]? {
        entry.node.isVariable ? variables[entry.node.name] : outputs[ObjectIdentifier(entry.node)]?[entry.index]
    }
}

extension Symbol {
    /// Infers every shape from the known ones, MXNet's `infer_shape(**known)`.
    ///
    /// Shapes flow forward through each operator's `inferShape`: given the data shape, an operator
    /// fills in its parameter, label and auxiliary shapes and its output shapes. Variables with a
    /// shape hint (`Symbol.variable(_:shape:)`, `__shape__` in JSON) use it unless `known` names them.
    ///
    /// - Returns: argument shapes in `listArguments()` order, output shapes in `listOutputs()` order
    ///   and auxiliary shapes in `listAuxiliaryStates()` order.
    /// - Throws: `GraphError.shapeError` naming the node when a shape cannot be inferred or two
    ///   shapes disagree.
    public func inferShape(_ known: [String: [Int]]) throws -> (args: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        let shapes = try inferGraphShapes(known)
        func variable(_ name: String) throws -> [Int] {
            guard let s = shapes.variables[name] else {
                throw GraphError.shapeError("no shape for variable '\(name)': give it to inferShape")
            }
            return s
        }
        let outputs = try heads.map { head -> [Int] in
            guard let s = shapes.shape(of: head) else {
                throw GraphError.shapeError("no shape for output '\(head.node.outputName(head.index))'")
            }
            return s
        }
        return (
            try listArguments().map(variable), outputs, try listAuxiliaryStates().map(variable)
        )
    }

    /// `inferShape(_:)` with the results keyed by argument, output and auxiliary-state name.
    public func inferShapeDictionary(_ known: [String: [Int]]) throws -> (
        args: [String: [Int]], outputs: [String: [Int]], aux: [String: [Int]]
    ) {
        let (args, outputs, aux) = try inferShape(known)
        return (
            Dictionary(zip(listArguments(), args), uniquingKeysWith: { a, _ in a }),
            Dictionary(zip(listOutputs(), outputs), uniquingKeysWith: { a, _ in a }),
            Dictionary(zip(listAuxiliaryStates(), aux), uniquingKeysWith: { a, _ in a })
        )
    }

    /// Runs shape inference over the whole graph in topological order.
    func inferGraphShapes(_ known: [String: [Int]]) throws -> GraphShapes {
        var shapes = GraphShapes()
        let nodes = topologicalNodes
        for node in nodes where node.isVariable {
            if let s = known[node.name] {
                guard s.allSatisfy({ $0 > 0 }) else {
                    throw GraphError.shapeError("shape \(s) given for '\(node.name)' has a dimension below 1")
                }
                try Self.checkElementCount(s, of: "'\(node.name)'")
                shapes.variables[node.name] = s
            } else if let hint = node.shapeHint, !hint.isEmpty, hint.allSatisfy({ $0 > 0 }) {
                try Self.checkElementCount(hint, of: "'\(node.name)' (its __shape__ hint)")
                shapes.variables[node.name] = hint
            }
        }
        for node in nodes {
            guard let op = node.op else { continue }
            let nodeLabel = "node '\(node.name)' (\(node.opName))"
            let argCount = node.argumentCount
            let given = node.inputs.prefix(argCount).map { shapes.shape(of: $0) }
            let result: (inputs: [[Int]], outputs: [[Int]], aux: [[Int]])
            do {
                result = try op.inferShape(Array(given))
            } catch GraphError.shapeError(let message) {
                let missing = zip(op.listArguments(), given).filter { $0.1 == nil }.map(\.0)
                let hint = missing.isEmpty ? "" : " (unknown inputs: \(missing.joined(separator: ", ")))"
                throw GraphError.shapeError("\(nodeLabel): \(message)\(hint)")
            }
            guard result.inputs.count == argCount, result.aux.count == node.inputs.count - argCount,
                result.outputs.count == node.outputCount
            else {
                throw GraphError.shapeError(
                    "\(nodeLabel): operator returned \(result.inputs.count) input, \(result.aux.count) aux and "
                        + "\(result.outputs.count) output shapes for \(argCount), "
                        + "\(node.inputs.count - argCount) and \(node.outputCount)")
            }
            for shape in result.inputs + result.outputs + result.aux {
                try Self.checkElementCount(shape, of: nodeLabel)
            }
            for (entry, inferred) in zip(node.inputs, result.inputs + result.aux) {
                if let existing = shapes.shape(of: entry) {
                    guard existing == inferred else {
                        throw GraphError.shapeError(
                            "\(nodeLabel): input '\(entry.node.outputName(entry.index))' has shape \(existing) "
                                + "but the operator needs \(inferred)")
                    }
                } else if entry.node.isVariable {
                    shapes.variables[entry.node.name] = inferred
                }
            }
            shapes.outputs[ObjectIdentifier(node)] = result.outputs
        }
        return shapes
    }

    /// Throws `shapeError` when `shape` has a negative dimension or more elements than an `Int`
    /// counts (so no array of it can exist): every later product of its dimensions is then safe.
    static func checkElementCount(_ shape: [Int], of what: String) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw GraphError.shapeError("\(what): shape \(shape) has a negative dimension")
        }
        // Zero dimensions count as 1, so that products of any subset of the dimensions fit too.
        guard NDArray.checkedElementCount(shape.map { max($0, 1) }) != nil else {
            throw GraphError.shapeError("\(what): shape \(shape) has more elements than memory can hold")
        }
    }
}
