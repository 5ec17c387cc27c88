import SwiftPSTransport

/// How this process joins a cluster: the settings ps-lite reads from `DMLC_*` variables, plus the
/// deadlines, heartbeats and secret SwiftPS adds. Build one directly or with `fromEnvironment(_:)`.
public struct ClusterConfig: Sendable, Equatable {
    /// This process's role (`DMLC_ROLE`).
    public var role: NodeRole
    /// The scheduler's host (`DMLC_PS_ROOT_URI`); host names are resolved before connecting.
    public var schedulerHost: String
    /// The scheduler's port (`DMLC_PS_ROOT_PORT`).
    public var schedulerPort: Int
    /// Number of workers (`DMLC_NUM_WORKER`).
    public var numWorkers: Int
    /// Number of servers (`DMLC_NUM_SERVER`).
    public var numServers: Int
    /// The interface address to bind (`SWIFTPS_BIND`; default every interface, `0.0.0.0`).
    public var bindHost: String
    /// The address peers use to reach this node (`DMLC_NODE_HOST`, else the IPv4 address of
    /// `DMLC_INTERFACE`, else the first non-loopback IPv4 address, else 127.0.0.1). The scheduler
    /// advertises `schedulerHost`. `nil` = detect at start.
    public var advertisedHost: String?
    /// `DMLC_INTERFACE`: the interface whose address is advertised when `advertisedHost` is `nil`.
    public var interface: String?
    /// Ports a worker or server may bind (`SWIFTPS_PORT_RANGE`); `nil` = an ephemeral port.
    public var portRange: ClosedRange<Int>?
    /// Seconds to wait for every node to register (`SWIFTPS_RENDEZVOUS_TIMEOUT`, default 60).
    public var rendezvousTimeout: Double
    /// Default seconds a barrier may take (`SWIFTPS_BARRIER_TIMEOUT`, default 300).
    public var barrierTimeout: Double
    /// Seconds between heartbeats (`SWIFTPS_HEARTBEAT_INTERVAL`, default 1; 0 disables them, as
    /// ps-lite's default `PS_HEARTBEAT_INTERVAL=0` does).
    public var heartbeatInterval: Double
    /// Seconds of silence after which a node (or the scheduler) is declared dead
    /// (`SWIFTPS_HEARTBEAT_TIMEOUT`, default 10).
    public var heartbeatTimeout: Double
    /// Default seconds `PostOffice.request` waits for a response (`SWIFTPS_REQUEST_TIMEOUT`, default 120).
    public var requestTimeout: Double
    /// The shared secret (`SWIFTPS_SECRET_FILE` / `--secret-file`); `nil` = unauthenticated cluster.
    public var secret: [UInt8]?
    /// For workers: the number of samples in this worker's shard, published in the node table.
    public var shardSize: Int64
    /// The rank this node asks for (`DMLC_RANK`, set by `swiftps launch` from its task index), so
    /// that a launcher's `[worker 1]` is the cluster's worker 1. The scheduler honours the hints of
    /// a role only when every node of that role gave one and they are 0..<n; otherwise it ranks by
    /// (host, port) as ps-lite does.
    public var rankHint: Int?
    /// The job this node belongs to (`SWIFTPS_JOB_ID`, a random id `swiftps launch` gives every process
    /// of a job): a scheduler refuses a node of another job, such as one started for a second job on the
    /// same port. Empty (the default, as for processes started by hand) matches only empty.
    public var jobID = ""
    /// Whether this node wants the messages' data frames encrypted (`SWIFTPS_ENCRYPT=1`; needs a
    /// secret). The scheduler's choice holds for the job: it is published in the signed node table,
    /// and a node that wants encryption refuses a scheduler that does not.
    public var encrypt = false
    /// For workers: settings every worker of the job must share, by name (for `swiftps train`, the
    /// flags that fix how many steps each epoch and the job take, such as `--num-epochs`). Workers in
    /// dist_sync that train different numbers of steps wait for each other forever; so the scheduler
    /// refuses a worker whose settings differ from those of a worker that arrived before it, naming
    /// each setting and both values, and fails the rendezvous. Empty (the default) is not compared.
    /// A name starting with `declaredSettingPrefix` is declared only: not compared, and the scheduler
    /// reads every worker's value (`PostOffice.workerDeclarations`).
    public var sharedSettings: [String: String] = [:]

