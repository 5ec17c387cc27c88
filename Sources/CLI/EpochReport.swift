import Foundation
import SwiftPS

/// A step the scheduler coordinates did not complete: an epoch end (a worker that never reported, a
/// checkpoint that could not be written), a resume point or a checkpoint fetch; the message names
/// the cause. The scheduler answers the request with it, and the worker fails with it.
struct CoordinationError: Error, CustomStringConvertible {
    var description: String
}

/// The body (JSON) of a worker's EPOCH_END request to the scheduler: its training and validation
/// metric partials (sums and counts, so the scheduler can weight workers by samples), how many
/// samples it trained on and how long it took; worker 0 adds the job settings the scheduler acts on.
struct EpochReport: Codable {
    /// The epoch index (0-based, as in `Epoch[N]`).
    var epoch: Int
    /// The worker's rank.
    var rank: Int
    /// Training samples processed this epoch (padding included).
    var samples: Int
    /// Seconds of training (validation and the epoch-end wait excluded).
    var seconds: Double
    /// Of `seconds`, those spent blocked waiting for the servers' answers (`DistKVStore.waitedSeconds`).
    var waitSeconds: Double?
    /// The metric names, as given to `--metrics` (the scheduler builds the same metric).
    var metricNames: [String]
    /// Training metric partials.
    var train: [MetricSum]
    /// Validation metric partials over this worker's shard of the validation set (padding excluded).
    var validation: [MetricSum]
    /// `--metrics-out` as given, if given (the scheduler resolves a relative path against its directory).
    var metricsOut: String?
    /// Worker 0, at a checkpoint epoch: what the scheduler needs to write it.
    var checkpoint: CheckpointPlan?
    /// At a checkpoint epoch with gradient compression: this worker's residuals
    /// (`DistKVStore.compressionResiduals`) as a `.params` file, which it offers for the scheduler
    /// to read (`prefix-%04d.workerK.residuals`).
    var residuals: CheckpointManifest.File?
}

/// One metric partial on the wire (`MetricPartial`).
struct MetricSum: Codable {
    var name: String
    var sum: Double
    var count: Int

    init(_ partial: MetricPartial) {
        name = partial.name
        sum = partial.sum
        count = partial.count
    }

    var partial: MetricPartial { (name, sum, count) }
}

/// Worker 0's part of a checkpoint: where, which epoch, the network, the shapes of the server-held
/// parameters (servers store flat slices), and the arrays only it holds (auxiliary states, fixed
/// parameters), which it offers as a file for the scheduler to read (CHECKPOINT_READ). The scheduler
/// writes every file from it and from the servers' shards.
struct CheckpointPlan: Codable {
    /// The model prefix as given; the scheduler, which writes the files, resolves a relative one against
    /// its working directory.
    var prefix: String
    /// The checkpoint's epoch number (epochs trained).
    var epoch: Int
    /// The network as MXNet symbol JSON (`Symbol.toJSON()`), written as `prefix-symbol.json`.
    var symbol: String
    /// Shape of every parameter the servers hold.
    var argShapes: [String: [Int]]
    /// The `arg:`/`aux:` arrays worker 0 holds itself, as a `.params` file it offers (role
    /// `worker-arrays`; not written as such: they go into `prefix-%04d.params`).
    var arrays: CheckpointManifest.File
    /// When the workers run the optimizer (`MXNET_UPDATE_ON_KVSTORE=0`): worker 0's optimizer state
    /// as an optimizer-state file it offers, written as the checkpoint's `prefix-%04d.states`. The
    /// servers then hold only gradient sums: `argShapes` is empty and `arrays` has every parameter.
    var states: CheckpointManifest.File? = nil
    /// The optimizer worker 0 runs, for the manifest (the servers' reports name it otherwise).
    var optimizer: OptimizerConfig? = nil
    /// The optimizer's update count at this checkpoint, for the manifest (`CheckpointManifest.updates`).
    var updates: Int? = nil
}

/// The scheduler's answer to EPOCH_END, once every worker reported and the checkpoint (if any) is
/// complete: the global figures.
struct EpochSummary: Codable {
    var epoch: Int
    var train: [NamedValue]
    var validation: [NamedValue]
    /// The checkpoint written at this epoch end, if any.
    var checkpoint: String?
}

/// A metric value.
struct NamedValue: Codable {
    var name: String
    var value: Double
}

/// JSON coding of the epoch messages; non-finite numbers (a NaN metric) travel as strings.
enum EpochWire {
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }
}
