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
        let base =
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
        if broadcasts { return "broadcast_" + base }
        return [.add, .subtract, .multiply, .divide].contains(self) ? "elemwise_" + base : "_" + base
    }

    /// The function's type, whose loops are specialized (one loop per operation, no switch inside).
    var function: any BinaryFunction.Type {
        switch self {
        case .add: AddFunction.self
        case .subtract: SubtractFunction.self
        case .multiply: MultiplyFunction.self
        case .divide: DivideFunction.self
        case .maximum: MaximumFunction.self
        case .minimum: MinimumFunction.self
        case .power: PowerFunction.self
        case .equal: Comparison<Equal>.self
        case .notEqual: Comparison<NotEqual>.self
        case .greater: Comparison<Greater>.self
        case .greaterEqual: Comparison<GreaterEqual>.self
        case .lesser: Comparison<Lesser>.self
        case .lesserEqual: Comparison<LesserEqual>.self
        }
    }
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
    /// False for the comparisons: their gradients are zeros (MXNet's `MakeZeroGradNodes`).
    static var passesGradient: Bool { get }
}

extension BinaryFunction {
    static var passesGradient: Bool { true }
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

enum DivideFunction: BinaryFunction {
    @inline(__always) static func apply(_ l: Float, _ r: Float) -> Float { l / r }
    @inline(__always) static func lhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float { dy / r }
    @inline(__always) static func rhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float { -dy * l / (r * r) }
}

/// MXNet's `maximum`: NaN on either side gives NaN. On a tie the gradient goes to `lhs` (MXNet's
/// `ge` for lhs, `lt` for rhs), multiplied in so that an infinite `dy` gives NaN as there.
enum MaximumFunction: BinaryFunction {
    @inline(__always) static func apply(_ l: Float, _ r: Float) -> Float { l > r || l.isNaN ? l : r }
    @inline(__always) static func lhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float {
        dy * (l >= r ? 1 : 0)
    }
    @inline(__always) static func rhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float {
        dy * (l < r ? 1 : 0)
    }
}

/// MXNet's `minimum`: NaN on either side gives NaN; a tie's gradient goes to `lhs` (`le`, `gt`).
enum MinimumFunction: BinaryFunction {
    @inline(__always) static func apply(_ l: Float, _ r: Float) -> Float { l < r || l.isNaN ? l : r }
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
/// gradient passes.
enum Comparison<Predicate: ComparisonPredicate>: BinaryFunction {
    @inline(__always) static func apply(_ l: Float, _ r: Float) -> Float { Predicate.holds(l, r) ? 1 : 0 }
    @inline(__always) static func lhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float { 0 }
    @inline(__always) static func rhsGradient(_ dy: Float, _ l: Float, _ r: Float) -> Float { 0 }
    static var passesGradient: Bool { false }
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
            return try makeBroadcastInstance(Kind.operation.function, lhs: lhs, rhs: rhs, op: Self.typeName)
        }
        let count = NDArray.elementCount(lhs)
        // The sum of two: add_n's instance.
        if Kind.operation == .add { return AddN.Instance(count: count) }
        return makeBinaryInstance(Kind.operation.function, count: count)
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

/// The element-wise instance of `F` over `count` elements (opens the existential).
func makeBinaryInstance<F: BinaryFunction>(_: F.Type, count: Int) -> any OperatorInstance {
    BinaryInstance<F>(count: count)
}

/// `lhs ∘ rhs` of one shape (addition runs on `AddN.Instance`): one specialized loop per function.
final class BinaryInstance<F: BinaryFunction>: OperatorInstance {
    let count: Int
    init(count: Int) { self.count = count }

    func forward(_ b: OpBinding, isTrain: Bool) {
        let x = b.inputs[0].data
        let z = b.inputs[1].data
        let y = b.outputs[0].data
        for i in 0..<count { y[i] = F.apply(x[i], z[i]) }
    }

    func backward(_ b: OpBinding) {
        let dy = b.outputGrads[0].data
        let x = b.inputs[0].data
        let z = b.inputs[1].data
        b.withGrad(0) { dx, accumulate in
            guard F.passesGradient else { return zeroGrad(dx, accumulate: accumulate) }
            writeGrad(count, dx.data, accumulate: accumulate) { F.lhsGradient(dy[$0], x[$0], z[$0]) }
        }
        b.withGrad(1) { dz, accumulate in
            guard F.passesGradient else { return zeroGrad(dz, accumulate: accumulate) }
            writeGrad(count, dz.data, accumulate: accumulate) { F.rhsGradient(dy[$0], x[$0], z[$0]) }
        }
    }
}
