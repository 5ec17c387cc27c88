/// A control command, ps-lite's `Control::Command` plus SwiftPS's additions (`meta.proto` `Command`).
public enum ControlCommand: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// Not a control message: an application message (ps-lite's `EMPTY`).
    case empty = 0
    /// The scheduler ends the job; `Message.error` names the reason.
    case terminate = 1
    /// Rendezvous request (node → scheduler) and node table (scheduler → nodes).
    case addNode = 2
    /// Barrier request (node → scheduler) and release (scheduler → members), for `barrierGroup`.
    case barrier = 3
    /// An acknowledgement.
    case ack = 4
    /// Liveness ping (node → scheduler) and its answer.
    case heartbeat = 5
    /// A worker reports its epoch metrics to the scheduler.
    case epochEnd = 20
    /// The scheduler asks the servers to snapshot their shards.
    case checkpoint = 21
    /// A server's snapshot is written.
    case checkpointDone = 22
    /// The scheduler tells everyone a node is dead; `Message.error` names it.
    case nodeFailed = 23
    /// Worker 0 tells the servers to exit cleanly (MXNet's `kStopServer`).
    case stopServer = 24
    /// A typed optimizer configuration for the servers (MXNet sends a pickle as `kController`).
    case setOptimizer = 25
    /// `dist_sync` versus `dist_async` (MXNet's `kSyncMode`).
    case syncMode = 26
    /// Restore the servers' shards from a checkpoint.
    case loadCheckpoint = 27
    /// A worker asks the scheduler which checkpoint to resume from and gets its symbol and params.
    case resumePoint = 28
    /// A server asks the scheduler for a checkpoint's manifest.
    case checkpointFetch = 29
    /// A node asks another for a range of bytes of a checkpoint file it holds (`CheckpointRead`).
    case checkpointRead = 30

    /// The ps-lite-style upper-case name.
    public var description: String {
        switch self {
        case .empty: return "EMPTY"
        case .terminate: return "TERMINATE"
        case .addNode: return "ADD_NODE"
        case .barrier: return "BARRIER"
        case .ack: return "ACK"
        case .heartbeat: return "HEARTBEAT"
        case .epochEnd: return "EPOCH_END"
        case .checkpoint: return "CHECKPOINT"
        case .checkpointDone: return "CHECKPOINT_DONE"
        case .nodeFailed: return "NODE_FAILED"
        case .stopServer: return "STOP_SERVER"
        case .setOptimizer: return "SET_OPTIMIZER"
        case .syncMode: return "SYNC_MODE"
        case .loadCheckpoint: return "LOAD_CHECKPOINT"
        case .resumePoint: return "RESUME_POINT"
        case .checkpointFetch: return "CHECKPOINT_FETCH"
        case .checkpointRead: return "CHECKPOINT_READ"
        }
    }
}

/// One entry of the node table, ps-lite's `Node` (`meta.proto` `Node`).
public struct NodeInfo: Sendable, Hashable, CustomStringConvertible {
    /// The node's role.
    public var role: NodeRole
    /// Its id (`NodeID`), or `NodeID.unassigned` before rendezvous.
    public var id: Int32
    /// The host it advertises (an IP address or a resolvable name).
    public var hostname: String
    /// The port its receiving socket is bound to.
    public var port: Int32
    /// Set for a node that replaced a dead one (ps-lite recovery; SwiftPS restarts from checkpoints).
    public var isRecovery: Bool
    /// Its rank within its role.
    public var rank: Int32
    /// For workers: the number of training samples in its shard, as the caller declared it.
    public var shardSize: Int64
    /// HMAC-SHA256 over its identity and nonce, when the cluster has a secret.
    public var auth: [UInt8]
    /// A random nonce chosen by the node for its ADD_NODE request.
    public var nonce: [UInt8]
    /// The job it belongs to (`SWIFTPS_JOB_ID`, which `swiftps launch` sets; empty when started by hand).
    public var job: String
    /// The number of workers the node was started for (`DMLC_NUM_WORKER`; 0: not said).
    public var numWorkers: Int32 = 0
    /// The number of servers the node was started for (`DMLC_NUM_SERVER`).
    public var numServers: Int32 = 0
    /// Settings every worker of the job must share, by name (`ClusterConfig.sharedSettings`), and
    /// every node's heartbeat timing (`swiftps.heartbeats`, which the scheduler checks and removes).
    /// Only ADD_NODE carries them.
    public var settings: [String: String] = [:]
    /// The SwiftPS wire protocol the node speaks (`NodeInfo.wireProtocol` for this build; 0 from a
    /// build older than the field). A scheduler refuses a node that speaks another, and a node a
    /// scheduler that does.
    public var protocolVersion: Int32 = 0

