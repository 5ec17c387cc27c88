import SwiftPSTransport

/// Groups of nodes for barriers and broadcasts, ps-lite's bit flags: they can be summed.
public struct NodeGroup: OptionSet, Sendable, Hashable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    /// The scheduler.
    public static let scheduler = NodeGroup(rawValue: 1)
    /// Every server.
    public static let servers = NodeGroup(rawValue: 2)
    /// Every worker.
    public static let workers = NodeGroup(rawValue: 4)
    /// Everyone.
    public static let all: NodeGroup = [.scheduler, .servers, .workers]

    /// The node ids in this group for a cluster of the given size.
    public func members(numServers: Int, numWorkers: Int) -> [Int32] {
        var ids: [Int32] = []
        if contains(.scheduler) { ids.append(NodeID.scheduler) }
        if contains(.servers) { ids += (0..<numServers).map(NodeID.server) }
        if contains(.workers) { ids += (0..<numWorkers).map(NodeID.worker) }
        return ids
    }
}
