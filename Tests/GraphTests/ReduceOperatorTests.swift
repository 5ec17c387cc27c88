import SwiftPSGraph
import SwiftPSTensor
import Testing

/// `sum` (`sum_axis`), `mean`, `max` (`max_axis`), `min` (`min_axis`), `prod` and `norm`: MXNet
/// 1.9.1's shapes for its `axis`, `keepdims` and `exclude`, values and gradients by hand (those
/// MXNet prints, except where it gives NaN), finite differences.
@Suite struct ReduceOperatorTests {
    static func make(_ name: String, _ attributes: [String: String] = [:]) throws -> any Operator {
        try OperatorRegistry.make(name, attributes: attributes)
    }

    /// Output shapes MXNet 1.9.1's `infer_shape` gives for data of shape (2, 3, 4).
    @Test(arguments: [
        ([String: String](), [1]), (["axis": "()"], [1]), (["axis": "()", "exclude": "True"], [1]),
        (["keepdims": "True"], [1, 1, 1]), (["axis": "1", "exclude": "True"], [3]),
        (["axis": "-1", "keepdims": "True"], [2, 3, 1]), (["axis": "(0, -1)"], [3]), (["axis": "0"], [3, 4]),
        (["axis": "(0, 1, 2)", "exclude": "True"], [2, 3, 4]),
        (["axis": "(1,)", "exclude": "True", "keepdims": "True"], [1, 3, 1]), (["axis": "None"], [1]),
    ])
    func shapesFollowMXNet(attributes: [String: String], out: [Int]) throws {
        for name in ["sum", "mean", "max", "min", "prod"] {
            #expect(try Self.make(name, attributes).inferShape([[2, 3, 4]]).outputs == [out], "\(name) \(attributes)")
        }
        if attributes["exclude"] == nil {
            #expect(try Self.make("norm", attributes).inferShape([[2, 3, 4]]).outputs == [out], "norm \(attributes)")
        }
    }

    @Test func badAxesAndAttributes() throws {
        // MXNet: "Reduction axis 3 Exceeds input dimensions", "Reduction axes have duplicates".
        for axis in ["3", "-4", "(1, 1)", "(1, -2)"] {
            expectShapeError { _ = try Self.make("sum", ["axis": axis]).inferShape([[2, 3, 4]]) }
        }
        expectShapeError { _ = try Self.make("max", [:]).inferShape([nil]) }
        expectBadAttribute("axis") { _ = try Self.make("sum", ["axis": "one"]) }
        expectBadAttribute("keepdims") { _ = try Self.make("mean", ["keepdims": "maybe"]) }
        // MXNet builds norm with ord=3 and fails when it runs: refused at once.
        expectBadAttribute("ord") { _ = try Self.make("norm", ["ord": "3"]) }
        expectBadAttribute("out_dtype") { _ = try Self.make("norm", ["out_dtype": "float16"]) }
        // norm has no exclude, as MXNet ("Cannot find argument 'exclude'").
        #expect(throws: GraphError.self) { _ = try Self.make("norm", ["exclude": "True"]) }
        for (alias, name) in [("sum_axis", "sum"), ("max_axis", "max"), ("min_axis", "min")] {
            #expect(type(of: try Self.make(alias, ["axis": "1"])).typeName == name)
        }
    }

    static func run(_ op: any Operator, _ x: [Float], _ shape: [Int]) throws -> ([Float], [Float]) {
        let f = try OpFixture(op, shapes: [nil], given: [0: NDArray(x, shape: shape)])
        f.heads[0].fill(1)
        let g = try f.gradients()
        return (f.outputs[0].toArray(), g[0]?.toArray() ?? [])
    }

