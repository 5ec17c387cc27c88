import Crypto
import Foundation
import Logging
import SwiftPSOptimizer
import SwiftPSTensor

/// The manifest of a checkpoint, `prefix-%04d.manifest.json`: which files make up checkpoint
/// `epoch`, with their sizes and SHA-256, how many servers wrote it and with which optimizer.
///
/// It is written last, atomically, after every file it lists is on disk, so a crash at any moment
/// leaves either no manifest (the checkpoint does not count) or a complete checkpoint.
/// `--resume` takes the newest epoch whose manifest exists and whose files all verify.
///
/// Layout (JSON, keys sorted):
///
///     {"epoch": 2, "files": [{"bytes": 1234, "name": "mlp-0002.params", "role": "params",
///       "sha256": "…"}, …], "format": "swiftps-checkpoint", "num_servers": 2, "num_workers": 2,
///      "optimizer": {…OptimizerConfig…}, "version": 1}
///
/// File `name`s are relative to the prefix's directory; `role` is one of `symbol`, `params`,
/// `states` (local mode), `server-params` and `server-states` (with `server`, the server's rank), and
/// `worker-residuals` (with `worker`, the worker's rank; gradient compression only).
public struct CheckpointManifest: Codable, Sendable, Equatable {
    /// One file of the checkpoint.
    public struct File: Codable, Sendable, Equatable {
        /// The file name, relative to the prefix's directory.
        public var name: String
        /// What the file holds: symbol, params, states, server-params, server-states, worker-residuals.
        public var role: String
        /// The server that wrote it (server files only).
        public var server: Int?
        /// The worker whose state it is (worker files only).
        public var worker: Int?
        /// Its size in bytes.
        public var bytes: Int
        /// SHA-256 of its content, lowercase hex.
        public var sha256: String

        /// An entry for `bytes` stored as `path` (only its last component is kept).
        public init(path: String, role: String, server: Int? = nil, worker: Int? = nil, content: [UInt8]) {
            name = (path as NSString).lastPathComponent
            self.role = role
            self.server = server
            self.worker = worker
            bytes = content.count
            sha256 = CheckpointManifest.sha256(content)
        }

        /// Checks `content`, the file's bytes stored at `path` (or sent by `source`, a node), against this
        /// entry's size and SHA-256; throws `corrupt` naming the path.
        public func check(_ content: [UInt8], path: String, source: String? = nil) throws(CheckpointError) {
            try check(count: content.count, sha256: { CheckpointManifest.sha256(content) }, path: path, source: source)
        }

        /// `check` for content seen in pieces: `count` bytes whose SHA-256 (lowercase hex) `sha256` gives.
        public func check(count: Int, sha256 digest: () -> String, path: String, source: String? = nil)
            throws(CheckpointError)
        {
            guard count == bytes else {
                throw .corrupt(
                    path: path,
                    reason: source.map { "\($0) sent \(count) bytes, \(bytes) were announced" }
                        ?? "\(count) bytes, the manifest says \(bytes)")
            }
            guard digest() == sha256 else {
                throw .corrupt(
                    path: path,
                    reason: source.map { "the SHA-256 of what \($0) sent differs from the one announced" }
                        ?? "its SHA-256 differs from the manifest's")
            }
        }

        /// This entry for the same content stored at `path` (only its last component is kept) and
        /// owned by `worker`.
        public func stored(as path: String, worker: Int?) -> File {
            var entry = self
            entry.name = (path as NSString).lastPathComponent
            entry.worker = worker
            return entry
        }

        /// An entry for the file at `path`, read from disk; `hint` says what to do when it is missing.
        public init(
            path: String, role: String, server: Int? = nil, hint: String = "the checkpoint is incomplete"
        ) throws(CheckpointError) {
            self.init(
                path: path, role: role, server: server, content: try CheckpointManifest.readFile(path, hint: hint))
        }
    }

    /// Always "swiftps-checkpoint".
    public var format = "swiftps-checkpoint"
    /// The manifest version, 1.
    public var version = 1
    /// The checkpoint's epoch (the number of epochs trained).
    public var epoch: Int
    /// How many servers wrote shards (0: a local-mode checkpoint).
    public var numServers: Int
    /// How many workers trained.
    public var numWorkers: Int
    /// The optimizer configuration the state belongs to.
    public var optimizer: OptimizerConfig?
    /// Every file of the checkpoint.
    public var files: [File]
    /// The run that wrote it: the id `swiftps launch` gives every process of one launch, the same
    /// across its restarts (`SWIFTPS_RUN_ID`); nil for a job started otherwise.
    public var run: String?
    /// The optimizer's update count when it was written (steps since epoch 0, whatever each run's
    /// batches per epoch), where the saved state's counts stand: a resumed run places its
    /// learning-rate schedule's epochs from it. Nil in manifests written before it was recorded.
    public var updates: Int?

    enum CodingKeys: String, CodingKey {
        case format, version, epoch
        case numServers = "num_servers"
        case numWorkers = "num_workers"
        case optimizer, files, run, updates
    }

    /// A manifest for the given files.
    public init(
        epoch: Int, numServers: Int, numWorkers: Int, optimizer: OptimizerConfig?, files: [File], run: String? = nil,
        updates: Int? = nil
    ) {
        self.run = run
        self.updates = updates
        self.epoch = epoch
        self.numServers = numServers
        self.numWorkers = numWorkers
        self.optimizer = optimizer
        self.files = files
    }

