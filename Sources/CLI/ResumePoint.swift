import Foundation
import Logging
import SwiftPS

/// The checkpoint a `swiftps train` run resumes from (`--load-epoch N` or `--resume`).
struct ResumePoint {
    /// The checkpoint's files.
    let layout: CheckpointLayout
    /// Its manifest; nil for a checkpoint written without one (MXNet's own, for example), whose
    /// weights load but whose optimizer state, in dist mode, starts fresh.
    let manifest: CheckpointManifest?

    /// The epoch to continue from.
    var epoch: Int { layout.epoch }

    /// Whether it has server shards (servers can also restore from a states file; see
    /// `ResumeAnswer.hasStatesFile`).
    var hasServerShards: Bool { (manifest?.numServers ?? 0) > 0 }

    /// The resume point the flags ask for, or nil to start from scratch.
    ///
    /// `--resume` takes the newest checkpoint whose manifest exists and whose files verify (nil if
    /// none). `--load-epoch N` takes checkpoint N and, when it has a manifest, verifies it; without
    /// one it is accepted only if no server shard of epoch N exists (a shard without a manifest is
    /// an interrupted checkpoint).
    static func resolve(
        prefix: String?, loadEpoch: Int?, resume: Bool, distributed: Bool, logger: Logger
    ) throws -> ResumePoint? {
        guard loadEpoch != nil || resume else { return nil }
        guard let prefix else {
            throw ModuleError.badInput("--load-epoch and --resume need --model-prefix (where the checkpoints are)")
        }
        if resume {
            guard loadEpoch == nil else { throw ModuleError.badInput("give --resume or --load-epoch, not both") }
            let run = value(of: resumeRunVariable, in: ProcessInfo.processInfo.environment)
            let found = CheckpointManifest.search(prefix: prefix, writtenBy: run, logger: logger)
            if let (layout, manifest) = found.latest { return ResumePoint(layout: layout, manifest: manifest) }
            // Checkpoints that exist but none of which verifies: starting from epoch 0 would write
            // over them, so the run stops and says why instead.
            if let newest = found.damaged.first {
                let epochs = found.damaged.map { String($0.epoch) }.joined(separator: ", ")
                throw CheckpointError.inconsistent(
                    "--resume: no checkpoint under \(prefix) verifies (epochs \(epochs)); the newest, \(newest.epoch): \(newest.reason). Repair or move them away, or start over without --resume"
                )
            }
            logger.info("--resume: no complete checkpoint under \(prefix): starting from epoch 0")
            return nil
        }
        let loadEpoch = loadEpoch ?? 0
        // A restart of this launch: what it trained since E is in its own checkpoints.
        if let run = value(of: resumeRunVariable, in: ProcessInfo.processInfo.environment),
            let (layout, manifest) = CheckpointManifest.latestComplete(prefix: prefix, writtenBy: run),
            layout.epoch > loadEpoch
        {
            logger.info(
                "restarted: continuing from checkpoint \(layout.epoch), the latest this run (\(run)) wrote, rather than --load-epoch \(loadEpoch)"
            )
            return ResumePoint(layout: layout, manifest: manifest)
        }
        let layout = CheckpointLayout(prefix: prefix, epoch: loadEpoch)
        guard FileManager.default.fileExists(atPath: layout.manifestPath) else {
            if FileManager.default.fileExists(atPath: layout.serverParamsPath(0))
                || FileManager.default.fileExists(atPath: layout.serverStatesPath(0))
            {
                throw CheckpointError.missing(
                    path: layout.manifestPath,
                    hint:
                        "checkpoint \(layout.epoch) was interrupted before it completed; use an earlier epoch or --resume"
                )
            }
            guard FileManager.default.fileExists(atPath: layout.paramsPath) else {
                let found = CheckpointLayout.epochsWithParams(prefix: prefix).sorted()
                throw CheckpointError.missing(
                    path: layout.paramsPath,
                    hint: found.isEmpty
                        ? "there is no checkpoint under \(prefix)"
                        : "there is no checkpoint of epoch \(layout.epoch) under \(prefix); its checkpoints are of epochs "
                            + found.map(String.init).joined(separator: ", "))
            }
            if distributed {
                logger.warning(
                    "\(layout.paramsPath) has no manifest: the weights load, the optimizer state starts fresh")
            }
            return ResumePoint(layout: layout, manifest: nil)
        }
        let manifest = try CheckpointManifest.read(layout)
        try manifest.verify(layout)
        return ResumePoint(layout: layout, manifest: manifest)
    }

    /// Warns when a run that starts from scratch checkpoints under a prefix that already holds
    /// checkpoints: it writes over them one epoch at a time, and until it passes the newest of them
    /// `--resume` (without a launcher's run id) would pick the earlier run's.
    static func warnAboutEarlierCheckpoints(prefix: String, logger: Logger) {
        let epochs = CheckpointLayout.epochsWithManifest(prefix: prefix)
        guard let newest = epochs.first else { return }
        let list = epochs.count == 1 ? "epoch \(newest)" : "\(epochs.count), epochs \(epochs.last ?? 0) to \(newest)"
        logger.warning(
            "--model-prefix \(prefix) already holds checkpoints (\(list)) of an earlier run: this run writes over them as it reaches each epoch, and until it passes epoch \(newest), --resume would take the earlier run's; give another --model-prefix to keep the two apart"
        )
    }

    /// The variable `swiftps launch` sets on every process of one launch, the same across its
    /// restarts: the run's id, which every checkpoint manifest the job writes records.
    static let runVariable = "SWIFTPS_RUN_ID"

