/// Why a meta frame could not be decoded. ps-lite `CHECK`-fails on a bad frame; SwiftPS drops the
/// message with this reason logged and keeps running.
public enum WireError: Error, Equatable, CustomStringConvertible {
    /// The bytes are not a valid protobuf `Meta` (or would take more memory to decode than a
    /// meta of their size can: `MetaCodec.decodeBudget`).
    case undecodable(byteCount: Int)
    /// The meta frame is larger than any this build sends (`TransportLimits.maxMetaBytes`).
    case metaTooLarge(byteCount: Int, limit: Int)
    /// The sender speaks another wire schema version.
    case unsupportedVersion(found: Int32, expected: Int32)
    /// A control command this build does not know.
    case unknownCommand(Int32)
    /// A data type tag this build does not know.
    case unknownDataType(Int32)
    /// A node role this build does not know.
    case unknownRole(Int32)
    /// A node setting that is not `name=value`.
    case malformedSetting(String)

    /// A readable explanation.
    public var description: String {
        switch self {
        case .undecodable(let count):
            return
                "meta frame of \(count) bytes is not a valid SwiftPS message (is something else talking to this port?)"
        case .metaTooLarge(let count, let limit):
            return
                "meta frame of \(count) bytes exceeds the limit of \(limit) (is something else talking to this port?)"
        case .unsupportedVersion(let found, let expected):
            return
                "wire schema version \(found) is not supported (this build speaks \(expected)): run the same SwiftPS version on every node"
        case .unknownCommand(let raw):
            return "unknown control command \(raw): run the same SwiftPS version on every node"
        case .unknownDataType(let raw): return "unknown data type \(raw): run the same SwiftPS version on every node"
        case .unknownRole(let raw): return "unknown node role \(raw): run the same SwiftPS version on every node"
        case .malformedSetting(let text):
            return "node setting '\(text)' is not name=value: run the same SwiftPS version on every node"
        }
    }
}

/// Errors of a `Transport`, each saying what to check next.
public enum TransportError: Error, Equatable, CustomStringConvertible {
    /// The receiving socket could not be bound.
    case bindFailed(address: String, reason: String)
    /// Every port of the configured range is taken.
    case portRangeExhausted(host: String, range: ClosedRange<Int>)
    /// A host name did not resolve to an address.
    case cannotResolve(host: String, reason: String)
    /// `send` or `disconnect` named a peer that was never connected.
    case unknownPeer(Int32)
    /// The message exceeds the configured size limit.
    case messageTooLarge(bytes: Int, limit: Int)
    /// The message has more data frames than the configured limit.
    case tooManyFrames(count: Int, limit: Int)
    /// The transport has not been started or was stopped.
    case notRunning
    /// An internal thread did not answer within its deadline.
    case threadUnresponsive(name: String, seconds: Double)
    /// A ZeroMQ call failed.
    case zmq(call: String, errno: Int32, message: String)
    /// ZeroMQ refused a message for a peer (its queue of `ZMQ_SNDHWM` messages is full: the peer is
    /// not reading); nothing of it was sent.
    case sendFailed(peer: String, reason: String)

    /// A readable, actionable explanation.
    public var description: String {
        switch self {
        case .bindFailed(let address, let reason):
            return "cannot bind \(address): \(reason) (is another process using the port? is the address on this host?)"
        case .portRangeExhausted(let host, let range):
            return "no free port on \(host) in \(range.lowerBound)-\(range.upperBound): widen SWIFTPS_PORT_RANGE"
        case .cannotResolve(let host, let reason):
            return "cannot resolve host '\(host)': \(reason) (use an IP address, or fix DNS / /etc/hosts)"
        case .unknownPeer(let id):
            return "no connection to node \(id) (\(NodeID.name(of: id))): it is not in the node table"
        case .messageTooLarge(let bytes, let limit):
            return "message of \(bytes) bytes exceeds the limit of \(limit) bytes: slice large arrays into smaller keys"
        case .tooManyFrames(let count, let limit):
            return "message has \(count) data frames, more than the limit of \(limit)"
        case .notRunning: return "the transport is not running (not started yet, or already stopped)"
        case .threadUnresponsive(let name, let seconds):
            return "transport thread \(name) did not answer within \(seconds) s"
        case .zmq(let call, let errno, let message): return "\(call) failed: \(message) (errno \(errno))"
        case .sendFailed(let peer, let reason):
            return "could not send to \(peer): \(reason)"
        }
    }
}