    /// How the name of a setting that workers declare without having to agree on it begins.
    public static let declaredSettingPrefix = "declared:"

    /// The settings of `settings` that workers must share: all but the declared ones.
    static func compared(_ settings: [String: String]) -> [String: String] {
        settings.filter { !$0.key.hasPrefix(declaredSettingPrefix) }
    }
    /// Whether a worker or server binds itself to its share of its host's CPUs once it knows the
    /// job's other processes there (`SWIFTPS_CPU_BIND`: `none`, the default, or `cores`; see
    /// `CPUPlacement`). The node's own process applies it (`swiftps` does after rendezvous); the
    /// library only carries the choice.
    public var cpuBind = false
    /// The wire protocol this node says it speaks: this build's (`NodeInfo.wireProtocol`); tests set
    /// another to stand for an older or newer build.
    var wireProtocol = NodeInfo.wireProtocol

    /// Creates a configuration with SwiftPS's defaults.
    public init(
        role: NodeRole, schedulerHost: String, schedulerPort: Int, numWorkers: Int, numServers: Int,
        bindHost: String = "0.0.0.0", advertisedHost: String? = nil, interface: String? = nil,
        portRange: ClosedRange<Int>? = nil, rendezvousTimeout: Double = 60, barrierTimeout: Double = 300,
        heartbeatInterval: Double = 1, heartbeatTimeout: Double = 10, requestTimeout: Double = 120,
        secret: [UInt8]? = nil, shardSize: Int64 = 0
    ) {
        self.role = role
        self.schedulerHost = schedulerHost
        self.schedulerPort = schedulerPort
        self.numWorkers = numWorkers
        self.numServers = numServers
        self.bindHost = bindHost
        self.advertisedHost = advertisedHost
        self.interface = interface
        self.portRange = portRange
        self.rendezvousTimeout = rendezvousTimeout
        self.barrierTimeout = barrierTimeout
        self.heartbeatInterval = heartbeatInterval
        self.heartbeatTimeout = heartbeatTimeout
        self.requestTimeout = requestTimeout
        self.secret = secret
        self.shardSize = shardSize
        self.rankHint = nil
    }

    /// Checks the values that cannot work, naming the setting.
    public func validate() throws(ClusterError) {
        guard numWorkers >= 1 else {
            throw .invalidConfiguration(variable: "DMLC_NUM_WORKER", value: "\(numWorkers)", reason: "need at least 1")
        }
        guard numServers >= 0 else {
            throw .invalidConfiguration(
                variable: "DMLC_NUM_SERVER", value: "\(numServers)", reason: "cannot be negative")
        }
        guard (1...65535).contains(schedulerPort) else {
            throw .invalidConfiguration(
                variable: "DMLC_PS_ROOT_PORT", value: "\(schedulerPort)", reason: "must be a port in 1-65535")
        }
        guard !schedulerHost.isEmpty else {
            throw .invalidConfiguration(
                variable: "DMLC_PS_ROOT_URI", value: "", reason: "the scheduler's address is required")
        }
        guard !encrypt || secret != nil else {
            throw .invalidConfiguration(
                variable: "SWIFTPS_ENCRYPT", value: "1",
                reason: "encryption is keyed from the cluster's secret: set SWIFTPS_SECRET_FILE too")
        }
        for (name, value) in [
            ("SWIFTPS_RENDEZVOUS_TIMEOUT", rendezvousTimeout), ("SWIFTPS_BARRIER_TIMEOUT", barrierTimeout),
            ("SWIFTPS_HEARTBEAT_TIMEOUT", heartbeatTimeout), ("SWIFTPS_REQUEST_TIMEOUT", requestTimeout),
        ] where !(value > 0) {
            throw .invalidConfiguration(
                variable: name, value: "\(value)", reason: "must be a positive number of seconds")
        }
        guard heartbeatInterval >= 0, heartbeatInterval == 0 || heartbeatInterval < heartbeatTimeout else {
            throw .invalidConfiguration(
                variable: "SWIFTPS_HEARTBEAT_INTERVAL", value: "\(heartbeatInterval)",
                reason: "must be 0 (off) or less than SWIFTPS_HEARTBEAT_TIMEOUT (\(heartbeatTimeout) s)")
        }
        if let secret, secret.isEmpty {
            throw .invalidConfiguration(variable: "SWIFTPS_SECRET_FILE", value: "", reason: "the secret is empty")
        }
    }
}
