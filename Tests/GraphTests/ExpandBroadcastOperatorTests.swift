import SwiftPSGraph
import SwiftPSTensor
import Testing

/// `expand_dims`, `squeeze`, `zeros_like`, `ones_like`, `broadcast_to` and `broadcast_axis`
/// (`broadcast_axes`): MXNet 1.9.1's shapes and errors (printed by its `infer_shape` for data of
/// shape (2, 1, 3)), values and gradients by hand, finite differences, symbol JSON.
@Suite struct ExpandBroadcastOperatorTests {
    static func make(_ name: String, _ attributes: [String: String] = [:]) throws -> any Operator {
        try OperatorRegistry.make(name, attributes: attributes)
    }

    static func shape(_ name: String, _ attributes: [String: String], _ data: [Int] = [2, 1, 3]) throws -> [Int] {
        try make(name, attributes).inferShape([data]).outputs[0]
    }

    @Test func shapesFollowMXNet() throws {
        #expect(try Self.shape("expand_dims", ["axis": "0"]) == [1, 2, 1, 3])
        #expect(try Self.shape("expand_dims", ["axis": "3"]) == [2, 1, 3, 1])
        #expect(try Self.shape("expand_dims", ["axis": "-1"]) == [2, 1, 3, 1])
        #expect(try Self.shape("expand_dims", ["axis": "-4"]) == [1, 2, 1, 3])
        #expect(try Self.shape("squeeze", [:]) == [2, 3])
        #expect(try Self.shape("squeeze", ["axis": "1"]) == [2, 3])
        #expect(try Self.shape("squeeze", ["axis": "-2"]) == [2, 3])
        #expect(try Self.shape("squeeze", [:], [1, 1]) == [1])
        #expect(try Self.shape("broadcast_to", ["shape": "(2, 4, 3)"]) == [2, 4, 3])
        #expect(try Self.shape("broadcast_to", ["shape": "(0, 4, 0)"]) == [2, 4, 3])
        #expect(try Self.shape("broadcast_axis", ["axis": "1", "size": "4"]) == [2, 4, 3])
        #expect(try Self.shape("broadcast_axes", ["axis": "(1,)", "size": "(4,)"]) == [2, 4, 3])
        #expect(try Self.shape("zeros_like", [:]) == [2, 1, 3] && Self.shape("ones_like", [:]) == [2, 1, 3])
    }

    @Test func shapeErrorsAndBadAttributesFollowMXNet() throws {
        // "axis must be in the range [-3, 3]".
        for axis in ["4", "-5"] { expectShapeError { _ = try Self.shape("expand_dims", ["axis": axis]) } }
        // "cannot select an axis to squeeze out which has size=2", "duplicate value in axis".
        for axis in ["0", "(1, 1)", "3"] { expectShapeError { _ = try Self.shape("squeeze", ["axis": axis]) } }
        // "Array cannot be broadcasted from [2,1,3] to [3,4,3]"; the number of axes must agree.
        for shape in ["(3, 4, 3)", "(5, 2, 4, 3)", "(4, 3)"] {
            expectShapeError { _ = try Self.shape("broadcast_to", ["shape": shape]) }
        }
        // "Broadcasting axis must have size 1".
        expectShapeError { _ = try Self.shape("broadcast_axis", ["axis": "0", "size": "4"]) }
        expectShapeError { _ = try Self.shape("broadcast_axis", ["axis": "(1, 1)", "size": "(2, 3)"]) }
        expectShapeError { _ = try Self.shape("broadcast_axis", ["axis": "3", "size": "2"]) }
        expectBadAttribute("axis") { _ = try Self.make("expand_dims") }
        expectBadAttribute("axis") { _ = try Self.make("broadcast_axis", ["axis": "-2", "size": "4"]) }
        expectBadAttribute("size") { _ = try Self.make("broadcast_axis", ["axis": "(1, 2)", "size": "4"]) }
        expectBadAttribute("size") { _ = try Self.make("broadcast_axis", ["axis": "1", "size": "0"]) }
        expectBadAttribute("shape") { _ = try Self.make("broadcast_to", ["shape": "(2, -1, 3)"]) }
        expectBadAttribute("axis") { _ = try Self.make("squeeze", ["axis": "x"]) }
        #expect(throws: GraphError.self) { _ = try Self.make("ones_like", ["shape": "(2,)"]) }
    }

