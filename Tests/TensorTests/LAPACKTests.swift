import SwiftPSTensor
import Testing

@Suite("LAPACK")
struct LAPACKTests {
    @Test func thinSVDReconstructsTheMatrix() throws {
        // A 3 × 2 matrix: U·diag(S)·Vᵀ gives it back, singular values descending.
        let a: [Float] = [3, 1, 1, 3, 2, 2]
        let (u, s, vt) = try LAPACK.thinSVD(a, rows: 3, columns: 2)
        #expect(u.count == 6 && s.count == 2 && vt.count == 4 && s[0] >= s[1])
        for i in 0..<3 {
            for j in 0..<2 {
                let value = (0..<2).reduce(Float(0)) { $0 + u[i * 2 + $1] * s[$1] * vt[$1 * 2 + j] }
                #expect(abs(value - a[i * 2 + j]) < 1e-5)
            }
        }
        // Singular values of [[3, 1], [1, 3], [2, 2]]: sqrt(24) and 2.
        #expect(abs(s[0] - Float(24).squareRoot()) < 1e-5 && abs(s[1] - 2) < 1e-5)
        #expect(throws: TensorError.self) { try LAPACK.thinSVD([1, 2, 3], rows: 2, columns: 2) }
    }

    @Test func thinSVDOfAWideMatrixHasOrthonormalRowsInVt() throws {
        // 2 × 3: vt is 2 × 3 with orthonormal rows, u 2 × 2 orthogonal.
        let (u, s, vt) = try LAPACK.thinSVD([1, 0, 2, 0, 3, 0], rows: 2, columns: 3)
        #expect(u.count == 4 && s.count == 2 && vt.count == 6)
        // Singular values of [[1, 0, 2], [0, 3, 0]]: 3 and sqrt(5).
        #expect(abs(s[0] - 3) < 1e-5 && abs(s[1] - Float(5).squareRoot()) < 1e-5)
        for i in 0..<2 {
            for j in 0..<2 {
                let dot = (0..<3).reduce(Float(0)) { $0 + vt[i * 3 + $1] * vt[j * 3 + $1] }
                #expect(abs(dot - (i == j ? 1 : 0)) < 1e-5)
            }
        }
        #expect(throws: TensorError.self) { try LAPACK.thinSVD([], rows: 0, columns: 3) }
    }
}
