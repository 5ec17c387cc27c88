import SwiftPSTensor

/// The shape of `lhs ∘ rhs` under MXNet 1.x's broadcasting (numpy's): the shorter shape is padded
/// with leading 1s, then on each axis the sizes must agree or one of them must be 1, which is
/// repeated to the other. `(2, 1, 3)` with `(4, 1)` gives `(2, 4, 3)`.
///
/// - Throws: `GraphError.shapeError` naming both shapes when an axis differs and neither size is 1.
func broadcastShape(_ lhs: [Int], _ rhs: [Int], _ op: String) throws -> [Int] {
    let n = max(lhs.count, rhs.count)
    let l = padded(lhs, to: n)
    let r = padded(rhs, to: n)
    return try (0..<n).map { i in
        guard l[i] == r[i] || l[i] == 1 || r[i] == 1 else {
            throw GraphError.shapeError(
                "\(op): operands could not be broadcast together with shapes \(lhs) and \(rhs) (axis \(i): "
                    + "\(l[i]) vs \(r[i]); each axis must agree or be 1)")
        }
        return l[i] == 1 ? r[i] : l[i]
    }
}

/// `shape` with leading 1s up to `n` axes.
private func padded(_ shape: [Int], to n: Int) -> [Int] {
    Array(repeating: 1, count: n - shape.count) + shape
}

/// `lhs ∘ rhs` of different shapes that broadcast to the output's.
///
/// Each operand is read with stride 0 on the axes where it is repeated (`StridedWalk`); backward
/// adds each output element's gradient into the operand element it came from, which sums it over
/// the broadcast axes. Each operation has its own row loop (`BinaryOperation.run`).
final class BroadcastInstance: OperatorInstance {
    let operation: BinaryOperation
    let walk: StridedWalk

    init(_ operation: BinaryOperation, lhs: [Int], rhs: [Int], op: String) throws {
        self.operation = operation
        let out = try broadcastShape(lhs, rhs, op)
        func strides(_ shape: [Int]) -> [Int] {
            let s = padded(shape, to: out.count)
            return zip(StridedWalk.contiguousStrides(s), zip(s, out)).map { $1.0 == $1.1 ? $0 : 0 }
        }
        walk = StridedWalk(shape: out, a: strides(lhs), b: strides(rhs))
    }

    /// `y = x ∘ z`, row by row.
    struct Forward: BinaryLoop {
        let walk: StridedWalk
        let x: UnsafeMutablePointer<Float>, z: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>
        func run<F: BinaryFunction>(_: F.Type) { walk.run(Rows<F>(loop: self)) }

        struct Rows<F: BinaryFunction>: RowLoop {
            let loop: Forward
            func rows<A: RowStride, B: RowStride>(_: A.Type, _: B.Type) {
                let (x, z, y) = (loop.x, loop.z, loop.y)
                let (n, ls, rs) = loop.walk.row
                loop.walk.forEachRow { o, l, r in
                    for j in 0..<n { y[o + j] = F.apply(x[l + A.at(j, ls)], z[r + B.at(j, rs)]) }
                }
            }
        }
    }

    /// Adds the gradient of the lhs (or the rhs) into `dst`, row by row; into one element per row
    /// where that operand repeats along the row, summed in a register in the same order.
    struct Gradient: BinaryLoop {
        let walk: StridedWalk
        let dy: UnsafeMutablePointer<Float>, x: UnsafeMutablePointer<Float>, z: UnsafeMutablePointer<Float>
        let dst: UnsafeMutablePointer<Float>
        let lhs: Bool
        func run<F: BinaryFunction>(_: F.Type) { walk.run(Rows<F>(loop: self)) }

        struct Rows<F: BinaryFunction>: RowLoop {
            let loop: Gradient
            func rows<A: RowStride, B: RowStride>(_: A.Type, _: B.Type) {
                let (dy, x, z, dst) = (loop.dy, loop.x, loop.z, loop.dst)
                let (n, ls, rs) = loop.walk.row
                if loop.lhs {
                    loop.walk.forEachRow { o, l, r in
                        if A.repeats {
                            var sum = dst[l]
                            for j in 0..<n { sum += F.lhsGradient(dy[o + j], x[l], z[r + B.at(j, rs)]) }
                            dst[l] = sum
                        } else {
                            for j in 0..<n {
                                dst[l + A.at(j, ls)] += F.lhsGradient(dy[o + j], x[l + A.at(j, ls)], z[r + B.at(j, rs)])
                            }
                        }
                    }
                } else {
                    loop.walk.forEachRow { o, l, r in
                        if B.repeats {
                            var sum = dst[r]
                            for j in 0..<n { sum += F.rhsGradient(dy[o + j], x[l + A.at(j, ls)], z[r]) }
                            dst[r] = sum
                        } else {
                            for j in 0..<n {
                                dst[r + B.at(j, rs)] += F.rhsGradient(dy[o + j], x[l + A.at(j, ls)], z[r + B.at(j, rs)])
                            }
                        }
                    }
                }
            }
        }
    }

    func forward(_ b: OpBinding, isTrain: Bool) {
        operation.run(Forward(walk: walk, x: b.inputs[0].data, z: b.inputs[1].data, y: b.outputs[0].data))
    }

