import Foundation
import Logging
import SwiftPSCluster
import SwiftPSOptimizer
import SwiftPSTensor
import SwiftPSTransport

/// The worker side of MXNet's `dist_sync` / `dist_async` kvstore (`KVStoreDist`, `src/kvstore/kvstore_dist.h`).
///
/// String keys become integers in order of first `initialize`, as in MXNet, so every worker must
/// initialize the same keys in the same order. Each key is placed on the servers by `KVPlacement`
/// (whole on one server below the big-array bound, split over all servers above it), and every
/// operation sends one message per server holding a slice: `[meta, keys, vals, lens]`, with the values
/// sent without copying from the caller's array.
///
/// `push`, `pull` and `pushPull` send and return. Answers are applied on the cluster's dispatch thread
/// (pulled values are copied from the received frame straight into the slice of `out`), and
/// `wait(_:)`/`waitAll()` block until the answers are in, with a deadline (`timeout`) whose expiry
/// throws `KVStoreError.timeout` naming the servers that did not answer.
///
/// Ordering: as MXNet's engine orders the operations on one key (they share a buffer), an operation on
/// a key that still has requests in flight first waits for them; operations on different keys overlap.
/// Requests are sent in call order; `priority` travels in the meta (the Module already calls in the
/// order it wants the weights back) and is otherwise not used to reorder sends.
public final class DistKVStore: KVStore, @unchecked Sendable {
    /// `.distSync` or `.distAsync`.
    public let type: KVStoreType
    /// The cluster membership this store talks through (a started worker).
    public let postOffice: PostOffice
    /// Arrays with at least this many elements are split over all servers (MXNet's
    /// `MXNET_KVSTORE_BIGARRAY_BOUND`).
    public let bigArrayBound: Int
    /// Seconds `wait`/`waitAll` and server commands may take before failing.
    public let timeout: Double
    /// The checkpoint files this worker offers the scheduler (its compression residuals; worker 0's
    /// arrays and optimizer state), until the scheduler has read them (CHECKPOINT_READ).
    public let checkpointOutbox = CheckpointOutbox()
    /// The chunk in which this worker reads checkpoint files from the scheduler
    /// (`SWIFTPS_CHECKPOINT_CHUNK_BYTES`, default 16 MiB).
    public let checkpointChunkBytes: Int
    /// This worker's rank (ps-lite's `MyRank`).
    public var rank: Int { postOffice.rank }
    /// The number of workers in the job.
    public var numWorkers: Int { postOffice.numWorkers }
    /// True once `setOptimizer` ran: the servers update the weights from pushed gradients.
    public var updatesOnStore: Bool { locked { hasOptimizer } }

    /// Seconds callers have spent blocked in `wait` and `waitAll` for answers still in flight: the
    /// time a worker's training waited on the servers rather than overlapping communication with
    /// compute (`swiftps train` reports it per epoch).
    public var waitedSeconds: Double { locked { waited } }

    /// Where each request is recorded, from its send to its answer, on its key's track (nil: not
    /// recorded). Set it before the requests to record.
    public var timeline: Timeline? {
        get { locked { recorder } }
        set { locked { recorder = newValue } }
    }

    let logger: Logger
    let condition = MonotonicCondition()
    // Guarded by `condition`:
    var recorder: Timeline?
    var keyIndex: [String: Int] = [:]
    var keyNames: [String] = []
    var placements: [KVPlacement] = []
    var keyShapes: [[Int]] = []
    var inFlight: [Int64: PendingRequest] = [:]
    var inFlightPerKey: [Int: Int] = [:]
    var failures: [Int: String] = [:]
    var hasOptimizer = false
    var waited = 0.0
    var compression = GradientCompression.none
    /// Per key, what its compressed pushes have not sent yet (each part of the key uses its range).
    var residuals: [Int: NDArray] = [:]
    /// Residuals restored from a checkpoint, by key name, taken at each key's first compressed push.
    var restoredResiduals: [String: NDArray] = [:]
    /// Seconds the next `initialize` barrier waits beyond the cluster's barrier deadline: rank 0
    /// restores the servers from a checkpoint first (`loadCheckpoint`).
    var restoreAllowance = 0.0

