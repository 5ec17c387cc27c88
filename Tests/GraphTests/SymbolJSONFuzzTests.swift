import Foundation
import PSTestSupport
import SwiftPSTensor
import Testing

@testable import SwiftPSGraph

/// Seeded mutation fuzzing of symbol JSON loading and of shape inference on what loads: valid JSON
/// of the wrong shape (types, node indices, missing fields, attributes such as "(3,-1)" or
/// "(99999999999,99999999999)", unknown operators) gives a `GraphError`, never a trap.
@Suite struct SymbolJSONFuzzTests {
    /// A small network using every operator with shape attributes.
    static func network() throws -> Symbol {
        let data = Symbol.variable("data")
        let conv = try Symbol.convolution(
            data, kernel: [3, 3], numFilter: 2, stride: [1, 1], pad: [1, 1], name: "conv")
        let bn = try Symbol.batchNorm(conv, name: "bn")
        let relu = try Symbol.leakyReLU(bn, name: "relu")
        let pool = try Symbol.pooling(relu, kernel: [2, 2], stride: [2, 2], name: "pool")
        let flat = try Symbol.flatten(pool, name: "flat")
        let side = try Symbol.fullyConnected(data, numHidden: 4, name: "side")
        let joined = try Symbol.concat([flat, side], dim: 1, name: "concat")
        let shaped = try Symbol.reshape(joined, shape: [0, -1], name: "reshape")
        let dropped = try Symbol.dropout(shaped, name: "drop")
        let fc = try Symbol.fullyConnected(dropped, numHidden: 3, name: "fc")
        return try Symbol.softmaxOutput(fc, name: "softmax")
    }

    static let dataShape = [2, 1, 4, 4]

    /// Loads `text`; when it loads, infers shapes (from the data shape, and from hints alone) and
    /// binds when the shapes are small. Returns whether it loaded.
    static func exercise(_ text: String, _ index: Int) -> Bool {
        let symbol: Symbol
        do {
            symbol = try Symbol.fromJSON(text)
        } catch {
            #expect(error is GraphError, "case \(index): \(error)")
            return false
        }
        for known in [["data": dataShape], [:]] {
            do {
                let (args, outputs, aux) = try symbol.inferShape(known)
                let total = (args + outputs + aux).reduce(0) { $0 + $1.reduce(1) { $0 * max($1, 1) } }
                if total < 100_000 { _ = try? symbol.simpleBind(shapes: known) }
            } catch {
                #expect(error is GraphError, "case \(index): \(error)")
            }
        }
        return true
    }

