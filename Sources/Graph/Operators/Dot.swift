import SwiftPSTensor

/// A batch of matrix products `C_i = alpha · op(A_i) · op(B_i)`, `op(A_i)` m×k and `op(B_i)` k×n,
/// one sgemm each: what `dot`, `batch_dot` and `linalg_gemm2` compute.
///
/// Item `i`'s matrices start at `offsets.a[i]`, `offsets.b[i]`, `offsets.c[i]` of the arrays, their
/// rows `ld.a`, `ld.b`, `ld.c` elements apart (a matrix whose rows are not the last two axes of its
/// array, linalg_gemm2's `axis`, is read in place). The gradients are sgemms on the same layouts:
/// `dop(A) = alpha · dC · op(B)ᵀ`, `dop(B) = alpha · op(A)ᵀ · dC`, added with `beta = 1` for gradReq add.
final class MatrixProductInstance: OperatorInstance {
    let m: Int, n: Int, k: Int
    let transA: Bool, transB: Bool
    let alpha: Float
    let offsets: (a: [Int], b: [Int], c: [Int])
    let ld: (a: Int, b: Int, c: Int)

    /// One product of contiguous matrices (`dot`).
    convenience init(m: Int, n: Int, k: Int, transA: Bool, transB: Bool) {
        self.init(
            m: m, n: n, k: k, transA: transA, transB: transB, alpha: 1, offsets: ([0], [0], [0]),
            ld: (max(1, transA ? m : k), max(1, transB ? k : n), max(1, n)))
    }

    /// The products of arrays of shapes `a`, `b` and `c` (of one rank) whose matrices have their rows
    /// along axis `rowAxis` and their columns along the last axis; every other axis is a batch axis,
    /// of the same size in the three.
    convenience init(
        a: [Int], b: [Int], c: [Int], rowAxis: Int, k: Int, transA: Bool, transB: Bool, alpha: Float
    ) {
        /// Each matrix's first element, the batch axes in row-major order, and the row stride.
        func layout(_ shape: [Int]) -> (offsets: [Int], ld: Int) {
            let strides = StridedWalk.contiguousStrides(shape)
            var offsets = [0]
            for axis in shape.indices where axis != rowAxis && axis != shape.count - 1 {
                offsets = offsets.flatMap { o in (0..<shape[axis]).map { o + $0 * strides[axis] } }
            }
            return (offsets, max(1, strides[rowAxis]))
        }
        let (la, lb, lc) = (layout(a), layout(b), layout(c))
        self.init(
            m: c[rowAxis], n: c[c.count - 1], k: k, transA: transA, transB: transB, alpha: alpha,
            offsets: (la.offsets, lb.offsets, lc.offsets), ld: (la.ld, lb.ld, lc.ld))
    }

    init(
        m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Float, offsets: (a: [Int], b: [Int], c: [Int]),
        ld: (a: Int, b: Int, c: Int)
    ) {
        self.m = m
        self.n = n
        self.k = k
        self.transA = transA
        self.transB = transB
        self.alpha = alpha
        self.offsets = offsets
        self.ld = ld
    }

    /// Runs `body` for every item: small products spread over the compute threads by item, a single
    /// or large one left to `BLAS.gemm`'s own split.
    private func forEachItem(_ body: (Int) -> Void) {
        let items = offsets.a.count
        if items == 1 { return body(0) }
        let grain = max(1, (1 << 21) / max(1, m * n * k))
        ComputeThreads.forEach(items, grain: grain) { range in for i in range { body(i) } }
    }

    func forward(_ b: OpBinding, isTrain: Bool) {
        let a = b.inputs[0].data
        let bm = b.inputs[1].data
        let c = b.outputs[0].data
        forEachItem { i in
            BLAS.gemm(
                transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a + offsets.a[i], lda: ld.a,
                b: bm + offsets.b[i], ldb: ld.b, beta: 0, c: c + offsets.c[i], ldc: ld.c)
        }
    }

