import Crypto
import Foundation
import SwiftPSCluster
import SwiftPSTensor
import SwiftPSTransport
import Synchronization

/// The body (JSON) of CHECKPOINT_FETCH (server → scheduler, at LOAD_CHECKPOINT): send checkpoint
/// `epoch`'s manifest. The scheduler answers with the manifest's bytes as its body; the server then
/// reads each file it needs with CHECKPOINT_READ (`CheckpointTransfer.download`).
public struct CheckpointFetch: Codable, Sendable, Equatable {
    /// The model prefix on the scheduler's host (a relative one is relative to its working directory).
    public var prefix: String
    /// The checkpoint's epoch number.
    public var epoch: Int

    /// A request for checkpoint `epoch`'s manifest under `prefix`.
    public init(prefix: String, epoch: Int) {
        self.prefix = prefix
        self.epoch = epoch
    }

    /// The checkpoint's file names.
    public var layout: CheckpointLayout { CheckpointLayout(prefix: prefix, epoch: epoch) }
}

/// The body (JSON) of CHECKPOINT_READ: send `length` bytes from `offset` of the file `name` of
/// checkpoint `epoch` under `prefix`. The answer carries exactly those bytes as its one data frame;
/// a range outside the file is refused. The scheduler serves the files of its checkpoints; a server
/// or worker serves the files it offered in its `CheckpointOutbox`.
public struct CheckpointRead: Codable, Sendable, Equatable {
    /// The model prefix (the scheduler's, absolute).
    public var prefix: String
    /// The checkpoint's epoch number.
    public var epoch: Int
    /// The file's name, relative to the prefix's directory.
    public var name: String
    /// The first byte to send.
    public var offset: Int
    /// How many bytes to send.
    public var length: Int

    /// A request for `length` bytes at `offset` of file `name` of checkpoint `epoch`.
    public init(prefix: String, epoch: Int, name: String, offset: Int, length: Int) {
        self.prefix = prefix
        self.epoch = epoch
        self.name = name
        self.offset = offset
        self.length = length
    }

    /// Checks that the range lies within a file of `size` bytes and fits in one answer
    /// (`CheckpointTransfer.maxChunkBytes`); throws naming the file.
    public func check(size: Int) throws(CheckpointError) {
        guard offset >= 0, length > 0, offset <= size, length <= size - offset else {
            throw .inconsistent(
                "CHECKPOINT_READ of \(name) asks \(length) bytes at offset \(offset), the file has \(size)")
        }
        guard length <= CheckpointTransfer.maxChunkBytes else {
            throw .inconsistent(
                "CHECKPOINT_READ of \(name) asks \(length) bytes, more than one answer may carry (\(CheckpointTransfer.maxChunkBytes))"
            )
        }
    }
}

/// The body (JSON) of RESUME_POINT (worker → scheduler, after rendezvous): the worker's
/// `--model-prefix` (absolute), `--load-epoch` and `--resume`.
public struct ResumeRequest: Codable, Sendable, Equatable {
    /// The model prefix, absolute; nil when the worker has none (the scheduler then answers the
    /// same error as on one host).
    public var prefix: String?
    /// `--load-epoch`.
    public var loadEpoch: Int?
    /// `--resume`.
    public var resume: Bool
    /// Whether the worker runs the optimizer (`MXNET_UPDATE_ON_KVSTORE=0`), so it needs the
    /// checkpoint's optimizer state as one file, joined from the server shards if that is where it is.
    public var workersUpdate: Bool?

    /// A request for the resume point these flags name.
    public init(prefix: String?, loadEpoch: Int?, resume: Bool, workersUpdate: Bool? = nil) {
        self.workersUpdate = workersUpdate
        self.prefix = prefix
        self.loadEpoch = loadEpoch
        self.resume = resume
    }
}

