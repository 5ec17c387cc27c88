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

    /// Products of contiguous matrices, item `i` at `i` times the matrix size in each array.
    convenience init(batch: Int, m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Float = 1) {
        let items = 0..<batch
        self.init(
            m: m, n: n, k: k, transA: transA, transB: transB, alpha: alpha,
            offsets: (items.map { $0 * m * k }, items.map { $0 * k * n }, items.map { $0 * m * n }),
            ld: (max(1, transA ? m : k), max(1, transB ? k : n), max(1, n)))
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

/// The attributes `dot` and `batch_dot` share: `transpose_a`, `transpose_b` and `forward_stype`,
/// which SwiftPS accepts only where it asks for a dense output (`None`, MXNet's default, or
/// `default`): SwiftPS arrays are dense.
struct DotAttributes: Equatable {
    let transposeA: Bool, transposeB: Bool

    init(_ r: AttributeReader) throws {
        transposeA = try r.bool("transpose_a", default: false)
        transposeB = try r.bool("transpose_b", default: false)
        try r.requireAbsentOr(
            "forward_stype", ["None", "default"], reason: "is not supported: SwiftPS arrays are dense (None or default)"
        )
    }

    init(transposeA: Bool, transposeB: Bool) {
        self.transposeA = transposeA
        self.transposeB = transposeB
    }

    static let names = ["transpose_a", "transpose_b", "forward_stype"]

    var attributes: [String: String] {
        ["transpose_a": AttributeReader.format(transposeA), "transpose_b": AttributeReader.format(transposeB)]
    }

    /// Both operand shapes, or a shape error naming `op`.
    static func operands(_ s: [[Int]?], _ op: String) throws -> ([Int], [Int]) {
        guard let lhs = s.first ?? nil, s.count > 1, let rhs = s[1] else {
            throw GraphError.shapeError("\(op) needs both the lhs and the rhs shape")
        }
        return (lhs, rhs)
    }
}

/// MXNet's `dot`: the product of two dense arrays, summing over the last axis of `lhs` and the first
/// of `rhs`: vectors give their inner product (shape (1,)), matrices their matrix product, and N-D
/// arrays `dot(x, y)[i…, j…] = Σ_k x[i…, k] · y[k, j…]`.
///
/// As MXNet 1.9.1 (dot-inl.h), `transpose_a` views `lhs` as the matrix (first axis, all the others)
/// and transposes it, so the sum runs over its first axis; `transpose_b` views `rhs` as (all axes but
/// the last, last axis) transposed, summing over its last axis. Two vectors cannot be transposed.
public struct Dot: Operator {
    public static let typeName = "dot"
    public static let attributeNames = DotAttributes.names
    let settings: DotAttributes
    public var transposeA: Bool { settings.transposeA }
    public var transposeB: Bool { settings.transposeB }

    public init(attributes: [String: String]) throws {
        settings = try DotAttributes(AttributeReader(op: Self.typeName, attributes))
    }

    /// A `dot` with the given transposes.
    public init(transposeA: Bool = false, transposeB: Bool = false) {
        settings = DotAttributes(transposeA: transposeA, transposeB: transposeB)
    }

    public var attributes: [String: String] { settings.attributes }

    public func listArguments() -> [String] { ["lhs", "rhs"] }

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

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        let (lhs, rhs) = try DotAttributes.operands(s, Self.typeName)
        return ([lhs, rhs], [try product(lhs, rhs).output], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let p = try product(context.inputShapes[0], context.inputShapes[1])
        return MatrixProductInstance(batch: 1, m: p.m, n: p.n, k: p.k, transA: transposeA, transB: transposeB)
    }
}

/// MXNet's `batch_dot`: for operands of N ≥ 3 axes whose leading N − 2 axes agree, the matrix
/// product of each pair of trailing matrices, `transpose_a`/`transpose_b` transposing them: shapes
/// (B…, n, m) · (B…, m, k) → (B…, n, k). One sgemm per matrix.
public struct BatchDot: Operator {
    public static let typeName = "batch_dot"
    public static let attributeNames = DotAttributes.names
    let settings: DotAttributes
    public var transposeA: Bool { settings.transposeA }
    public var transposeB: Bool { settings.transposeB }

    public init(attributes: [String: String]) throws {
        settings = try DotAttributes(AttributeReader(op: Self.typeName, attributes))
    }

    /// A `batch_dot` with the given transposes.
    public init(transposeA: Bool = false, transposeB: Bool = false) {
        settings = DotAttributes(transposeA: transposeA, transposeB: transposeB)
    }

    public var attributes: [String: String] { settings.attributes }

    public func listArguments() -> [String] { ["lhs", "rhs"] }

    /// The batch, m, n, k and output shape for operands `lhs` and `rhs`.
    func product(_ lhs: [Int], _ rhs: [Int]) throws -> (batch: Int, m: Int, n: Int, k: Int, output: [Int]) {
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
        return (leading.reduce(1, *), m, n, kl, Array(leading) + [m, n])
    }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        let (lhs, rhs) = try DotAttributes.operands(s, Self.typeName)
        return ([lhs, rhs], [try product(lhs, rhs).output], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let p = try product(context.inputShapes[0], context.inputShapes[1])
        return MatrixProductInstance(
            batch: p.batch, m: p.m, n: p.n, k: p.k, transA: transposeA, transB: transposeB)
    }
}
