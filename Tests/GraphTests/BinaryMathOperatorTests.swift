import SwiftPSGraph
import SwiftPSTensor
import Testing

/// `elemwise_div`, `_maximum`, `_minimum`, `_power`, the comparisons (`_equal` … `_lesser_equal`), their
/// `broadcast_*` and `_…_scalar` forms: values and gradients MXNet 1.9.1 printed, finite differences,
/// symbol JSON, aliases and errors.
@Suite struct BinaryMathOperatorTests {
    /// `a` equals `b` element by element within `tol` (relative above 1), NaN matching NaN and an
    /// infinity the same infinity.
    func expectSame(
        _ a: [Float], _ b: [Float], tol: Float = 1e-6, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(a.count == b.count, "\(what): \(a.count) values, expected \(b.count)", sourceLocation: sourceLocation)
        for (i, (x, y)) in zip(a, b).enumerated() {
            let same =
                (x.isNaN && y.isNaN) || (x.isInfinite && x == y)
                || (x.isFinite && y.isFinite && abs(x - y) <= tol * max(1, abs(y)))
            #expect(same, "\(what)[\(i)] = \(x), expected \(y)", sourceLocation: sourceLocation)
        }
    }

    /// Output and input gradients of `op` on `inputs` with a head gradient of ones.
    func run(_ op: any Operator, _ inputs: [NDArray]) throws -> (y: [Float], grads: [[Float]]) {
        let given = Dictionary(uniqueKeysWithValues: inputs.enumerated().map { ($0, $1) })
        let f = try OpFixture(op, shapes: inputs.map { _ in nil }, given: given)
        f.heads[0].fill(1)
        let g = try f.gradients()
        return (f.outputs[0].toArray(), g.map { $0!.toArray() })
    }

    /// Each operator's output and gradients for `lhs` and `rhs` (a head of ones) are the expected.
    func expectCases(
        _ cases: [(any Operator, [Float], [Float], [Float])], _ lhs: NDArray, _ rhs: NDArray,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        for (op, y, dl, dr) in cases {
            let name = type(of: op).typeName
            let r = try run(op, [lhs, rhs])
            expectSame(r.y, y, "\(name) y", sourceLocation: sourceLocation)
            expectSame(r.grads[0], dl, "\(name) dlhs", sourceLocation: sourceLocation)
            expectSame(r.grads[1], dr, "\(name) drhs", sourceLocation: sourceLocation)
        }
    }

    static let nan = Float.nan
    static let inf = Float.infinity

