import CZmq

/// One received ZeroMQ frame. Owns a heap-allocated `zmq_msg_t` (Swift gives no stable address to a
/// struct passed with `&`), closed when the last reference goes away; its bytes stay valid until then.
final class ZMQFrame: @unchecked Sendable {
    let msg: UnsafeMutablePointer<zmq_msg_t>

    /// An empty message, ready for `zmq_msg_recv`.
    init() {
        msg = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
        zmq_msg_init(msg)
    }

    deinit {
        zmq_msg_close(msg)
        msg.deallocate()
    }

    /// The frame's size in bytes.
    var count: Int { zmq_msg_size(msg) }

    /// Whether more frames of the same multipart message follow.
    var hasMore: Bool { zmq_msg_more(msg) != 0 }

    /// Calls `body` with the frame's bytes; they are valid only inside `body`.
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) {
            try body(UnsafeRawBufferPointer(start: zmq_msg_data(msg), count: zmq_msg_size(msg)))
        }
    }
}
