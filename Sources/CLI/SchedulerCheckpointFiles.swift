import Foundation
import Logging
import SwiftPS

/// The scheduler's side of resuming: it alone reads the checkpoint files. It answers workers with
/// the resume point (RESUME_POINT) and servers with the manifest (CHECKPOINT_FETCH), each announcing
/// files (name, size, SHA-256) that the node then reads in chunks (CHECKPOINT_READ). Each handler
/// returns the answer to send; a thrown error becomes the answer's error. Used on the scheduler's
/// dispatch thread only.
final class SchedulerCheckpointFiles {
    private let chunkBytes: Int
    private let logger: Logger
    /// Optimizer-state files joined from server shards for workers that run the optimizer, by the
    /// path they would have (`prefix-%04d.states`): joined once for all the workers that resume.
    private var joined: [String: [UInt8]] = [:]
    /// Resume points resolved (every file of the checkpoint read and its SHA-256 checked), by the
    /// request's prefix, epoch and mode: every worker asks the same, and is answered from one check.
    private var resolved: [String: ResumePoint?] = [:]

    init(chunkBytes: Int, logger: Logger) {
        self.chunkBytes = chunkBytes
        self.logger = logger
    }

    /// Forgets the joined files and resolved resume points, once the workers have resumed (at the
    /// first epoch end).
    func dropJoined() {
        joined.removeAll()
        resolved.removeAll()
    }

    /// RESUME_POINT: resolves the request exactly as `ResumePoint.resolve` does on one host (same
    /// rules, same errors) and answers with the epoch and the files to read: the symbol and params,
    /// plus the worker's compression residuals when the checkpoint has them for a job of
    /// `numWorkers`, plus the optimizer state as one file for a worker that runs the optimizer.
    func resumePoint(_ request: Message, numWorkers: Int) throws -> Message {
        let asked: ResumeRequest
        do { asked = try JSONDecoder().decode(ResumeRequest.self, from: Data(request.body)) } catch {
            throw CoordinationError(description: "RESUME_POINT carries no valid request: \(error)")
        }
        let prefix = asked.prefix.map(ResumePoint.absolute)
        let key = "\(prefix ?? "")|\(asked.loadEpoch.map(String.init) ?? "")|\(asked.resume)"
        let found: ResumePoint?
        if let cached = resolved[key] {
            found = cached
        } else {
            found = try ResumePoint.resolve(
                prefix: prefix, loadEpoch: asked.loadEpoch, resume: asked.resume, distributed: true, logger: logger)
            resolved[key] = .some(found)
            if let found { logger.info("resume point: checkpoint \(found.epoch) under \(found.layout.prefix) checked") }
        }
        guard let point = found else {
            return try Self.answer(.resumePoint, ResumeAnswer(epoch: nil, hasServerShards: false))
        }
        let layout = point.layout
        var files = [
            try entry(
                layout.symbolPath, role: "symbol", manifest: point.manifest,
                hint: "checkpoint \(point.epoch) needs the network (on the scheduler's host)"),
            try entry(
                layout.paramsPath, role: "params", manifest: point.manifest,
                hint: "checkpoint \(point.epoch) needs the weights (on the scheduler's host)"),
        ]
        let rank = NodeID.rank(of: request.sender)
        if let manifest = point.manifest, let file = manifest.residuals(ofWorker: rank) {
            if manifest.numWorkers == numWorkers {
                files.append(try entry(manifest.path(of: file, in: layout), role: file.role, manifest: manifest))
            } else {
                logger.warning(
                    "checkpoint \(point.epoch) holds the compression residuals of \(manifest.numWorkers) workers, this job has \(numWorkers): they start at zero"
                )
            }
        }
        // A worker that runs the optimizer takes its state as one file: the checkpoint's states file
        // (its workers ran the optimizer, or one process did), or the servers' shards joined.
        let statesFile = point.hasServerShards ? nil : point.manifest?.files(role: "states").first
        if asked.workersUpdate == true, let manifest = point.manifest {
            if let file = statesFile {
                files.append(try entry(manifest.path(of: file, in: layout), role: file.role, manifest: manifest))
            } else if point.hasServerShards {
                let path = layout.localStatesPath
                let bytes = try joined[path] ?? CheckpointShards.load(layout, manifest: manifest).statesFile()
                joined[path] = bytes
                files.append(CheckpointManifest.File(path: path, role: "states", content: bytes))
            }
        }
        logger.info(
            "\(NodeID.name(of: request.sender)) resumes from checkpoint \(point.epoch) (\(layout.paramsPath), \(files.map(\.bytes).reduce(0, +)) bytes to read)"
        )
        return try Self.answer(
            .resumePoint,
            ResumeAnswer(
                epoch: point.epoch, prefix: layout.prefix, hasServerShards: point.hasServerShards,
                hasStatesFile: statesFile == nil ? nil : true, files: files, updates: point.manifest?.updates))
    }

    /// The announcement of the file at `path`: the manifest's entry when it lists the file (not read
    /// here: the worker checks every byte it reads against it), else one made from its bytes on disk.
    private func entry(
        _ path: String, role: String, manifest: CheckpointManifest?, hint: String = "the checkpoint is incomplete"
    ) throws -> CheckpointManifest.File {
        let name = (path as NSString).lastPathComponent
        guard let listed = manifest?.files.first(where: { $0.name == name }) else {
            return CheckpointManifest.File(
                path: path, role: role, content: try CheckpointManifest.readFile(path, hint: hint))
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw CheckpointError.missing(path: path, hint: hint)
        }
        return listed
    }

    /// CHECKPOINT_FETCH: answers a server with the checkpoint's manifest, from which it reads the
    /// files it needs (CHECKPOINT_READ).
    func fetch(_ request: Message) throws -> Message {
        guard NodeID.role(of: request.sender) == .server else {
            throw CoordinationError(description: "CHECKPOINT_FETCH is only accepted from servers")
        }
        let asked: CheckpointFetch
        do { asked = try JSONDecoder().decode(CheckpointFetch.self, from: Data(request.body)) } catch {
            throw CoordinationError(description: "CHECKPOINT_FETCH carries no valid request: \(error)")
        }
        let layout = CheckpointLayout(prefix: ResumePoint.absolute(asked.prefix), epoch: asked.epoch)
        return Message(
            body: [UInt8](try JSONEncoder().encode(try CheckpointManifest.read(layout))),
            control: Control(cmd: .checkpointFetch))
    }

    /// CHECKPOINT_READ: answers with the bytes asked of a file of a checkpoint: a states file joined
    /// for a resuming worker, or what `CheckpointTransfer.chunk(of:layout:)` serves from disk.
    func read(_ request: Message) throws -> Message {
        let read: CheckpointRead
        do { read = try JSONDecoder().decode(CheckpointRead.self, from: Data(request.body)) } catch {
            throw CoordinationError(description: "CHECKPOINT_READ carries no valid request: \(error)")
        }
        let layout = CheckpointLayout(prefix: ResumePoint.absolute(read.prefix), epoch: read.epoch)
        var response = Message(control: Control(cmd: .checkpointRead))
        response.data = [
            try joined[(layout.directory as NSString).appendingPathComponent(read.name)].map {
                try CheckpointTransfer.chunk(read, of: $0)
            } ?? CheckpointTransfer.chunk(of: read, layout: layout)
        ]
        return response
    }

    private static func answer(_ cmd: ControlCommand, _ value: some Encodable) throws -> Message {
        Message(body: [UInt8](try JSONEncoder().encode(value)), control: Control(cmd: cmd))
    }
}
