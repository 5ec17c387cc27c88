import Foundation

/// A `Transport` on an `InMemoryNetwork`: same contract as `ZMQVan` (one receive thread delivering in
/// order, queued sends, identity-free addressing by `host:port`), no sockets. Used by the cluster
/// tests to run a scheduler, servers and workers in one process.
public final class InMemoryTransport: Transport, @unchecked Sendable {
    private let network: InMemoryNetwork
    private let host: String
    private let drops = DropCounter()
    private let state = MonotonicCondition()
    // Guarded by `state`:
    private var inbox: [Envelope] = []
    private var peers: [Int32: String] = [:]
    private var localID: Int32 = NodeID.unassigned
    private var address = ""
    private var running = false
    private var stopped = false
    private var receiver: JoinableThread?

    init(network: InMemoryNetwork, host: String) {
        self.network = network
        self.host = host
    }

    /// `host:port` once started, else empty.
    public var boundAddress: String {
        state.lock()
        defer { state.unlock() }
        return address
    }

    /// Received messages dropped so far (undecodable meta or frame mismatch).
    public var droppedMessageCount: Int { drops.count }

    /// Binds `host:port` on the network (`bind.host` is ignored: the transport's host is its identity on
    /// the network) and starts the receive thread.
    public func start(bind: BindOptions, onReceive: @escaping @Sendable (Message) -> Void) throws -> Int {
        state.lock()
        guard !running, !stopped else {
            state.unlock()
            throw TransportError.notRunning
        }
        running = true
        state.unlock()
        let port = try network.bind(self, host: host, port: bind.port, range: bind.portRange)
        let thread = JoinableThread(name: "ps-mem-recv") { [self] in receiveLoop(onReceive) }
        state.lock()
        address = "\(host):\(port)"
        receiver = thread
        state.unlock()
        return port
    }

    /// Sets the id stamped as `sender` and reported as `recver`.
    public func setLocalID(_ id: Int32) {
        state.lock()
        localID = id
        state.unlock()
    }

    /// With `false`, what arrives is not `senderVerified` by the connection (as `ZMQVan` without
    /// identities): only message tags can prove the sender.
    public func useConnectionIdentity(_ on: Bool) {
        state.lock()
        connectionIdentity = on
        state.unlock()
    }
    private var connectionIdentity = true

    /// Maps `peer` to `host:port`; nothing is checked until messages flow (as with ZeroMQ).
    public func connect(to peer: Int32, host: String, port: Int) throws {
        guard !host.isEmpty else { throw TransportError.cannotResolve(host: host, reason: "the host name is empty") }
        state.lock()
        defer { state.unlock() }
        guard running else { throw TransportError.notRunning }
        peers[peer] = "\(host):\(port)"
    }

    /// Forgets `peer` (what was sent was delivered already, so there is nothing to flush).
    public func disconnect(from peer: Int32, flushing: Double) {
        state.lock()
        peers.removeValue(forKey: peer)
        state.unlock()
    }

    /// Encodes the meta, checks the limits and hands the message to the network.
    @discardableResult
    public func send(_ message: Message, to peer: Int32, meta encoded: [UInt8]?) throws -> Int {
        var message = message
        state.lock()
        guard running else {
            state.unlock()
            throw TransportError.notRunning
        }
        guard let destination = peers[peer] else {
            state.unlock()
            throw TransportError.unknownPeer(peer)
        }
        if localID != NodeID.unassigned { message.sender = localID }
        let source = address
        state.unlock()
        let meta = encoded ?? MetaCodec.encode(message)
        try network.limits.check(message, metaBytes: meta.count)
        network.deliver(meta: meta, data: message.data, from: source, to: destination)
        return meta.count + message.dataByteCount
    }

    /// Stops the receive thread and unbinds the address. Idempotent.
    public func stop() {
        state.lock()
        if stopped {
            state.unlock()
            return
        }
        stopped = true
        running = false
        let thread = receiver
        let bound = address
        state.broadcast()
        state.unlock()
        if !bound.isEmpty { network.unbind(bound) }
        if let thread, !thread.join(timeout: 10) {
            network.logger.error("InMemoryTransport \(bound): receive thread did not stop within 10 s")
        }
    }

    func enqueue(_ envelope: Envelope) {
        state.lock()
        inbox.append(envelope)
        state.broadcast()
        state.unlock()
    }

    private func receiveLoop(_ onReceive: @Sendable (Message) -> Void) {
        let clock = network.clock
        while true {
            state.lock()
            var next: Envelope?
            while next == nil && !stopped {
                if let first = inbox.first, first.due <= clock.now() {
                    next = inbox.removeFirst()
                } else {
                    let remaining = inbox.first.map { $0.due - clock.now() } ?? 0.5
                    state.wait(seconds: clock.realWaitSlice(remaining: max(remaining, 0.001)))
                }
            }
            let id = localID
            let verified = connectionIdentity
            state.unlock()
            guard let envelope = next else { return }
            if var message = assemble(envelope, recver: id) {
                // The in-process network delivers from a known transport: the sender cannot be
                // forged, unless connection identities are off (`useConnectionIdentity`).
                message.senderVerified = verified
                onReceive(message)
            }
        }
    }

    private func assemble(_ envelope: Envelope, recver: Int32) -> Message? {
        let decoded: DecodedMeta
        do {
            decoded = try MetaCodec.decode(envelope.meta)
        } catch {
            drops.drop("\(error)", logger: network.logger)
            return nil
        }
        guard decoded.dataTypes == envelope.data.map(\.dataType) else {
            drops.drop("meta declares data types that do not match the frames", logger: network.logger)
            return nil
        }
        var message = decoded.message
        message.data = envelope.data
        message.receivedMeta = envelope.meta
        message.recver = recver
        return message
    }
}