    func backward(_ b: OpBinding) {
        let a = b.inputs[0].data
        let bm = b.inputs[1].data
        let dc = b.outputGrads[0].data
        b.withGrad(0) { da, accumulate in
            let beta: Float = accumulate ? 1 : 0
            forEachItem { i in
                let (dci, bi, dai) = (dc + offsets.c[i], bm + offsets.b[i], da.data + offsets.a[i])
                if transA {
                    // A is stored k×m: dA = alpha · op(B) · dCᵀ.
                    BLAS.gemm(
                        transA: transB, transB: true, m: k, n: m, k: n, alpha: alpha, a: bi, lda: ld.b, b: dci,
                        ldb: ld.c, beta: beta, c: dai, ldc: ld.a)
                } else {
                    BLAS.gemm(
                        transB: !transB, m: m, n: k, k: n, alpha: alpha, a: dci, lda: ld.c, b: bi, ldb: ld.b,
                        beta: beta, c: dai, ldc: ld.a)
                }
            }
        }
        b.withGrad(1) { db, accumulate in
            let beta: Float = accumulate ? 1 : 0
            forEachItem { i in
                let (dci, ai, dbi) = (dc + offsets.c[i], a + offsets.a[i], db.data + offsets.b[i])
                if transB {
                    // B is stored n×k: dB = alpha · dCᵀ · op(A).
                    BLAS.gemm(
                        transA: true, transB: transA, m: n, n: k, k: m, alpha: alpha, a: dci, lda: ld.c, b: ai,
                        ldb: ld.a, beta: beta, c: dbi, ldc: ld.b)
                } else {
                    BLAS.gemm(
                        transA: !transA, m: k, n: n, k: m, alpha: alpha, a: ai, lda: ld.a, b: dci, ldb: ld.c,
                        beta: beta, c: dbi, ldc: ld.b)
                }
            }
        }
    }
}

/// What `dot` and `batch_dot` share: their attributes `transpose_a`, `transpose_b` and
/// `forward_stype`, which SwiftPS accepts only where it asks for a dense output (`None`, MXNet's
/// default, or `default`): SwiftPS arrays are dense; their arguments `lhs` and `rhs`; shape inference
/// from both.
protocol TransposingProduct: Operator {
    var transposeA: Bool { get }
    var transposeB: Bool { get }
    init(transposeA: Bool, transposeB: Bool)
    /// The output shape for operands `lhs` and `rhs`, or a shape error.
    func outputShape(_ lhs: [Int], _ rhs: [Int]) throws -> [Int]
}

extension TransposingProduct {
    public static var attributeNames: [String] { ["transpose_a", "transpose_b", "forward_stype"] }

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        try r.requireAbsentOr(
            "forward_stype", ["None", "default"], reason: "is not supported: SwiftPS arrays are dense (None or default)"
        )
        self.init(
            transposeA: try r.bool("transpose_a", default: false), transposeB: try r.bool("transpose_b", default: false)
        )
    }

    public var attributes: [String: String] {
        ["transpose_a": AttributeReader.format(transposeA), "transpose_b": AttributeReader.format(transposeB)]
    }

    public func listArguments() -> [String] { ["lhs", "rhs"] }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        let (lhs, rhs) = try productOperands(s, Self.typeName)
        return ([lhs, rhs], [try outputShape(lhs, rhs)], [])
    }
}

/// Both operand shapes of a matrix product `op`, or a shape error naming it.
func productOperands(_ s: [[Int]?], _ op: String) throws -> ([Int], [Int]) {
    guard let lhs = s.first ?? nil, s.count > 1, let rhs = s[1] else {
        throw GraphError.shapeError("\(op) needs the shapes of both operands")
    }
    return (lhs, rhs)
}

/// MXNet's `dot`: the product of two dense arrays, summing over the last axis of `lhs` and the first
/// of `rhs`: vectors give their inner product (shape (1,)), matrices their matrix product, and N-D
/// arrays `dot(x, y)[i…, j…] = Σ_k x[i…, k] · y[k, j…]`.
///
/// As MXNet 1.9.1 (dot-inl.h), `transpose_a` views `lhs` as the matrix (first axis, all the others)
/// and transposes it, so the sum runs over its first axis; `transpose_b` views `rhs` as (all axes but
/// the last, last axis) transposed, summing over its last axis. Two vectors cannot be transposed.
public struct Dot: TransposingProduct {
    public static let typeName = "dot"
    public let transposeA: Bool, transposeB: Bool

