import Foundation
import SwiftPSTensor

/// What a binary element-wise operator computes from one element of `lhs` and one of `rhs`.
public enum BinaryOperation: Sendable, CaseIterable {
    case add, subtract, multiply, divide, maximum, minimum, power
    /// The comparisons: 1 where `lhs ∘ rhs` holds, else 0; no gradient passes.
    case equal, notEqual, greater, greaterEqual, lesser, lesserEqual

    /// MXNet's name of the operator: `broadcast_<op>` when it broadcasts, else `elemwise_<op>` for
    /// the four arithmetic operations and `_<op>` for the others (`_maximum`, `_greater_equal`).
    public func operatorName(broadcasts: Bool) -> String {
        if broadcasts { return "broadcast_" + baseName }
        return [.add, .subtract, .multiply, .divide].contains(self) ? "elemwise_" + baseName : "_" + baseName
    }

    /// The name MXNet's operators build on: `add`, `sub`, `maximum`, `not_equal`, ….
    var baseName: String {
        switch self {
        case .add: "add"
        case .subtract: "sub"
        case .multiply: "mul"
        case .divide: "div"
        case .maximum: "maximum"
        case .minimum: "minimum"
        case .power: "power"
        case .equal: "equal"
        case .notEqual: "not_equal"
        case .greater: "greater"
        case .greaterEqual: "greater_equal"
        case .lesser: "lesser"
        case .lesserEqual: "lesser_equal"
        }
    }

    /// Runs `loop` specialized for this operation's function: the one switch stands outside the
    /// loop, and each function gets its own loop, which vectorizes.
    @inline(__always) func run(_ loop: some BinaryLoop) {
        switch self {
        case .add: loop.run(AddFunction.self)
        case .subtract: loop.run(SubtractFunction.self)
        case .multiply: loop.run(MultiplyFunction.self)
        case .divide: loop.run(DivideFunction.self)
        case .maximum: loop.run(MaximumFunction.self)
        case .minimum: loop.run(MinimumFunction.self)
        case .power: loop.run(PowerFunction.self)
        case .equal: loop.run(Comparison<Equal>.self)
        case .notEqual: loop.run(Comparison<NotEqual>.self)
        case .greater: loop.run(Comparison<Greater>.self)
        case .greaterEqual: loop.run(Comparison<GreaterEqual>.self)
        case .lesser: loop.run(Comparison<Lesser>.self)
        case .lesserEqual: loop.run(Comparison<LesserEqual>.self)
        }
    }

    /// False for the comparisons, whose gradients are zeros.
    var passesGradient: Bool {
        switch self {
        case .add, .subtract, .multiply, .divide, .maximum, .minimum, .power: true
        case .equal, .notEqual, .greater, .greaterEqual, .lesser, .lesserEqual: false
        }
    }
}

/// A loop written once for every binary function and run for one by `BinaryOperation.run`, which
/// calls `run` with the function's concrete type, so that the loop is specialized for it.
protocol BinaryLoop {
    func run<F: BinaryFunction>(_: F.Type)
}

/// A binary element-wise function with its partial derivatives as MXNet 1.9.1 defines them
/// (including ties and values outside a domain). A type rather than a value so that every loop
/// over it is specialized for it and vectorizes.
protocol BinaryFunction {
    /// `l ∘ r`.
    static func apply(_ l: Float, _ r: Float) -> Float
    /// The gradient reaching `l` from the output's gradient `dy`.
    static func lhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float
    /// The gradient reaching `r` from the output's gradient `dy`.
    static func rhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float
}

enum AddFunction: BinaryFunction {
    @inline(__always) static func apply(_ l: Float, _ r: Float) -> Float { l + r }
    @inline(__always) static func lhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float { dy }
    @inline(__always) static func rhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float { dy }
}

enum SubtractFunction: BinaryFunction {
    @inline(__always) static func apply(_ l: Float, _ r: Float) -> Float { l - r }
    @inline(__always) static func lhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float { dy }
    @inline(__always) static func rhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float { -dy }
}

enum MultiplyFunction: BinaryFunction {
    @inline(__always) static func apply(_ l: Float, _ r: Float) -> Float { l * r }
    @inline(__always) static func lhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float { dy * r }
    @inline(__always) static func rhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float { dy * l }
}