    /// The wire protocol of this build: bumped whenever a message's meaning changes in a way an
    /// earlier build would misread (1: the first numbered, with fp16 KV values and the
    /// `protocol` field itself; 2: SET_OPTIMIZER's head says where the optimizer runs, and a build
    /// of protocol 1 would run on its servers an optimizer the workers run; 3: checkpoint files
    /// travel in chunks, CHECKPOINT_READ, instead of whole in the messages that announce them; 4: the
    /// rendezvous HMACs length-prefix every field and cover the rank an ADD_NODE asks for).
    public static let wireProtocol: Int32 = 4

    /// Creates a table entry.
    public init(
        role: NodeRole, id: Int32 = NodeID.unassigned, hostname: String = "", port: Int32 = 0,
        isRecovery: Bool = false, rank: Int32 = 0, shardSize: Int64 = 0, auth: [UInt8] = [], nonce: [UInt8] = [],
        job: String = ""
    ) {
        self.role = role
        self.id = id
        self.hostname = hostname
        self.port = port
        self.isRecovery = isRecovery
        self.rank = rank
        self.shardSize = shardSize
        self.auth = auth
        self.nonce = nonce
        self.job = job
    }

    /// `host:port`.
    public var address: String { "\(hostname):\(port)" }

    /// For example `server 1 (id 10) at 10.0.0.5:41234`.
    public var description: String {
        let name = id == NodeID.unassigned ? "\(role) (no id yet)" : "\(NodeID.name(of: id)) (id \(id))"
        return "\(name) at \(address)"
    }
}

/// The control part of a message, ps-lite's `Control` (`meta.proto` `Control`).
public struct Control: Sendable, Equatable {
    /// The command; `.empty` marks an application message.
    public var cmd: ControlCommand
    /// Node entries (ADD_NODE, HEARTBEAT, NODE_FAILED).
    public var nodes: [NodeInfo]
    /// The `NodeGroup` raw value a BARRIER is over.
    public var barrierGroup: Int32
    /// A message signature (ps-lite's resender uses it for ACKs).
    public var msgSig: UInt64
    /// An epoch number (EPOCH_END, CHECKPOINT).
    public var epoch: Int64
    /// Batches per epoch, which the scheduler checks are equal across workers.
    public var batchesPerEpoch: Int64
    /// HMAC-SHA256 over the node table and `nonce` (the scheduler's table reply).
    public var auth: [UInt8]
    /// The recipient's ADD_NODE nonce, echoed in the table reply.
    public var nonce: [UInt8]
    /// The job's session nonce (table reply, when a secret is set), from which message tags are keyed.
    public var session: [UInt8]
    /// Table reply: every node encrypts its messages' data frames (the scheduler's `SWIFTPS_ENCRYPT`).
    public var encrypted: Bool

    /// Creates a control block.
    public init(
        cmd: ControlCommand = .empty, nodes: [NodeInfo] = [], barrierGroup: Int32 = 0, msgSig: UInt64 = 0,
        epoch: Int64 = 0, batchesPerEpoch: Int64 = 0, auth: [UInt8] = [], nonce: [UInt8] = [],
        session: [UInt8] = [], encrypted: Bool = false
    ) {
        self.cmd = cmd
        self.nodes = nodes
        self.barrierGroup = barrierGroup
        self.msgSig = msgSig
        self.epoch = epoch
        self.batchesPerEpoch = batchesPerEpoch
        self.auth = auth
        self.nonce = nonce
        self.session = session
        self.encrypted = encrypted
    }
}

