import SwiftPSTensor

/// MXNet's `where(condition, x, y)`: x's element where the condition is nonzero, else y's. The
/// condition has x's shape, or is 1-D of x's first axis length and picks whole rows (`x[i]` or
/// `y[i]`), as MXNet 1.9.1. x and y have the same shape. The gradient goes to the element picked;
/// the condition takes none (0, as MXNet).
public struct Where: Operator {
    public static let typeName = "where"
    public static let attributeNames: [String] = []

    public init(attributes: [String: String]) throws { _ = AttributeReader(op: Self.typeName, attributes) }

    /// The operator.
    public init() {}

    public var attributes: [String: String] { [:] }
    public func listArguments() -> [String] { ["condition", "x", "y"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        let given = s + Array(repeating: nil, count: max(0, 3 - s.count))
        guard let x = given[1] ?? given[2] else { throw GraphError.shapeError("where needs the shape of x or y") }
        if let y = given[2], y != x {
            throw GraphError.shapeError("where: x \(x) and y \(y) must have the same shape")
        }
        let condition = given[0] ?? x
        guard condition == x || (x.count >= 1 && condition == [x[0]]) else {
            throw GraphError.shapeError(
                "where: condition \(condition) must have x's shape \(x)"
                    + (x.count >= 1 ? " or be 1-D of x's first axis length \(x[0])" : ""))
        }
        return ([condition, x, x], [x], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let x = context.inputShapes[1]
        let count = NDArray.elementCount(x)
        // A condition per row: rows of the product of x's other axes.
        let rowLength = context.inputShapes[0] == x ? 1 : count / max(x[0], 1)
        return WhereInstance(count: count, rowLength: rowLength)
    }
}

final class WhereInstance: OperatorInstance {
    let count: Int
    /// 1 when the condition has x's shape, else the elements each condition value picks.
    let rowLength: Int
    init(count: Int, rowLength: Int) {
        self.count = count
        self.rowLength = rowLength
    }

    func forward(_ b: OpBinding, isTrain: Bool) {
        let c = b.inputs[0].data
        let (x, y) = (b.inputs[1].data, b.inputs[2].data)
        let out = b.outputs[0].data
        if rowLength == 1 {
            for i in 0..<count { out[i] = c[i] != 0 ? x[i] : y[i] }
        } else {
            for r in 0..<count / rowLength {
                (out + r * rowLength).update(from: (c[r] != 0 ? x : y) + r * rowLength, count: rowLength)
            }
        }
    }

    func backward(_ b: OpBinding) {
        let c = b.inputs[0].data
        let dy = b.outputGrads[0].data
        // x's gradient where the condition is nonzero, y's where it is zero.
        for (input, picked) in [(1, true), (2, false)] {
            b.withGrad(input) { g, accumulate in
                let dx = g.data
                if rowLength == 1 {
                    writeGrad(count, dx, accumulate: accumulate) { (c[$0] != 0) == picked ? dy[$0] : 0 }
                    return
                }
                for r in 0..<count / rowLength {
                    let (d, s) = (dx + r * rowLength, dy + r * rowLength)
                    if (c[r] != 0) != picked {
                        if !accumulate { d.update(repeating: 0, count: rowLength) }
                    } else if accumulate {
                        for j in 0..<rowLength { d[j] += s[j] }
                    } else {
                        d.update(from: s, count: rowLength)
                    }
                }
            }
        }
        b.withGrad(0) { g, accumulate in if !accumulate { g.fill(0) } }
    }
}
