import Foundation
import SwiftPSTensor

/// The MXNet version SwiftPS writes into symbol JSON (`attrs.mxnet_version`): 1.9.1.
public let symbolJSONMXNetVersion = 10901

extension Symbol {
    /// The symbol as MXNet 1.x symbol JSON (`mx.sym.Symbol.tojson()`): `nodes` in topological
    /// order (`op`, `name`, `attrs` of strings, `inputs` as `[node, output, 0]`), `arg_nodes` (the
    /// variable nodes), `node_row_ptr` (prefix sums of node output counts), `heads`, and
    /// `attrs.mxnet_version`. MXNet 1.x loads the result for the operators SwiftPS supports.
    public func toJSON() -> String {
        let nodes = topologicalNodes
        var index: [ObjectIdentifier: Int] = [:]
        for (i, node) in nodes.enumerated() { index[ObjectIdentifier(node)] = i }
        func entry(_ e: Entry) -> String { "[\(index[ObjectIdentifier(e.node)]!), \(e.index), 0]" }

        var out = "{\n  \"nodes\": ["
        for (i, node) in nodes.enumerated() {
            out += i == 0 ? "\n" : ",\n"
            out += "    {\n      \"op\": \(jsonString(node.opName)),\n      \"name\": \(jsonString(node.name)),\n"
            if !node.attributes.isEmpty {
                let attrs = node.attributes.sorted { $0.key < $1.key }
                    .map { "        \(jsonString($0.key)): \(jsonString($0.value))" }
                out += "      \"attrs\": {\n" + attrs.joined(separator: ",\n") + "\n      },\n"
            }
            out += "      \"inputs\": [" + node.inputs.map(entry).joined(separator: ", ") + "]\n    }"
        }
        out += "\n  ],\n"
        let argNodes = nodes.indices.filter { nodes[$0].isVariable }
        out += "  \"arg_nodes\": [" + argNodes.map(String.init).joined(separator: ", ") + "],\n"
        var rowPtr = [0]
        for node in nodes { rowPtr.append(rowPtr.last! + node.outputCount) }
        out += "  \"node_row_ptr\": [" + rowPtr.map(String.init).joined(separator: ", ") + "],\n"
        out += "  \"heads\": [" + heads.map(entry).joined(separator: ", ") + "],\n"
        out += "  \"attrs\": {\"mxnet_version\": [\"int\", \(symbolJSONMXNetVersion)]}\n}"
        return out
    }