    func backward(_ b: OpBinding) {
        for side in 0..<2 {
            b.withGrad(side) { dst, accumulate in
                guard operation.passesGradient else { return zeroGrad(dst, accumulate: accumulate) }
                if !accumulate { dst.fill(0) }
                operation.run(
                    Gradient(
                        walk: walk, dy: b.outputGrads[0].data, x: b.inputs[0].data, z: b.inputs[1].data, dst: dst.data,
                        lhs: side == 0))
            }
        }
    }
}

/// `broadcast_add` (`broadcast_plus`).
public enum BroadcastAddKind: BinaryOperatorKind {
    public static let typeName = "broadcast_add"
    public static let operation = BinaryOperation.add
    public static let broadcasts = true
}

/// `broadcast_sub` (`broadcast_minus`).
public enum BroadcastSubtractKind: BinaryOperatorKind {
    public static let typeName = "broadcast_sub"
    public static let operation = BinaryOperation.subtract
    public static let broadcasts = true
}

/// `broadcast_mul`.
public enum BroadcastMultiplyKind: BinaryOperatorKind {
    public static let typeName = "broadcast_mul"
    public static let operation = BinaryOperation.multiply
    public static let broadcasts = true
}

/// `broadcast_div`.
public enum BroadcastDivideKind: BinaryOperatorKind {
    public static let typeName = "broadcast_div"
    public static let operation = BinaryOperation.divide
    public static let broadcasts = true
}

/// `broadcast_maximum`.
public enum BroadcastMaximumKind: BinaryOperatorKind {
    public static let typeName = "broadcast_maximum"
    public static let operation = BinaryOperation.maximum
    public static let broadcasts = true
}

/// `broadcast_minimum`.
public enum BroadcastMinimumKind: BinaryOperatorKind {
    public static let typeName = "broadcast_minimum"
    public static let operation = BinaryOperation.minimum
    public static let broadcasts = true
}

/// `broadcast_power`.
public enum BroadcastPowerKind: BinaryOperatorKind {
    public static let typeName = "broadcast_power"
    public static let operation = BinaryOperation.power
    public static let broadcasts = true
}

/// `broadcast_equal`.
public enum BroadcastEqualKind: BinaryOperatorKind {
    public static let typeName = "broadcast_equal"
    public static let operation = BinaryOperation.equal
    public static let broadcasts = true
}

/// `broadcast_not_equal`.
public enum BroadcastNotEqualKind: BinaryOperatorKind {
    public static let typeName = "broadcast_not_equal"
    public static let operation = BinaryOperation.notEqual
    public static let broadcasts = true
}

/// `broadcast_greater`.
public enum BroadcastGreaterKind: BinaryOperatorKind {
    public static let typeName = "broadcast_greater"
    public static let operation = BinaryOperation.greater
    public static let broadcasts = true
}

/// `broadcast_greater_equal`.
public enum BroadcastGreaterEqualKind: BinaryOperatorKind {
    public static let typeName = "broadcast_greater_equal"
    public static let operation = BinaryOperation.greaterEqual
    public static let broadcasts = true
}

/// `broadcast_lesser`.
public enum BroadcastLesserKind: BinaryOperatorKind {
    public static let typeName = "broadcast_lesser"
    public static let operation = BinaryOperation.lesser
    public static let broadcasts = true
}

/// `broadcast_lesser_equal`.
public enum BroadcastLesserEqualKind: BinaryOperatorKind {
    public static let typeName = "broadcast_lesser_equal"
    public static let operation = BinaryOperation.lesserEqual
    public static let broadcasts = true
}

/// MXNet's `broadcast_add`.
public typealias BroadcastAdd = BinaryElementwise<BroadcastAddKind>
/// MXNet's `broadcast_sub`.
public typealias BroadcastSub = BinaryElementwise<BroadcastSubtractKind>
/// MXNet's `broadcast_mul`.
public typealias BroadcastMul = BinaryElementwise<BroadcastMultiplyKind>
/// MXNet's `broadcast_div`.
public typealias BroadcastDiv = BinaryElementwise<BroadcastDivideKind>
/// MXNet's `broadcast_maximum`.
public typealias BroadcastMaximum = BinaryElementwise<BroadcastMaximumKind>
/// MXNet's `broadcast_minimum`.
public typealias BroadcastMinimum = BinaryElementwise<BroadcastMinimumKind>
/// MXNet's `broadcast_power`.
public typealias BroadcastPower = BinaryElementwise<BroadcastPowerKind>
/// MXNet's `broadcast_equal`.
public typealias BroadcastEqual = BinaryElementwise<BroadcastEqualKind>
/// MXNet's `broadcast_not_equal`.
public typealias BroadcastNotEqual = BinaryElementwise<BroadcastNotEqualKind>
/// MXNet's `broadcast_greater`.
public typealias BroadcastGreater = BinaryElementwise<BroadcastGreaterKind>
/// MXNet's `broadcast_greater_equal`.
public typealias BroadcastGreaterEqual = BinaryElementwise<BroadcastGreaterEqualKind>
/// MXNet's `broadcast_lesser`.
public typealias BroadcastLesser = BinaryElementwise<BroadcastLesserKind>
/// MXNet's `broadcast_lesser_equal`.
public typealias BroadcastLesserEqual = BinaryElementwise<BroadcastLesserEqualKind>
