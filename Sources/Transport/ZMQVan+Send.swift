import CZmq
import Foundation

extension ZMQVan {
    /// A DEALER connected to `endpoint` with linger 0, the send timeout and water mark of `options`,
    /// and identity `ps<id>` once this node has an id (ps-lite's `ZMQVan::Connect`). Caller holds
    /// `sendLock`.
    func openDealer(endpoint: String, ipv6: Bool, identity: [UInt8]?) throws(TransportError) -> UnsafeMutableRawPointer
    {
        guard let socket = zmq_socket(context.raw, ZMQ_DEALER) else { throw zmqError("zmq_socket(DEALER)") }
        setSocketOption(socket, ZMQ_LINGER, Int32(0))
        setSocketOption(socket, ZMQ_SNDTIMEO, Int32(options.sendTimeout * 1000))
        setSocketOption(socket, ZMQ_SNDHWM, options.sendHighWaterMark)
        if ipv6 { setSocketOption(socket, ZMQ_IPV6, Int32(1)) }
        if let identity { setSocketOption(socket, ZMQ_ROUTING_ID, bytes: identity) }
        // Nothing is ever read from a DEALER (answers come to the ROUTER), so a peer that writes back
        // on the connection (a stranger's listener, named in a refused ADD_NODE) may queue one small
        // message here, not fill this process's memory; a longer one drops the connection. (The limit
        // also applies to ZeroMQ's handshake and heartbeat commands, which are far smaller.)
        setSocketOption(socket, ZMQ_RCVHWM, Int32(1))
        setSocketOption(socket, ZMQ_MAXMSGSIZE, Int64(65_536))
        if options.connectionHeartbeat > 0 {
            let ivl = Int32(options.connectionHeartbeat * 1000)
            setSocketOption(socket, ZMQ_HEARTBEAT_IVL, ivl)
            setSocketOption(socket, ZMQ_HEARTBEAT_TIMEOUT, ivl * 10)
        }
        guard zmq_connect(socket, endpoint) == 0 else {
            let error = zmqError("zmq_connect(\(endpoint))")
            zmq_close(socket)
            throw error
        }
        return socket
    }

    /// Closes every DEALER with linger `stopLinger`, so what was sent may still leave while `stop`
    /// ends the context; later sends fail with `notRunning`.
    func closeDealers() {
        sendLock.lock()
        defer { sendLock.unlock() }
        guard !dealersClosed else { return }
        dealersClosed = true
        let linger = Int32(options.stopLinger * 1000)
        for socket in dealers.values {
            setSocketOption(socket, ZMQ_LINGER, linger)
            zmq_close(socket)
        }
        dealers.removeAll()
    }

    /// Sends `[meta][data…]` as one multipart message; data frames go without copying; `framesSent`
    /// counts the frames ZeroMQ took (a failure after the first leaves the socket mid-message). Caller
    /// holds `sendLock`. Throws `sendFailed` when ZeroMQ refuses the first frame (the peer's queue is full:
    /// the message is then dropped whole, as ZeroMQ queues a multipart message all or nothing) or
    /// cannot take a data frame (out of memory).
    func sendMultipart(
        _ socket: UnsafeMutableRawPointer, peer: Int32, meta: [UInt8], data: [Payload], framesSent: inout Int
    ) throws(TransportError) {
        let msg = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
        defer { msg.deallocate() }
        guard zmq_msg_init_size(msg, meta.count) == 0 else {
            throw sendFailure(peer: peer, call: "zmq_msg_init_size", frame: "meta")
        }
        meta.withUnsafeBytes { raw in
            if let base = raw.baseAddress { zmq_msg_data(msg).copyMemory(from: base, byteCount: raw.count) }
        }
        guard send(msg, socket, more: !data.isEmpty) else { throw sendFailure(peer: peer, frame: "meta") }
        framesSent = 1
        for (i, payload) in data.enumerated() {
            if payload.byteCount == 0 {
                guard zmq_msg_init_size(msg, 0) == 0 else {
                    throw sendFailure(peer: peer, call: "zmq_msg_init_size", frame: "data frame \(i)")
                }
            } else {
                // Zero-copy: ZeroMQ reads the payload's own buffer and calls the free function (which
                // drops this retain) on its I/O thread once the bytes are on the wire.
                let hint = Unmanaged.passRetained(payload).toOpaque()
                let data = UnsafeMutableRawPointer(mutating: payload.baseAddress)
                if zmq_msg_init_data(msg, data, payload.byteCount, releasePayloadAfterSend, hint) != 0 {
                    Unmanaged<Payload>.fromOpaque(hint).release()
                    throw sendFailure(peer: peer, call: "zmq_msg_init_data", frame: "data frame \(i)")
                }
            }
            guard send(msg, socket, more: i + 1 < data.count) else {
                throw sendFailure(peer: peer, frame: "data frame \(i)")
            }
            framesSent += 1
        }
    }

    /// Sends one frame; on failure closes it (which runs its free function) and returns `false`.
    private func send(_ msg: UnsafeMutablePointer<zmq_msg_t>, _ socket: UnsafeMutableRawPointer, more: Bool) -> Bool {
        if zmq_msg_send(msg, socket, more ? ZMQ_SNDMORE : 0) >= 0 { return true }
        zmq_msg_close(msg)
        return false
    }

    /// Counts a failed send and describes it: `call` is the ZeroMQ call that failed.
    private func sendFailure(peer: Int32, call: String = "zmq_msg_send", frame: String) -> TransportError {
        let error = zmqError(call)
        state.lock()
        sendFailures += 1
        let endpoint = peers[peer] ?? "?"
        state.unlock()
        return .sendFailed(
            peer: "\(NodeID.name(of: peer)) (id \(peer)) at \(endpoint)",
            reason: call == "zmq_msg_send"
                ? "ZeroMQ refused the \(frame) within \(options.sendTimeout) s: \(error) (is the peer alive and reading?)"
                : "ZeroMQ could not take the \(frame): \(error)")
    }
}
