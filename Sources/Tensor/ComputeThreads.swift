import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The compute threads of a process (`BLAS.configureThreads`) and the data-parallel regions they run:
/// each thread takes a contiguous chunk of a region's items, and OpenBLAS itself always runs on one
/// thread.
///
/// SwiftPS splits the work rather than letting OpenBLAS thread each product, because most of a
/// network's products are small: lenet's second convolution is one 50×64×500 GEMM per image, which
/// took 4.1 ms per batch on one thread, 4.3 ms with OpenBLAS's two and 2.5 ms with two threads taking
/// half the images each (`Convolution`). Large products split their result's rows or columns the same
/// way (`BLAS.gemm`). Regions do not nest: inside one, `chunks(for:)` is 1.
public enum ComputeThreads {
    /// How many chunks a region of `count` items splits into: the thread count in force (`withThreads`
    /// or the process's), at most `count`; 1 inside a region.
    public static func chunks(for count: Int) -> Int {
        if RegionFlag.isSet { return 1 }
        return max(1, min(override ?? BLAS.threads, count))
    }

    /// Runs `body` with `threads` compute threads for the regions this task starts (a test's way to
    /// compare thread counts without changing the process's).
    public static func withThreads<R>(_ threads: Int, _ body: () throws -> R) rethrows -> R {
        try $override.withValue(max(1, threads), operation: body)
    }

    @TaskLocal private static var override: Int?

    /// Calls `body(range, chunk)` for the `chunks` contiguous ranges that split `0..<count` (the first
    /// ones one item longer when it does not divide), each on its own thread, and returns when all
    /// have; `chunk` (0..<chunks) lets each use its own workspace. With one chunk `body` runs here.
    /// The split depends only on `count` and `chunks`, so results are the same run to run. Regions
    /// started on several threads at once take turns on the pool.
    public static func forEach(_ count: Int, chunks: Int, _ body: (Range<Int>, Int) -> Void) {
        guard chunks > 1, count > 1, !RegionFlag.isSet else {
            if count > 0 { body(0..<count, 0) }
            return
        }
        let chunks = min(chunks, count)
        let pool = WorkerPool.shared(threads: chunks)
        withoutActuallyEscaping(body) { body in
            pool.run { worker in
                if worker < chunks { body(range(worker, of: chunks, count: count), worker) }
            }
        }
    }

    /// `forEach` for element-wise work: chunks of at least `grain` items each, as many as there are
    /// threads.
    public static func forEach(_ count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
        forEach(count, chunks: chunks(for: count / max(1, grain))) { range, _ in body(range) }
    }

    /// The fewest elements worth a thread in element-wise work (a hand-off costs about as much as
    /// this many activations).
    public static let elementGrain = 1 << 15

    /// The `chunk`th of `chunks` contiguous ranges splitting `0..<count`.
    public static func range(_ chunk: Int, of chunks: Int, count: Int) -> Range<Int> {
        let base = count / chunks
        let extra = count % chunks
        let start = chunk * base + min(chunk, extra)
        return start..<(start + base + (chunk < extra ? 1 : 0))
    }
}

/// Whether this thread is running a region's chunk (a thread-specific value).
enum RegionFlag {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()

    static var isSet: Bool { pthread_getspecific(key) != nil }

    static func set(_ on: Bool) {
        pthread_setspecific(key, on ? UnsafeRawPointer(bitPattern: 1) : nil)
    }
}

/// Threads that run the chunks of a region (the calling thread takes chunk 0). Between regions a
/// worker spins for a while before it sleeps, as OpenBLAS's own threads do: waking a sleeping thread
/// costs tens of microseconds in a virtual machine, about what a small product takes.
final class WorkerPool: @unchecked Sendable {
    /// The pool for `threads` threads (the caller and `threads - 1` workers), made on first use and
    /// replaced by a larger one when more are asked for; its workers live as long as the process.
    static func shared(threads: Int) -> WorkerPool {
        pools.withLock { pool in
            if let pool, pool.workers >= threads - 1 { return pool }
            let grown = WorkerPool(workers: threads - 1)
            pool = grown
            return grown
        }
    }

    private static let pools = Mutex<WorkerPool?>(nil)

    /// How long a worker spins for the next region before it sleeps.
    static let spinSeconds = 0.002

    let workers: Int
    /// One region at a time.
    private let turn = NSLock()
    private let generation = Atomic<Int>(0)
    private let remaining = Atomic<Int>(0)
    private let parking = NSCondition()
    private var parked = 0
    /// The region's work, set before `generation` moves and cleared after every worker is done.
    private var job: ((Int) -> Void)?

    private init(workers: Int) {
        self.workers = workers
        for worker in 0..<workers {
            let thread = Thread { [self] in
                RegionFlag.set(true)
                serve(worker + 1)
            }
            thread.name = "swiftps-compute"
            thread.start()
        }
    }

    /// Runs `body(0)` here and `body(1...workers)` on the workers; returns when all are done.
    func run(_ body: (Int) -> Void) {
        turn.lock()
        defer { turn.unlock() }
        withoutActuallyEscaping(body) { body in
            job = body
            remaining.store(workers, ordering: .relaxed)
            generation.add(1, ordering: .releasing)
            parking.lock()
            if parked > 0 { parking.broadcast() }
            parking.unlock()
            RegionFlag.set(true)
            body(0)
            RegionFlag.set(false)
            var spins = 0
            while remaining.load(ordering: .acquiring) > 0 {
                spins += 1
                if spins > 1000 { sched_yield() }
            }
            job = nil
        }
    }

    private func serve(_ worker: Int) {
        // Regions start after the pool is made, which may be before this thread runs.
        var seen = 0
        while true {
            let start = MonotonicClock.now()
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                guard spins & 255 == 0 else { continue }
                if MonotonicClock.now() - start > Self.spinSeconds {
                    parking.lock()
                    parked += 1
                    while generation.load(ordering: .acquiring) == seen { parking.wait() }
                    parked -= 1
                    parking.unlock()
                } else {
                    sched_yield()
                }
            }
            seen = generation.load(ordering: .acquiring)
            job?(worker)
            remaining.subtract(1, ordering: .releasing)
        }
    }
}