    /// The residuals file of worker `rank`, if the checkpoint has one.
    public func residuals(ofWorker rank: Int) -> File? {
        files.first { $0.role == Self.workerResidualsRole && $0.worker == rank }
    }

    /// The role of a worker's compression residuals.
    public static let workerResidualsRole = "worker-residuals"

    /// The entries with `role` (and, when given, written by `server`).
    public func files(role: String, server: Int? = nil) -> [File] {
        files.filter { $0.role == role && (server == nil || $0.server == server) }
    }

    /// Writes the manifest as `layout.manifestPath`, atomically.
    public func write(_ layout: CheckpointLayout) throws(CheckpointError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do { data = try encoder.encode(self) } catch {
            throw .cannotWrite(path: layout.manifestPath, reason: "\(error)")
        }
        do { try AtomicFile.write([UInt8](data) + [10], to: layout.manifestPath) } catch {
            throw .cannotWrite(path: layout.manifestPath, reason: error.reason)
        }
    }

    /// Reads `layout.manifestPath`; throws `missing` or `corrupt` naming the file.
    public static func read(_ layout: CheckpointLayout) throws(CheckpointError) -> CheckpointManifest {
        let path = layout.manifestPath
        let bytes = try readFile(path, hint: "checkpoint \(layout.epoch) is incomplete or was never written")
        let manifest: CheckpointManifest
        do { manifest = try JSONDecoder().decode(CheckpointManifest.self, from: Data(bytes)) } catch {
            throw .corrupt(path: path, reason: "not a checkpoint manifest: \(error)")
        }
        guard manifest.format == "swiftps-checkpoint", manifest.version == 1 else {
            throw .corrupt(path: path, reason: "format \(manifest.format) version \(manifest.version) is not supported")
        }
        guard manifest.epoch == layout.epoch else {
            throw .corrupt(path: path, reason: "it describes epoch \(manifest.epoch), not \(layout.epoch)")
        }
        // Checkpoint files are siblings of the manifest: a name that reaches elsewhere is not one of ours.
        if let stray = manifest.files.first(where: {
            $0.name.isEmpty || $0.name.contains("/") || $0.name == "." || $0.name == ".."
        }) {
            throw .corrupt(
                path: path, reason: "it lists '\(stray.name)', which is not a file name in the checkpoint's directory")
        }
        return manifest
    }

    /// Checks that every listed file exists in `layout`'s directory with the recorded size and
    /// SHA-256; throws naming the first file that does not.
    public func verify(_ layout: CheckpointLayout) throws(CheckpointError) {
        for file in files {
            let path = path(of: file, in: layout)
            try file.check(try Self.readFile(path, hint: "listed in \(layout.manifestPath)"), path: path)
        }
    }

    /// The path of `file` in `layout`'s directory.
    public func path(of file: File, in layout: CheckpointLayout) -> String {
        (layout.directory as NSString).appendingPathComponent(file.name)
    }

    /// The newest checkpoint under `prefix` whose manifest reads and whose files verify, with its
    /// manifest; nil if there is none. Skipped (incomplete or damaged) checkpoints are logged.
    ///
    /// With `run`, a checkpoint another run wrote (its manifest's `run` differs, or it has none) is
    /// skipped (logged): a restarted job resumes only from its own checkpoints, never from newer ones
    /// an earlier run left under the same prefix (whose last epoch would leave nothing to train).
    /// The run is recorded in the manifest, so no clock is compared.
    public static func latestComplete(prefix: String, writtenBy run: String? = nil, logger: Logger? = nil)
        -> (CheckpointLayout, CheckpointManifest)?
    {
        search(prefix: prefix, writtenBy: run, logger: logger).latest
    }

    /// `latestComplete`'s answer, and the newer checkpoints (of `run`, when given) it skipped because
    /// their manifest did not read or their files did not verify, newest first, each with the reason.
    public static func search(prefix: String, writtenBy run: String? = nil, logger: Logger? = nil)
        -> (latest: (CheckpointLayout, CheckpointManifest)?, damaged: [(epoch: Int, reason: String)])
    {
        var damaged: [(epoch: Int, reason: String)] = []
        for epoch in CheckpointLayout.epochsWithManifest(prefix: prefix) {
            let layout = CheckpointLayout(prefix: prefix, epoch: epoch)
            do {
                let manifest = try read(layout)
                if let run, manifest.run != run {
                    logger?.warning(
                        "skipping checkpoint \(epoch): another run wrote it (\(layout.manifestPath) names run \(manifest.run ?? "none"), this job is run \(run))"
                    )
                    continue
                }
                try manifest.verify(layout)
                return ((layout, manifest), damaged)
            } catch {
                logger?.warning("skipping checkpoint \(epoch): \(error)")
                damaged.append((epoch, "\(error)"))
            }
        }
        return (nil, damaged)
    }

    /// SHA-256 of `bytes` as lowercase hex.
    public static func sha256(_ bytes: [UInt8]) -> String {
        hex(SHA256.hash(data: bytes))
    }

    /// A SHA-256 digest in lowercase hex, as manifests record it.
    static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// The content of `path`, or `missing` naming it.
    public static func readFile(_ path: String, hint: String = "the checkpoint is incomplete") throws(CheckpointError)
        -> [UInt8]
    {
        do { return try AtomicFile.read(path) } catch { throw .missing(path: path, hint: "\(error.reason); \(hint)") }
    }
}
