import Foundation
import SwiftPSCluster
import SwiftPSOptimizer
import SwiftPSTensor
import SwiftPSTransport

#if canImport(Glibc)
    import Glibc
#endif

/// Checkpoints on the server: writing this server's shard (CHECKPOINT, from the scheduler) and
/// restoring from a checkpoint (LOAD_CHECKPOINT, from worker 0). Both run on the dispatch thread
/// with `condition` held, like every other command.
///
/// Test hook: with `SWIFTPS_TEST_CRASH_AFTER_SHARD_WRITE=E` in its environment a server kills itself
/// (SIGKILL) right after writing both files of its shard of checkpoint `E` and before answering,
/// so tests can check that a crash in the middle of a checkpoint leaves the previous one whole.
extension KVServer {
    /// The variable of the crash test hook.
    public static let crashHookVariable = "SWIFTPS_TEST_CRASH_AFTER_SHARD_WRITE"

    /// CHECKPOINT: writes `prefix-%04d.serverK.params` (the weights of every slice, keyed by name
    /// and offset) and `prefix-%04d.serverK.states` (their optimizer state and update counts), each
    /// atomically, then answers with a `ServerCheckpointReport`. Only the scheduler may ask: it
    /// does so at an epoch end, when every worker waits and no push is in flight.
    func writeCheckpoint(_ message: Message) throws {
        guard message.sender == NodeID.scheduler else {
            throw KVStoreError.remote("CHECKPOINT is only accepted from the scheduler")
        }
        let command = try decodeCommand(message)
        let layout = command.layout
        let rank = postOffice.rank
        let ordered = slices.values.sorted { ($0.name, $0.offset) < ($1.name, $1.offset) }
        let weights = ordered.map {
            WeightSlice(name: $0.name, offset: $0.offset, totalCount: $0.totalCount, values: $0.weight)
        }
        var states: [NamedOptimizerState] = []
        for slice in ordered {
            guard let state = slice.state else { continue }
            states.append(
                try NamedOptimizerState(
                    name: slice.name, state: state, offset: slice.offset, totalCount: slice.totalCount))
        }
        let weightsPath = layout.serverParamsPath(rank)
        let statesPath = layout.serverStatesPath(rank)
        let weightBytes = try ServerShardFile.encode(weights, path: weightsPath)
        let stateBytes = try OptimizerStateFile.encode(config: optimizer?.config, states: states)
        for (path, bytes) in [(weightsPath, weightBytes), (statesPath, stateBytes)] {
            do { try AtomicFile.write(bytes, to: path) } catch {
                throw CheckpointError.cannotWrite(path: path, reason: error.reason)
            }
        }
        if let value = ProcessInfo.processInfo.environment[Self.crashHookVariable], Int(value) == layout.epoch {
            logger.critical("server \(rank): \(Self.crashHookVariable)=\(value): dying after writing \(weightsPath)")
            kill(getpid(), SIGKILL)
        }
        let report = ServerCheckpointReport(
            server: rank,
            files: [
                CheckpointManifest.File(path: weightsPath, role: "server-params", server: rank, content: weightBytes),
                CheckpointManifest.File(path: statesPath, role: "server-states", server: rank, content: stateBytes),
            ],
            optimizer: optimizer?.config)
        logger.info("server \(rank): wrote its shard of checkpoint \(layout.epoch) (\(ordered.count) slices)")
        answer(message, body: try JSONEncoder().encode(report))
    }

    /// LOAD_CHECKPOINT: reads the checkpoint's manifest and every server's shard (verified against
    /// the manifest), and keeps the joined parameters. Each slice takes its weights and optimizer
    /// state from them when it is initialized (and again at SET_OPTIMIZER, which would otherwise
    /// reset the state); they are dropped at the first push or pull. Only worker 0 may ask, before
    /// it initializes the keys.
    func loadCheckpoint(_ message: Message) throws {
        guard message.sender == NodeID.worker(0) else {
            throw KVStoreError.remote("LOAD_CHECKPOINT is only accepted from worker 0")
        }
        let layout = try decodeCommand(message).layout
        let manifest = try CheckpointManifest.read(layout)
        let shards = try CheckpointShards.load(layout, manifest: manifest)
        restored = shards
        for slice in slices.values { try restore(slice) }
        logger.info(
            "server \(postOffice.rank): restoring from checkpoint \(layout.epoch) (\(shards.weights.count) parameters, written by \(manifest.numServers) server(s))"
        )
        answer(message)
    }

    /// Sets `slice`'s weights and optimizer state from the checkpoint being restored, if any.
    func restore(_ slice: ServerSlice) throws {
        guard let restored else { return }
        let part = try restored.part(
            name: slice.name, offset: slice.offset, count: slice.weight.count, totalCount: slice.totalCount)
        try slice.weight.copy(from: part.weights)
        slice.state = nil
        guard let optimizer, let state = part.state else { return }
        guard state.arrays.count == optimizer.stateArrayCount else {
            logger.warning(
                "server \(postOffice.rank): the checkpoint's state of '\(slice.name)' has \(state.arrays.count) arrays, \(optimizer.config.name) needs \(optimizer.stateArrayCount): it starts fresh"
            )
            return
        }
        slice.state = state
    }

    private func decodeCommand(_ message: Message) throws -> CheckpointCommand {
        do {
            return try JSONDecoder().decode(CheckpointCommand.self, from: Data(message.body))
        } catch {
            throw KVStoreError.remote("\(message.control.cmd) carries no valid checkpoint command: \(error)")
        }
    }
}