/// `l / r` with MXNet's gradients to the bit: `dy · (1 / r)` and `dy · (−l / r²)` (`div_grad`,
/// `div_rgrad`); `_rdiv_scalar`'s is the second with `l` the scalar.
enum DivideFunction: BinaryFunction {
    @inline(__always) static func apply(_ l: Float, _ r: Float) -> Float { l / r }
    @inline(__always) static func lhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float { dy * (1 / r) }
    @inline(__always) static func rhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float { dy * (-l / (r * r)) }
}

/// MXNet's `maximum`: NaN on either side gives NaN. On a tie the gradient goes to `lhs` (MXNet's
/// `ge` for lhs, `lt` for rhs), multiplied in so that an infinite `dy` gives NaN as there.
enum MaximumFunction: BinaryFunction {
    @inline(__always) static func apply(_ l: Float, _ r: Float) -> Float {
        // Two selects rather than `l > r || l.isNaN`, whose branch would not vectorize.
        let larger = l > r ? l : r
        return l.isNaN ? l : larger
    }
    @inline(__always) static func lhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float {
        dy * (l >= r ? 1 : 0)
    }
    @inline(__always) static func rhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float {
        dy * (l < r ? 1 : 0)
    }
}

/// MXNet's `minimum`: NaN on either side gives NaN; a tie's gradient goes to `lhs` (`le`, `gt`).
enum MinimumFunction: BinaryFunction {
    @inline(__always) static func apply(_ l: Float, _ r: Float) -> Float {
        let smaller = l < r ? l : r
        return l.isNaN ? l : smaller
    }
    @inline(__always) static func lhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float {
        dy * (l <= r ? 1 : 0)
    }
    @inline(__always) static func rhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float {
        dy * (l > r ? 1 : 0)
    }
}

/// `l ^ r` (`powf`), with MXNet's derivatives `r · l^(r−1)` and `l^r · ln l` (NaN for a negative
/// `l`, as there).
enum PowerFunction: BinaryFunction {
    @inline(__always) static func apply(_ l: Float, _ r: Float) -> Float { Foundation.pow(l, r) }
    @inline(__always) static func lhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float {
        dy * (r * Foundation.pow(l, r - 1))
    }
    @inline(__always) static func rhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float {
        dy * (Foundation.pow(l, r) * Foundation.log(l))
    }
}

/// A comparison of two floats.
protocol ComparisonPredicate {
    static func holds(_ l: Float, _ r: Float) -> Bool
}

enum Equal: ComparisonPredicate {
    @inline(__always) static func holds(_ l: Float, _ r: Float) -> Bool { l == r }
}
enum NotEqual: ComparisonPredicate {
    @inline(__always) static func holds(_ l: Float, _ r: Float) -> Bool { l != r }
}
enum Greater: ComparisonPredicate {
    @inline(__always) static func holds(_ l: Float, _ r: Float) -> Bool { l > r }
}
enum GreaterEqual: ComparisonPredicate {
    @inline(__always) static func holds(_ l: Float, _ r: Float) -> Bool { l >= r }
}
enum Lesser: ComparisonPredicate {
    @inline(__always) static func holds(_ l: Float, _ r: Float) -> Bool { l < r }
}
enum LesserEqual: ComparisonPredicate {
    @inline(__always) static func holds(_ l: Float, _ r: Float) -> Bool { l <= r }
}

/// 1 where the predicate holds, else 0 (as floats, as MXNet's comparisons of float arrays); no
/// gradient passes (MXNet's `MakeZeroGradNodes`: `BinaryOperation.passesGradient` is false).
enum Comparison<Predicate: ComparisonPredicate>: BinaryFunction {
    @inline(__always) static func apply(_ l: Float, _ r: Float) -> Float { Predicate.holds(l, r) ? 1 : 0 }
    @inline(__always) static func lhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float { 0 }
    @inline(__always) static func rhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float { 0 }
}

/// A binary element-wise operator's MXNet name, operation, and whether its operands broadcast.
public protocol BinaryOperatorKind: Sendable {
    static var typeName: String { get }
    static var operation: BinaryOperation { get }
    /// True for MXNet's `broadcast_*` operators (numpy-style shapes, `broadcastShape`), false for
    /// `elemwise_*` (equal shapes only).
    static var broadcasts: Bool { get }
}

extension BinaryOperatorKind {
    public static var broadcasts: Bool { false }
}