    /// Reads MXNet symbol JSON (`mx.sym.load_json`), as MXNet 1.x and SwiftPS write it.
    ///
    /// Accepts node attributes under `attrs` or the older `attr`/`param` keys, inputs of two or
    /// three numbers, and hint attributes such as `__shape__`, `__init__`, `__lr_mult__` (kept on the
    /// node; `__shape__` becomes the variable's shape hint). Whether a variable is an auxiliary state
    /// follows from the operator slot it feeds. An operator node that lists only its arguments gets
    /// its auxiliary-state variables created as `<node>_<aux>`, as MXNet's upgrader does.
    ///
    /// - Throws: `GraphError.badJSON` saying what is malformed, `GraphError.unknownOperator` naming
    ///   the operator and the node, `GraphError.badAttribute` for attributes the operator rejects.
    public static func fromJSON(_ text: String) throws -> Symbol {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: Data(text.utf8))
        } catch {
            // Foundation's detail ("Unexpected end of file…") is in the debug description.
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
            throw GraphError.badJSON("not valid JSON: \(detail ?? error.localizedDescription)")
        }
        guard let object = root as? [String: Any] else { throw GraphError.badJSON("the top level is not an object") }
        guard var rawNodes = object["nodes"] as? [Any] else { throw GraphError.badJSON("no \"nodes\" array") }
        if writtenBefore1_9_1(object) { rawNodes = upgradeHiddenKeys(rawNodes) }
        var nodes: [Node] = []
        for (i, raw) in rawNodes.enumerated() {
            nodes.append(try readNode(raw, at: i, previous: nodes))
        }
        guard let rawHeads = object["heads"] as? [Any], !rawHeads.isEmpty else {
            throw GraphError.badJSON("no \"heads\" array naming the outputs")
        }
        let heads = try rawHeads.map { try readEntry($0, nodes: nodes, context: "heads") }
        return Symbol(heads: heads)
    }

    /// Writes `toJSON()` to `path` atomically (MXNet's `Symbol.save`, as `prefix-symbol.json`): a
    /// temporary file in the same directory is written, fsync'd and renamed over `path`. With
    /// `unlessUnchanged`, a file that already holds these bytes is left as it is (a checkpoint's
    /// shared symbol file, which earlier checkpoints' manifests hash).
    public func save(to path: String, unlessUnchanged: Bool = false) throws {
        do {
            let bytes = Array(toJSON().utf8)
            if unlessUnchanged {
                try AtomicFile.writeIfChanged(bytes, to: path)
            } else {
                try AtomicFile.write(bytes, to: path)
            }
        } catch {
            throw SymbolFileError.cannotWrite(path: path, reason: error.reason)
        }
    }

    /// Reads a symbol JSON file (MXNet's `mx.sym.load`). A file that cannot be read, or whose content
    /// `fromJSON` rejects, throws `SymbolFileError.cannotRead` naming the path and the reason.
    public static func load(from path: String) throws -> Symbol {
        let bytes: [UInt8]
        do {
            bytes = try AtomicFile.read(path)
        } catch {
            throw SymbolFileError.cannotRead(path: path, reason: error.reason)
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw GraphError.badJSON("\(path) is not UTF-8 text")
        }
        do {
            return try fromJSON(text)
        } catch {
            throw SymbolFileError.cannotRead(path: path, reason: "\(error)")
        }
    }

    /// Whether the file predates MXNet 1.9.1 (`attrs.mxnet_version` below 10901, or none), whose
    /// loader upgrades such files (`UpgradeJSON_FixParsing`).
    private static func writtenBefore1_9_1(_ object: [String: Any]) -> Bool {
        guard let attrs = object["attrs"] as? [String: Any], let version = attrs["mxnet_version"] as? [Any],
            version.count == 2, let number = version[1] as? NSNumber
        else { return true }
        return number.intValue < symbolJSONMXNetVersion
    }

    /// The attribute keys older MXNet wrote plainly and 1.9.1 writes as `__key__` hints.
    static let hiddenKeys = ["ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage"]

    /// MXNet's upgrade of older files' hidden keys: `lr_mult` (and `wd_mult`, `ctx_group`,
    /// `force_mirroring`, `mirror_stage`) on a node becomes `__lr_mult__`, and an operator's
    /// `weight_lr_mult` becomes `__lr_mult__` on the variable feeding its `weight` argument. A frozen
    /// layer of an old file (`"lr_mult": "0"` on its weight) would otherwise train.
    static func upgradeHiddenKeys(_ rawNodes: [Any]) -> [Any] {
        var nodes = rawNodes
        var moves: [(node: Int, key: String, value: Any)] = []
        for i in nodes.indices {
            guard var node = nodes[i] as? [String: Any] else { continue }
            let isOperator = (node["op"] as? String).map { $0 != "null" } ?? false
            var perArgument: [(argument: String, key: String, value: Any)] = []
            for field in ["param", "attr", "attrs"] {
                guard var dict = node[field] as? [String: Any] else { continue }
                for (key, value) in dict {
                    if hiddenKeys.contains(key) {
                        dict.removeValue(forKey: key)
                        if dict["__\(key)__"] == nil { dict["__\(key)__"] = value }
                    } else if isOperator,
                        let hidden = hiddenKeys.first(where: { key.hasSuffix("_" + $0) && key.count > $0.count + 1 })
                    {
                        dict.removeValue(forKey: key)
                        perArgument.append((String(key.dropLast(hidden.count + 1)), "__\(hidden)__", value))
                    }
                }
                node[field] = dict
            }
            nodes[i] = node
            guard !perArgument.isEmpty, let opName = node["op"] as? String,
                let arguments = try? argumentNames(opName, node)
            else { continue }
            let inputs = node["inputs"] as? [Any] ?? []
            for (argument, key, value) in perArgument {
                guard let index = arguments.firstIndex(of: argument), index < inputs.count,
                    let entry = inputs[index] as? [Any], let id = (entry.first as? NSNumber)?.intValue,
                    id >= 0, id < i
                else { continue }
                moves.append((id, key, value))
            }
        }
        for (id, key, value) in moves {
            guard var variable = nodes[id] as? [String: Any], variable["op"] as? String == "null" else { continue }
            var attrs = variable["attrs"] as? [String: Any] ?? [:]
            if attrs[key] == nil { attrs[key] = value }
            variable["attrs"] = attrs
            nodes[id] = variable
        }
        return nodes
    }

    /// The argument names of operator `opName` with `node`'s attributes.
    private static func argumentNames(_ opName: String, _ node: [String: Any]) throws -> [String] {
        var attributes: [String: String] = [:]
        for field in ["param", "attr", "attrs"] {
            for (k, v) in node[field] as? [String: Any] ?? [:] {
                if let s = v as? String {
                    attributes[k] = s
                } else if let n = v as? NSNumber {
                    attributes[k] = n.stringValue
                }
            }
        }
        return try OperatorRegistry.make(opName, attributes: operatorAttributes(attributes)).listArguments()
    }

    private static func readNode(_ raw: Any, at i: Int, previous: [Node]) throws -> Node {
        guard let obj = raw as? [String: Any] else { throw GraphError.badJSON("node \(i) is not an object") }
        guard let opName = obj["op"] as? String else { throw GraphError.badJSON("node \(i) has no \"op\" string") }
        guard let name = obj["name"] as? String else {
            throw GraphError.badJSON("node \(i) has no \"name\" string")
        }
        var attributes: [String: String] = [:]
        for key in ["param", "attr", "attrs"] {
            guard let value = obj[key] else { continue }
            guard let dict = value as? [String: Any] else {
                throw GraphError.badJSON("node '\(name)': \"\(key)\" is not an object")
            }
            for (k, v) in dict {
                switch v {
                case let s as String: attributes[k] = s
                case let n as NSNumber: attributes[k] = n.stringValue
                default: throw GraphError.badJSON("node '\(name)': attribute \(k) is not a string")
                }
            }
        }
        let rawInputs: [Any]
        switch obj["inputs"] {
        case nil: rawInputs = []
        case let list as [Any]: rawInputs = list
        default: throw GraphError.badJSON("node '\(name)': \"inputs\" is not an array")
        }
        var inputs = try rawInputs.map { try readEntry($0, nodes: previous, context: "node '\(name)'") }

        if opName == "null" {
            guard inputs.isEmpty else { throw GraphError.badJSON("variable '\(name)' has inputs") }
            var hint: [Int]?
            if let text = attributes["__shape__"] {
                do {
                    hint = try AttributeReader(op: "null", attributes).tuple("__shape__")
                } catch {
                    throw GraphError.badJSON("variable '\(name)': __shape__ '\(text)' is not a shape")
                }
            }
            return Node(op: nil, opName: "null", name: name, attributes: attributes, inputs: [], shapeHint: hint)
        }
        let op: any Operator
        do {
            op = try OperatorRegistry.make(opName, attributes: operatorAttributes(attributes))
        } catch GraphError.unknownOperator {
            throw GraphError.unknownOperator("\(opName) (node '\(name)')")
        } catch GraphError.badAttribute(let op, let attribute, let value, let reason) {
            throw GraphError.badAttribute(op: op, name: attribute, value: value, reason: "\(reason) (node '\(name)')")
        }
        let args = op.listArguments()
        let aux = op.listAuxiliaryStates()
        if inputs.count == args.count && !aux.isEmpty {
            for suffix in aux {
                let v = Node(
                    op: nil, opName: "null", name: name + "_" + suffix, attributes: [:], inputs: [], shapeHint: nil)
                inputs.append(Entry(node: v, index: 0))
            }
        }
        guard inputs.count == args.count + aux.count else {
            throw GraphError.badJSON(
                "node '\(name)' (\(opName)) has \(inputs.count) inputs; it needs \(args.count + aux.count): "
                    + (args + aux).joined(separator: ", "))
        }
        return Node(op: op, opName: opName, name: name, attributes: attributes, inputs: inputs, shapeHint: nil)
    }

    private static func readEntry(_ raw: Any, nodes: [Node], context: String) throws -> Entry {
        guard let list = raw as? [Any], list.count == 2 || list.count == 3,
            let numbers = list as? [NSNumber]
        else {
            throw GraphError.badJSON("\(context): an input is not [node, output] or [node, output, version]")
        }
        let id = numbers[0].intValue
        let output = numbers[1].intValue
        guard id >= 0, id < nodes.count else {
            throw GraphError.badJSON("\(context): input refers to node \(id), not an earlier node")
        }
        guard output >= 0, output < nodes[id].outputCount else {
            throw GraphError.badJSON(
                "\(context): input refers to output \(output) of '\(nodes[id].name)', which has \(nodes[id].outputCount)"
            )
        }
        return Entry(node: nodes[id], index: output)
    }
}

/// A symbol file that cannot be read or written.
public enum SymbolFileError: Error, CustomStringConvertible, Equatable {
    /// The file cannot be read.
    case cannotRead(path: String, reason: String)
    /// The file cannot be written.
    case cannotWrite(path: String, reason: String)

    /// The path and the reason, for logs and error messages.
    public var description: String {
        switch self {
        case .cannotRead(let path, let reason): return "cannot read symbol file \(path): \(reason)"
        case .cannotWrite(let path, let reason): return "cannot write symbol file \(path): \(reason)"
        }
    }
}
