import COpenBLAS

/// Linear algebra from the LAPACK routines inside OpenBLAS.
public enum LAPACK {
    /// The thin singular value decomposition `A = U · diag(S) · Vᵀ` of a row-major `rows × columns`
    /// matrix (numpy's `linalg.svd(a, full_matrices=False)`): with `r = min(rows, columns)`, `u` is
    /// `rows × r` with orthonormal columns, `s` the `r` singular values in descending order, and
    /// `vt` is `r × columns` with orthonormal rows, all row-major. Throws
    /// `TensorError.shapeMismatch` for a matrix that is empty or does not hold `rows × columns`
    /// values, and `TensorError.notConverged` when LAPACK's iteration does not converge.
    public static func thinSVD(_ a: [Float], rows: Int, columns: Int) throws -> (u: [Float], s: [Float], vt: [Float]) {
        guard rows > 0, columns > 0, a.count == rows * columns, var m = Int32(exactly: columns),
            var n = Int32(exactly: rows)
        else {
            throw TensorError.shapeMismatch(
                "an SVD needs a non-empty \(rows) × \(columns) matrix, got \(a.count) values")
        }
        // LAPACK is column-major: the row-major A is the column-major Aᵀ (columns × rows), whose
        // SVD is V·S·Uᵀ. So LAPACK's left factor is Vᵀ and its right factor is U, both already in
        // row-major order.
        let r = min(rows, columns)
        var matrix = a
        var s = [Float](repeating: 0, count: r)
        var vt = [Float](repeating: 0, count: r * columns)
        var u = [Float](repeating: 0, count: rows * r)
        var (lda, ldu, ldvt, info) = (m, m, Int32(r), Int32(0))
        // "S": the first min(rows, columns) singular vectors of each side.
        var (jobU, jobVT) = (CChar(UInt8(ascii: "S")), CChar(UInt8(ascii: "S")))
        func run(_ work: inout [Float], _ lwork: Int32) {
            var lwork = lwork
            sgesvd_(&jobU, &jobVT, &m, &n, &matrix, &lda, &s, &vt, &ldu, &u, &ldvt, &work, &lwork, &info, 1, 1)
        }
        var query: [Float] = [0]
        run(&query, -1)  // asks for the best work size
        var work = [Float](repeating: 0, count: max(1, Int(query[0])))
        run(&work, Int32(work.count))
        guard info == 0 else {
            throw TensorError.notConverged("LAPACK sgesvd (info \(info)) on a \(rows) × \(columns) matrix")
        }
        return (u, s, vt)
    }
}