    /// Creates the store over a started worker `postOffice`, as MXNet's `KVStoreDist` constructor: rank 0
    /// tells every server whether the job is synchronous (MXNet's `kSyncMode`, sent unless the type is
    /// `_async`) and waits for their acknowledgements.
    ///
    /// - Parameters:
    ///   - bigArrayBound: the split bound; default `SWIFTPS_BIGARRAY_BOUND`, else
    ///     `MXNET_KVSTORE_BIGARRAY_BOUND`, else 1,000,000.
    ///   - timeout: the deadline of every wait, default the cluster's `requestTimeout`.
    public init(
        postOffice: PostOffice, type: KVStoreType, bigArrayBound: Int? = nil, timeout: Double? = nil,
        logger: Logger = Logger(label: "swiftps.kvstore")
    ) throws {
        guard type.isDistributed else {
            throw KVStoreError.badConfiguration("DistKVStore serves dist_sync and dist_async, not \(type)")
        }
        guard postOffice.isWorker else {
            throw KVStoreError.badConfiguration(
                "DistKVStore needs a worker's PostOffice, got a \(postOffice.role) (the servers run KVServer)")
        }
        guard postOffice.numServers > 0 else {
            throw KVStoreError.badConfiguration(
                "\(type) needs at least one server: set DMLC_NUM_SERVER (or --num-servers; swiftps launch: -s) to 1 or more"
            )
        }
        let bound = try bigArrayBound ?? KVPlacement.bigArrayBound(environment: ProcessInfo.processInfo.environment)
        guard bound > 0 else { throw KVStoreError.badConfiguration("bigArrayBound \(bound) must be positive") }
        let seconds = timeout ?? postOffice.config.requestTimeout
        guard seconds > 0 else { throw KVStoreError.badConfiguration("timeout \(seconds) s must be positive") }
        checkpointChunkBytes = try CheckpointTransfer.chunkBytes(environment: ProcessInfo.processInfo.environment)
        self.type = type
        self.postOffice = postOffice
        self.bigArrayBound = bound
        self.timeout = seconds
        self.logger = logger
        postOffice.setAppHandler(onReceiveThread: true) { [weak self] message in self?.handleResponse(message) }
        if postOffice.rank == 0 {
            try commandServers(Message(head: type == .distSync ? 1 : 0, control: Control(cmd: .syncMode)))
        }
    }

