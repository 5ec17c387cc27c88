import Foundation
import SwiftPSCluster
import SwiftPSOptimizer
import SwiftPSTensor
import SwiftPSTransport

#if canImport(Glibc)
    import Glibc
#endif

/// Checkpoints on the server, which never touches the checkpoint's files (only the scheduler does,
/// so the nodes need no shared file system): offering this server's shard for the scheduler to read
/// (CHECKPOINT, then the scheduler's CHECKPOINT_READs) and restoring from a checkpoint read from the
/// scheduler (LOAD_CHECKPOINT, from worker 0, then CHECKPOINT_FETCH and CHECKPOINT_READs to the
/// scheduler). All run on the dispatch thread with `condition` held, like every other command.
///
/// Test hook: with `SWIFTPS_TEST_CRASH_AFTER_SHARD_WRITE=E` in its environment a server kills itself
/// (SIGKILL) right after encoding both files of its shard of checkpoint `E` and before answering,
/// so tests can check that a crash in the middle of a checkpoint leaves the previous one whole.
extension KVServer {
    /// The variable of the crash test hook.
    public static let crashHookVariable = "SWIFTPS_TEST_CRASH_AFTER_SHARD_WRITE"

    /// CHECKPOINT: encodes `prefix-%04d.serverK.params` (the weights of every slice, keyed by name
    /// and offset) and `prefix-%04d.serverK.states` (their optimizer state and update counts), offers
    /// both in `checkpointOutbox` and answers with a `ServerCheckpointReport` announcing them; the
    /// scheduler then reads them (CHECKPOINT_READ) and writes them. Only the scheduler may ask: it
    /// does so at an epoch end, when every worker waits and no push is in flight.
    func writeCheckpoint(_ message: Message) throws {
        guard message.sender == NodeID.scheduler else {
            throw KVStoreError.remote("CHECKPOINT is only accepted from the scheduler")
        }
        guard workersOptimizer == nil else {
            throw KVStoreError.remote(
                "server \(postOffice.rank) holds summed gradients, not weights: the workers run the optimizer (MXNET_UPDATE_ON_KVSTORE=0), so worker 0's weights and optimizer state make the checkpoint"
            )
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
        let weightBytes = try ServerShardFile.encode(weights, path: weightsPath)
        let stateBytes = try OptimizerStateFile.encode(config: optimizer?.config, states: states)
        if let value = ProcessInfo.processInfo.environment[Self.crashHookVariable], Int(value) == layout.epoch {
            logger.critical(
                "server \(rank): \(Self.crashHookVariable)=\(value): dying after encoding its shard of checkpoint \(layout.epoch)"
            )
            kill(getpid(), SIGKILL)
        }
        let report = ServerCheckpointReport(
            server: rank,
            files: [
                checkpointOutbox.offer(
                    weightBytes, path: weightsPath, role: "server-params", epoch: layout.epoch, server: rank),
                checkpointOutbox.offer(
                    stateBytes, path: layout.serverStatesPath(rank), role: "server-states", epoch: layout.epoch,
                    server: rank),
            ],
            optimizer: optimizer?.config)
        logger.info(
            "server \(rank): offering its shard of checkpoint \(layout.epoch) to the scheduler (\(ordered.count) slices, \(weightBytes.count + stateBytes.count) bytes)"
        )
        answer(message, body: try JSONEncoder().encode(report))
    }

    /// LOAD_CHECKPOINT: fetches the checkpoint's manifest from the scheduler (CHECKPOINT_FETCH), then
    /// what this server restores from (CHECKPOINT_READs, each file verified against the manifest):
    /// its own shard when the job has as many servers as wrote the checkpoint, else every server's
    /// shard joined; from a checkpoint without shards (one process's, or one whose workers ran the
    /// optimizer), its params and states files. Each slice takes its weights and optimizer state
    /// from them when it is initialized (and again at SET_OPTIMIZER, which would otherwise reset
    /// the state); they are dropped at the first push or pull. Only worker 0 may ask, before it
    /// initializes the keys.
    func loadCheckpoint(_ message: Message) throws {
        try requireWorker0(message, "LOAD_CHECKPOINT")
        let layout = try decodeCommand(message).layout
        let manifest = try fetchManifest(layout)
        var checkpoint = CheckpointRestore(layout: layout, manifest: manifest)
        let what: String
        if manifest.numServers == 0 {
            checkpoint.all = try fetchWhole(checkpoint)
            what = "\(checkpoint.all?.weights.count ?? 0) parameters"
        } else if manifest.numServers == postOffice.numServers {
            // The same placement: this server's slices are the ones its namesake wrote.
            let source = checkpoint
            let own = try CheckpointShard.fetch(layout, manifest: manifest, server: postOffice.rank) {
                file, _ throws(CheckpointError) in try read(file, source)
            }
            checkpoint.own = own
            what = "its own shard, \(own.sliceCount) slices"
        } else {
            checkpoint.all = try fetchShards(checkpoint)
            what = "\(checkpoint.all?.weights.count ?? 0) parameters"
        }
        restoring = checkpoint
        for slice in slices.values { try restore(slice) }
        logger.info(
            "server \(postOffice.rank): restoring from checkpoint \(layout.epoch) (\(what), written by \(manifest.numServers) server(s))"
        )
        answer(message)
    }

    /// Asks the scheduler for checkpoint `layout`'s manifest (CHECKPOINT_FETCH), with the cluster's
    /// deadline.
    private func fetchManifest(_ layout: CheckpointLayout) throws -> CheckpointManifest {
        let answer: Message
        do {
            answer = try postOffice.request(
                Message(
                    body: [UInt8](
                        try JSONEncoder().encode(CheckpointFetch(prefix: layout.prefix, epoch: layout.epoch))),
                    control: Control(cmd: .checkpointFetch)),
                to: NodeID.scheduler, timeout: postOffice.config.requestTimeout)
        } catch {
            throw KVStoreError.remote(
                "server \(postOffice.rank) could not get the manifest of checkpoint \(layout.epoch) from the scheduler: \(error)"
            )
        }
        do {
            return try JSONDecoder().decode(CheckpointManifest.self, from: Data(answer.body))
        } catch {
            throw CheckpointError.corrupt(
                path: layout.manifestPath, reason: "the scheduler sent no valid manifest: \(error)")
        }
    }

    /// Reads one file of `restore`'s checkpoint from the scheduler (CHECKPOINT_READ, in chunks),
    /// checked against the manifest.
    private func read(_ file: CheckpointManifest.File, _ restore: CheckpointRestore) throws(CheckpointError) -> [UInt8]
    {
        do {
            return try CheckpointTransfer.download(
                file, prefix: restore.layout.prefix, epoch: restore.layout.epoch, from: NodeID.scheduler,
                office: postOffice, path: restore.manifest.path(of: file, in: restore.layout),
                chunkBytes: checkpointChunkBytes)
        } catch let error as CheckpointError { throw error } catch {
            throw .inconsistent("\(error)")
        }
    }

    /// A checkpoint without shards (one process's, or one whose workers ran the optimizer): its
    /// whole parameters and optimizer state.
    private func fetchWhole(_ restore: CheckpointRestore) throws -> CheckpointShards {
        let manifest = restore.manifest
        guard let params = manifest.files(role: "params").first else {
            throw CheckpointError.corrupt(path: restore.layout.manifestPath, reason: "it lists no params file")
        }
        let states = try manifest.files(role: "states").first.map { file throws(CheckpointError) in
            try read(file, restore)
        }
        return try CheckpointShards.whole(
            params: try read(params, restore), paramsPath: restore.layout.paramsPath, states: states,
            statesPath: restore.layout.localStatesPath)
    }

    /// Every server's shard, joined; each file is decoded as it arrives and its bytes dropped before
    /// the next is read.
    private func fetchShards(_ restore: CheckpointRestore) throws -> CheckpointShards {
        try CheckpointShards.fetch(restore.layout, manifest: restore.manifest) { file, _ throws(CheckpointError) in
            try read(file, restore)
        }
    }

    /// Sets `slice`'s weights and optimizer state from the checkpoint being restored, if any: from
    /// this server's own shard, or when the slice is not in it (the placement changed: another
    /// big-array bound, say), from every shard, read then.
    func restore(_ slice: ServerSlice) throws {
        guard var restore = restoring else { return }
        var found = try restore.own?.part(
            name: slice.name, offset: slice.offset, count: slice.weight.count, totalCount: slice.totalCount)
        var writer = restore.own?.optimizer
        if found == nil {
            if restore.all == nil {
                logger.notice(
                    "server \(postOffice.rank): '\(slice.name)' [\(slice.offset), +\(slice.weight.count)) is not in its own shard of checkpoint \(restore.layout.epoch) (the parameters are placed otherwise than when it was written): reading every server's shard"
                )
                restore.all = try fetchShards(restore)
                restoring = restore
            }
            guard let all = restore.all else { return }
            found = try all.part(
                name: slice.name, offset: slice.offset, count: slice.weight.count, totalCount: slice.totalCount)
            writer = all.optimizer
        }
        guard let part = found else { return }
        try slice.weight.copy(from: part.weights)
        slice.state = nil
        guard let optimizer, let state = part.state else { return }
        if let writer, writer.name != optimizer.config.name {
            logger.warning(
                "server \(postOffice.rank): the checkpoint's state of '\(slice.name)' was written by \(writer.name), this job runs \(optimizer.config.name): it starts fresh"
            )
            return
        }
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

/// A checkpoint a server is restoring from (LOAD_CHECKPOINT), until the first push or pull.
struct CheckpointRestore {
    let layout: CheckpointLayout
    let manifest: CheckpointManifest
    /// This server's own shard, when the job has as many servers as wrote the checkpoint.
    var own: CheckpointShard?
    /// Every parameter whole: a checkpoint without shards, one written by another number of
    /// servers, or every shard read once a slice was not in `own`.
    var all: CheckpointShards?
}
