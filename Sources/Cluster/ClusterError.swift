import Foundation

/// Everything that can go wrong in the cluster layer. ps-lite hangs or `CHECK`-fails in most of these
/// cases; SwiftPS throws (or hands the termination handler) one of these, naming the node and saying
/// what to check.
public enum ClusterError: Error, Equatable, CustomStringConvertible {
    /// A configuration value is missing or malformed.
    case invalidConfiguration(variable: String, value: String, reason: String)
    /// The shared-secret file cannot be used.
    case secretFile(path: String, reason: String)
    /// `DMLC_INTERFACE` names an interface without an IPv4 address.
    case interfaceNotFound(name: String, available: [String])
    /// Rendezvous failed: it did not complete in time (the text names who is missing), or it failed at
    /// once (a node started for another cluster size or with other shared settings; the text names it
    /// and the difference).
    case rendezvousFailed(String)
    /// The scheduler refused this node's ADD_NODE, or this node refused the scheduler's table.
    case authenticationRefused(String)
    /// The scheduler refused this node for another reason (the cluster is full, for instance).
    case rendezvousRefused(String)
    /// A barrier did not complete in time.
    case barrierTimeout(group: String, seconds: Double, detail: String)
    /// A request got no response in time.
    case requestTimeout(peer: String, seconds: Double)
    /// The peer answered a request with an error.
    case remoteError(peer: String, message: String)
    /// The scheduler declared a node dead; the text names it.
    case nodeFailed(String)
    /// The scheduler terminated the job; the text gives the reason.
    case terminated(String)
    /// This node stopped hearing from the scheduler.
    case schedulerLost(String)
    /// The id is not in the node table.
    case unknownNode(Int32)
    /// The call needs a started cluster node (or one not yet stopped).
    case notRunning(String)
    /// A peer broke the protocol.
    case protocolViolation(String)
    /// The transport failed.
    case transport(String)

    /// A readable, actionable explanation.
    public var description: String {
        switch self {
        case .invalidConfiguration(let variable, let value, let reason):
            return "invalid \(variable)='\(value)': \(reason)"
        case .secretFile(let path, let reason): return "cannot use secret file \(path): \(reason)"
        case .interfaceNotFound(let name, let available):
            return
                "network interface '\(name)' (DMLC_INTERFACE) has no IPv4 address; interfaces with one: \(available.joined(separator: ", "))"
        case .rendezvousFailed(let text): return "rendezvous failed: \(text)"
        case .authenticationRefused(let text): return text
        case .rendezvousRefused(let text): return "the scheduler refused this node: \(text)"
        case .barrierTimeout(let group, let seconds, let detail):
            return "barrier over \(group) did not complete within \(formatSeconds(seconds)) s: \(detail)"
        case .requestTimeout(let peer, let seconds):
            return "no response from \(peer) within \(formatSeconds(seconds)) s: is it alive? is it overloaded?"
        case .remoteError(let peer, let message): return "\(peer) answered with an error: \(message)"
        case .nodeFailed(let text): return "the job was stopped because a node failed: \(text)"
        case .terminated(let text): return "the scheduler terminated the job: \(text)"
        case .schedulerLost(let text): return text
        case .unknownNode(let id): return "node id \(id) is not in the node table"
        case .notRunning(let text): return text
        case .protocolViolation(let text): return "protocol violation: \(text)"
        case .transport(let text): return "transport error: \(text)"
        }
    }
}

/// `60` rather than `60.0`, `0.5` as is, and a measured `3.0001757` as `3`: at most two decimals;
/// under 10 ms, two significant digits (`0.0042`), not `0`.
func formatSeconds(_ seconds: Double) -> String {
    guard seconds.isFinite, abs(seconds) < 1e15 else { return String(seconds) }
    // Under 10 ms two decimals would print 0: keep two significant digits instead.
    if seconds != 0 && abs(seconds) < 0.01 { return String(format: "%.2g", seconds) }
    let rounded = (seconds * 100).rounded() / 100
    return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
}
