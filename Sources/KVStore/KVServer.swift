import Foundation
import Logging
import SwiftPSCluster
import SwiftPSOptimizer
import SwiftPSTensor
import SwiftPSTransport

/// A parameter server, MXNet's `KVStoreDistServer` (`src/kvstore/kvstore_dist_server.h`): stores its
/// slices of the keys, merges the workers' pushes, runs the optimizer and answers.
///
/// Commands (control messages from worker 0, each acknowledged): SET_OPTIMIZER (a JSON
/// `OptimizerConfig`, MXNet's pickled `kController`; its `head` is an `OptimizerUse`), SYNC_MODE (`head` 1 = dist_sync, MXNet's
/// `kSyncMode`; the server starts asynchronous, as MXNet's does) and STOP_SERVER (`kStopServer`);
/// CHECKPOINT (from the scheduler) and LOAD_CHECKPOINT (from worker 0), see `KVServer+Checkpoint.swift`.
///
/// Data (see `KVServer+Merge.swift`): the first push of a key initializes it; in dist_sync the pushes
/// of one key are kept until all workers have pushed, summed in worker-rank order, then the optimizer
/// runs (without one the stored value becomes the sum) and every waiting request is answered; in
/// dist_async each push is applied at once.
///
/// Everything runs on the cluster's dispatch thread (never the receive thread), one message at a time,
/// so the state needs no locking beyond what `run` reads.
///
/// Stalls (Horovod's stall inspector): while `run` serves, a dist_sync round that some workers have
/// pushed to and others have not is watched. After `stallWarning` seconds the server logs the keys
/// and the workers it is waiting for; after `stallLimit` seconds (`defaultStallLimit`: 90% of the
/// request deadline and at least 2 s before it, so before the waiting workers' own deadlines
/// expire) it answers the round's requests
/// with an error naming those workers. A worker that is alive (so heartbeats do not catch it) but
/// stuck, or that ran out of batches, is then named, instead of every waiting worker blaming the
/// server.
public final class KVServer: @unchecked Sendable {
    /// The cluster membership of this server (a started server node).
    public let postOffice: PostOffice
    let logger: Logger
    let condition = MonotonicCondition()
    // Guarded by `condition` (written only on the dispatch thread):
    var syncMode = false
    var optimizer: (any Optimizer)?
    var slices: [Int: ServerSlice] = [:]
    var stopRequested = false
    /// The checkpoint being restored (LOAD_CHECKPOINT), until the first push or pull.
    var restoring: CheckpointRestore?
    /// Seconds a dist_sync round may wait for some workers' pushes before they are named in a warning.
    public let stallWarning: Double
    /// Seconds a dist_sync round may wait before its requests are answered with an error naming the
    /// workers that did not push.
    public let stallLimit: Double
    /// Worker 0's optimizer when the workers run it (SET_OPTIMIZER `OptimizerUse.onWorkers`): this
    /// server only sums, and compares the other workers' configurations with it.
    var workersOptimizer: OptimizerConfig?
    /// How many keys worker 0 said it had initialized, at most (0: it did not say).
    var initializedKeys = 0
    var recorder: Timeline?
    /// This server's shard of the checkpoint being written, until the scheduler has read it.
    let checkpointOutbox = CheckpointOutbox()
    /// The chunk in which it reads a checkpoint from the scheduler (`CheckpointTransfer.chunkBytes`).
    let checkpointChunkBytes: Int

    /// Where each dist_sync round is recorded, from its first push to its updated weights, with the sum and
    /// update nested in it, on its key's track (and each dist_async push as it is applied); nil: not
    /// recorded. Set it before `run`.
    public var timeline: Timeline? {
        get { locked { recorder } }
        set { locked { recorder = newValue } }
    }

