import SwiftPSTensor

/// How an executor treats the gradient of one argument, MXNet's `grad_req`.
public enum GradReq: String, Sendable, Codable, CaseIterable {
    /// No gradient is computed.
    case null
    /// The gradient overwrites the gradient array.
    case write
    /// The gradient is added to the gradient array (accumulation over several backward calls).
    case add
}

/// Errors raised while building, reading or binding a graph.
public enum GraphError: Error, CustomStringConvertible, Equatable {
    /// An operator name that SwiftPS does not implement.
    case unknownOperator(String)
    /// An attribute is missing or does not parse; names the operator, the attribute and the value.
    case badAttribute(op: String, name: String, value: String, reason: String)
    /// Shapes that cannot be inferred or do not agree.
    case shapeError(String)
    /// A symbol JSON document that cannot be read.
    case badJSON(String)
    /// Arrays given to bind that do not match the graph.
    case bindError(String)

    public var description: String {
        switch self {
        case .unknownOperator(let op):
            return "unknown operator '\(op)': SwiftPS supports \(OperatorRegistry.names.joined(separator: ", "))"
        case .badAttribute(let op, let name, let value, let reason):
            return "operator \(op): attribute \(name)='\(value)' \(reason)"
        case .shapeError(let s): return "shape inference failed: \(s)"
        case .badJSON(let s): return "bad symbol JSON: \(s)"
        case .bindError(let s): return "bind failed: \(s)"
        }
    }
}

/// The arrays one operator node reads and writes, fixed when the executor binds.
///
/// Lists follow the operator's `listArguments()`, `listOutputs()` and `listAuxiliaryStates()` order.
/// Building it once per node keeps the per-step path free of allocation.
public struct OpBinding: @unchecked Sendable {
    /// The inputs, data and parameters, in `listArguments()` order.
    public var inputs: [NDArray]
    /// The outputs.
    public var outputs: [NDArray]
    /// The auxiliary states (for example BatchNorm's moving mean and variance).
    public var aux: [NDArray]
    /// Where each input's gradient goes; nil where none is wanted (`GradReq.null`).
    public var inputGrads: [NDArray?]
    /// How each input's gradient is written.
    public var gradReqs: [GradReq]
    /// The gradient of the loss with respect to each output (loss layers ignore it).
    public var outputGrads: [NDArray]

    /// A binding of the given arrays.
    public init(
        inputs: [NDArray], outputs: [NDArray], aux: [NDArray] = [], inputGrads: [NDArray?] = [],
        gradReqs: [GradReq] = [], outputGrads: [NDArray] = []
    ) {
        self.inputs = inputs
        self.outputs = outputs
        self.aux = aux
        self.inputGrads = inputGrads.isEmpty ? Array(repeating: nil, count: inputs.count) : inputGrads
        self.gradReqs =
            gradReqs.isEmpty
            ? self.inputGrads.map { $0 == nil ? .null : .write } : gradReqs
        self.outputGrads = outputGrads
    }

    /// Writes `value` into input `i`'s gradient according to its `GradReq`, via `body`, which is
    /// given the destination and whether to accumulate. Does nothing for `.null`.
    @inlinable
    public func withGrad(_ i: Int, _ body: (NDArray, _ accumulate: Bool) -> Void) {
        guard i < inputGrads.count, let g = inputGrads[i], gradReqs[i] != .null else { return }
        body(g, gradReqs[i] == .add)
    }

    /// True when input `i` wants a gradient.
    @inlinable public func needsGrad(_ i: Int) -> Bool {
        i < inputGrads.count && inputGrads[i] != nil && gradReqs[i] != .null
    }
}

/// What an operator instance may use when it is created at bind time.
public struct OpCreationContext: Sendable {
    /// The shapes of the inputs, in `listArguments()` order.
    public var inputShapes: [[Int]]
    /// A seed for any randomness (Dropout), derived from the executor's seed and the node.
    public var seed: UInt64

    /// A context for the given input shapes and seed.
    public init(inputShapes: [[Int]], seed: UInt64 = 0) {
        self.inputShapes = inputShapes
        self.seed = seed
    }
}

/// A bound operator: holds its workspace (im2col buffers, dropout masks, saved statistics) and runs.
///
/// Created once per node at bind; `forward` and `backward` must not allocate on the per-step path.
public protocol OperatorInstance: AnyObject {
    /// Computes the outputs from the inputs; `isTrain` selects training behaviour (Dropout,
    /// BatchNorm batch statistics and moving-average updates).
    func forward(_ b: OpBinding, isTrain: Bool)
    /// Computes the input gradients from the output gradients (and, for loss layers, the label),
    /// honouring each input's `GradReq`. Runs after a `forward` with `isTrain == true`.
    func backward(_ b: OpBinding)
    /// Restarts the instance's random stream (Dropout's masks) from `seed`; others ignore it.
    func reseed(_ seed: UInt64)
}

extension OperatorInstance {
    /// Deterministic operators have no random stream.
    public func reseed(_ seed: UInt64) {}
}

/// An operator as it appears in a symbol: its type, its parsed attributes, its argument names and
/// shape inference. Matches an MXNet 1.x operator of the same name.
public protocol Operator: Sendable {
    /// The MXNet operator name, as in symbol JSON (`"FullyConnected"`).
    static var typeName: String { get }
    /// Every attribute MXNet's operator of this name takes (its parameter fields, in MXNet's order),
    /// including those SwiftPS accepts only at their default; `OperatorRegistry.make` refuses any
    /// other, as MXNet does ("Cannot find argument").
    static var attributeNames: [String] { get }
    /// Parses MXNet's string attributes (`["num_hidden": "128"]`); throws `GraphError.badAttribute`.
    init(attributes: [String: String]) throws
    /// The attributes as MXNet writes them in symbol JSON, strings only; defaults may be omitted.
    var attributes: [String: String] { get }
    /// Argument suffixes in MXNet's order: `["data", "weight", "bias"]`; variables created for a
    /// node named `fc1` are `fc1_weight`, `fc1_bias`. Variadic operators list `arg0`, `arg1`, ….
    func listArguments() -> [String]
    /// Output suffixes: `["output"]` for most operators.
    func listOutputs() -> [String]
    /// Auxiliary state suffixes: `["moving_mean", "moving_var"]` for BatchNorm, else empty.
    func listAuxiliaryStates() -> [String]
    /// Given the known input shapes (nil where unknown; at least `data` is known), returns every
    /// input, output and aux shape. Throws `GraphError.shapeError` naming what disagrees.
    func inferShape(_ inputShapes: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]])
    /// Creates the bound instance.
    func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance
    /// Attributes for the variable composing makes for `argument` when it is not given (MXNet's
    /// `FSetInputVarAttrOnCompose`: prelu's gamma and bilinear UpSampling's weight get `__init__`);
    /// none by default.
    func argumentAttributes(_ argument: String) -> [String: String]
    /// Inputs that are labels (loss layers): the executor never asks for their gradients.
    var labelInputs: Set<Int> { get }
    /// Whether backward reads the gradient of the outputs. False for the loss layers (their gradient
    /// is their own) and BlockGrad: as a network's output they need no head gradient.
    var readsOutputGradient: Bool { get }
}

extension Operator {
    public func listOutputs() -> [String] { ["output"] }
    public func listAuxiliaryStates() -> [String] { [] }
    public var labelInputs: Set<Int> { [] }
    public var readsOutputGradient: Bool { true }
    public func argumentAttributes(_ argument: String) -> [String: String] { [:] }
}
