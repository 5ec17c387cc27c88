import COpenBLAS
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Matrix products through OpenBLAS's `cblas_sgemm`, and the process's compute-thread setting.
public enum BLAS {
    /// `C = alpha * op(A) * op(B) + beta * C` on row-major matrices; `op(A)` is m×k, `op(B)` is k×n.
    ///
    /// `lda`, `ldb` and `ldc` default to the row lengths of the stored (untransposed) matrices.
    @inlinable
    public static func gemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        if m == 0 || n == 0 { return }
        _ = BLAS.defaultThreads
        let la = lda ?? (transA ? m : k)
        let lb = ldb ?? (transB ? k : n)
        let lc = ldc ?? n
        func product(
            _ rows: Int, _ columns: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
            _ c: UnsafeMutablePointer<Float>
        ) {
            cblas_sgemm(
                CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                blasint(rows), blasint(columns), blasint(k), alpha, a, blasint(la), b, blasint(lb), beta, c,
                blasint(lc))
        }
        let chunks = m * n * k >= splitThreshold ? ComputeThreads.chunks(for: max(m, n) / splitGrain) : 1
        guard chunks > 1 else { return product(m, n, a, b, c) }
        // Each thread computes some rows (or columns) of c, from the matching rows of op(A) (columns
        // of op(B)).
        let byRows = m >= n
        ComputeThreads.forEach(byRows ? m : n, chunks: chunks) { range, _ in
            let first = range.lowerBound
            if byRows {
                product(range.count, n, a + (transA ? first : first * la), b, c + first * lc)
            } else {
                product(m, range.count, a, b + (transB ? first * lb : first), c + first)
            }
        }
    }

    /// Products of at least this many multiply-adds (m·n·k) are split over the compute threads; a
    /// smaller one takes about as long as handing half of it to another thread.
    @usableFromInline static let splitThreshold = 1 << 21
    /// The fewest rows (or columns) of the result a thread takes.
    @usableFromInline static let splitGrain = 16

    /// `y += alpha * x` over `n` values.
    @inlinable
    public static func axpy(_ n: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        cblas_saxpy(blasint(n), alpha, x, 1, y, 1)
    }

    /// The matrix product of two 2-D arrays, `a` (m×k) times `b` (k×n), as a new m×n array.
    public static func matmul(_ a: NDArray, _ b: NDArray, transA: Bool = false, transB: Bool = false) throws -> NDArray
    {
        guard a.ndim == 2, b.ndim == 2 else {
            throw TensorError.shapeMismatch("matmul needs 2-D arrays, got \(a.shape) and \(b.shape)")
        }
        let (m, ka) = transA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (kb, n) = transB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard ka == kb else {
            throw TensorError.shapeMismatch("matmul inner dimensions differ: \(a.shape) × \(b.shape)")
        }
        let out = NDArray(shape: [m, n])
        gemm(transA: transA, transB: transB, m: m, n: n, k: ka, a: a.data, b: b.data, c: out.data)
        return out
    }

    /// The environment variable that sets the compute threads of a SwiftPS process.
    public static let threadsVariable = "SWIFTPS_BLAS_THREADS"

    /// Sets the process's compute threads (`ComputeThreads`; OpenBLAS itself runs on one thread).
    ///
    /// Order: the explicit `threads` argument, then `SWIFTPS_BLAS_THREADS`, then `OPENBLAS_NUM_THREADS`,
    /// then `automatic`. The library's `automatic` is 1, because a cluster runs one worker process per
    /// core (two 1-thread processes scale 1.98x; one 2-thread process 1.55x); a process that trains
    /// alone passes `automaticThreads` (what `swiftps train --kv-store local` does).
    /// - Returns: the number of threads now in force.
    @discardableResult
    public static func configureThreads(_ threads: Int? = nil, automatic: Int = 1) -> Int {
        threadsConfigured.store(true, ordering: .relaxed)
        // OpenBLAS itself stays on one thread: SwiftPS splits the work (`ComputeThreads`).
        openblas_set_num_threads(1)
        let inForce = threadCount(setting: threadSetting(explicit: threads)?.threads, automatic: automatic)
        configuredThreadCount.store(inForce, ordering: .relaxed)
        return inForce
    }

    /// The most compute threads a process runs (`configureThreads` lowers larger settings to it; the
    /// CLI refuses them): a mistyped `SWIFTPS_BLAS_THREADS=100000` must not start a hundred thousand
    /// threads.
    public static let maxThreads = 1024

    /// The count `configureThreads` puts in force: `setting`, else `automatic`, from 1 to `maxThreads`.
    static func threadCount(setting: Int?, automatic: Int) -> Int {
        min(maxThreads, max(1, setting ?? automatic))
    }

    /// The thread count the settings give, in `configureThreads`'s order, and the environment variable
    /// that gave it (nil for `explicit` itself); nil when none does and the automatic count applies.
    public static func threadSetting(explicit: Int?) -> (threads: Int, variable: String?)? {
        if let explicit { return (explicit, nil) }
        let env = ProcessInfoLite.environment
        for variable in [threadsVariable, "OPENBLAS_NUM_THREADS"] {
            if let threads = env[variable].flatMap({ Int($0) }) { return (threads, variable) }
        }
        return nil
    }

    /// The compute threads this process chose (`configureThreads`): how many chunks a
    /// `ComputeThreads` region (a convolution's batch, a large product) is split into.
    public static var threads: Int {
        _ = defaultThreads
        return configuredThreadCount.load(ordering: .relaxed)
    }

    private static let configuredThreadCount = Atomic<Int>(1)

    /// The thread count for a process that computes alone on this machine (or with `sharing - 1`
    /// others): its CPU budget (`CPUBudget`: affinity mask and cgroup quota) divided among them.
    public static func automaticThreads(sharing processes: Int = 1) -> Int {
        max(1, CPUBudget.current / max(1, processes))
    }

    /// Set once a process has chosen its thread count.
    private static let threadsConfigured = Atomic<Bool>(false)

    /// Applies the default setting before the first product when the program never called
    /// `configureThreads`, so the count never depends on OpenBLAS's own default (the core count).
    @usableFromInline static let defaultThreads: Int = {
        threadsConfigured.load(ordering: .relaxed)
            ? configuredThreadCount.load(ordering: .relaxed) : configureThreads(nil)
    }()

    /// The kernel OpenBLAS chose for this CPU (for example "Cooperlake").
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// `OPENBLAS_CORETYPE` when set: the kernels OpenBLAS was told to use instead of the ones it
    /// picks for this CPU (on a Zen 4 machine whose environment set Haswell, OpenBLAS's own pick,
    /// Cooperlake with AVX-512, trained the mlp 1.6x faster).
    public static var forcedCore: String? {
        ProcessInfoLite.environment["OPENBLAS_CORETYPE"].flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// The process environment without Foundation.
public enum ProcessInfoLite {
    /// All environment variables.
    public static var environment: [String: String] {
        var result: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") {
                result[String(s[..<eq])] = String(s[s.index(after: eq)...])
            }
            p += 1
        }
        return result
    }
}
