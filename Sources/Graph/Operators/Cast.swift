import SwiftPSTensor

/// MXNet's `Cast` (`cast`) to `dtype`. SwiftPS arrays are float32, so only `dtype="float32"` is
/// taken: the output is the input and the gradient passes through. Any other type MXNet knows is
/// refused naming the reason (a float16 or int32 network cannot run here), and an unknown one
/// naming MXNet's types.
public struct Cast: Operator {
    public static let typeName = "Cast"
    public static let attributeNames: [String] = ["dtype"]
    /// MXNet's dtype names for Cast.
    static let mxnetTypes = ["bfloat16", "bool", "float16", "float32", "float64", "int32", "int64", "int8", "uint8"]

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        guard attributes["dtype"] != nil else { throw r.bad("dtype", "", "is required") }
        try r.requireFloat32("dtype", among: Self.mxnetTypes, what: "the output")
    }

    /// A cast to float32.
    public init() {}

    public var attributes: [String: String] { ["dtype": "float32"] }
    public func listArguments() -> [String] { ["data"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        try elementwiseShape(s, Self.typeName)
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        CopyInstance(count: NDArray.elementCount(context.inputShapes[0]))
    }
}
