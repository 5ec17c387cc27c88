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
/// At bind, the axes are merged into as few as keep the pattern (runs of axes where each operand is
/// either repeated or not), and each operand gets a stride per merged axis, 0 where it is repeated.
/// Forward and backward then walk the output row by row (the last merged axis); backward adds each
/// output element's gradient into the operand element it came from, which sums it over the
/// broadcast axes.
final class BroadcastInstance: OperatorInstance {
    let operation: BinaryOperation
    /// The merged output axes.
    let dims: [Int]
    let lhsStrides: [Int]
    let rhsStrides: [Int]

    init(_ operation: BinaryOperation, lhs: [Int], rhs: [Int], op: String) throws {
        self.operation = operation
        let out = try broadcastShape(lhs, rhs, op)
        let l = padded(lhs, to: out.count)
        let r = padded(rhs, to: out.count)
        // Merge neighbouring axes on which each operand is repeated (or not) alike.
        var dims: [Int] = []
        var repeats: [(lhs: Bool, rhs: Bool)] = []
        for i in out.indices {
            let pattern = (lhs: l[i] != out[i], rhs: r[i] != out[i])
            if let last = repeats.last, last == pattern {
                dims[dims.count - 1] *= out[i]
            } else {
                dims.append(out[i])
                repeats.append(pattern)
            }
        }
        if dims.isEmpty {
            dims = [1]
            repeats = [(false, false)]
        }
        func strides(_ repeated: [Bool]) -> [Int] {
            var s = [Int](repeating: 0, count: dims.count)
            var running = 1
            for i in dims.indices.reversed() where !repeated[i] {
                s[i] = running
                running *= dims[i]
            }
            return s
        }
        self.dims = dims
        lhsStrides = strides(repeats.map(\.lhs))
        rhsStrides = strides(repeats.map(\.rhs))
    }

    /// Calls `row` with the start of each output row and the matching `lhs` and `rhs` offsets.
    @inline(__always)
    private func forEachRow(_ row: (_ out: Int, _ lhs: Int, _ rhs: Int) -> Void) {
        let outer = dims.count - 1
        let inner = dims[outer]
        let rows = dims[..<outer].reduce(1, *)
        withUnsafeTemporaryAllocation(of: Int.self, capacity: max(outer, 1)) { counter in
            counter.initialize(repeating: 0)
            var (o, l, r) = (0, 0, 0)
            for _ in 0..<rows {
                row(o, l, r)
                o += inner
                var a = outer - 1
                while a >= 0 {
                    counter[a] += 1
                    l += lhsStrides[a]
                    r += rhsStrides[a]
                    if counter[a] < dims[a] { break }
                    l -= lhsStrides[a] * dims[a]
                    r -= rhsStrides[a] * dims[a]
                    counter[a] = 0
                    a -= 1
                }
            }
        }
    }

    func forward(_ b: OpBinding, isTrain: Bool) {
        let x = b.inputs[0].data
        let z = b.inputs[1].data
        let y = b.outputs[0].data
        let inner = dims[dims.count - 1]
        let ls = lhsStrides[dims.count - 1]
        let rs = rhsStrides[dims.count - 1]
        forEachRow { o, l, r in
            // One loop per operation, so that each vectorizes.
            switch operation {
            case .add: for j in 0..<inner { y[o + j] = x[l + j * ls] + z[r + j * rs] }
            case .subtract: for j in 0..<inner { y[o + j] = x[l + j * ls] - z[r + j * rs] }
            case .multiply: for j in 0..<inner { y[o + j] = x[l + j * ls] * z[r + j * rs] }
            case .divide: for j in 0..<inner { y[o + j] = x[l + j * ls] / z[r + j * rs] }
            }
        }
    }

    func backward(_ b: OpBinding) {
        let x = b.inputs[0].data
        let z = b.inputs[1].data
        let dy = b.outputGrads[0].data
        let inner = dims[dims.count - 1]
        let ls = lhsStrides[dims.count - 1]
        let rs = rhsStrides[dims.count - 1]
        b.withGrad(0) { dxArray, accumulate in
            if !accumulate { dxArray.fill(0) }
            let dx = dxArray.data
            forEachRow { o, l, r in
                for j in 0..<inner {
                    dx[l + j * ls] += operation.lhsGradient(dy[o + j], x[l + j * ls], z[r + j * rs])
                }
            }
        }
        b.withGrad(1) { dzArray, accumulate in
            if !accumulate { dzArray.fill(0) }
            let dz = dzArray.data
            forEachRow { o, l, r in
                for j in 0..<inner {
                    dz[r + j * rs] += operation.rhsGradient(dy[o + j], x[l + j * ls], z[r + j * rs])
                }
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
