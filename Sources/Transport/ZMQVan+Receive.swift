import CZmq
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

extension ZMQVan {
    /// The receive thread: owns the ROUTER from creation to close (ps-lite's `Van::Receiving` +
    /// `ZMQVan::RecvMsg`).
    func receiveLoop(
        bind: BindOptions, ipc: LocalIPC?, bound: ResultBox<Int>, onReceive: @Sendable (Message) -> Void
    ) {
        guard let router = zmq_socket(context.raw, ZMQ_ROUTER) else {
            bound.set(.failure(zmqError("zmq_socket(ROUTER)")))
            return
        }
        defer { zmq_close(router) }
        setSocketOption(router, ZMQ_LINGER, Int32(0))
        setSocketOption(router, ZMQ_RCVTIMEO, Int32(100))
        setSocketOption(router, ZMQ_MAXMSGSIZE, Int64(options.limits.maxMessageBytes))
        // A ZAP domain makes libzmq hang up on peers of the old protocols (ZMTP 1.0 and 2.0; every
        // SwiftPS node speaks 3.x). libzmq 4.3 asserts, aborting the process, when such a peer's first
        // message reaches a ROUTER that is closing: a stranger could crash a node as its job ends.
        // No ZAP handler is bound, so ZMTP 3 peers are not asked about (ZMQ_ZAP_ENFORCE_DOMAIN is off).
        setSocketOption(router, ZMQ_ZAP_DOMAIN, bytes: Array("swiftps".utf8))
        if options.connectionHeartbeat > 0 {
            let ivl = Int32(options.connectionHeartbeat * 1000)
            setSocketOption(router, ZMQ_HEARTBEAT_IVL, ivl)
            setSocketOption(router, ZMQ_HEARTBEAT_TIMEOUT, ivl * 10)
        }
        switch bindRouter(router, bind) {
        case .failure(let error):
            bound.set(.failure(error))
            return
        case .success(let port):
            let ipcPath = ipc.flatMap { bindIPC(router, $0, bind: bind, port: port) }
            // Remove the socket file when the ROUTER goes (ZeroMQ leaves it when the process ends
            // before its I/O thread closes the listener).
            defer { if let ipcPath { unlink(ipcPath) } }
            bound.set(.success(port))
            receiveUntilStopped(router, onReceive: onReceive)
        }
    }

    private func receiveUntilStopped(_ router: UnsafeMutableRawPointer, onReceive: @Sendable (Message) -> Void) {
        while !isStopRequested() {
            guard let frames = receiveMultipart(router) else { continue }
            if let message = assemble(frames) { onReceive(message) }
        }
    }

