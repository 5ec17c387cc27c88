import Foundation
import Logging
import SwiftPS

/// The scheduler's side of a distributed checkpoint, run at an epoch end while every worker waits
/// for the scheduler's answer (so no push is in flight and the servers' state is the epoch's):
///
/// 1. the scheduler writes `prefix-symbol.json` from the network worker 0 sent with its report;
/// 2. CHECKPOINT to each server, in rank order: each answers with the sizes and SHA-256 of its
///    `prefix-%04d.serverK.params` and `.serverK.states`, which the scheduler then reads in chunks
///    (CHECKPOINT_READ), checks against the report and writes atomically;
/// 3. with gradient compression, it reads each worker's residuals (announced with its EPOCH_END) and
///    writes them as `prefix-%04d.workerK.residuals`;
/// 4. the scheduler joins the shards into `prefix-%04d.params` (MXNet format, full weights) and
///    writes `prefix-%04d.manifest.json` last (`CheckpointAssembler`).
///
/// Only the scheduler touches the files, so only its host needs to see `--model-prefix`.
///
/// A failure at any step removes the files of this epoch it wrote; a crash leaves no manifest for
/// this epoch, so `--resume` takes the previous one,
/// whose files are never touched (every file of an epoch carries the epoch in its name, except the
/// symbol, which is rewritten atomically with the same content).
enum SchedulerCheckpoint {
    /// Checks that checkpoints can be written under `prefix` (the workers' `--model-prefix`, relative
    /// to this directory): makes its directory, writes a file there atomically and removes it. Run
    /// once the cluster is up, so a prefix the scheduler cannot write to stops the job before the
    /// first epoch instead of at the end of it.
    static func probe(prefix: String) throws(CoordinationError) {
        let layout = CheckpointLayout(prefix: ResumePoint.absolute(prefix), epoch: 0)
        let resolved = layout.prefix == prefix ? "" : " (\(layout.prefix))"
        func failure(_ reason: String) -> CoordinationError {
            CoordinationError(
                description:
                    "the scheduler cannot write checkpoints under --model-prefix \(prefix)\(resolved): \(reason)")
        }
        do { try AtomicFile.createDirectories(layout.directory) } catch {
            throw failure("cannot create directory \(error.path): \(error.reason)")
        }
        let probe = "\(layout.directory)/.swiftps-write-probe-\(ProcessInfo.processInfo.processIdentifier)"
        do { try AtomicFile.write(Array("probe\n".utf8), to: probe) } catch { throw failure(error.reason) }
        try? FileManager.default.removeItem(atPath: probe)
    }

    /// Writes checkpoint `plan.epoch`; returns the params path. Throws naming the server or file.
    /// `residuals` are the files the workers announced; every file is read in chunks of `chunkBytes`.
    static func run(
        _ plan: CheckpointPlan, residuals: [Int: CheckpointManifest.File] = [:], office: PostOffice, chunkBytes: Int,
        logger: Logger
    ) throws -> String {
        let command = CheckpointCommand(prefix: ResumePoint.absolute(plan.prefix), epoch: plan.epoch)
        let layout = command.layout
        let body = try JSONEncoder().encode(command)
        do {
            try AtomicFile.createDirectories(layout.directory)
        } catch {
            throw CheckpointError.cannotWrite(
                path: layout.symbolPath, reason: "cannot create directory \(error.path): \(error.reason)")
        }
        // Every checkpoint shares the symbol file and its manifest hashes it: an unchanged one is left
        // alone, so writing it never breaks the earlier checkpoints' manifests.
        do { try AtomicFile.writeIfChanged(Array(plan.symbol.utf8), to: layout.symbolPath) } catch {
            throw CheckpointError.cannotWrite(path: layout.symbolPath, reason: error.reason)
        }
        // The files of this epoch written so far: removed if the checkpoint fails, so that a failed
        // checkpoint leaves nothing behind but the files of earlier ones.
        let started = Date()
        var written: [String] = []
        func write(_ bytes: [UInt8], to path: String) throws {
            do { try AtomicFile.write(bytes, to: path) } catch {
                throw CheckpointError.cannotWrite(path: path, reason: error.reason)
            }
            written.append(path)
        }
        do {
            return try writeEpoch(
                plan, layout: layout, body: body, residuals: residuals, office: office, chunkBytes: chunkBytes,
                logger: logger, write: write, record: { written.append($0) })
        } catch {
            // The manifest first (the assembler's, written last; it may be in place even though its
            // directory's fsync failed), so that no manifest ever names files already removed; then
            // the params file, also the assembler's. Each is removed only if this attempt wrote it.
            for path in [layout.manifestPath, layout.paramsPath] {
                if let modified = try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date,
                    modified >= started
                {
                    try? FileManager.default.removeItem(atPath: path)
                }
            }
            for path in written { try? FileManager.default.removeItem(atPath: path) }
            throw error
        }
    }

