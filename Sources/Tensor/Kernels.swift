/// Element-wise kernels over raw buffers, written as plain loops that the compiler vectorizes.
///
/// (A scalar `max(x, 0)` loop vectorizes to SSE/AVX; `pointwiseMax` on SIMD types does not.)
/// All functions take counts and pointers so executors can run them on bound buffers without
/// allocating.
public enum Kernels {
    /// `y[i] = x[i]`.
    @inlinable public static func copy(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        y.update(from: x, count: n)
    }

    /// `out[i] = a[i] + b[i]`.
    @inlinable public static func add(
        _ n: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>
    ) {
        for i in 0..<n { out[i] = a[i] + b[i] }
    }

    /// `y[i] += x[i]`.
    @inlinable public static func addInPlace(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        for i in 0..<n { y[i] += x[i] }
    }

    /// `y[i] += alpha * x[i]`.
    @inlinable public static func axpy(
        _ n: Int, _ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>
    ) {
        for i in 0..<n { y[i] += alpha * x[i] }
    }

    /// `out[i] = a[i] * b[i]`.
    @inlinable public static func mul(
        _ n: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>
    ) {
        for i in 0..<n { out[i] = a[i] * b[i] }
    }

    /// `x[i] *= alpha`.
    @inlinable public static func scale(_ n: Int, _ alpha: Float, _ x: UnsafeMutablePointer<Float>) {
        for i in 0..<n { x[i] *= alpha }
    }

    /// `x[i] = value`.
    @inlinable public static func fill(_ n: Int, _ value: Float, _ x: UnsafeMutablePointer<Float>) {
        x.update(repeating: value, count: n)
    }

    /// The sum of `n` values.
    @inlinable public static func sum(_ n: Int, _ x: UnsafePointer<Float>) -> Float {
        // Eight partial sums: vectorizes and loses less precision than one running total.
        var acc = SIMD8<Float>.zero
        var i = 0
        while i + 8 <= n {
            acc += SIMD8<Float>(
                x[i], x[i + 1], x[i + 2], x[i + 3], x[i + 4], x[i + 5], x[i + 6], x[i + 7])
            i += 8
        }
        var s = acc.sum()
        while i < n {
            s += x[i]
            i += 1
        }
        return s
    }

    /// The dot product of two buffers.
    @inlinable public static func dot(_ n: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Float {
        var acc = SIMD8<Float>.zero
        var i = 0
        while i + 8 <= n {
            let va = SIMD8<Float>(a[i], a[i + 1], a[i + 2], a[i + 3], a[i + 4], a[i + 5], a[i + 6], a[i + 7])
            let vb = SIMD8<Float>(b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5], b[i + 6], b[i + 7])
            acc += va * vb
            i += 8
        }
        var s = acc.sum()
        while i < n {
            s += a[i] * b[i]
            i += 1
        }
        return s
    }

    /// The largest value and its first index.
    @inlinable public static func argmax(_ n: Int, _ x: UnsafePointer<Float>) -> (index: Int, value: Float) {
        precondition(n > 0, "argmax of an empty buffer")
        var best = 0
        var v = x[0]
        for i in 1..<n where x[i] > v {
            v = x[i]
            best = i
        }
        return (best, v)
    }

    /// Adds row vector `bias` (length `cols`) to each of `rows` rows of `x`.
    @inlinable public static func addRowVector(
        rows: Int, cols: Int, _ bias: UnsafePointer<Float>, _ x: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let row = x + r * cols
            for c in 0..<cols { row[c] += bias[c] }
        }
    }

    /// `out[c] (+)= sum over rows of x[r, c]`; `accumulate` adds to `out` instead of overwriting.
    @inlinable public static func sumRows(
        rows: Int, cols: Int, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        if !accumulate { out.update(repeating: 0, count: cols) }
        for r in 0..<rows {
            let row = x + r * cols
            for c in 0..<cols { out[c] += row[c] }
        }
    }
}

extension NDArray {
    /// The sum of all elements.
    public func sum() -> Float { Kernels.sum(count, data) }

    /// The mean of all elements.
    public func mean() -> Float { count == 0 ? 0 : sum() / Float(count) }

    /// The largest element.
    public func max() -> Float { Kernels.argmax(count, data).value }

    /// The L2 norm of all elements.
    public func norm() -> Float { Kernels.dot(count, data, data).squareRoot() }

    /// For a 2-D array, the index of the largest element in each row.
    public func argmaxRows() -> [Int] {
        precondition(ndim >= 1 && count > 0, "argmaxRows of \(shape)")
        let rows = shape[0]
        let cols = count / rows
        return (0..<rows).map { Kernels.argmax(cols, data + $0 * cols).index }
    }

    /// Element-wise sum as a new array.
    public static func + (a: NDArray, b: NDArray) -> NDArray {
        precondition(a.shape == b.shape, "NDArray + : shapes \(a.shape) and \(b.shape) differ")
        let out = NDArray(shape: a.shape)
        Kernels.add(a.count, a.data, b.data, out.data)
        return out
    }

    /// Element-wise product as a new array.
    public static func * (a: NDArray, b: NDArray) -> NDArray {
        precondition(a.shape == b.shape, "NDArray * : shapes \(a.shape) and \(b.shape) differ")
        let out = NDArray(shape: a.shape)
        Kernels.mul(a.count, a.data, b.data, out.data)
        return out
    }

    /// Scalar product as a new array.
    public static func * (a: NDArray, s: Float) -> NDArray {
        let out = a.copy()
        Kernels.scale(out.count, s, out.data)
        return out
    }

    /// `self += other`.
    public static func += (a: NDArray, b: NDArray) {
        precondition(a.count == b.count, "NDArray += : shapes \(a.shape) and \(b.shape) differ")
        Kernels.addInPlace(a.count, b.data, a.data)
    }

    /// The largest absolute difference between two arrays of the same shape.
    public func maxAbsDifference(_ other: NDArray) -> Float {
        precondition(count == other.count, "maxAbsDifference: shapes \(shape) and \(other.shape) differ")
        var m: Float = 0
        for i in 0..<count { m = Swift.max(m, abs(data[i] - other.data[i])) }
        return m
    }
}
