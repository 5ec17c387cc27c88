import Foundation
import SwiftPSTransport

/// The body (JSON) of CHECKPOINT_FETCH (server → scheduler, at LOAD_CHECKPOINT): send checkpoint
/// `epoch`'s manifest and the files named in `files`. The scheduler answers with the manifest's
/// bytes as its body and one data frame per requested file, in the order asked.
///
/// A server asks first with no file (for the manifest alone), then once per shard file the
/// manifest lists, so each answer carries at most one shard file and stays within
/// `TransportLimits.maxMessageBytes` whatever the number of servers.
public struct CheckpointFetch: Codable, Sendable, Equatable {
    /// The model prefix on the scheduler's host (a relative one is relative to its working directory).
    public var prefix: String
    /// The checkpoint's epoch number.
    public var epoch: Int
    /// Names (relative to the prefix's directory, as in the manifest) of the files to send.
    public var files: [String]

    /// A request for checkpoint `epoch` under `prefix` and the named files.
    public init(prefix: String, epoch: Int, files: [String] = []) {
        self.prefix = prefix
        self.epoch = epoch
        self.files = files
    }

    /// The checkpoint's file names.
    public var layout: CheckpointLayout { CheckpointLayout(prefix: prefix, epoch: epoch) }
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

/// The scheduler's answer (JSON) to RESUME_POINT. When `epoch` is set, the answer carries two data
/// frames: the symbol JSON and the `prefix-%04d.params` file's bytes.
public struct ResumeAnswer: Codable, Sendable, Equatable {
    /// The epoch to continue from; nil to start from scratch (`--resume` found no checkpoint).
    public var epoch: Int?
    /// Whether the servers can restore weights and optimizer state from it (LOAD_CHECKPOINT).
    public var hasServerShards: Bool
    /// Whether a third data frame holds the asking worker's compression residuals.
    public var residuals: Bool?
    /// Whether the last data frame holds the checkpoint's optimizer state as an optimizer-state file,
    /// for a worker that runs the optimizer (`ResumeRequest.workersUpdate`).
    public var states: Bool?
    /// Whether the checkpoint has no server shards but a states file (`prefix-%04d.states`: written
    /// when the workers ran the optimizer, or by a single process), from which the servers can also
    /// restore weights and optimizer state (LOAD_CHECKPOINT).
    public var hasStatesFile: Bool?

    /// An answer: resume from `epoch` (nil: start from scratch).
    public init(
        epoch: Int?, hasServerShards: Bool, residuals: Bool? = nil, states: Bool? = nil, hasStatesFile: Bool? = nil
    ) {
        self.epoch = epoch
        self.hasServerShards = hasServerShards
        self.residuals = residuals
        self.states = states
        self.hasStatesFile = hasStatesFile
    }
}

/// Moving checkpoint files between the nodes and the scheduler, which alone reads and writes them.
public enum CheckpointTransfer {
    /// Bytes kept free for a message's meta frame and body when checking that data frames fit.
    public static let metaAllowance = 1 << 20

    /// Throws `inconsistent` naming `what` and ending with `hint` when `byteCount` bytes of data
    /// frames cannot travel in one message (`TransportLimits.maxMessageBytes`), so the sender answers
    /// with a clear error instead of failing to send and leaving the requester to time out.
    public static func checkFits(
        _ byteCount: Int, what: String, limit: Int = TransportLimits().maxMessageBytes,
        hint: String = "use more servers (-s) so that each shard is smaller"
    ) throws(CheckpointError) {
        guard byteCount + metaAllowance <= limit else {
            throw .inconsistent(
                "\(what) is \(byteCount) bytes, more than one message may carry (\(limit) bytes with \(metaAllowance) for the header): \(hint)"
            )
        }
    }

    /// The bytes of every data frame of `message`, whatever their element type.
    public static func frames(_ message: Message) -> [[UInt8]] {
        message.data.map { payload in payload.withUnsafeBytes { Array($0) } }
    }

    /// A data frame holding `bytes`.
    public static func frame(_ bytes: [UInt8]) -> Payload {
        Payload(copying: bytes)
    }
}

extension ServerCheckpointReport {
    /// The files of this report paired with `frames`, the data frames of the server's CHECKPOINT
    /// answer (weights, then states), each checked against the report's size and SHA-256 and
    /// against the name `layout` gives the server's shard. Returns where each goes in `layout`.
    /// Throws `CheckpointError` naming the server when a frame is missing, extra or different.
    public func received(_ frames: [[UInt8]], layout: CheckpointLayout) throws(CheckpointError)
        -> [(path: String, bytes: [UInt8])]
    {
        guard frames.count == files.count, files.count == 2 else {
            throw .inconsistent(
                "server \(server) answered CHECKPOINT with \(frames.count) data frames for \(files.count) files (expected 2: weights, states)"
            )
        }
        let expected = [
            ("server-params", layout.serverParamsPath(server)), ("server-states", layout.serverStatesPath(server)),
        ]
        var out: [(path: String, bytes: [UInt8])] = []
        for ((role, path), (file, bytes)) in zip(expected, zip(files, frames)) {
            guard file.role == role, file.server == server, file.name == (path as NSString).lastPathComponent else {
                throw .inconsistent(
                    "server \(server) reported \(file.name) (\(file.role)) where \((path as NSString).lastPathComponent) (\(role)) was expected"
                )
            }
            try file.check(bytes, path: path, source: "server \(server)")
            out.append((path, bytes))
        }
        return out
    }
}
