/// The role of a process in a SwiftPS cluster, ps-lite's `Node::Role`.
public enum NodeRole: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// Holds a shard of the parameters and runs the optimizer on it.
    case server = 0
    /// Trains on a shard of the data and pushes gradients.
    case worker = 1
    /// Coordinates membership, barriers, epochs and checkpoints.
    case scheduler = 2

    /// Parses `DMLC_ROLE` values: `scheduler`, `server`, `worker`.
    public init?(name: String) {
        switch name.lowercased() {
        case "server": self = .server
        case "worker": self = .worker
        case "scheduler": self = .scheduler
        default: return nil
        }
    }

    /// The `DMLC_ROLE` spelling.
    public var description: String {
        switch self {
        case .server: return "server"
        case .worker: return "worker"
        case .scheduler: return "scheduler"
        }
    }
}

/// Node ids as ps-lite assigns them: the scheduler is 1, server r is 8+2r, worker r is 9+2r.
public enum NodeID {
    /// The scheduler's id.
    public static let scheduler: Int32 = 1
    /// The id of a node that has not been through rendezvous yet (ps-lite uses `Node::kEmpty`; the
    /// wire default 0 is cheaper).
    public static let unassigned: Int32 = 0
    /// The id of server `rank`.
    public static func server(_ rank: Int) -> Int32 { Int32(8 + 2 * rank) }
    /// The id of worker `rank`.
    public static func worker(_ rank: Int) -> Int32 { Int32(9 + 2 * rank) }
    /// The role an id belongs to.
    public static func role(of id: Int32) -> NodeRole {
        id == scheduler ? .scheduler : (id % 2 == 0 ? .server : .worker)
    }
    /// The rank within its role of a server or worker id (ps-lite's `IDtoRank`).
    public static func rank(of id: Int32) -> Int { max(Int(id - 8) / 2, 0) }
    /// A readable name: `scheduler`, `server 0`, `worker 1`.
    public static func name(of id: Int32) -> String {
        id == scheduler ? "scheduler" : "\(role(of: id)) \(rank(of: id))"
    }
}