    /// MXNet 1.9.1's `maximum`, `minimum`, `a ** b`, `a > b`, `a == b` and `a / b` of
    /// x = [1, 2, 3, −1, 0, 0] and z = [1, 1, 4, −1, 0, 2] with a head of ones, as it printed them:
    /// a tie's gradient goes to the lhs for both maximum and minimum; `_power`'s gradients are
    /// `z·x^(z−1)` and `x^z·ln x` (NaN for a negative x, −inf at 0⁰).
    @Test func equalShapesMatchMXNet() throws {
        let x = NDArray([1, 2, 3, -1, 0, 0])
        let z = NDArray([1, 1, 4, -1, 0, 2])
        let nan = Self.nan
        let inf = Self.inf
        let cases: [(any Operator, [Float], [Float], [Float])] = [
            (Maximum(), [1, 2, 4, -1, 0, 2], [1, 1, 0, 1, 1, 0], [0, 0, 1, 0, 0, 1]),
            (Minimum(), [1, 1, 3, -1, 0, 0], [1, 0, 1, 1, 1, 1], [0, 1, 0, 0, 0, 0]),
            (Power(), [1, 2, 81, -1, 1, 0], [1, 1, 108, -1, nan, 0], [0, 1.3862944, 88.987595, nan, -inf, nan]),
            (GreaterOp(), [0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]),
            (EqualOp(), [1, 0, 0, 1, 1, 0], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]),
            (ElemwiseDiv(), [1, 2, 0.75, 1, nan, 0], [1, 1, 0.25, -1, inf, 0.5], [-1, -2, -0.1875, 1, nan, -0]),
        ]
        try expectCases(cases, x, z)
        // The rest of the comparisons, by hand.
        let comparisons: [(any Operator, [Float])] = [
            (NotEqualOp(), [0, 1, 1, 0, 0, 1]), (GreaterEqualOp(), [1, 1, 0, 1, 1, 0]),
            (LesserOp(), [0, 0, 1, 0, 0, 1]), (LesserEqualOp(), [1, 0, 1, 1, 1, 1]),
        ]
        for (op, y) in comparisons {
            let r = try run(op, [x, z])
            expectSame(r.y, y, "\(type(of: op).typeName) y")
            #expect(r.grads.allSatisfy { $0.allSatisfy { $0 == 0 } })
        }
    }

    /// MXNet 1.9.1's `broadcast_*` of [[1, 2, 3], [−1, 0, 0.5]] with [[2], [0]], head of ones, as
    /// it printed them.
    @Test func broadcastFormsMatchMXNet() throws {
        let l = NDArray([1, 2, 3, -1, 0, 0.5], shape: [2, 3])
        let r = NDArray([2, 0], shape: [2, 1])
        let cases: [(any Operator, [Float], [Float], [Float])] = [
            (BroadcastMaximum(), [2, 2, 3, 0, 0, 0.5], [0, 1, 1, 0, 1, 1], [1, 1]),
            (BroadcastMinimum(), [1, 2, 2, -1, 0, 0], [1, 1, 0, 1, 1, 0], [1, 1]),
            (BroadcastPower(), [1, 4, 9, 1, 1, 1], [2, 4, 6, 0, Self.nan, 0], [12.660099, Self.nan]),
            (BroadcastEqual(), [0, 1, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0], [0, 0]),
            (BroadcastNotEqual(), [1, 0, 1, 1, 0, 1], [0, 0, 0, 0, 0, 0], [0, 0]),
            (BroadcastGreater(), [0, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 0], [0, 0]),
            (BroadcastGreaterEqual(), [0, 1, 1, 0, 1, 1], [0, 0, 0, 0, 0, 0], [0, 0]),
            (BroadcastLesser(), [1, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0], [0, 0]),
            (BroadcastLesserEqual(), [1, 1, 0, 1, 1, 0], [0, 0, 0, 0, 0, 0], [0, 0]),
        ]
        try expectCases(cases, l, r)
    }

    /// MXNet 1.9.1's scalar forms of x = [1, 2, −4, 0.5, 0] with a head of ones, as it printed them
    /// (`maximum(a, 1)`, `a ** 3`, `a ** 0.5`, `2 ** a`, `a == 1` …): the tie at 1 passes the
    /// gradient for both maximum and minimum.
    @Test func scalarFormsMatchMXNet() throws {
        let x = NDArray([1, 2, -4, 0.5, 0])
        let z: [Float] = [0, 0, 0, 0, 0]
        let cases: [(any Operator, [Float], [Float])] = [
            (MaximumScalar(scalar: 1), [1, 2, 1, 1, 1], [1, 1, 0, 0, 0]),
            (MinimumScalar(scalar: 1), [1, 1, -4, 0.5, 0], [1, 0, 1, 1, 1]),
            (PowerScalar(scalar: 3), [1, 8, -64, 0.125, 0], [3, 12, 48, 0.75, 0]),
            (
                PowerScalar(scalar: 0.5), [1, 1.4142135, Self.nan, 0.70710677, 0],
                [0.5, 0.35355338, Self.nan, 0.70710677, Self.inf]
            ),
            (
                ReversePowerScalar(scalar: 2), [2, 4, 0.0625, 1.4142135, 1],
                [1.3862944, 2.7725887, 0.0433217, 0.9802581, 0.6931472]
            ),
            (EqualScalar(scalar: 1), [1, 0, 0, 0, 0], z), (NotEqualScalar(scalar: 1), [0, 1, 1, 1, 1], z),
            (GreaterScalar(scalar: 1), [0, 1, 0, 0, 0], z), (GreaterEqualScalar(scalar: 1), [1, 1, 0, 0, 0], z),
            (LesserScalar(scalar: 1), [0, 0, 1, 1, 1], z), (LesserEqualScalar(scalar: 1), [1, 0, 1, 1, 1], z),
            (DivScalar(scalar: 2), [0.5, 1, -2, 0.25, 0], [0.5, 0.5, 0.5, 0.5, 0.5]),
            (ReverseDivScalar(scalar: 2), [2, 1, -0.5, 4, Self.inf], [-2, -0.5, -0.125, -8, -Self.inf]),
        ]
        for (op, y, dx) in cases {
            let name = type(of: op).typeName
            let r = try run(op, [x])
            expectSame(r.y, y, "\(name) y")
            expectSame(r.grads[0], dx, "\(name) dx")
        }
    }

    /// Operands for finite differences: lhs on the grid 0.1·k, rhs on 0.1·k + 0.05, so that no pair
    /// ties within a step (maximum, minimum, the comparisons); `positive` puts the lhs in [0.5, 1.5)
    /// for `_power`.
    static func operands(_ lhs: [Int], _ rhs: [Int], positive: Bool, seed: UInt64) -> [Int: NDArray] {
        var rng = RandomGenerator(seed: seed)
        func grid(_ shape: [Int], _ offset: Float) -> NDArray {
            let a = NDArray(shape: shape)
            for i in 0..<a.count { a.data[i] = (Float(Int(rng.uniform(-10, 10))) * 0.1) + offset }
            return a
        }
        let l = grid(lhs, 0)
        if positive { for i in 0..<l.count { l.data[i] = 0.5 + abs(l.data[i]) / 2 + 0.01 } }
        return [0: l, 1: grid(rhs, 0.05)]
    }

    static let binaryOperators: [(any Operator, any Operator)] = [
        (Maximum(), BroadcastMaximum()), (Minimum(), BroadcastMinimum()), (Power(), BroadcastPower()),
        (ElemwiseDiv(), BroadcastDiv()), (EqualOp(), BroadcastEqual()), (NotEqualOp(), BroadcastNotEqual()),
        (GreaterOp(), BroadcastGreater()), (GreaterEqualOp(), BroadcastGreaterEqual()), (LesserOp(), BroadcastLesser()),
        (LesserEqualOp(), BroadcastLesserEqual()),
    ]

    /// Finite differences with gradReq write and add, for equal shapes and for broadcasting on either
    /// side, both sides and an inner axis.
    @Test(arguments: [
        ([2, 3], [2, 3]), ([2, 3], [3]), ([3], [2, 3]), ([2, 1, 3], [4, 1]), ([2, 3, 4], [2, 1, 4]),
    ])
    func gradientsMatchFiniteDifferences(lhs: [Int], rhs: [Int]) throws {
        for (elementwise, broadcast) in Self.binaryOperators {
            let op = lhs == rhs ? elementwise : broadcast
            let positive = op is Power || op is BroadcastPower
            let given = Self.operands(lhs, rhs, positive: positive, seed: 7)
            if op is ElemwiseDiv || op is BroadcastDiv {
                // Away from a zero divisor.
                for i in 0..<given[1]!.count { given[1]!.data[i] += given[1]!.data[i] < 0 ? -0.5 : 0.5 }
            }
            let f = try OpFixture(op, shapes: [lhs, rhs], given: given)
            try GradientCheck.check(f)
            try GradientCheck.checkAccumulation(f)
        }
    }

    @Test func scalarGradientsMatchFiniteDifferences() throws {
        let ops: [any Operator] = [
            MaximumScalar(scalar: 0.05), MinimumScalar(scalar: 0.05), PowerScalar(scalar: 2.5),
            PowerScalar(scalar: -1.5), ReversePowerScalar(scalar: 1.7), ReversePowerScalar(scalar: 0.4),
            EqualScalar(scalar: 0.05), NotEqualScalar(scalar: 0.05), GreaterScalar(scalar: 0.05),
            GreaterEqualScalar(scalar: 0.05), LesserScalar(scalar: 0.05), LesserEqualScalar(scalar: 0.05),
        ]
        for op in ops {
            let x = Self.operands([2, 3], [1], positive: op is PowerScalar, seed: 3)[0]!
            let f = try OpFixture(op, shapes: [nil], given: [0: x])
            try GradientCheck.check(f)
            try GradientCheck.checkAccumulation(f)
        }
    }

    /// The backward loops, one per operation and row pattern (both operands contiguous along a row,
    /// or one repeated), compute exactly (bit for bit) what the per-element formulas did before they
    /// were split: `dy`, `−dy`, `dy·r`, `dy·l` (and division's, now MXNet's `dy·(1 / r)`,
    /// `dy·(−l / r²)`), summed in the output's order over the broadcast axes, written or added.
    @Test(arguments: [
        ([2, 3, 4], [3, 1]), ([4, 1, 3], [2, 1]), ([5, 6], [5, 6]), ([3], [2, 3]), ([2, 1], [2, 3]),
        ([2, 3, 1], [1, 1, 4]),
    ])
    func backwardIsBitIdenticalToTheFormulas(lhs: [Int], rhs: [Int]) throws {
        typealias Formula = (_ dy: Float, _ l: Float, _ r: Float) -> Float
        let formulas: [(any Operator, any Operator, (Float, Float) -> Float, Formula, Formula)] = [
            (ElemwiseAdd(), BroadcastAdd(), { $0 + $1 }, { dy, _, _ in dy }, { dy, _, _ in dy }),
            (ElemwiseSub(), BroadcastSub(), { $0 - $1 }, { dy, _, _ in dy }, { dy, _, _ in -dy }),
            (ElemwiseMul(), BroadcastMul(), { $0 * $1 }, { dy, _, r in dy * r }, { dy, l, _ in dy * l }),
            // MXNet's own, bit for bit (its float32 results agree with these, not with dy / r and
            // −dy·l / r², in every element of 10⁴ drawn at random).
            (
                ElemwiseDiv(), BroadcastDiv(), { $0 / $1 }, { dy, _, r in dy * (1 / r) },
                { dy, l, r in dy * (-l / (r * r)) }
            ),
        ]
        for (elementwise, broadcast, apply, dl, dr) in formulas {
            let op = lhs == rhs ? elementwise : broadcast
            let f = try OpFixture(op, shapes: [lhs, rhs], fill: .awayFromZero(0.5))
            let out = f.outputShapes[0]
            // Each output element's operand offsets, in the output's row-major order.
            func offsets(_ shape: [Int]) -> [Int] {
                let s = Array(repeating: 1, count: out.count - shape.count) + shape
                var strides = Array(repeating: 0, count: s.count)
                var running = 1
                for i in s.indices.reversed() {
                    strides[i] = s[i] == out[i] ? running : 0
                    running *= s[i]
                }
                return (0..<NDArray.elementCount(out)).map { flat in
                    var rest = flat
                    var o = 0
                    for i in out.indices.reversed() {
                        o += (rest % out[i]) * strides[i]
                        rest /= out[i]
                    }
                    return o
                }
            }
            let lo = offsets(lhs)
            let ro = offsets(rhs)
            let x = f.inputs[0].data
            let z = f.inputs[1].data
            let dy = f.heads[0].data
            for req in [GradReq.write, .add] {
                let (grads, reqs) = f.makeGrads(req, initial: req == .add ? 0.375 : 0)
                let inst = try f.instance()
                let binding = f.binding(grads: grads, reqs: reqs)
                inst.forward(binding, isTrain: true)
                inst.backward(binding)
                var y = [Float](repeating: 0, count: lo.count)
                var gl = [Float](repeating: req == .add ? 0.375 : 0, count: f.inputs[0].count)
                var gr = [Float](repeating: req == .add ? 0.375 : 0, count: f.inputs[1].count)
                let equal = lhs == rhs
                for o in lo.indices {
                    let (l, r) = (x[lo[o]], z[ro[o]])
                    y[o] = apply(l, r)
                    if equal && req == .write {
                        gl[lo[o]] = dl(dy[o], l, r)
                        gr[ro[o]] = dr(dy[o], l, r)
                    } else {
                        gl[lo[o]] += dl(dy[o], l, r)
                        gr[ro[o]] += dr(dy[o], l, r)
                    }
                }
                let name = type(of: op).typeName
                #expect(f.outputs[0].toArray().map(\.bitPattern) == y.map(\.bitPattern), "\(name) y")
                #expect(grads[0]!.toArray().map(\.bitPattern) == gl.map(\.bitPattern), "\(name) dlhs \(req)")
                #expect(grads[1]!.toArray().map(\.bitPattern) == gr.map(\.bitPattern), "\(name) drhs \(req)")
            }
        }
    }

    /// The element-wise forms want equal shapes, as MXNet's "Incompatible attr … expected [2,3], got
    /// [3]"; the broadcast forms name both shapes, as MXNet's "operands could not be broadcast
    /// together with shapes [2,3] [2,4]".
    @Test func badShapesAndAttributes() throws {
        for (elementwise, broadcast) in Self.binaryOperators {
            do {
                _ = try elementwise.inferShape([[2, 3], [3]])
                Issue.record("\(type(of: elementwise).typeName) took (2, 3) with (3)")
            } catch GraphError.shapeError(let message) {
                #expect(
                    message.contains(type(of: elementwise).typeName) && message.contains("equal shapes"), "\(message)")
            }
            do {
                _ = try broadcast.inferShape([[2, 3], [2, 4]])
                Issue.record("\(type(of: broadcast).typeName) took (2, 3) with (2, 4)")
            } catch GraphError.shapeError(let message) {
                #expect(
                    message.contains(type(of: broadcast).typeName) && message.contains("[2, 3]")
                        && message.contains("[2, 4]"), "\(message)")
            }
        }
        // No attributes on the two-array forms, as MXNet's "Cannot find argument".
        for name in ["_maximum", "broadcast_power", "elemwise_div", "_greater", "broadcast_lesser_equal"] {
            expectBadAttribute("axis") { _ = try OperatorRegistry.make(name, attributes: ["axis": "1"]) }
        }
        expectBadAttribute("scalar") { _ = try OperatorRegistry.make("_power_scalar", attributes: ["scalar": "two"]) }
        expectBadAttribute("is_int") {
            _ = try OperatorRegistry.make("_greater_scalar", attributes: ["scalar": "0", "is_int": "maybe"])
        }
        expectBadAttribute("axis") {
            _ = try OperatorRegistry.make("_maximum_scalar", attributes: ["scalar": "0", "axis": "1"])
        }
    }

    /// MXNet 1.9.1's aliases (as `mx.sym` lists them) load as the operator.
    @Test func aliases() throws {
        let aliases = [
            "_div": "elemwise_div", "_Div": "elemwise_div", "_Maximum": "_maximum", "_Minimum": "_minimum",
            "_Power": "_power", "_Equal": "_equal", "_Not_Equal": "_not_equal", "_Greater": "_greater",
            "_Greater_Equal": "_greater_equal", "_Lesser": "_lesser", "_Lesser_Equal": "_lesser_equal",
            "_MaximumScalar": "_maximum_scalar", "_MinimumScalar": "_minimum_scalar", "_PowerScalar": "_power_scalar",
            "_RPowerScalar": "_rpower_scalar", "_EqualScalar": "_equal_scalar",
            "_NotEqualScalar": "_not_equal_scalar", "_GreaterScalar": "_greater_scalar",
            "_GreaterEqualScalar": "_greater_equal_scalar", "_LesserScalar": "_lesser_scalar",
            "_LesserEqualScalar": "_lesser_equal_scalar",
        ]
        for (alias, name) in aliases {
            let attributes = name.hasSuffix("_scalar") ? ["scalar": "2"] : [:]
            #expect(type(of: try OperatorRegistry.make(alias, attributes: attributes)).typeName == name, "\(alias)")
        }
    }

    /// The builders write MXNet's operator names (what `a / b`, `maximum(a, b)`, `a ** 2`, `2 ** a`,
    /// `a > 0` on MXNet symbols write), every one a registered operator, and survive symbol JSON.
    @Test func buildersWriteMXNetsNamesAndRoundTrip() throws {
        for operation in BinaryOperation.allCases {
            for broadcasts in [false, true] {
                let name = operation.operatorName(broadcasts: broadcasts)
                let type = try #require(OperatorRegistry.types[name], "\(name) is not registered")
                #expect(type.typeName == name)
            }
        }
        for arithmetic in ScalarArithmetic.allCases {
            #expect(OperatorRegistry.types[arithmetic.operatorName]?.typeName == arithmetic.operatorName)
        }
        let a = Symbol.variable("a")
        let b = Symbol.variable("b")
        #expect(try Symbol.elemwiseDiv(a, b).toJSON().contains("\"elemwise_div\""))
        #expect(try Symbol.maximum(a, b).toJSON().contains("\"_maximum\""))
        #expect(try Symbol.minimum(a, b, broadcasts: true).toJSON().contains("\"broadcast_minimum\""))
        #expect(try Symbol.power(a, b).toJSON().contains("\"_power\""))
        let square = try Symbol.scalar(.power, a, 2, name: "sq")
        #expect(square.toJSON().contains("\"_power_scalar\"") && square.toJSON().contains("\"scalar\": \"2\""))
        let net = try Symbol.binary(
            .greater,
            try Symbol.maximum(try Symbol.scalar(.reversePower, a, 2.5), try Symbol.power(a, b, broadcasts: true)),
            try Symbol.scalar(.lesserEqual, b, 0))
        let again = try Symbol.fromJSON(net.toJSON())
        #expect(again.toJSON() == net.toJSON())
        #expect(again.toJSON().contains("\"scalar\": \"2.5\""))
    }

    /// As MXNet writes it: `relu`-like gating `x * (x > 0)` and `maximum(x, 0) ** 2 / (1 + x²)` bind,
    /// run and differentiate (the comparison passes no gradient).
    @Test func aBoundGraph() throws {
        let x = Symbol.variable("x")
        let gate = try Symbol.operation("elemwise_mul", arguments: [x, try Symbol.scalar(.greater, x, 0)])
        let ramp = try Symbol.scalar(.power, try Symbol.scalar(.maximum, x, 0), 2)
        let net = try Symbol.binary(
            .add, gate,
            try Symbol.elemwiseDiv(ramp, try Symbol.scalar(.plus, try Symbol.scalar(.power, x, 2), 1)))
        let exec = try Symbol.fromJSON(net.toJSON()).simpleBind(shapes: ["x": [4]])
        try exec.argDict["x"]!.copy(from: NDArray([-2, -0.5, 0.5, 2]))
        exec.forward(isTrain: true)
        expectSame(exec.outputs[0].toArray(), [0, 0, 0.5 + 0.2, 2 + 0.8], "y")
        try exec.backward()
        // d/dx of x + x²/(1+x²) = 1 + 2x/(1+x²)² for x > 0, 0 below.
        expectSame(exec.gradDict["x"]!.toArray(), [0, 0, 1 + 1 / 1.5625, 1 + 4 / 25], tol: 1e-5, "dx")
    }
}