/// The scheduler's answer (JSON) to RESUME_POINT. When `epoch` is set, `files` lists what the
/// worker reads from the scheduler (CHECKPOINT_READ): the symbol JSON (role `symbol`), the
/// `prefix-%04d.params` file (`params`), the asking worker's compression residuals
/// (`worker-residuals`) when the checkpoint has them for a job of this size, and, for a worker that
/// runs the optimizer, the checkpoint's optimizer state as one file (`states`).
public struct ResumeAnswer: Codable, Sendable, Equatable {
    /// The epoch to continue from; nil to start from scratch (`--resume` found no checkpoint).
    public var epoch: Int?
    /// The checkpoint's prefix as the scheduler resolved it (absolute on its host), for CHECKPOINT_READ.
    public var prefix: String?
    /// Whether the servers can restore weights and optimizer state from it (LOAD_CHECKPOINT).
    public var hasServerShards: Bool
    /// Whether the checkpoint has no server shards but a states file (`prefix-%04d.states`: written
    /// when the workers ran the optimizer, or by a single process), from which the servers can also
    /// restore weights and optimizer state (LOAD_CHECKPOINT).
    public var hasStatesFile: Bool?
    /// The files to read, with their sizes and SHA-256.
    public var files: [CheckpointManifest.File]
    /// The optimizer's update count at the checkpoint (`CheckpointManifest.updates`), if recorded.
    public var updates: Int?

    /// An answer: resume from `epoch` (nil: start from scratch) under `prefix`, reading `files`.
    public init(
        epoch: Int?, prefix: String? = nil, hasServerShards: Bool, hasStatesFile: Bool? = nil,
        files: [CheckpointManifest.File] = [], updates: Int? = nil
    ) {
        self.updates = updates
        self.epoch = epoch
        self.prefix = prefix
        self.hasServerShards = hasServerShards
        self.hasStatesFile = hasStatesFile
        self.files = files
    }

    /// The file of `role`, if the answer lists one.
    public func file(role: String) -> CheckpointManifest.File? { files.first { $0.role == role } }
}

/// Moving checkpoint files between the nodes and the scheduler, which alone reads and writes them.
///
/// A file never travels whole in the message that announces it: the announcement (a
/// `CheckpointManifest.File`, with the size and SHA-256) comes first, and the receiver reads the
/// bytes in chunks of `chunkBytes` with CHECKPOINT_READ, each a request with the cluster's deadline,
/// then checks the whole against the announcement. So no checkpoint file, however large, meets the
/// transport's message limit, and a node that dies mid-transfer fails the reader within a deadline.
public enum CheckpointTransfer {
    /// The variable that sets `chunkBytes`.
    public static let chunkVariable = "SWIFTPS_CHECKPOINT_CHUNK_BYTES"
    /// The default chunk: 16 MiB, a few milliseconds on a 10 Gbit/s link.
    public static let defaultChunkBytes = 16 << 20

    /// `SWIFTPS_CHECKPOINT_CHUNK_BYTES` (default 16 MiB); throws naming the variable for a value
    /// that is not a positive number of bytes within `maxChunkBytes`.
    public static func chunkBytes(environment: [String: String]) throws(CheckpointError) -> Int {
        guard let text = environment[chunkVariable] else { return defaultChunkBytes }
        guard let bytes = Int(text.trimmingCharacters(in: .whitespaces)), bytes > 0, bytes <= maxChunkBytes else {
            throw .inconsistent("\(chunkVariable)='\(text)': give a number of bytes from 1 to \(maxChunkBytes)")
        }
        return bytes
    }

    /// Bytes kept free for a message's meta frame and body beside a chunk.
    public static let metaAllowance = 1 << 20
    /// The largest chunk one answer may carry: the transport's message limit less `metaAllowance`.
    public static let maxChunkBytes = TransportLimits().maxMessageBytes - metaAllowance

    /// The slowest transfer rate (bytes per second) a wait that covers moving checkpoint files
    /// allows for, beyond its usual deadline: 20 MB/s, a slow disk's.
    public static let slowestBytesPerSecond = 20e6

    /// Seconds to add to a deadline that covers moving and writing `bytes` of checkpoint files.
    public static func allowance(bytes: Int) -> Double { Double(max(bytes, 0)) / slowestBytesPerSecond }

    /// The bytes `read` asks of `content` (a file held in memory), as one data frame; throws when the
    /// range lies outside it.
    public static func chunk(_ read: CheckpointRead, of content: [UInt8]) throws(CheckpointError) -> Payload {
        try read.check(size: content.count)
        return content.withUnsafeBytes { raw in
            Payload(
                copying: UnsafeRawBufferPointer(rebasing: raw[read.offset..<read.offset + read.length]),
                dataType: .uint8)
        }
    }