/// One logical message: a meta header (encoded by `MetaCodec` into the first ZeroMQ frame) plus
/// data frames, ps-lite's `Message` (`Meta` + `std::vector<SArray<char>> data`).
///
/// As in ps-lite, `recver` is not sent: the receiving transport fills it with its own id. Unlike
/// ps-lite, `sender` travels in the meta (and is checked against the ZeroMQ identity `ps<id>`).
public struct Message: Sendable {
    /// The application command (ps-lite's `head`; the KVStore's request type).
    public var head: Int32
    /// Application bytes (ps-lite's `body`).
    public var body: [UInt8]
    /// The control block; `control.cmd == .empty` for application messages.
    public var control: Control
    /// `true` for a request, `false` for a response.
    public var request: Bool
    /// A KV push.
    public var push: Bool
    /// A KV pull.
    public var pull: Bool
    /// A `SimpleApp` command rather than KV traffic.
    public var simpleApp: Bool
    /// ps-lite's `app_id`.
    public var appID: Int32
    /// ps-lite's `customer_id`.
    public var customerID: Int32
    /// The request id, echoed in the response.
    public var timestamp: Int64
    /// Send priority (MXNet passes `-index` so the first layer goes first).
    public var priority: Int32
    /// The sender's node id (`NodeID.unassigned` before rendezvous).
    public var sender: Int32
    /// The receiver's node id, set by the receiving transport.
    public var recver: Int32
    /// Set by the receiving transport when the connection itself proves `sender` (a ZeroMQ routing
    /// identity `ps<sender>`, or an in-process network); a message whose sender is only claimed in
    /// its meta leaves it false. Not on the wire.
    public var senderVerified = false
    /// Set on a response whose request failed.
    public var error: String
    /// The sender's message counter, when the cluster has a secret (the tag's nonce; receivers refuse a
    /// counter they have already seen).
    public var seq: UInt64 = 0
    /// The message's authentication tag, when the cluster has a secret (see the Cluster layer's
    /// `MessageAuthenticator`); empty otherwise.
    public var tag: [UInt8] = []
    /// The meta frame exactly as it arrived, set by the receiving transport (nil on a message built
    /// here): a tag is checked over these bytes, not over a re-encoding. Never sent: a transport
    /// encodes what it sends from the fields above.
    public var receivedMeta: [UInt8]?
    /// The data frames.
    public var data: [Payload]

    /// Creates a message.
    public init(
        head: Int32 = 0, body: [UInt8] = [], control: Control = Control(), request: Bool = false,
        push: Bool = false, pull: Bool = false, simpleApp: Bool = false, appID: Int32 = 0, customerID: Int32 = 0,
        timestamp: Int64 = 0, priority: Int32 = 0, sender: Int32 = NodeID.unassigned,
        recver: Int32 = NodeID.unassigned, error: String = "", data: [Payload] = []
    ) {
        self.head = head
        self.body = body
        self.control = control
        self.request = request
        self.push = push
        self.pull = pull
        self.simpleApp = simpleApp
        self.appID = appID
        self.customerID = customerID
        self.timestamp = timestamp
        self.priority = priority
        self.sender = sender
        self.recver = recver
        self.error = error
        self.data = data
    }

    /// The element type of each data frame (ps-lite's `meta.data_type`).
    public var dataTypes: [WireDataType] { data.map(\.dataType) }

    /// The total bytes of the data frames (ps-lite's `data_size`).
    public var dataByteCount: Int { data.reduce(0) { $0 + $1.byteCount } }

    /// Whether this is a control message (any command other than `.empty`).
    public var isControl: Bool { control.cmd != .empty }

    /// `body` as UTF-8 text.
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}
