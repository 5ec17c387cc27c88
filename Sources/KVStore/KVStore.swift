import SwiftPSOptimizer
import SwiftPSTensor

/// Errors raised by key-value stores.
public enum KVStoreError: Error, CustomStringConvertible, Equatable {
    /// A key used before `initialize`.
    case unknownKey(String)
    /// A key initialized twice, or with a different shape than before.
    case badKey(String)
    /// An operation that needs an optimizer on the store before `setOptimizer`.
    case noOptimizer(String)
    /// A store type string that SwiftPS does not know.
    case unknownType(String)
    /// A distributed operation that failed (a server or the scheduler; the message names it).
    case remote(String)
    /// A deadline passed; names what was awaited and from whom.
    case timeout(String)
    /// A setting (an environment variable or an argument) that cannot work; the text names it.
    case badConfiguration(String)

    public var description: String {
        switch self {
        case .unknownKey(let k): return "key '\(k)' was not initialized: call initialize first"
        case .badKey(let s): return s
        case .noOptimizer(let s): return "\(s): call setOptimizer first"
        case .unknownType(let t): return "unknown kvstore type '\(t)': use local, dist_sync or dist_async"
        case .remote(let s): return s
        case .timeout(let s): return s
        case .badConfiguration(let s): return s
        }
    }
}

/// MXNet's KVStore: a store of named arrays that workers push gradients to and pull weights from.
///
/// Keys are strings; every worker must initialize the same keys in the same order (as in MXNet,
/// where string keys become integers in order of first init). When an optimizer is set
/// (`setOptimizer`), pushes are gradients and the store applies the update ("update on kvstore",
/// MXNet's default); otherwise a push replaces the stored value with the sum of what was pushed.
///
/// Operations may complete asynchronously: `push`, `pull` and `pushPull` return once the request is
/// queued, and `wait(_:)` blocks until every operation on that key has finished, so communication
/// overlaps computation (MXNet's engine dependencies). `priority` is MXNet's hint (the Module passes
/// `-index`); the stores here send requests in the order they are made, which for the Module's
/// pushes (last layer first, as backward produces them) is what MXNet's engine does in practice.
///
/// Unlike MXNet, whose engine orders every later use of an array after the operations on it, the
/// arrays are the caller's to keep still until `wait(key)` (or `waitAll()`) returns: a distributed
/// store sends a pushed array's memory as it is, without copying it, and writes a pulled value into
/// `out` when the answer arrives. Changing a pushed array, or reading `out`, before then sends or
/// reads whatever it holds at that moment. (A local store finishes every call before it returns.)
/// `Module` keeps to this.
public protocol KVStore: AnyObject {
    /// The store's type.
    var type: KVStoreType { get }
    /// This worker's rank, 0 ..< numWorkers.
    var rank: Int { get }
    /// The number of workers in the job.
    var numWorkers: Int { get }
    /// True once an optimizer is installed: pushes are gradients, updated on the store.
    var updatesOnStore: Bool { get }

    /// Registers `keys` with initial `values` (MXNet's `init`); in a distributed store rank 0's values
    /// win and the call returns when every worker has initialized.
    func initialize(_ keys: [String], values: [NDArray]) throws
    /// Pushes `value` (a gradient when an optimizer is set) for `key`; `value` must not change until
    /// `wait(key)` returns.
    func push(_ key: String, _ value: NDArray, priority: Int) throws
    /// Pulls the current value of `key` into `out`, which holds it once `wait(key)` returns.
    func pull(_ key: String, into out: NDArray, priority: Int) throws
    /// Pushes `value` then pulls the updated value into `out`, as one round trip.
    func pushPull(_ key: String, _ value: NDArray, into out: NDArray, priority: Int) throws
    /// Blocks until every operation on `key` has finished and its output arrays are valid.
    func wait(_ key: String) throws
    /// Blocks until every queued operation has finished.
    func waitAll() throws
    /// Installs an optimizer described by `config` (on the servers for a distributed store).
    func setOptimizer(_ config: OptimizerConfig) throws
    /// A barrier over all workers (returns at once for a local store).
    func barrier() throws
    /// MXNet's `set_gradient_compression`, before the first `initialize`: pushes travel compressed
    /// (`GradientCompression`). Only distributed stores compress; others accept `none` only.
    func setGradientCompression(_ compression: GradientCompression) throws
    /// The compression in force (`none` unless `setGradientCompression` set one).
    var gradientCompression: GradientCompression { get }
}

extension KVStore {
    /// MXNet's `push(key, [v1, v2, …])`: pushes the sum of `values` (in MXNet, the gradients of one
    /// worker's devices), summed here in order. Throws naming the key when `values` is empty or the
    /// arrays differ in size.
    public func push(_ key: String, _ values: [NDArray], priority: Int = 0) throws {
        guard let first = values.first else { throw KVStoreError.badKey("push of '\(key)': no values") }
        guard values.count > 1 else { return try push(key, first, priority: priority) }
        let sum = first.copy()
        for value in values.dropFirst() {
            guard value.count == sum.count else {
                throw KVStoreError.badKey("push of '\(key)': values of shapes \(first.shape) and \(value.shape)")
            }
            sum += value
        }
        try push(key, sum, priority: priority)
    }

    /// MXNet's `pull(key, out=[o1, o2, …])` (in MXNet, one output per device): every array of `outs`
    /// receives the value. Unlike `pull(_:into:)` it returns once they all hold it (it waits for
    /// `key`). Throws naming the key when `outs` is empty or an array's size differs.
    public func pull(_ key: String, into outs: [NDArray], priority: Int = 0) throws {
        guard let first = outs.first else { throw KVStoreError.badKey("pull of '\(key)': no output arrays") }
        if let odd = outs.first(where: { $0.count != first.count }) {
            throw KVStoreError.badKey("pull of '\(key)': output arrays of shapes \(first.shape) and \(odd.shape)")
        }
        try pull(key, into: first, priority: priority)
        try wait(key)
        for out in outs.dropFirst() { try out.copy(from: first) }
    }

    /// MXNet's `pushpull(key, value)` without `out`: the updated value replaces `value` (once
    /// `wait(key)` returns). What is pushed is a copy of `value` taken at the call.
    public func pushPull(_ key: String, _ value: NDArray, priority: Int = 0) throws {
        try pushPull(key, value.copy(), into: value, priority: priority)
    }

    /// `none`: only distributed stores compress.
    public var gradientCompression: GradientCompression { .none }

    /// Accepts `none` and refuses any compression, as MXNet's non-distributed stores do.
    public func setGradientCompression(_ compression: GradientCompression) throws {
        guard !compression.isActive else {
            throw KVStoreError.badConfiguration(
                "gradient compression \(compression) needs a distributed kvstore (dist_sync or dist_async), not \(type)"
            )
        }
    }
}