    static func json(_ object: Any) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: object)) ?? Data(), as: UTF8.self)
    }

    static var badValues: [Any] {
        [
            "(3,-1)", "(99999999999,99999999999)", "(9223372036854775807, 9223372036854775807)", "(-1, -1)", "(0,0)",
            "(4611686018427387904, 2)", "-1", "0", "9223372036854775807", "-9223372036854775808", "", "abc", "(1,)",
            "(1,2,3)", "99999999999999999999", "nan", "1e38", 7, NSNull(), ["(1,1)"],
        ]
    }
    static var badNumbers: [Any] { [-1, 99999, 1e300, -1e300, 1.5, "0", NSNull(), [0], Int.max, Int.min, 0] }

    @Test func structurallyValidButWrongJSONIsAnError() throws {
        let text = try Self.network().toJSON()
        #expect(Self.exercise(text, -1))
        guard let root = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let nodes = root["nodes"] as? [[String: Any]]
        else {
            Issue.record("the network's own JSON does not parse")
            return
        }
        var mutants: [String] = []
        func withNode(_ i: Int, _ change: (inout [String: Any]) -> Void) {
            var copy = nodes
            change(&copy[i])
            var r = root
            r["nodes"] = copy
            mutants.append(Self.json(r))
        }
        for (i, node) in nodes.enumerated() {
            // Every attribute (and a __shape__ hint on every node) set to every bad value.
            let keys = Array((node["attrs"] as? [String: Any] ?? [:]).keys) + ["__shape__", "num_args", "axis"]
            for key in keys {
                for value in Self.badValues {
                    withNode(i) { n in
                        var attrs = n["attrs"] as? [String: Any] ?? [:]
                        attrs[key] = value
                        n["attrs"] = attrs
                    }
                }
            }
            // Every number of every input entry set to every bad number; entries of the wrong length.
            let inputs = node["inputs"] as? [Any] ?? []
            for (j, entry) in inputs.enumerated() {
                for position in 0..<((entry as? [Any])?.count ?? 0) {
                    for number in Self.badNumbers {
                        withNode(i) { n in
                            var copy = inputs
                            var numbers = entry as? [Any] ?? []
                            numbers[position] = number
                            copy[j] = numbers
                            n["inputs"] = copy
                        }
                    }
                }
                for bad: Any in [[], [0], [0, 0, 0, 0], "x", NSNull()] {
                    withNode(i) { n in
                        var copy = inputs
                        copy[j] = bad
                        n["inputs"] = copy
                    }
                }
            }
            // Fields missing or of the wrong type, unknown operators, a node referring to itself.
            for field in ["op", "name", "inputs", "attrs"] {
                withNode(i) { $0[field] = nil }
                withNode(i) { $0[field] = 3 }
            }
            withNode(i) { $0["op"] = "NoSuchOp" }
            withNode(i) { $0["op"] = "null" }
            withNode(i) { $0["inputs"] = [[i, 0, 0]] }
        }
        for number in Self.badNumbers {
            var r = root
            r["heads"] = [[number, 0, 0]]
            mutants.append(Self.json(r))
            r["heads"] = [[nodes.count - 1, number, 0]]
            mutants.append(Self.json(r))
            r["arg_nodes"] = [number]
            mutants.append(Self.json(r))
        }
        for (key, value) in [("heads", [] as Any), ("heads", NSNull()), ("nodes", [:] as Any), ("nodes", [1])] {
            var r = root
            r[key] = value
            mutants.append(Self.json(r))
        }
        // Random bytes in the text (most of it stops being JSON; some changes digits and names).
        mutants += Mutations.random(Array(text.utf8), count: 600, seed: 0x5EED_0501).map {
            String(decoding: $0, as: UTF8.self)
        }
        var loaded = 0
        for (index, mutant) in mutants.enumerated() where Self.exercise(mutant, index) { loaded += 1 }
        #expect(loaded > 0 && loaded < mutants.count)
    }

    /// Attributes whose arithmetic overflows inside shape inference: errors naming the node.
    @Test(arguments: [
        ("Convolution", ["kernel": "(3,3)", "num_filter": "2", "pad": "(4611686018427387904,0)"]),
        ("Convolution", ["kernel": "(3,3)", "num_filter": "9223372036854775807"]),
        ("Pooling", ["kernel": "(2,2)", "pad": "(9223372036854775807,0)", "pooling_convention": "full"]),
        ("Reshape", ["shape": "(99999999999,99999999999,-1)"]),
        ("Reshape", ["shape": "(99999999999,99999999999)"]),
        ("FullyConnected", ["num_hidden": "9223372036854775807"]),
    ])
    func overflowingAttributesAreErrors(op: String, attributes: [String: String]) throws {
        let error = symbolTestError {
            let symbol = try Symbol.operation(
                op, name: "x", inputs: [("data", .variable("data"))], attributes: attributes)
            _ = try symbol.inferShape(["data": [2, 1, 4, 4]])
        }
        #expect(error != nil)
    }

    /// Kernels, strides and pads beyond 2^20 are attribute errors: near Int.max they passed shape
    /// inference and then overflowed in forward (a `full` window's end, an average's padded area, the
    /// im2col ceiling division). The largest allowed ones run forward and backward.
    @Test(arguments: [
        ("Pooling", ["kernel": "(2,2)", "stride": "(9223372036854775807,1)", "pooling_convention": "full"]),
        ("Pooling", ["kernel": "(4294967296,4294967296)", "pad": "(2147483648,2147483648)", "pool_type": "avg"]),
        ("Convolution", ["kernel": "(3,3)", "pad": "(2,2)", "stride": "(9223372036854775807,1)", "num_filter": "1"]),
    ])
    func windowsBeyondTheLimitAreAttributeErrors(op: String, attributes: [String: String]) throws {
        let error = symbolTestError {
            _ = try Symbol.operation(op, name: "x", inputs: [("data", .variable("data"))], attributes: attributes)
        }
        guard case .badAttribute(_, _, _, let reason)? = error else {
            Issue.record("expected badAttribute, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("at most 1048576"), "\(reason)")
    }

    @Test func theLargestWindowsRunForwardAndBackward() throws {
        let limit = "\(1 << 20)"
        let cases: [(String, [String: String])] = [
            ("Pooling", ["kernel": "(2,2)", "stride": "(\(limit),1)", "pooling_convention": "full"]),
            ("Pooling", ["kernel": "(2,2)", "pad": "(\(limit),1)", "pool_type": "avg", "pooling_convention": "full"]),
            ("Convolution", ["kernel": "(3,3)", "pad": "(2,2)", "stride": "(\(limit),1)", "num_filter": "1"]),
        ]
        for (op, attributes) in cases {
            let symbol = try Symbol.operation(
                op, name: "x", inputs: [("data", .variable("data"))], attributes: attributes)
            let executor = try symbol.simpleBind(shapes: ["data": [1, 1, 4, 4]])
            executor.argDict["data"]?.fill(1)
            executor.forward(isTrain: true)
            try executor.backward(outGrads: [NDArray(shape: executor.outputs[0].shape, repeating: 1)])
            let values = executor.outputs[0].toArray()
            #expect(values.allSatisfy { $0.isFinite }, "\(op) \(attributes)")
        }
    }

    /// A Concat whose num_args would name billions of arguments is an attribute error.
    @Test func concatNumArgsIsBounded() {
        #expect(throws: GraphError.self) { try Concat(attributes: ["num_args": "9223372036854775807"]) }
        #expect(throws: GraphError.self) { try Concat(attributes: ["num_args": "99999999999"]) }
    }

    /// Shape hints and given shapes whose element count overflows: errors, not traps.
    @Test func overflowingShapesAreShapeErrors() throws {
        let hinted = Symbol.variable("data", shape: [99_999_999_999, 99_999_999_999])
        let fc = try Symbol.fullyConnected(hinted, numHidden: 3, name: "fc")
        #expect(throws: GraphError.self) { try fc.inferShape([:]) }
        #expect(throws: GraphError.self) { try fc.inferShape(["data": [1 << 40, 1 << 40]]) }
        let joined = try Symbol.concat([Symbol.variable("a"), Symbol.variable("b")], dim: 0, name: "c")
        #expect(throws: GraphError.self) { try joined.inferShape(["a": [1 << 62], "b": [1 << 62]]) }
    }
}