    /// A `dot` with the given transposes.
    public init(transposeA: Bool = false, transposeB: Bool = false) {
        self.transposeA = transposeA
        self.transposeB = transposeB
    }

    /// The product's m, n, k and output shape for operands `lhs` and `rhs`.
    func product(_ lhs: [Int], _ rhs: [Int]) throws -> (m: Int, n: Int, k: Int, output: [Int]) {
        guard !lhs.isEmpty, !rhs.isEmpty else {
            throw GraphError.shapeError("dot needs operands of one axis or more, got \(lhs) and \(rhs)")
        }
        if lhs.count == 1 && rhs.count == 1 {
            guard !transposeA && !transposeB else {
                throw GraphError.shapeError("dot cannot transpose vectors (\(lhs) and \(rhs))")
            }
            guard lhs == rhs else {
                throw GraphError.shapeError("dot of vectors of different lengths: \(lhs) and \(rhs)")
            }
            return (1, 1, lhs[0], [1])
        }
        let (kl, freeL) = transposeA ? (lhs[0], Array(lhs.dropFirst())) : (lhs[lhs.count - 1], Array(lhs.dropLast()))
        let (kr, freeR) = transposeB ? (rhs[rhs.count - 1], Array(rhs.dropLast())) : (rhs[0], Array(rhs.dropFirst()))
        guard kl == kr else {
            throw GraphError.shapeError(
                "dot shape error: \(lhs) × \(rhs) (transpose_a=\(transposeA), transpose_b=\(transposeB)) sum over "
                    + "\(kl) and \(kr) values")
        }
        return (freeL.reduce(1, *), freeR.reduce(1, *), kl, freeL + freeR)
    }

    func outputShape(_ lhs: [Int], _ rhs: [Int]) throws -> [Int] { try product(lhs, rhs).output }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let p = try product(context.inputShapes[0], context.inputShapes[1])
        return MatrixProductInstance(m: p.m, n: p.n, k: p.k, transA: transposeA, transB: transposeB)
    }
}

/// MXNet's `batch_dot`: for operands of N ≥ 3 axes whose leading N − 2 axes agree, the matrix
/// product of each pair of trailing matrices, `transpose_a`/`transpose_b` transposing them: shapes
/// (B…, n, m) · (B…, m, k) → (B…, n, k). One sgemm per matrix.
public struct BatchDot: TransposingProduct {
    public static let typeName = "batch_dot"
    public let transposeA: Bool, transposeB: Bool

    /// A `batch_dot` with the given transposes.
    public init(transposeA: Bool = false, transposeB: Bool = false) {
        self.transposeA = transposeA
        self.transposeB = transposeB
    }

    /// The inner size k and the output shape for operands `lhs` and `rhs`.
    func product(_ lhs: [Int], _ rhs: [Int]) throws -> (k: Int, output: [Int]) {
        guard lhs.count >= 3, lhs.count == rhs.count else {
            throw GraphError.shapeError(
                "batch_dot needs operands of the same number N ≥ 3 of axes, got \(lhs) and \(rhs)")
        }
        let leading = lhs.dropLast(2)
        guard leading == rhs.dropLast(2) else {
            throw GraphError.shapeError(
                "batch_dot shape error: the leading batch axes of \(lhs) and \(rhs) must be equal")
        }
        let d = lhs.count
        let (m, kl) = transposeA ? (lhs[d - 1], lhs[d - 2]) : (lhs[d - 2], lhs[d - 1])
        let (kr, n) = transposeB ? (rhs[d - 1], rhs[d - 2]) : (rhs[d - 2], rhs[d - 1])
        guard kl == kr else {
            throw GraphError.shapeError(
                "batch_dot shape error: \(lhs) × \(rhs) (transpose_a=\(transposeA), transpose_b=\(transposeB)) "
                    + "multiply matrices of \(kl) and \(kr) inner values")
        }
        return (kl, Array(leading) + [m, n])
    }