    /// The bytes `read` asks of a file of checkpoint `layout` on disk, as one data frame: only its
    /// symbol, its params file and the files its manifest lists are served (names, never paths,
    /// so nothing outside the checkpoint's directory). Throws naming the file when it is not one of
    /// these, cannot be read, or is shorter than the range.
    public static func chunk(of read: CheckpointRead, layout: CheckpointLayout) throws(CheckpointError) -> Payload {
        let own = [layout.symbolPath, layout.paramsPath].map { ($0 as NSString).lastPathComponent }
        guard
            own.contains(read.name)
                || ((try? CheckpointManifest.read(layout))?.files.contains { $0.name == read.name } ?? false)
        else {
            throw .inconsistent("\(read.name) is not a file of checkpoint \(read.epoch) under \(layout.prefix)")
        }
        let path = (layout.directory as NSString).appendingPathComponent(read.name)
        let data: Data
        do {
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            try read.check(size: Int(try handle.seekToEnd()))
            try handle.seek(toOffset: UInt64(read.offset))
            data = try handle.read(upToCount: read.length) ?? Data()
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw .corrupt(path: path, reason: "cannot be read: \(error)")
        }
        guard data.count == read.length else {
            throw .corrupt(path: path, reason: "\(data.count) bytes read at \(read.offset), \(read.length) expected")
        }
        return data.withUnsafeBytes { Payload(copying: $0, dataType: .uint8) }
    }

    /// Reads the file `file` of checkpoint `epoch` under `prefix` from node `source` in chunks of
    /// `chunkBytes` (CHECKPOINT_READ, each with the request deadline) and checks it against
    /// `file`'s size and SHA-256. `path` names the file in errors. Throws `KVStoreError.remote` when
    /// the source refuses or does not answer in time, `CheckpointError` when what it sent differs.
    public static func download(
        _ file: CheckpointManifest.File, prefix: String, epoch: Int, from source: Int32, office: PostOffice,
        path: String, chunkBytes: Int
    ) throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(min(max(file.bytes, 0), maxChunkBytes))
        try download(
            file, prefix: prefix, epoch: epoch, from: source, office: office, path: path, chunkBytes: chunkBytes
        ) { chunk in bytes.append(contentsOf: chunk) }
        return bytes
    }

    /// `download`, written to `path` as it arrives (`AtomicFileWriter`: put in place only once the
    /// whole file has arrived and checked), so the file is never held in memory whole.
    public static func downloadToFile(
        _ file: CheckpointManifest.File, prefix: String, epoch: Int, from source: Int32, office: PostOffice,
        path: String, chunkBytes: Int
    ) throws {
        let writer: AtomicFileWriter
        do { writer = try AtomicFileWriter(path: path) } catch {
            throw CheckpointError.cannotWrite(path: path, reason: error.reason)
        }
        do {
            try download(
                file, prefix: prefix, epoch: epoch, from: source, office: office, path: path, chunkBytes: chunkBytes,
                consume: writer.append)
            try writer.commit()
        } catch let error as AtomicFileError {
            throw CheckpointError.cannotWrite(path: path, reason: error.reason)
        }
    }

    /// The one code path of both: hands each chunk to `consume` as it arrives, then checks the
    /// size and SHA-256 of the whole.
    private static func download(
        _ file: CheckpointManifest.File, prefix: String, epoch: Int, from source: Int32, office: PostOffice,
        path: String, chunkBytes: Int, consume: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let name = office.description(of: source)
        guard file.bytes >= 0 else {
            throw CheckpointError.corrupt(path: path, reason: "\(name) announced it as \(file.bytes) bytes")
        }
        var received = 0
        var hasher = SHA256()
        while received < file.bytes {
            let read = CheckpointRead(
                prefix: prefix, epoch: epoch, name: file.name, offset: received,
                length: min(max(chunkBytes, 1), file.bytes - received))
            let answer: Message
            do {
                answer = try office.request(
                    Message(body: [UInt8](try JSONEncoder().encode(read)), control: Control(cmd: .checkpointRead)),
                    to: source, timeout: office.config.requestTimeout)
            } catch {
                throw KVStoreError.remote(
                    "cannot read \(path) (\(read.length) bytes at offset \(read.offset) of \(file.bytes)) from \(name): \(error)"
                )
            }
            guard answer.data.count == 1, answer.data[0].byteCount == read.length else {
                throw CheckpointError.corrupt(
                    path: path,
                    reason:
                        "\(name) answered CHECKPOINT_READ of \(read.length) bytes at \(read.offset) with \(answer.data.map(\.byteCount)) bytes"
                )
            }
            try answer.data[0].withUnsafeBytes { chunk in
                hasher.update(bufferPointer: chunk)
                try consume(chunk)
            }
            received += read.length
        }
        try file.check(
            count: received, sha256: { CheckpointManifest.hex(hasher.finalize()) }, path: path, source: name)
    }
}