    /// Creates the server over a started server `postOffice` and starts handling requests.
    /// `stallWarning` (default 30 s, as `SWIFTPS_STRAGGLER_TIMEOUT`) and `stallLimit` (default
    /// `defaultStallLimit` of the cluster's request deadline) bound how long a dist_sync round waits for a worker's push.
    /// `checkpointChunkBytes` defaults to `SWIFTPS_CHECKPOINT_CHUNK_BYTES` (16 MiB).
    public init(
        postOffice: PostOffice, stallWarning: Double = 30, stallLimit: Double? = nil, checkpointChunkBytes: Int? = nil,
        logger: Logger = Logger(label: "swiftps.server")
    ) throws {
        guard postOffice.isServer else {
            throw KVStoreError.badConfiguration("KVServer needs a server's PostOffice, got a \(postOffice.role)")
        }
        let limit = stallLimit ?? Self.defaultStallLimit(requestTimeout: postOffice.config.requestTimeout)
        guard stallWarning > 0, limit > 0 else {
            throw KVStoreError.badConfiguration(
                "stall warning (\(stallWarning) s) and limit (\(limit) s) must be positive numbers of seconds")
        }
        self.checkpointChunkBytes =
            try checkpointChunkBytes
            ?? CheckpointTransfer.chunkBytes(environment: ProcessInfo.processInfo.environment)
        self.postOffice = postOffice
        self.stallWarning = stallWarning
        self.stallLimit = limit
        self.logger = logger
        postOffice.setAppHandler { [weak self] message in self?.handle(message) }
    }

    /// How long a dist_sync round waits for missing pushes by default: 90% of the workers' request
    /// deadline, and at least 2 s short of it (the round's clock starts when its first push is
    /// handled, after the worker's has started, and stalls are checked once a second), but never
    /// under half of it.
    public static func defaultStallLimit(requestTimeout: Double) -> Double {
        max(requestTimeout / 2, min(0.9 * requestTimeout, requestTimeout - 2))
    }

    /// Whether worker 0 switched this server to dist_sync.
    public var isSyncMode: Bool { locked { syncMode } }

    /// The keys this server holds a slice of, with their parameter names.
    public var storedKeys: [Int: String] { locked { slices.mapValues(\.name) } }

    /// A copy of this server's slice of `key` (its current weights), or nil.
    public func storedValue(_ key: Int) -> [Float]? { locked { slices[key]?.weight.toArray() } }

    /// Serves until worker 0 sends STOP_SERVER (MXNet's `RunServer` executor loop), then returns; the
    /// caller leaves with `PostOffice.finalize()`. Meanwhile it watches dist_sync rounds for stalls
    /// (see the type's documentation). Throws the cluster's error when the job fails (a dead node,
    /// found by heartbeats), or `KVStoreError.timeout` after `timeout` seconds; returns at once if the
    /// node is stopped.
    public func run(timeout: Double = .infinity) throws {
        let clock = postOffice.clock
        let deadline = clock.now() + timeout
        let interval = min(1, stallWarning / 4, stallLimit / 4)
        condition.lock()
        defer { condition.unlock() }
        var stopped = false
        while !stopped && clock.now() < deadline {
            stopped = clock.wait(on: condition, until: min(deadline, clock.now() + interval)) {
                stopRequested || postOffice.terminationError != nil || postOffice.isStopped
            }
            if !stopped { inspectStalls(now: clock.now()) }
        }
        if let error = postOffice.terminationError { throw error }
        guard stopped else {
            throw KVStoreError.timeout(
                "\(postOffice.myNode) did not receive STOP_SERVER within \(timeout) s")
        }
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        condition.lock()
        defer { condition.unlock() }
        return try body()
    }

    // MARK: - Dispatch