    /// Also binds the ROUTER to its same-host ipc socket (`LocalIPC`) and returns the socket file's
    /// path; a failure is logged and only costs speed (peers use TCP).
    private func bindIPC(_ router: UnsafeMutableRawPointer, _ ipc: LocalIPC, bind: BindOptions, port: Int) -> String? {
        let wildcard = bind.host == "*" || bind.host == "0.0.0.0"
        let bindIP = wildcard ? nil : try? HostResolver.resolve(bind.host).ip
        guard wildcard || bindIP != nil, let path = ipc.path(bindIP: bindIP, port: port) else { return nil }
        guard zmq_bind(router, "ipc://\(path)") == 0 else {
            logger.notice("same-host ipc off for this node: \(zmqError("zmq_bind(ipc://\(path))"))")
            return nil
        }
        return path
    }

    private func isStopRequested() -> Bool {
        state.lock()
        defer { state.unlock() }
        return stopRequested
    }

    private func bindRouter(_ router: UnsafeMutableRawPointer, _ bind: BindOptions) -> Result<Int, TransportError> {
        let host: String
        var ipv6 = false
        if bind.host == "*" || bind.host == "0.0.0.0" {
            host = "0.0.0.0"
        } else {
            do {
                let resolved = try HostResolver.resolve(bind.host)
                host = resolved.isIPv6 ? "[\(resolved.ip)]" : resolved.ip
                ipv6 = resolved.isIPv6
            } catch {
                return .failure(error)
            }
        }
        if ipv6 { setSocketOption(router, ZMQ_IPV6, Int32(1)) }
        if bind.port != 0 {
            // Two processes that bind one port at the same moment can both be refused (two jobs
            // launched at once with one --scheduler-port both failed this way, a kernel race between
            // their bind and listen). A few short tries, at random moments, let one of them listen;
            // a port another process listens on is still refused.
            for attempt in 0... {
                let (result, code) = bindOne(router, host: host, port: String(bind.port))
                guard code == EADDRINUSE, attempt < Self.busyPortRetries else { return result.map { _ in bind.port } }
                usleep(UInt32.random(in: 10_000...60_000))
            }
        }
        guard let range = bind.portRange else {
            return bindOne(router, host: host, port: "*").result.flatMap { _ in lastEndpointPort(router) }
        }
        // Start at a random port of the range so processes starting together rarely collide.
        let count = range.count
        let start = Int.random(in: 0..<count)
        for i in 0..<count {
            let port = range.lowerBound + (start + i) % count
            switch bindOne(router, host: host, port: String(port)) {
            case (.success, _): return .success(port)
            case (.failure, EADDRINUSE): continue
            case (.failure(let error), _): return .failure(error)
            }
        }
        return .failure(.portRangeExhausted(host: bind.host, range: range))
    }

    /// How many more times a given port is tried when it is in use (see `bindRouter`).
    static let busyPortRetries = 5

    /// Binds `router` to `tcp://host:port`; a failure comes with libzmq's error code, read at once.
    private func bindOne(_ router: UnsafeMutableRawPointer, host: String, port: String) -> (
        result: Result<Void, TransportError>, code: Int32
    ) {
        let endpoint = "tcp://\(host):\(port)"
        if zmq_bind(router, endpoint) == 0 { return (.success(()), 0) }
        let code = zmq_errno()
        return (.failure(.bindFailed(address: endpoint, reason: String(cString: zmq_strerror(code)))), code)
    }

    private func lastEndpointPort(_ router: UnsafeMutableRawPointer) -> Result<Int, TransportError> {
        var buffer = [CChar](repeating: 0, count: 256)
        var size = buffer.count
        guard zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else {
            return .failure(zmqError("zmq_getsockopt(ZMQ_LAST_ENDPOINT)"))
        }
        let endpoint = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let colon = endpoint.lastIndex(of: ":"), let port = Int(endpoint[endpoint.index(after: colon)...]) else {
            return .failure(.bindFailed(address: endpoint, reason: "cannot read the bound port"))
        }
        return .success(port)
    }

    /// Reads one whole multipart message, or `nil` on timeout. Frames beyond the limit are drained and
    /// the message is dropped.
    private func receiveMultipart(_ router: UnsafeMutableRawPointer) -> [ZMQFrame]? {
        let first = ZMQFrame()
        if zmq_msg_recv(first.msg, router, 0) < 0 {
            let code = zmq_errno()
            if code != EAGAIN && code != EINTR {
                logger.warning("ZMQVan receive failed: \(String(cString: zmq_strerror(code)))")
            }
            return nil
        }
        var frames = [first]
        var total = first.count
        var overflow = false
        let frameLimit = options.limits.maxDataFrames + 2
        while frames.last?.hasMore == true || overflow {
            let next = ZMQFrame()
            // The remaining parts of a multipart message arrive together, so this does not wait.
            guard zmq_msg_recv(next.msg, router, 0) >= 0 else { break }
            total += next.count
            if frames.count >= frameLimit || overflow {
                overflow = true
                if !next.hasMore { break }
                continue
            }
            frames.append(next)
        }
        if overflow {
            drops.drop("more than \(options.limits.maxDataFrames) data frames", logger: logger)
            return nil
        }
        if total > options.limits.maxMessageBytes + 64 {
            drops.drop("\(total) bytes exceeds the limit of \(options.limits.maxMessageBytes)", logger: logger)
            return nil
        }
        return frames
    }

    /// Turns `[identity, meta, data…]` into a message, or drops it with the reason logged.
    private func assemble(_ frames: [ZMQFrame]) -> Message? {
        guard frames.count >= 2 else {
            drops.drop("a message with no meta frame", logger: logger)
            return nil
        }
        let identity = frames[0].withUnsafeBytes { nodeID(fromIdentity: $0) }
        let decoded: DecodedMeta
        do {
            decoded = try frames[1].withUnsafeBytes { raw throws(WireError) in
                try MetaCodec.decode(raw, limit: options.limits.maxMetaBytes)
            }
        } catch {
            drops.drop("\(error)", logger: logger)
            return nil
        }
        let dataFrames = frames.dropFirst(2)
        guard dataFrames.count == decoded.dataTypes.count else {
            drops.drop(
                "meta declares \(decoded.dataTypes.count) data frames but \(dataFrames.count) arrived", logger: logger)
            return nil
        }
        let dataBytes = dataFrames.reduce(0) { $0 + $1.count }
        guard Int64(dataBytes) == decoded.dataSize else {
            drops.drop("meta declares \(decoded.dataSize) data bytes but \(dataBytes) arrived", logger: logger)
            return nil
        }
        var message = decoded.message
        if let identity, identity != message.sender {
            drops.drop("identity ps\(identity) claims to be node \(message.sender)", logger: logger)
            return nil
        }
        message.senderVerified = identity != nil
        message.receivedMeta = frames[1].withUnsafeBytes { Array($0) }
        for (frame, type) in zip(dataFrames, decoded.dataTypes) {
            if frame.count % type.byteWidth != 0 {
                drops.drop("a \(type) frame of \(frame.count) bytes (not a whole number of elements)", logger: logger)
                return nil
            }
            message.data.append(Payload(frame: frame, dataType: type))
        }
        state.lock()
        message.recver = localID
        state.unlock()
        return message
    }
}