    /// The variable `swiftps launch` sets on a restarted job that it made resume (`--resume` added to
    /// a command that started from scratch): its run. `--resume` then takes only checkpoints this run
    /// wrote; older ones under the prefix are an earlier run's, and resuming from one would continue
    /// another training (or, past `--num-epochs`, train nothing). A restarted `--load-epoch E`
    /// continues from this run's latest complete checkpoint after E, if there is one.
    static let resumeRunVariable = "SWIFTPS_RESUME_RUN"

    /// The run id `environment` gives this process (`runVariable`), if any.
    static func run(_ environment: [String: String]) -> String? { value(of: runVariable, in: environment) }

    /// `environment[name]`, nil when unset or empty.
    private static func value(of name: String, in environment: [String: String]) -> String? {
        environment[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `path` made absolute against the current directory. The scheduler, which alone reads and
    /// writes a cluster's checkpoints and metrics file, resolves the paths the workers send as given
    /// with it, so a relative `--model-prefix` is relative to the scheduler's working directory.
    static func absolute(_ path: String) -> String {
        let resolved = URL(fileURLWithPath: path).standardizedFileURL.path
        // A prefix ending in "/" names files inside that directory (`ck/-0001.params`), as on one host.
        return path.hasSuffix("/") && !resolved.hasSuffix("/") ? resolved + "/" : resolved
    }
}

/// The checkpoint a worker in a cluster resumes from, as the scheduler sent it (RESUME_POINT): the
/// scheduler resolves `--load-epoch`/`--resume` against its own file system, the only one that
/// holds checkpoints, and announces the network and the weights, which the worker reads from it.
struct ReceivedResumePoint {
    /// The epoch to continue from.
    var epoch: Int
    /// Whether it has server shards.
    var hasServerShards: Bool
    /// `prefix-symbol.json`'s text.
    var symbol: String
    /// `prefix-%04d.params`'s bytes.
    var params: [UInt8]
    /// This worker's compression residuals (`prefix-%04d.workerK.residuals`), if the checkpoint has them.
    var residuals: [UInt8]?
    /// The checkpoint's optimizer state as one file, for a worker that runs the optimizer.
    var states: [UInt8]?
    /// Whether the checkpoint has a states file and no server shards: the servers can restore from it.
    var hasStatesFile: Bool
    /// The optimizer's update count at the checkpoint (`CheckpointManifest.updates`), if recorded.
    var updates: Int?

    /// Asks the scheduler for the resume point the flags name; nil to start from scratch (no
    /// `--load-epoch`/`--resume`, or `--resume` with no complete checkpoint). Throws the
    /// scheduler's error (the same as `ResumePoint.resolve` on one host) or a deadline's.
    static func request(_ store: DistKVStore, _ options: TrainOptions, logger: Logger) throws -> ReceivedResumePoint? {
        guard options.loadEpoch != nil || options.resume else { return nil }
        let asked = ResumeRequest(
            prefix: options.modelPrefix, loadEpoch: options.loadEpoch,
            resume: options.resume,
            workersUpdate: !Module.updateOnKVStore(environment: ProcessInfo.processInfo.environment))
        let office = store.postOffice
        let reply: Message
        do {
            // The scheduler reads and checks every file of the checkpoint first (once for all the
            // workers): a large one takes longer than a request's usual deadline.
            reply = try office.request(
                Message(body: [UInt8](try JSONEncoder().encode(asked)), control: Control(cmd: .resumePoint)),
                to: NodeID.scheduler, timeout: max(office.config.requestTimeout, office.config.barrierTimeout))
        } catch ClusterError.remoteError(_, let message) {
            throw CoordinationError(description: "the scheduler cannot resume this job: \(message)")
        } catch {
            throw CoordinationError(description: "cannot resume: the scheduler did not send the resume point: \(error)")
        }
        let answer: ResumeAnswer
        do { answer = try JSONDecoder().decode(ResumeAnswer.self, from: Data(reply.body)) } catch {
            throw CoordinationError(
                description: "cannot resume: the scheduler's RESUME_POINT answer is not valid: \(error)")
        }
        guard let epoch = answer.epoch else {
            logger.info(
                "--resume: the scheduler has no complete checkpoint under \(asked.prefix ?? "?"): starting from epoch 0"
            )
            return nil
        }
        guard let prefix = answer.prefix, let symbolFile = answer.file(role: "symbol"),
            let paramsFile = answer.file(role: "params")
        else {
            throw CoordinationError(
                description:
                    "cannot resume: the scheduler's answer for checkpoint \(epoch) lists \(answer.files.map(\.name)), not the symbol JSON and the params"
            )
        }
        // Every file is read from the scheduler in chunks and checked against what it announced.
        let layout = CheckpointLayout(prefix: prefix, epoch: epoch)
        func read(_ file: CheckpointManifest.File) throws -> [UInt8] {
            try CheckpointTransfer.download(
                file, prefix: prefix, epoch: epoch, from: NodeID.scheduler, office: office,
                path: "\((layout.directory as NSString).appendingPathComponent(file.name)) (on the scheduler's host)",
                chunkBytes: store.checkpointChunkBytes)
        }
        guard let symbol = String(validating: try read(symbolFile), as: UTF8.self) else {
            throw CoordinationError(
                description: "cannot resume: \(layout.symbolPath) on the scheduler's host is not UTF-8")
        }
        return ReceivedResumePoint(
            epoch: epoch, hasServerShards: answer.hasServerShards, symbol: symbol, params: try read(paramsFile),
            residuals: try answer.file(role: CheckpointManifest.workerResidualsRole).map(read),
            states: try answer.file(role: "states").map(read),
            hasStatesFile: answer.hasStatesFile == true, updates: answer.updates)
    }
}
