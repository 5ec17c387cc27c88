import SwiftPSTensor

/// MXNet's `elemwise_add` (aliases `_Plus`, `_plus`, and `broadcast_add` for equal shapes):
/// `output = lhs + rhs`; both gradients equal the output gradient.
public struct ElemwiseAdd: Operator {
    public static let typeName = "elemwise_add"
    public static let attributeNames: [String] = []

    public init(attributes: [String: String]) throws {}

    /// An elemwise_add.
    public init() {}

    public var attributes: [String: String] { [:] }

    public func listArguments() -> [String] { ["lhs", "rhs"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        let lhs = s.first ?? nil
        let rhs = s.count > 1 ? s[1] : nil
        guard let shape = lhs ?? rhs else { throw GraphError.shapeError("elemwise_add needs the lhs or rhs shape") }
        if let l = lhs, let r = rhs, l != r {
            throw GraphError.shapeError(
                "elemwise_add needs equal shapes, got \(l) and \(r) (SwiftPS's broadcast_add does not broadcast)")
        }
        return ([shape, shape], [shape], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        // The sum of two: add_n's instance.
        AddN.Instance(count: NDArray.elementCount(context.inputShapes[0]))
    }
}