    @Test func valuesAndGradientsByHand() throws {
        let x = NDArray([1, 2, 3, 4, 5, 6], shape: [2, 1, 3])
        let to = try OpFixture(try Self.make("broadcast_to", ["shape": "(0, 2, 0)"]), shapes: [nil], given: [0: x])
        to.heads[0].fill(1)
        let g = try to.gradients()
        #expect(to.outputs[0].toArray() == [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6])
        #expect(g[0]?.toArray() == [2, 2, 2, 2, 2, 2], "each element feeds two outputs")
        for name in ["zeros_like", "ones_like"] {
            let f = try OpFixture(try Self.make(name), shapes: [nil], given: [0: x])
            let g = try f.gradients()
            #expect(f.outputs[0].toArray() == Array(repeating: name == "ones_like" ? 1 : 0, count: 6))
            #expect(g[0]?.toArray() == Array(repeating: 0, count: 6), "MXNet passes no gradient")
            try GradientCheck.checkAccumulation(f)
        }
        let e = try OpFixture(try Self.make("expand_dims", ["axis": "1"]), shapes: [nil], given: [0: x])
        #expect(try e.forward()[0].toArray() == x.toArray() && e.outputShapes == [[2, 1, 1, 3]])
    }

    @Test(arguments: [
        ("expand_dims", ["axis": "-1"]), ("squeeze", [:]), ("squeeze", ["axis": "(1,)"]),
        ("broadcast_to", ["shape": "(0, 4, 3)"]), ("broadcast_axis", ["axis": "1", "size": "3"]),
        ("broadcast_axis", ["axis": "(0, 1)", "size": "(2, 2)"]),
    ])
    func gradientsMatchFiniteDifferences(name: String, attributes: [String: String]) throws {
        let data = name == "broadcast_axis" && attributes["axis"] == "(0, 1)" ? [1, 1, 3] : [2, 1, 3]
        let f = try OpFixture(try Self.make(name, attributes), shapes: [data])
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    /// The gradient of Σ squeeze(expand_dims(broadcast_axis(sum(x, axis 1, keepdims), size 2))) is 2
    /// everywhere (MXNet 1.9.1 prints 2s for the same graph).
    @Test func aChainPassesTheGradientBack() throws {
        let x = Symbol.variable("x")
        var h = try Symbol.reduce(.sum, x, axis: [1], keepdims: true, name: "sumk")
        h = try Symbol.operation(
            "broadcast_axis", name: "b", inputs: [("data", h)], attributes: ["axis": "1", "size": "2"])
        h = try Symbol.operation("expand_dims", name: "e", inputs: [("data", h)], attributes: ["axis": "0"])
        h = try Symbol.operation("squeeze", name: "s", inputs: [("data", h)], attributes: ["axis": "0"])
        let exec = try h.simpleBind(shapes: ["x": [4, 3, 5]], gradReqs: ["x": .write])
        var rng = RandomGenerator(seed: 1)
        rng.fillUniform(exec.argDict["x"]!, low: -1, high: 1)
        exec.forward(isTrain: true)
        #expect(exec.outputs[0].shape == [4, 2, 5])
        try exec.backward(outGrads: [NDArray(shape: [4, 2, 5], repeating: 1)])
        #expect(exec.gradDict["x"]!.toArray() == [Float](repeating: 2, count: 60))
    }

    @Test func aGraphRoundTripsThroughJSON() throws {
        let data = Symbol.variable("data")
        var h = try Symbol.operation("expand_dims", name: "e", inputs: [("data", data)], attributes: ["axis": "1"])
        h = try Symbol.operation(
            "broadcast_axis", name: "b", inputs: [("data", h)], attributes: ["axis": "1", "size": "2"])
        h = try Symbol.operation(
            "broadcast_to", name: "t", inputs: [("data", h)], attributes: ["shape": "(0, 0, 2, 0)"])
        h = try Symbol.operation("squeeze", name: "s", inputs: [("data", h)], attributes: [:])
        let again = try Symbol.fromJSON(h.toJSON())
        #expect(again.toJSON() == h.toJSON())
        let exec = try again.simpleBind(shapes: ["data": [3, 1, 4]])
        #expect(exec.outputs[0].shape == [3, 2, 2, 4])
    }
}
