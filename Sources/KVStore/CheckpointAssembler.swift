import Foundation
import SwiftPSOptimizer
import SwiftPSTensor

/// The scheduler's last step of a distributed checkpoint: once it has written every server's shard,
/// joins the shards into the full `prefix-%04d.params` and writes the manifest, last.
public enum CheckpointAssembler {
    /// Completes checkpoint `layout`:
    ///
    /// 1. takes every server's weight shard (`shardContents`, the bytes the scheduler just wrote
    ///    from the servers' answers, by file name; nil reads the files), checked against the sizes
    ///    and SHA-256 the servers reported, and joins the slices by parameter name and offset (the
    ///    state shards, not needed here, must be on disk with the reported sizes);
    /// 2. writes `prefix-%04d.params` in MXNet's format: every server-held parameter as
    ///    `arg:<name>` with its shape from `argShapes`, plus the `extra` arrays worker 0 holds
    ///    itself (`aux:<name>` states, `arg:<name>` parameters not on the servers), atomically;
    /// 3. writes `prefix-%04d.manifest.json` listing the symbol file (which must exist), the params
    ///    file, the shards and `workerFiles` (already written), atomically, last; its optimizer is the
    ///    servers' or, when the workers run it (no reports), `optimizer`; `run` names the run that
    ///    wrote it (`CheckpointManifest.run`).
    ///
    /// Throws `CheckpointError` naming the file or parameter at fault; nothing is then written
    /// after the failure, so no manifest claims an incomplete checkpoint.
    @discardableResult
    public static func complete(
        _ layout: CheckpointLayout, reports: [ServerCheckpointReport], argShapes: [String: [Int]],
        extra: [String: NDArray], numWorkers: Int, shardContents: [String: [UInt8]]? = nil,
        workerFiles: [CheckpointManifest.File] = [], optimizer: OptimizerConfig? = nil, run: String? = nil,
        updates: Int? = nil
    ) throws(CheckpointError) -> CheckpointManifest {
        let ordered = reports.sorted { $0.server < $1.server }
        var manifest = CheckpointManifest(
            epoch: layout.epoch, numServers: ordered.count, numWorkers: numWorkers,
            optimizer: ordered.first?.optimizer ?? optimizer, files: ordered.flatMap(\.files), run: run,
            updates: updates)
        // No reports: the workers ran the optimizer, and worker 0 sent every parameter in `extra`.
        var weights: [String: NDArray] = [:]
        if !ordered.isEmpty {
            // The params file needs only the weights: the state shards are only checked to be there.
            let shards =
                if let shardContents {
                    try CheckpointShards.decode(
                        layout, manifest: manifest, contents: shardContents, source: "the scheduler", weightsOnly: true)
                } else {
                    try CheckpointShards.load(layout, manifest: manifest, weightsOnly: true)
                }
            weights = shards.weights
        }

        var arrays: [(String, NDArray)] = []
        for name in weights.keys.sorted() {
            guard let flat = weights[name], let shape = argShapes[name] else {
                throw .inconsistent("the servers hold '\(name)', which worker 0's network does not have")
            }
            guard NDArray.elementCount(shape) == flat.count, let array = try? flat.reshaped(shape) else {
                throw .inconsistent("'\(name)' has \(flat.count) elements on the servers, shape \(shape) on worker 0")
            }
            arrays.append(("arg:" + name, array))
        }
        for name in argShapes.keys.sorted() where weights[name] == nil && extra["arg:" + name] == nil {
            throw .inconsistent("no server holds '\(name)' and worker 0 did not send it")
        }
        for key in extra.keys.sorted() {
            guard key.hasPrefix("arg:") || key.hasPrefix("aux:"), let array = extra[key] else {
                throw .inconsistent("extra array '\(key)' is neither arg: nor aux:")
            }
            arrays.append((key, array))
        }
        let params: [UInt8]
        do {
            params = try ParamsFile.encode(arrays, path: layout.paramsPath)
            try AtomicFile.write(params, to: layout.paramsPath)
        } catch let error as AtomicFileError {
            throw .cannotWrite(path: layout.paramsPath, reason: error.reason)
        } catch {
            throw .cannotWrite(path: layout.paramsPath, reason: "\(error)")
        }
        manifest.files.insert(
            contentsOf: [
                try CheckpointManifest.File(
                    path: layout.symbolPath, role: "symbol",
                    hint: "the scheduler writes it from worker 0's network before it joins the shards"),
                CheckpointManifest.File(path: layout.paramsPath, role: "params", content: params),
            ], at: 0)
        manifest.files += workerFiles
        try manifest.write(layout)
        return manifest
    }
}