/// MXNet's binary element-wise operators between two arrays: `lhs + rhs`, `lhs − rhs`, `lhs ⊙ rhs`,
/// `lhs / rhs`, maximum, minimum, `lhs ^ rhs` and the comparisons (`BinaryOperation`).
///
/// `elemwise_add` (`_Plus`, `_plus`), `elemwise_sub` (`_Minus`, `_minus`, `_sub`), `elemwise_mul`
/// (`_Mul`, `_mul`), `elemwise_div` (`_Div`, `_div`), `_maximum`, `_minimum`, `_power`, `_equal`,
/// `_not_equal`, `_greater`, `_greater_equal`, `_lesser`, `_lesser_equal` (and their capitalized
/// aliases) take operands of one shape. The `broadcast_*` operators broadcast them as MXNet 1.x does
/// (`broadcastShape`); their gradients are summed over the broadcast axes. Operands of equal shapes
/// take the same element-wise path either way.
public struct BinaryElementwise<Kind: BinaryOperatorKind>: Operator {
    public static var typeName: String { Kind.typeName }
    public static var attributeNames: [String] { [] }

    public init(attributes: [String: String]) throws {}

    /// The operator.
    public init() {}

    public var attributes: [String: String] { [:] }

    public func listArguments() -> [String] { ["lhs", "rhs"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        let lhs = s.first ?? nil
        let rhs = s.count > 1 ? s[1] : nil
        if Kind.broadcasts {
            // As MXNet: neither shape can be told from the other when they may broadcast.
            guard let l = lhs, let r = rhs else {
                throw GraphError.shapeError("\(Self.typeName) needs both the lhs and the rhs shape")
            }
            return ([l, r], [try broadcastShape(l, r, Self.typeName)], [])
        }
        guard let shape = lhs ?? rhs else {
            throw GraphError.shapeError("\(Self.typeName) needs the lhs or rhs shape")
        }
        if let l = lhs, let r = rhs, l != r {
            throw GraphError.shapeError(
                "\(Self.typeName) needs equal shapes, got \(l) and \(r) (the broadcast_* operators broadcast)")
        }
        return ([shape, shape], [shape], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let lhs = context.inputShapes[0]
        let rhs = context.inputShapes[1]
        guard lhs == rhs else {
            return try BroadcastInstance(Kind.operation, lhs: lhs, rhs: rhs, op: Self.typeName)
        }
        let count = NDArray.elementCount(lhs)
        // The sum of two: add_n's instance.
        if Kind.operation == .add { return AddN.Instance(count: count) }
        return BinaryInstance(Kind.operation, count: count)
    }
}

/// `elemwise_add`.
public enum AddKind: BinaryOperatorKind {
    public static let typeName = "elemwise_add"
    public static let operation = BinaryOperation.add
}

/// `elemwise_sub`.
public enum SubtractKind: BinaryOperatorKind {
    public static let typeName = "elemwise_sub"
    public static let operation = BinaryOperation.subtract
}

/// `elemwise_mul`.
public enum MultiplyKind: BinaryOperatorKind {
    public static let typeName = "elemwise_mul"
    public static let operation = BinaryOperation.multiply
}

/// MXNet's `elemwise_add`.
public typealias ElemwiseAdd = BinaryElementwise<AddKind>
/// MXNet's `elemwise_sub`.
public typealias ElemwiseSub = BinaryElementwise<SubtractKind>
/// MXNet's `elemwise_mul`.
public typealias ElemwiseMul = BinaryElementwise<MultiplyKind>

/// `elemwise_div` (`_div`, `_Div`).
public enum DivideKind: BinaryOperatorKind {
    public static let typeName = "elemwise_div"
    public static let operation = BinaryOperation.divide
}

/// `_maximum` (`_Maximum`).
public enum MaximumKind: BinaryOperatorKind {
    public static let typeName = "_maximum"
    public static let operation = BinaryOperation.maximum
}

/// `_minimum` (`_Minimum`).
public enum MinimumKind: BinaryOperatorKind {
    public static let typeName = "_minimum"
    public static let operation = BinaryOperation.minimum
}

/// `_power` (`_Power`).
public enum PowerKind: BinaryOperatorKind {
    public static let typeName = "_power"
    public static let operation = BinaryOperation.power
}

/// `_equal` (`_Equal`).
public enum EqualKind: BinaryOperatorKind {
    public static let typeName = "_equal"
    public static let operation = BinaryOperation.equal
}

/// `_not_equal` (`_Not_Equal`).
public enum NotEqualKind: BinaryOperatorKind {
    public static let typeName = "_not_equal"
    public static let operation = BinaryOperation.notEqual
}

/// `_greater` (`_Greater`).
public enum GreaterKind: BinaryOperatorKind {
    public static let typeName = "_greater"
    public static let operation = BinaryOperation.greater
}

/// `_greater_equal` (`_Greater_Equal`).
public enum GreaterEqualKind: BinaryOperatorKind {
    public static let typeName = "_greater_equal"
    public static let operation = BinaryOperation.greaterEqual
}

/// `_lesser` (`_Lesser`).
public enum LesserKind: BinaryOperatorKind {
    public static let typeName = "_lesser"
    public static let operation = BinaryOperation.lesser
}

/// `_lesser_equal` (`_Lesser_Equal`).
public enum LesserEqualKind: BinaryOperatorKind {
    public static let typeName = "_lesser_equal"
    public static let operation = BinaryOperation.lesserEqual
}

/// MXNet's `elemwise_div`.
public typealias ElemwiseDiv = BinaryElementwise<DivideKind>
/// MXNet's `_maximum`.
public typealias Maximum = BinaryElementwise<MaximumKind>
/// MXNet's `_minimum`.
public typealias Minimum = BinaryElementwise<MinimumKind>
/// MXNet's `_power`.
public typealias Power = BinaryElementwise<PowerKind>
/// MXNet's `_equal`.
public typealias EqualOp = BinaryElementwise<EqualKind>
/// MXNet's `_not_equal`.
public typealias NotEqualOp = BinaryElementwise<NotEqualKind>
/// MXNet's `_greater`.
public typealias GreaterOp = BinaryElementwise<GreaterKind>
/// MXNet's `_greater_equal`.
public typealias GreaterEqualOp = BinaryElementwise<GreaterEqualKind>
/// MXNet's `_lesser`.
public typealias LesserOp = BinaryElementwise<LesserKind>
/// MXNet's `_lesser_equal`.
public typealias LesserEqualOp = BinaryElementwise<LesserEqualKind>

/// `lhs ∘ rhs` of one shape (addition runs on `AddN.Instance`): one loop per operation.
final class BinaryInstance: OperatorInstance {
    let operation: BinaryOperation
    let count: Int
    init(_ operation: BinaryOperation, count: Int) {
        self.operation = operation
        self.count = count
    }

    /// `y = x ∘ z` over `n` elements.
    struct Forward: BinaryLoop {
        let n: Int
        let x: UnsafeMutablePointer<Float>, z: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>
        func run<F: BinaryFunction>(_: F.Type) {
            for i in 0..<n { y[i] = F.apply(x[i], z[i]) }
        }
    }

    /// The gradient of the lhs (or the rhs) over `n` elements into `dst`, written or added.
    struct Gradient: BinaryLoop {
        let n: Int
        let dy: UnsafeMutablePointer<Float>, x: UnsafeMutablePointer<Float>, z: UnsafeMutablePointer<Float>
        let dst: UnsafeMutablePointer<Float>
        let lhs: Bool, accumulate: Bool
        func run<F: BinaryFunction>(_: F.Type) {
            if lhs {
                writeGrad(n, dst, accumulate: accumulate) { F.lhsGradient(dy[$0], x[$0], z[$0]) }
            } else {
                writeGrad(n, dst, accumulate: accumulate) { F.rhsGradient(dy[$0], x[$0], z[$0]) }
            }
        }
    }

    func forward(_ b: OpBinding, isTrain: Bool) {
        operation.run(Forward(n: count, x: b.inputs[0].data, z: b.inputs[1].data, y: b.outputs[0].data))
    }

    func backward(_ b: OpBinding) {
        for side in 0..<2 {
            b.withGrad(side) { dst, accumulate in
                guard operation.passesGradient else { return zeroGrad(dst, accumulate: accumulate) }
                operation.run(
                    Gradient(
                        n: count, dy: b.outputGrads[0].data, x: b.inputs[0].data, z: b.inputs[1].data, dst: dst.data,
                        lhs: side == 0, accumulate: accumulate))
            }
        }
    }
}
