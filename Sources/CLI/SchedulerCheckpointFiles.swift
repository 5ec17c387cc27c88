import Foundation
import Logging
import SwiftPS

/// The scheduler's side of resuming: it alone reads the checkpoint files, and sends workers the
/// resume point (RESUME_POINT) and servers the manifest and shards (CHECKPOINT_FETCH). Each
/// handler returns the answer to send; a thrown error becomes the answer's error.
enum SchedulerCheckpointFiles {
    /// RESUME_POINT: resolves the request exactly as `ResumePoint.resolve` does on one host (same
    /// rules, same errors) and answers with the epoch and the symbol and params bytes, plus the
    /// worker's compression residuals when the checkpoint has them for a job of `numWorkers`, plus
    /// the optimizer state as one file for a worker that runs the optimizer.
    static func resumePoint(_ request: Message, numWorkers: Int, logger: Logger) throws -> Message {
        let asked: ResumeRequest
        do { asked = try JSONDecoder().decode(ResumeRequest.self, from: Data(request.body)) } catch {
            throw CoordinationError(description: "RESUME_POINT carries no valid request: \(error)")
        }
        guard
            let point = try ResumePoint.resolve(
                prefix: asked.prefix.map(ResumePoint.absolute), loadEpoch: asked.loadEpoch, resume: asked.resume,
                distributed: true,
                logger: logger)
        else {
            return try answer(.resumePoint, ResumeAnswer(epoch: nil, hasServerShards: false))
        }
        let symbol = try CheckpointManifest.readFile(
            point.layout.symbolPath, hint: "checkpoint \(point.epoch) needs the network (on the scheduler's host)")
        let params = try CheckpointManifest.readFile(
            point.layout.paramsPath, hint: "checkpoint \(point.epoch) needs the weights (on the scheduler's host)")
        let rank = NodeID.rank(of: request.sender)
        var residuals: [UInt8]?
        if let manifest = point.manifest, let file = manifest.residuals(ofWorker: rank) {
            if manifest.numWorkers == numWorkers {
                let path = manifest.path(of: file, in: point.layout)
                let bytes = try CheckpointManifest.readFile(path, hint: "listed in \(point.layout.manifestPath)")
                try file.check(bytes, path: path)
                residuals = bytes
            } else {
                logger.warning(
                    "checkpoint \(point.epoch) holds the compression residuals of \(manifest.numWorkers) workers, this job has \(numWorkers): they start at zero"
                )
            }
        }
        // A worker that runs the optimizer takes its state as one file: the checkpoint's states file
        // (its workers ran the optimizer, or one process did), or the servers' shards joined.
        var states: [UInt8]?
        let statesFile = point.hasServerShards ? nil : point.manifest?.files(role: "states").first
        if asked.workersUpdate == true, let manifest = point.manifest {
            if let file = statesFile {
                let path = manifest.path(of: file, in: point.layout)
                let bytes = try CheckpointManifest.readFile(path, hint: "listed in \(point.layout.manifestPath)")
                try file.check(bytes, path: path)
                states = bytes
            } else if point.hasServerShards {
                states = try CheckpointShards.load(point.layout, manifest: manifest).statesFile()
            }
        }
        try CheckpointTransfer.checkFits(
            symbol.count + params.count + (residuals?.count ?? 0) + (states?.count ?? 0),
            what: "checkpoint \(point.epoch)'s network, weights and states",
            hint:
                "the scheduler sends them to each worker in one message, whatever the number of servers: a model this large cannot resume through the scheduler"
        )
        var message = try answer(
            .resumePoint,
            ResumeAnswer(
                epoch: point.epoch, hasServerShards: point.hasServerShards, residuals: residuals == nil ? nil : true,
                states: states == nil ? nil : true, hasStatesFile: statesFile == nil ? nil : true))
        message.data = [CheckpointTransfer.frame(symbol), CheckpointTransfer.frame(params)]
        if let residuals { message.data.append(CheckpointTransfer.frame(residuals)) }
        if let states { message.data.append(CheckpointTransfer.frame(states)) }
        logger.info(
            "sent \(NodeID.name(of: request.sender)) checkpoint \(point.epoch) (\(point.layout.paramsPath), \(params.count) bytes)"
        )
        return message
    }

    /// CHECKPOINT_FETCH: answers a server with the checkpoint's manifest and the requested files
    /// (only files the manifest lists as server shards or, in a checkpoint without them, its params and
    /// states files), each verified against the manifest.
    static func fetch(_ request: Message, logger: Logger) throws -> Message {
        guard NodeID.role(of: request.sender) == .server else {
            throw CoordinationError(description: "CHECKPOINT_FETCH is only accepted from servers")
        }
        let asked: CheckpointFetch
        do { asked = try JSONDecoder().decode(CheckpointFetch.self, from: Data(request.body)) } catch {
            throw CoordinationError(description: "CHECKPOINT_FETCH carries no valid request: \(error)")
        }
        let layout = CheckpointLayout(prefix: ResumePoint.absolute(asked.prefix), epoch: asked.epoch)
        let manifest = try CheckpointManifest.read(layout)
        var message = Message(
            body: [UInt8](try JSONEncoder().encode(manifest)), control: Control(cmd: .checkpointFetch))
        var total = 0
        // A checkpoint without shards restores the servers from its params and states files.
        let roles: Set<String> = manifest.numServers == 0 ? ["params", "states"] : ["server-params", "server-states"]
        for name in asked.files {
            guard let file = manifest.files.first(where: { $0.name == name && roles.contains($0.role) }) else {
                throw CheckpointError.inconsistent(
                    "\(layout.manifestPath) lists no \(manifest.numServers == 0 ? "params or states file" : "server shard") named '\(name)'"
                )
            }
            let path = manifest.path(of: file, in: layout)
            let bytes = try CheckpointManifest.readFile(path, hint: "listed in \(layout.manifestPath)")
            try file.check(bytes, path: path)
            total += bytes.count
            message.data.append(CheckpointTransfer.frame(bytes))
        }
        try CheckpointTransfer.checkFits(
            total, what: asked.files.joined(separator: ", "),
            hint: manifest.numServers == 0
                ? "a checkpoint without server shards goes to each server whole: resume it with the workers running the optimizer (MXNET_UPDATE_ON_KVSTORE=0)"
                : "use more servers (-s) so that each shard is smaller")
        return message
    }

    private static func answer(_ cmd: ControlCommand, _ value: some Encodable) throws -> Message {
        Message(body: [UInt8](try JSONEncoder().encode(value)), control: Control(cmd: cmd))
    }
}