    func handle(_ message: Message) {
        guard message.request else {
            logger.warning("server \(postOffice.rank) ignored an unexpected answer \(message.debugDescription)")
            return
        }
        condition.lock()
        defer { condition.unlock() }
        do {
            switch message.control.cmd {
            case .empty: try handleData(message)
            case .setOptimizer: try setOptimizer(message)
            case .syncMode:
                // Worker 0 alone sets the mode, once (MXNet's kSyncMode): another worker's (a stray
                // or misbehaving client) could strand the pushes of an open dist_sync round.
                try requireWorker0(message, "SYNC_MODE")
                syncMode = message.head != 0
                logger.info("server \(postOffice.rank): \(syncMode ? "dist_sync" : "dist_async") mode")
                answer(message)
            case .checkpoint: try writeCheckpoint(message)
            case .loadCheckpoint: try loadCheckpoint(message)
            case .checkpointRead:
                guard message.sender == NodeID.scheduler else {
                    throw KVStoreError.remote("CHECKPOINT_READ is only accepted from the scheduler")
                }
                try postOffice.respond(to: message, with: checkpointOutbox.answer(message))
            case .stopServer:
                try requireWorker0(message, "STOP_SERVER")
                answer(message)
                stopRequested = true
                condition.broadcast()
            default:
                throw KVStoreError.remote("server does not handle \(message.control.cmd)")
            }
        } catch {
            answer(message, error: "\(error)")
        }
    }

    /// Throws unless `message` is worker 0's: the commands that set up or end the job come from it
    /// alone (MXNet's kController), so a stray or misbehaving client cannot change them.
    func requireWorker0(_ message: Message, _ command: String, _ note: String? = nil) throws {
        guard message.sender != NodeID.worker(0) else { return }
        throw KVStoreError.remote("\(command) is only accepted from worker 0\(note.map { "; \($0)" } ?? "")")
    }

    private func setOptimizer(_ message: Message) throws {
        let config: OptimizerConfig
        do {
            config = try JSONDecoder().decode(OptimizerConfig.self, from: Data(message.body))
        } catch {
            throw KVStoreError.remote("SET_OPTIMIZER carries no valid optimizer configuration: \(error)")
        }
        guard let use = OptimizerUse(rawValue: message.head) else {
            throw KVStoreError.remote("SET_OPTIMIZER with an unknown head \(message.head)")
        }
        if use.isCheck {
            try checkOptimizer(config, workersUpdate: use == .checkOnWorkers, from: message.sender)
            answer(message)
            return
        }
        // The optimizer itself comes from worker 0 (MXNet's kController); the others only check theirs.
        try requireWorker0(message, "SET_OPTIMIZER", "other workers send a check")
        guard use == .install else {
            // The workers run the optimizer; this server only sums, and keeps worker 0's
            // configuration to compare the others' with.
            optimizer = nil
            workersOptimizer = config
            logger.info("server \(postOffice.rank): the workers update (\(config.name)); this server sums gradients")
            answer(message)
            return
        }
        let built = try makeOptimizer(config)  // a configuration that fails leaves everything as it was
        workersOptimizer = nil
        optimizer = built
        for slice in slices.values {
            slice.state = nil
            try restore(slice)
        }
        logger.info(
            "server \(postOffice.rank): optimizer \(config.name) lr \(config.learningRate) rescale \(config.rescaleGrad)"
        )
        answer(message)
    }

    /// Answers `request` (echoing its head and flags), with `values` as `[keys, vals, lens]` frames when
    /// given, or with an error. A failed send is logged: the worker's deadline reports it.
    func answer(
        _ request: Message, key: Int? = nil, values: Payload? = nil, count: Int = 0, body: Data = Data(),
        data: [Payload] = [], error: String = ""
    ) {
        var response = Message(
            head: request.head, control: Control(cmd: request.control.cmd), push: request.push, pull: request.pull,
            error: error)
        response.body = [UInt8](body)
        response.data = data
        if let key, let values { response.data = KVFrames.encode(key: key, values: values, count: count) }
        if !error.isEmpty {
            logger.warning(
                "server \(postOffice.rank) refused \(request.debugDescription) from \(NodeID.name(of: request.sender)): \(error)"
            )
        }
        do {
            try postOffice.respond(to: request, with: response)
        } catch {
            logger.error("server \(postOffice.rank) cannot answer \(NodeID.name(of: request.sender)): \(error)")
        }
    }
}
