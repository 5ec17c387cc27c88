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

    /// Whether the servers can restore weights and optimizer state from it.
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
            guard let (layout, manifest) = CheckpointManifest.latestComplete(prefix: prefix, logger: logger) else {
                logger.info("--resume: no complete checkpoint under \(prefix): starting from epoch 0")
                return nil
            }
            return ResumePoint(layout: layout, manifest: manifest)
        }
        let layout = CheckpointLayout(prefix: prefix, epoch: loadEpoch ?? 0)
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
            if distributed {
                logger.warning(
                    "\(layout.paramsPath) has no manifest: the weights load, the servers' optimizer state starts fresh")
            }
            return ResumePoint(layout: layout, manifest: nil)
        }
        let manifest = try CheckpointManifest.read(layout)
        try manifest.verify(layout)
        return ResumePoint(layout: layout, manifest: manifest)
    }

    /// `path` made absolute against the current directory, as nodes on a shared file system in
    /// other directories need it.
    static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }
}