    /// Everything after the symbol: the servers' shards, the workers' residuals, then the assembled
    /// params and the manifest. `write` writes one file atomically and records it; `record` records
    /// one written otherwise (streamed to disk as it arrived).
    private static func writeEpoch(
        _ plan: CheckpointPlan, layout: CheckpointLayout, body: Data, residuals: [Int: CheckpointManifest.File],
        office: PostOffice, chunkBytes: Int, logger: Logger, write: ([UInt8], String) throws -> Void,
        record: (String) -> Void
    ) throws -> String {
        func read(_ file: CheckpointManifest.File, from node: Int32, path: String) throws -> [UInt8] {
            try CheckpointTransfer.download(
                file, prefix: layout.prefix, epoch: layout.epoch, from: node, office: office, path: path,
                chunkBytes: chunkBytes)
        }
        // Files nothing here reads again go to disk as they arrive, never whole in memory.
        func save(_ file: CheckpointManifest.File, from node: Int32, path: String) throws {
            try CheckpointTransfer.downloadToFile(
                file, prefix: layout.prefix, epoch: layout.epoch, from: node, office: office, path: path,
                chunkBytes: chunkBytes)
            record(path)
        }
        var reports: [ServerCheckpointReport] = []
        var contents: [String: [UInt8]] = [:]
        var workerFiles: [CheckpointManifest.File] = []
        if let file = plan.states {
            // The workers run the optimizer: worker 0's weights (in `arrays`) and state are the
            // checkpoint, laid out as a single process's; the servers hold only gradient sums.
            // Read by the name worker 0 offered it under (from its own --model-prefix, which may be
            // spelled differently), written under this checkpoint's.
            guard file.role == "states" else {
                throw CheckpointError.inconsistent(
                    "worker 0 announced \(file.name) (\(file.role)) as the optimizer state of checkpoint \(layout.epoch)"
                )
            }
            try save(file, from: NodeID.worker(0), path: layout.localStatesPath)
            workerFiles.append(file.stored(as: layout.localStatesPath, worker: nil))
        }
        for server in 0..<office.numServers where plan.states == nil {
            let answer: Message
            do {
                answer = try office.request(
                    Message(body: [UInt8](body), control: Control(cmd: .checkpoint)), to: NodeID.server(server))
            } catch {
                throw CoordinationError(
                    description: "server \(server) did not write its shard of checkpoint \(plan.epoch): \(error)")
            }
            let report: ServerCheckpointReport
            do {
                report = try JSONDecoder().decode(ServerCheckpointReport.self, from: Data(answer.body))
            } catch {
                throw CheckpointError.inconsistent(
                    "server \(server) answered CHECKPOINT without a valid report: \(error)")
            }
            guard report.server == server else {
                throw CheckpointError.inconsistent("server \(server) answered CHECKPOINT as server \(report.server)")
            }
            for (file, path) in try report.destinations(in: layout) {
                // The weights are joined into the params file next; the state is only stored.
                guard file.role == "server-params" else {
                    try save(file, from: NodeID.server(server), path: path)
                    continue
                }
                let bytes = try read(file, from: NodeID.server(server), path: path)
                try write(bytes, path)
                contents[file.name] = bytes
            }
            reports.append(report)
        }
        for (rank, file) in residuals.sorted(by: { $0.key < $1.key }) {
            let path = layout.workerResidualsPath(rank)
            guard file.role == CheckpointManifest.workerResidualsRole, file.worker == rank else {
                throw CheckpointError.inconsistent(
                    "worker \(rank) announced \(file.name) (\(file.role)) as its residuals")
            }
            try save(file, from: NodeID.worker(rank), path: path)
            workerFiles.append(file.stored(as: path, worker: rank))
        }
        var extra: [String: NDArray] = [:]
        do {
            let bytes = try read(plan.arrays, from: NodeID.worker(0), path: layout.workerArraysPath)
            for (key, array) in try ParamsFile.decode(bytes, path: layout.workerArraysPath) { extra[key] = array }
        } catch let error as ParamsFileError {
            throw CheckpointError.inconsistent(
                "worker 0's arrays for checkpoint \(layout.epoch) are unreadable: \(error)")
        }
        try CheckpointAssembler.complete(
            layout, reports: reports, argShapes: plan.argShapes, extra: extra, numWorkers: office.numWorkers,
            shardContents: contents, workerFiles: workerFiles, optimizer: plan.optimizer,
            run: ResumePoint.run(ProcessInfo.processInfo.environment), updates: plan.updates)
        logger.info("checkpoint \(layout.epoch) complete: \(layout.paramsPath), manifest \(layout.manifestPath)")
        return layout.paramsPath
    }
}
