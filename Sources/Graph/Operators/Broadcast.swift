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
/// the broadcast axes.
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

    func forward(_ b: OpBinding, isTrain: Bool) {
        let x = b.inputs[0].data
        let z = b.inputs[1].data
        let y = b.outputs[0].data
        let (n, ls, rs) = walk.row
        walk.forEachRow { o, l, r in
            // One loop per operation, so that each vectorizes.
            switch operation {
            case .add: for j in 0..<n { y[o + j] = x[l + j * ls] + z[r + j * rs] }
            case .subtract: for j in 0..<n { y[o + j] = x[l + j * ls] - z[r + j * rs] }
            case .multiply: for j in 0..<n { y[o + j] = x[l + j * ls] * z[r + j * rs] }
            case .divide: for j in 0..<n { y[o + j] = x[l + j * ls] / z[r + j * rs] }
            }
        }
    }

    func backward(_ b: OpBinding) {
        let x = b.inputs[0].data
        let z = b.inputs[1].data
        let dy = b.outputGrads[0].data
        let (n, ls, rs) = walk.row
        b.withGrad(0) { dxArray, accumulate in
            if !accumulate { dxArray.fill(0) }
            let dx = dxArray.data
            walk.forEachRow { o, l, r in
                for j in 0..<n { dx[l + j * ls] += operation.lhsGradient(dy[o + j], x[l + j * ls], z[r + j * rs]) }
            }
        }
        b.withGrad(1) { dzArray, accumulate in
            if !accumulate { dzArray.fill(0) }
            let dz = dzArray.data
            walk.forEachRow { o, l, r in
                for j in 0..<n { dz[r + j * rs] += operation.rhsGradient(dy[o + j], x[l + j * ls], z[r + j * rs]) }
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

/// MXNet's `broadcast_add`.
public typealias BroadcastAdd = BinaryElementwise<BroadcastAddKind>
/// MXNet's `broadcast_sub`.
public typealias BroadcastSub = BinaryElementwise<BroadcastSubtractKind>
/// MXNet's `broadcast_mul`.
public typealias BroadcastMul = BinaryElementwise<BroadcastMultiplyKind>
/// MXNet's `broadcast_div`.
public typealias BroadcastDiv = BinaryElementwise<BroadcastDivideKind>