    /// MXNet 1.9.1's values and gradients (head of ones) on [[1, 3, 3], [2, 0, -1]] along axis 1.
    @Test func valuesAndGradientsByHand() throws {
        let x: [Float] = [1, 3, 3, 2, 0, -1]
        let axis1 = ["axis": "1"]
        var (y, g) = try Self.run(try Self.make("sum", axis1), x, [2, 3])
        #expect(y == [7, 1] && g == [1, 1, 1, 1, 1, 1])
        (y, g) = try Self.run(try Self.make("mean", ["axis": "(0,)"]), x, [2, 3])
        #expect(y == [1.5, 1.5, 1] && g == [0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
        // Ties: every element equal to the max gets the gradient.
        (y, g) = try Self.run(try Self.make("max", axis1), x, [2, 3])
        #expect(y == [3, 2] && g == [0, 1, 1, 1, 0, 0])
        (y, g) = try Self.run(try Self.make("min", axis1), x, [2, 3])
        #expect(y == [1, -1] && g == [1, 0, 0, 0, 0, 1])
        (y, g) = try Self.run(try Self.make("prod", axis1), [1, 2, 3, 2, 0.5, -1], [2, 3])
        #expect(y == [6, -1] && g == [6, 3, 2, -0.5, -2, 1])
        // With zeros MXNet gives NaN (it divides the product by the element): here the product of
        // the others, 3 for the lone 0 of the first row, 0 where two are 0.
        (y, g) = try Self.run(try Self.make("prod", axis1), [1, 0, 3, 2, 0, 0], [2, 3])
        #expect(y == [0, 0] && g == [0, 3, 0, 0, 0, 0])
        // MXNet: norm([[3, 4], [0, 0]], axis=1) is [5, 0] with gradients [0.6, 0.8] and NaN (0 here).
        (y, g) = try Self.run(try Self.make("norm", axis1), [3, 4, 0, 0], [2, 2])
        expectClose(y, [5, 0], "norm")
        expectClose(g, [0.6, 0.8, 0, 0], "dnorm")
        (y, g) = try Self.run(try Self.make("norm", ["ord": "1", "axis": "1"]), [3, -4, 0, 0], [2, 2])
        #expect(y == [7, 0] && g == [1, -1, 0, 0])
        (y, _) = try Self.run(try Self.make("norm"), [3, -4, 1, 0, 2, 2], [2, 3])
        expectClose(y, [(9 + 16 + 1 + 4 + 4 as Float).squareRoot()], "norm of all")
        // exclude: fold axes 0 and 2 of (2, 3, 2), keeping axis 1.
        (y, _) = try Self.run(
            try Self.make("sum", ["axis": "1", "exclude": "True"]), (0..<12).map(Float.init), [2, 3, 2])
        #expect(y == [14, 22, 30], "0 + 1 + 6 + 7, …")
    }

    static let configurations: [[String: String]] = [
        [:], ["axis": "1"], ["axis": "(0, 2)", "keepdims": "True"], ["axis": "-1"], ["axis": "1", "exclude": "True"],
        ["axis": "(0, 1, 2)"],
    ]

    @Test(arguments: ["sum", "mean", "max", "min", "prod", "norm", "norm1"])
    func gradientsMatchFiniteDifferences(name: String) throws {
        for var attributes in Self.configurations {
            var op = name
            if name == "norm1" {
                op = "norm"
                attributes["ord"] = "1"
            }
            if op == "norm" && attributes["exclude"] != nil { continue }
            let fill: InputFill =
                switch name {
                case "max", "min": .distinct(spacing: 0.1)
                case "norm", "norm1": .awayFromZero(0.2)
                default: .uniform
                }
            let f = try OpFixture(try Self.make(op, attributes), shapes: [[2, 3, 4]], fill: fill)
            try GradientCheck.check(f, step: 1e-3)
            try GradientCheck.checkAccumulation(f)
        }
    }

    @Test func buildersRoundTripAndBind() throws {
        let data = Symbol.variable("data")
        let s = try Symbol.reduce(.sum, data, axis: [1], keepdims: true, name: "s")
        let m = try Symbol.reduce(.max, s, axis: [-1], exclude: true, name: "m")
        let n = try Symbol.reduce(.norm1, m, name: "n")
        let again = try Symbol.fromJSON(n.toJSON())
        #expect(again.toJSON() == n.toJSON())
        #expect(n.toJSON().contains("\"ord\": \"1\""))
        let exec = try again.simpleBind(shapes: ["data": [2, 3, 4]])
        #expect(exec.outputs[0].shape == [1])
        try exec.argDict["data"]!.copy(from: NDArray((0..<24).map { Float($0) - 12 }, shape: [2, 3, 4]))
        exec.forward(isTrain: false)
        // Sums over axis 1: [-24 + 3·k] then +36 for the second image; max over axes 0 and 1 of
        // (2, 1, 4) leaves the second image's [12, 15, 18, 21]; their L1 norm is 66.
        #expect(exec.outputs[0].toArray() == [66])
    }
}