    func outputShape(_ lhs: [Int], _ rhs: [Int]) throws -> [Int] { try product(lhs, rhs).output }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let (lhs, rhs) = (context.inputShapes[0], context.inputShapes[1])
        let p = try product(lhs, rhs)
        return MatrixProductInstance(
            a: lhs, b: rhs, c: p.output, rowAxis: lhs.count - 2, k: p.k, transA: transposeA, transB: transposeB,
            alpha: 1)
    }
}

/// MXNet's `_linalg_gemm2` (`linalg_gemm2`, `mx.sym.linalg.gemm2`): `alpha · op(A) · op(B)` for each
/// pair of matrices of `A` and `B`, arrays of one rank n ≥ 2 that agree on every axis but the
/// matrices' own; `op` transposes with `transpose_a`/`transpose_b`. A matrix's columns are the last
/// axis and its rows the axis `axis` (default −2, negative counting from the end; it must come
/// before the last): as MXNet's swapaxes/gemm/swapaxes, but read and written in place with the
/// rows' stride. `alpha` default 1. One sgemm per matrix, gradients too.
public struct LinalgGemm2: Operator {
    public static let typeName = "_linalg_gemm2"
    public static let attributeNames: [String] = ["transpose_a", "transpose_b", "alpha", "axis"]
    public let transposeA: Bool, transposeB: Bool
    public let alpha: Float
    public let axis: Int

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        transposeA = try r.bool("transpose_a", default: false)
        transposeB = try r.bool("transpose_b", default: false)
        alpha = try r.float("alpha", default: 1)
        axis = try r.int("axis", default: -2)
        guard alpha.isFinite else { throw r.bad("alpha", attributes["alpha"] ?? "", "must be finite") }
    }

    /// A gemm2 with the given settings.
    public init(transposeA: Bool = false, transposeB: Bool = false, alpha: Float = 1, axis: Int = -2) {
        self.transposeA = transposeA
        self.transposeB = transposeB
        self.alpha = alpha
        self.axis = axis
    }

    public var attributes: [String: String] {
        [
            "transpose_a": AttributeReader.format(transposeA), "transpose_b": AttributeReader.format(transposeB),
            "alpha": formatFloat(alpha), "axis": String(axis),
        ]
    }

    public func listArguments() -> [String] { ["A", "B"] }

    /// The row axis, the inner size k and the output shape for `a` and `b`.
    func product(_ a: [Int], _ b: [Int]) throws -> (rowAxis: Int, k: Int, output: [Int]) {
        guard a.count >= 2, a.count == b.count else {
            throw GraphError.shapeError(
                "_linalg_gemm2 needs A and B of the same number n ≥ 2 of axes, got \(a) and \(b)")
        }
        let last = a.count - 1
        let row = axis < 0 ? axis + a.count : axis
        guard row >= 0, row < last else {
            throw GraphError.shapeError(
                "_linalg_gemm2 axis=\(axis) is no row axis of \(a.count)-axis A and B: it must come before the last")
        }
        for i in a.indices where i != row && i != last && a[i] != b[i] {
            throw GraphError.shapeError(
                "_linalg_gemm2 A \(a) and B \(b) must have the same shape except on the row and column axes")
        }
        let (m, ka) = transposeA ? (a[last], a[row]) : (a[row], a[last])
        let (kb, n) = transposeB ? (b[last], b[row]) : (b[row], b[last])
        guard ka == kb else {
            throw GraphError.shapeError(
                "_linalg_gemm2 A \(a) and B \(b) (transpose_a=\(transposeA), transpose_b=\(transposeB), "
                    + "axis=\(axis)): incompatible matrix dimensions for multiplication, \(ka) and \(kb)")
        }
        var output = a
        output[row] = m
        output[last] = n
        return (row, ka, output)
    }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        let (a, b) = try productOperands(s, Self.typeName)
        return ([a, b], [try product(a, b).output], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let (a, b) = (context.inputShapes[0], context.inputShapes[1])
        let p = try product(a, b)
        return MatrixProductInstance(
            a: a, b: b, c: p.output, rowAxis: p.rowAxis, k: p.k, transA: transposeA, transB: transposeB, alpha: alpha)
    }
}