/// Checkpoint files a server or worker offers for the scheduler to read (CHECKPOINT_READ), held in
/// memory from when the node announces them until the scheduler has read each to its end (or the
/// node offers another checkpoint's).
public final class CheckpointOutbox: Sendable {
    private struct Offered {
        var epoch: Int
        var files: [String: [UInt8]] = [:]
    }

    private let offered = Mutex<Offered>(Offered(epoch: -1))

    /// An empty outbox.
    public init() {}

    /// Offers `content` as the file at `path` (its last component names it) of checkpoint `epoch`,
    /// dropping any file of another epoch still offered; returns its announcement.
    public func offer(
        _ content: [UInt8], path: String, role: String, epoch: Int, server: Int? = nil, worker: Int? = nil
    ) -> CheckpointManifest.File {
        let file = CheckpointManifest.File(path: path, role: role, server: server, worker: worker, content: content)
        offered.withLock { offered in
            if offered.epoch != epoch { offered = Offered(epoch: epoch) }
            // An empty file is never read: nothing to hold.
            offered.files[file.name] = content.isEmpty ? nil : content
        }
        return file
    }

    /// The names of the files on offer (for tests and logs).
    public var names: [String] { offered.withLock { $0.files.keys.sorted() } }

    /// The answer to CHECKPOINT_READ `request`: the bytes asked as one data frame, or an error
    /// naming the file when it is not on offer or the range lies outside it. A read that reaches
    /// the end of a file withdraws it.
    public func answer(_ request: Message) -> Message {
        var response = Message(control: Control(cmd: .checkpointRead))
        do {
            let read = try JSONDecoder().decode(CheckpointRead.self, from: Data(request.body))
            response.data = [
                try offered.withLock { offered throws(CheckpointError) -> Payload in
                    guard offered.epoch == read.epoch, let bytes = offered.files[read.name] else {
                        throw .inconsistent(
                            "\(read.name) of checkpoint \(read.epoch) is not on offer here (offered: \(offered.files.keys.sorted()) of checkpoint \(offered.epoch))"
                        )
                    }
                    let chunk = try CheckpointTransfer.chunk(read, of: bytes)
                    if read.offset + read.length == bytes.count { offered.files[read.name] = nil }
                    return chunk
                }
            ]
        } catch {
            response.error = "\(error)"
        }
        return response
    }
}

extension ServerCheckpointReport {
    /// Where each file of this report goes in `layout`, after checking that the report announces
    /// exactly the server's two shard files (weights, then states) under the names `layout` gives
    /// them. Throws `CheckpointError` naming the server when one is missing, extra or misnamed.
    public func destinations(in layout: CheckpointLayout) throws(CheckpointError)
        -> [(file: CheckpointManifest.File, path: String)]
    {
        guard files.count == 2 else {
            throw .inconsistent(
                "server \(server) answered CHECKPOINT announcing \(files.count) files (expected 2: weights, states)")
        }
        let expected = [
            ("server-params", layout.serverParamsPath(server)), ("server-states", layout.serverStatesPath(server)),
        ]
        var out: [(file: CheckpointManifest.File, path: String)] = []
        for ((role, path), file) in zip(expected, files) {
            guard file.role == role, file.server == server, file.name == (path as NSString).lastPathComponent else {
                throw .inconsistent(
                    "server \(server) reported \(file.name) (\(file.role)) where \((path as NSString).lastPathComponent) (\(role)) was expected"
                )
            }
            out.append((file, path))
        }
        return out
    }
}
