import SwiftPSOptimizer

/// The body (JSON) of CHECKPOINT (scheduler → server: write your shard of checkpoint `epoch`) and
/// of LOAD_CHECKPOINT (worker 0 → server: restore your slices from checkpoint `epoch`).
public struct CheckpointCommand: Codable, Sendable, Equatable {
    /// The model prefix, an absolute path on the scheduler's host (only the scheduler reads or
    /// writes files there; the servers only pass it back in CHECKPOINT_FETCH).
    public var prefix: String
    /// The checkpoint's epoch number.
    public var epoch: Int

    /// A command for checkpoint `epoch` under `prefix`.
    public init(prefix: String, epoch: Int) {
        self.prefix = prefix
        self.epoch = epoch
    }

    /// The checkpoint's file names.
    public var layout: CheckpointLayout { CheckpointLayout(prefix: prefix, epoch: epoch) }
}

/// The answer (JSON) of a server to CHECKPOINT: the files of its shard (weights, then states), for
/// the manifest, and its optimizer configuration. The server offers the files' bytes
/// (`CheckpointOutbox`); the scheduler reads them (CHECKPOINT_READ), checks them against `files`
/// and writes them.
public struct ServerCheckpointReport: Codable, Sendable, Equatable {
    /// The server's rank.
    public var server: Int
    /// Its `.serverK.params` and `.serverK.states` files.
    public var files: [CheckpointManifest.File]
    /// The optimizer it runs (nil before SET_OPTIMIZER).
    public var optimizer: OptimizerConfig?

    /// A report of `files` written by `server`.
    public init(server: Int, files: [CheckpointManifest.File], optimizer: OptimizerConfig?) {
        self.server = server
        self.files = files
        self.optimizer = optimizer
    }
}