    /// The number of elements of key `index` (under `condition`).
    func keyCount(_ index: Int) -> Int { NDArray.elementCount(keyShapes[index]) }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        condition.lock()
        defer { condition.unlock() }
        return try body()
    }

    // MARK: - KVStore

    /// MXNet's `InitImpl`: registers the keys (in order), rank 0 pushes the initial values (each
    /// server's first push of a key sets it), then a barrier over the workers. Other workers get the
    /// weights by pulling. Initializing a known key again re-sends rank 0's values.
    ///
    /// Unlike MXNet, the other workers then check their keys against rank 0's (name, shape, and how
    /// many keys): a worker built with another network fails here with an error naming the key and
    /// both shapes, instead of pushing gradients of one parameter into another.
    public func initialize(_ keys: [String], values: [NDArray]) throws {
        guard keys.count == values.count else {
            throw KVStoreError.badKey("initialize: \(keys.count) keys but \(values.count) values")
        }
        var indices: [Int] = []
        try locked {
            for (key, value) in zip(keys, values) {
                if let index = keyIndex[key] {
                    guard keyCount(index) == value.count else {
                        throw KVStoreError.badKey(
                            "key '\(key)' was initialized with \(keyCount(index)) elements, now \(value.count)")
                    }
                    indices.append(index)
                    continue
                }
                let index = keyNames.count
                guard index < 1 << Self.partShift else {
                    throw KVStoreError.badKey("too many keys: at most \(1 << Self.partShift) are supported")
                }
                keyIndex[key] = index
                keyNames.append(key)
                keyShapes.append(value.shape)
                placements.append(
                    KVPlacement(
                        key: index, count: value.count, numServers: postOffice.numServers,
                        bigArrayBound: bigArrayBound))
                indices.append(index)
            }
        }
        if rank == 0 {
            for (index, value) in zip(indices, values) {
                try send(key: index, kind: .initialize, value: value, out: nil, priority: 0)
            }
            // A server whose own shard of a restored checkpoint lacks a slice reads them all now.
            try wait(keys: nil, extra: locked { restoreAllowance })
        }
        // After a checkpoint restore, rank 0 arrives only once every server has read its files.
        let allowance = locked {
            defer { restoreAllowance = 0 }
            return restoreAllowance
        }
        try postOffice.barrier(group: .workers, timeout: postOffice.config.barrierTimeout + allowance)
        if rank != 0 {
            for index in indices { try send(key: index, kind: .check, value: nil, out: nil, priority: 0) }
            try waitAll()
        }
    }

    /// Pushes `value` (a gradient once an optimizer is set) to the servers holding `key`.
    ///
    /// It returns once the message is queued, and ZeroMQ sends `value`'s own memory (no copy): leave
    /// `value` unchanged until `wait(key)` (or the next operation on `key`, which waits first), as
    /// MXNet's engine orders writes to a pushed array after the push. The Module does.
    public func push(_ key: String, _ value: NDArray, priority: Int = 0) throws {
        try send(key: try index(of: key, count: value.count), kind: .push, value: value, out: nil, priority: priority)
    }

    /// Pulls the servers' value of `key` into `out` (answered from the store; see `KVServer`).
    public func pull(_ key: String, into out: NDArray, priority: Int = 0) throws {
        try send(key: try index(of: key, count: out.count), kind: .pull, value: nil, out: out, priority: priority)
    }

    /// MXNet's `PushPull`: one round trip per server that pushes `value` and brings back the updated
    /// value into `out` (in dist_sync, once every worker has pushed this key). As for `push`, leave
    /// `value` unchanged, and do not read `out`, until `wait(key)`.
    public func pushPull(_ key: String, _ value: NDArray, into out: NDArray, priority: Int = 0) throws {
        let index = try index(of: key, count: value.count)
        guard out.count == value.count else {
            throw KVStoreError.badKey("pushPull of '\(key)': value has \(value.count) elements, out \(out.count)")
        }
        try send(key: index, kind: .pushPull, value: value, out: out, priority: priority)
    }

    /// MXNet's `set_optimizer` with update on kvstore: rank 0 sends the typed configuration (JSON) to
    /// every server (MXNet pickles the optimizer into `kController`), servers acknowledge, then a
    /// barrier over the workers.
    ///
    /// Unlike MXNet, the other workers then send theirs for the servers to compare (`head` 1): one
    /// that differs (another learning rate, or another `rescaleGrad` because its batch size differs,
    /// which MXNet would silently scale with worker 0's) fails naming what differs.
    public func setOptimizer(_ config: OptimizerConfig) throws {
        try sendOptimizer(config, onWorkers: false)
        locked { hasOptimizer = true }
    }

    /// For MXNet's `update_on_kvstore=False` (`Module.updateOnKVStore` false): the workers run
    /// `config` themselves, so the servers only sum the pushed gradients and answer each pushpull
    /// with the sum. Rank 0 still tells the servers `config`, and the others send theirs to be
    /// compared, as `setOptimizer` does, so a worker with other flags or updating elsewhere fails
    /// the job instead of training other weights. dist_sync only: in dist_async a pushpull would
    /// answer one worker's gradient, or another's.
    public func setWorkersOptimizer(_ config: OptimizerConfig) throws {
        guard type == .distSync else {
            throw KVStoreError.badConfiguration(
                "the workers can run the optimizer (MXNET_UPDATE_ON_KVSTORE=0) only in dist_sync, not \(type)")
        }
        try sendOptimizer(config, onWorkers: true)
    }

    private func sendOptimizer(_ config: OptimizerConfig, onWorkers: Bool) throws {
        try config.validate()
        let body = try [UInt8](JSONEncoder().encode(config))
        let (first, check): (OptimizerUse, OptimizerUse) =
            onWorkers ? (.onWorkers, .checkOnWorkers) : (.install, .checkOnServers)
        if rank == 0 {
            try commandServers(Message(head: first.rawValue, body: body, control: Control(cmd: .setOptimizer)))
        }
        try postOffice.barrier(group: .workers)
        if rank != 0 {
            try commandServers(Message(head: check.rawValue, body: body, control: Control(cmd: .setOptimizer)))
        }
    }

    /// MXNet's `set_gradient_compression`: pushes (and the push half of pushPull) from now on send
    /// 2-bit codes with error feedback (`GradientCompression`); pulls stay float32. Like MXNet, it
    /// must come before the first `initialize`; each worker sets its own (the servers take what each
    /// push carries).
    public func setGradientCompression(_ compression: GradientCompression) throws {
        try locked {
            // Setting it again as it is changes nothing (`Module.initOptimizer(forceInit: true)` does).
            guard keyNames.isEmpty || compression == self.compression else {
                throw KVStoreError.badConfiguration(
                    "set gradient compression before initializing keys (\(keyNames.count) are initialized)")
            }
            self.compression = compression
        }
    }

    /// The gradient compression of pushes (`none` unless `setGradientCompression` set one).
    public var gradientCompression: GradientCompression { locked { compression } }

    /// What this worker's compressed pushes have not sent yet, one array per key named
    /// `residual:<key>` (empty without compression). A checkpoint keeps them so that a resumed job
    /// pushes exactly what an uninterrupted one would, whatever the number of servers.
    public func compressionResiduals() -> [(String, NDArray)] {
        locked {
            residuals.map { key, array in (Self.residualPrefix + keyNames[key], array.copy()) }.sorted { $0.0 < $1.0 }
        }
    }

    /// Takes residuals saved by `compressionResiduals()` (by the same rank, in an earlier run of the
    /// job) as each key's residual at its first compressed push. Call it before training; a key
    /// whose saved residual has another size starts at zero, with a warning.
    public func restoreCompressionResiduals(_ saved: [(String, NDArray)]) throws {
        var byKey: [String: NDArray] = [:]
        for (name, array) in saved {
            guard name.hasPrefix(Self.residualPrefix) else {
                throw KVStoreError.badConfiguration("'\(name)' is not a compression residual (residual:<key>)")
            }
            byKey[String(name.dropFirst(Self.residualPrefix.count))] = array
        }
        locked { restoredResiduals = byKey }
    }

    static let residualPrefix = "residual:"

    /// A barrier over all workers (MXNet's `kv.barrier()`), with the cluster's barrier deadline.
    public func barrier() throws {
        try postOffice.barrier(group: .workers)
    }

    /// The end of a worker's session, MXNet's `~KVStoreDist` with `barrier_before_exit`: waits for
    /// every request, barriers over the workers, then rank 0 sends STOP_SERVER to every server
    /// (MXNet's `kStopServer`). The caller then leaves the cluster with `PostOffice.finalize()`.
    public func close() throws {
        try waitAll()
        try postOffice.barrier(group: .workers)
        if rank == 0 { try commandServers(Message(control: Control(cmd: .stopServer))) }
    }

    /// The integer key MXNet would use for `key` (its order of first `initialize`).
    public func intKey(_ key: String) -> Int? { locked { keyIndex[key] } }

    /// Where the slices of `key` live.
    public func placement(of key: String) -> KVPlacement? { locked { keyIndex[key].map { placements[$0] } } }

    // MARK: - Helpers

    private func index(of key: String, count: Int) throws -> Int {
        try locked {
            guard let index = keyIndex[key] else { throw KVStoreError.unknownKey(key) }
            guard keyCount(index) == count else {
                throw KVStoreError.badKey("'\(key)' holds \(keyCount(index)) elements, the array given has \(count)")
            }
            return index
        }
    }

    /// Sends `command` to every server as a request and waits for each acknowledgement.
    private func commandServers(_ command: Message) throws {
        for server in 0..<postOffice.numServers {
            do {
                _ = try postOffice.request(command, to: NodeID.server(server), timeout: timeout)
            } catch let error as ClusterError {
                throw KVStoreError.remote("\(command.control.cmd) to server \(server) failed: \(error)")
            }
        }
    }
}
