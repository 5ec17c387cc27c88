import CZmq
import Foundation
import Logging

/// A ZeroMQ context; contexts are thread-safe, so this is the only ZeroMQ object shared by threads.
final class ZMQContext: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer

    init() {
        guard let raw = zmq_ctx_new() else { fatalError("zmq_ctx_new failed: out of memory or file descriptors") }
        // ps-lite raises the socket limit the same way (one DEALER per peer).
        zmq_ctx_set(raw, ZMQ_MAX_SOCKETS, 65536)
        self.raw = raw
    }

    /// Terminates the context; every socket must be closed first.
    func terminate() { zmq_ctx_term(raw) }
}

/// The last ZeroMQ error as a `TransportError`.
func zmqError(_ call: String) -> TransportError {
    let code = zmq_errno()
    return .zmq(call: call, errno: code, message: String(cString: zmq_strerror(code)))
}

/// Sets an integer-like socket option; returns whether ZeroMQ accepted it.
@discardableResult
func setSocketOption<T: BitwiseCopyable>(_ socket: UnsafeMutableRawPointer, _ option: Int32, _ value: T) -> Bool {
    withUnsafeBytes(of: value) { zmq_setsockopt(socket, option, $0.baseAddress, $0.count) } == 0
}

/// Sets a byte-string socket option (the DEALER identity).
@discardableResult
func setSocketOption(_ socket: UnsafeMutableRawPointer, _ option: Int32, bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { zmq_setsockopt(socket, option, $0.baseAddress, $0.count) } == 0
}

/// The ZeroMQ free function for zero-copy sends: drops the reference the send took on the payload.
/// It runs on ZeroMQ's I/O thread once the frame is on the wire (or discarded).
let releasePayloadAfterSend: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = {
    _, hint in
    guard let hint else { return }
    Unmanaged<Payload>.fromOpaque(hint).release()
}

/// The identity a DEALER presents to its peer's ROUTER: `ps<id>`, as in ps-lite.
func identityBytes(for id: Int32) -> [UInt8] { Array("ps\(id)".utf8) }

/// Parses a `ps<id>` identity; `nil` for ZeroMQ's generated identities (nodes without an id yet)
/// and for any other spelling of an id (`ps07`): ZeroMQ refuses a second connection only under the
/// same identity bytes, so only the one spelling `identityBytes` gives may stand for a node.
func nodeID(fromIdentity bytes: UnsafeRawBufferPointer) -> Int32? {
    guard bytes.count > 2, bytes.count <= 13, bytes[0] == UInt8(ascii: "p"), bytes[1] == UInt8(ascii: "s") else {
        return nil
    }
    var value: Int64 = 0
    for byte in bytes.dropFirst(2) {
        guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
        value = value * 10 + Int64(byte - UInt8(ascii: "0"))
    }
    guard value <= Int64(Int32.max), bytes.count == 2 + String(value).utf8.count else { return nil }
    return Int32(value)
}

/// Logs dropped messages without letting a flood of garbage flood the log: the first 20 drops are
/// logged, then every 1000th.
public final class DropCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var dropped = 0

    /// Creates a counter with no drops.
    public init() {}

    /// How many messages were dropped.
    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return dropped
    }

    /// Counts one drop and logs `reason` if it is among the first 20 or a 1000th.
    public func drop(_ reason: @autoclosure () -> String, logger: Logger) {
        lock.lock()
        dropped += 1
        let n = dropped
        lock.unlock()
        if n <= 20 || n % 1000 == 0 {
            logger.warning("dropped a received message (\(n) so far): \(reason())")
        }
    }
}

/// A one-shot result handed from a transport thread to a waiting caller.
final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let condition = MonotonicCondition()
    private var value: Result<T, TransportError>?

    func set(_ result: Result<T, TransportError>) {
        condition.lock()
        value = result
        condition.broadcast()
        condition.unlock()
    }

    /// Waits up to `timeout` real seconds.
    func wait(timeout: Double) -> Result<T, TransportError>? {
        condition.lock()
        defer { condition.unlock() }
        let deadline = MonotonicCondition.now() + timeout
        while value == nil {
            if !condition.wait(until: deadline) { break }
        }
        return value
    }
}
