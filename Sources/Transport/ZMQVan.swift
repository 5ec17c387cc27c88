import CZmq
import Foundation
import Logging

/// The ZeroMQ transport, ps-lite's `ZMQVan` (`src/zmq_van.h`): one ROUTER bound to receive, one
/// DEALER per peer to send, with identity `ps<id>`, linger 0 and multipart framing
/// `[meta][data frames…]`.
///
/// Threads and socket ownership (ZeroMQ sockets are not thread-safe):
/// - the receive thread creates, binds, reads and closes the ROUTER;
/// - the DEALERs are written by whichever thread calls `send`, one at a time under `sendLock` (ZeroMQ
///   allows a socket to move between threads across a full memory barrier, which the lock is). A
///   send never waits on the network (`ZMQ_SNDTIMEO` 0: ZeroMQ queues the frames for its I/O thread,
///   or refuses at once when the peer's queue is full), so the lock is held for microseconds. Sending
///   on the caller's thread, rather than handing each message to a send thread, takes a thread
///   wake-up off every message: a 4 KB dist_sync round went from 0.31 ms to under 0.2 ms.
///   Messages to one peer leave in the order their `send` calls took the lock.
///
/// Data frames are sent without copying (`zmq_msg_init_data`; the payload is retained until ZeroMQ's
/// I/O thread releases it) and received without copying (the payload wraps the frame). A received
/// message that is malformed, oversized, has too many frames or an undecodable meta is dropped with
/// a logged reason; the van keeps running.
public final class ZMQVan: Transport, @unchecked Sendable {
    /// Tuning knobs of the ZeroMQ transport.
    public struct Options: Sendable {
        /// Size and frame-count limits (also applied as `ZMQ_MAXMSGSIZE` on the ROUTER).
        public var limits: TransportLimits
        /// How long (seconds) a send waits when a peer's queue is full before it drops the message and
        /// logs it (`ZMQ_SNDTIMEO`). The default, 0, never waits: every send holds one lock, so a wait
        /// on a dead peer would hold up heartbeats to the living ones (seen: a scheduler blocked on a
        /// killed worker went silent long enough for every node to time out on it instead of hearing
        /// which node died). A dropped request is caught by its deadline.
        public var sendTimeout: Double
        /// Messages queued per peer before sends wait (`ZMQ_SNDHWM`, ps-lite's `DMLC_PS_WATER_MARK`).
        public var sendHighWaterMark: Int32
        /// On `stop`, how long (seconds) queued messages may take to leave (`ZMQ_LINGER` set just before
        /// closing; sockets otherwise run with linger 0 as in ps-lite, so a dead peer never blocks).
        public var stopLinger: Double
        /// ZeroMQ's own connection heartbeat interval in seconds (`ZMQ_HEARTBEAT_IVL`; a dead TCP peer
        /// is noticed after 10 intervals); 0 disables it.
        public var connectionHeartbeat: Double
        /// Where the same-host ipc sockets live (`LocalIPC`); nil sends everything over TCP. Default:
        /// `LocalIPC.defaultDirectory()` (`SWIFTPS_IPC=0` turns it off, `SWIFTPS_IPC_DIR` moves it).
        public var ipcDirectory: String?

        /// Creates options.
        public init(
            limits: TransportLimits = TransportLimits(), sendTimeout: Double = 0, sendHighWaterMark: Int32 = 1000,
            stopLinger: Double = 2, connectionHeartbeat: Double = 1,
            ipcDirectory: String? = LocalIPC.defaultDirectory()
        ) {
            self.ipcDirectory = ipcDirectory
            self.limits = limits
            self.sendTimeout = sendTimeout
            self.sendHighWaterMark = sendHighWaterMark
            self.stopLinger = stopLinger
            self.connectionHeartbeat = connectionHeartbeat
        }
    }

    /// The options in force.
    public let options: Options
    let logger: Logger
    let context = ZMQContext()
    let drops = DropCounter()
    let state = MonotonicCondition()
    /// Serialises every use of the DEALERs. Lock order: `state` may be taken while `sendLock` is held,
    /// never `sendLock` while `state` is.
    let sendLock = NSLock()
    // Guarded by `sendLock`:
    var dealers: [Int32: UnsafeMutableRawPointer] = [:]
    var dealersClosed = false
    // Guarded by `state`:
    var running = false
    var stopRequested = false
    var stopped = false
    /// Whether `stop` has flushed, closed and joined everything (a second caller waits for it).
    var stopFinished = false
    var localID: Int32 = NodeID.unassigned
    var connectionIdentity = true
    var peers: [Int32: String] = [:]
    var sendFailures = 0
    var ipc: LocalIPC?
    private var receiveThread: JoinableThread?
    private var port = 0

    /// Creates a van; nothing is bound until `start`.
    public init(options: Options = Options(), logger: Logger = Logger(label: "swiftps.transport.zmq")) {
        self.options = options
        self.logger = logger
    }

    deinit {
        stop()
    }

    /// The bound port (0 before `start`).
    public var boundPort: Int {
        state.lock()
        defer { state.unlock() }
        return port
    }

    /// Received messages dropped so far (malformed, oversized, undecodable).
    public var droppedMessageCount: Int { drops.count }

    /// Messages that could not be handed to ZeroMQ so far (peer queue full past `sendTimeout`).
    public var failedSendCount: Int {
        state.lock()
        defer { state.unlock() }
        return sendFailures
    }

    /// Binds the ROUTER (on the receive thread, which owns it), starts that thread and returns the port.
    public func start(bind: BindOptions, onReceive: @escaping @Sendable (Message) -> Void) throws -> Int {
        state.lock()
        guard !running, !stopped else {
            state.unlock()
            throw TransportError.notRunning
        }
        running = true
        state.unlock()
        let ipc = options.ipcDirectory.flatMap { LocalIPC(directory: $0, logger: logger) }
        let bound = ResultBox<Int>()
        let receiver = JoinableThread(name: "ps-zmq-recv") { [self] in
            receiveLoop(bind: bind, ipc: ipc, bound: bound, onReceive: onReceive)
        }
        guard let result = bound.wait(timeout: 30) else {
            failStart(receiver: receiver)
            throw TransportError.threadUnresponsive(name: receiver.name, seconds: 30)
        }
        switch result {
        case .failure(let error):
            receiver.join(timeout: 5)
            failStart(receiver: nil)
            throw error
        case .success(let boundPort):
            state.lock()
            port = boundPort
            receiveThread = receiver
            self.ipc = ipc
            state.unlock()
            logger.debug("ZMQVan bound tcp://\(bind.host):\(boundPort)")
            return boundPort
        }
    }

    /// Records that `stop` (or a failed start) has finished, waking any other `stop` call.
    private func markStopFinished() {
        state.lock()
        stopFinished = true
        state.broadcast()
        state.unlock()
    }

    private func failStart(receiver: JoinableThread?) {
        state.lock()
        stopRequested = true
        running = false
        stopped = true
        state.unlock()
        defer { markStopFinished() }
        if let receiver, !receiver.join(timeout: 5) {
            logger.error("ZMQVan: receive thread did not stop after a failed bind; leaking the ZeroMQ context")
            return
        }
        context.terminate()
    }

    /// Sets this node's id: the `recver` of received messages, the `sender` stamped on sent ones, and
    /// the `ps<id>` identity of DEALERs connected afterwards (unless `useConnectionIdentity(false)`).
    public func setLocalID(_ id: Int32) {
        state.lock()
        localID = id
        state.unlock()
    }

    /// With `false`, DEALERs connect without a `ps<id>` identity (ZeroMQ gives each a random one), so
    /// nothing that arrives is `senderVerified` by its connection: a job with a secret proves senders
    /// by their message tags, and no stranger can take a node's identity first.
    public func useConnectionIdentity(_ on: Bool) {
        state.lock()
        connectionIdentity = on
        state.unlock()
    }

    /// The identity of a DEALER connected now (`state` held).
    private var currentIdentity: [UInt8]? {
        connectionIdentity && localID != NodeID.unassigned ? identityBytes(for: localID) : nil
    }

    /// Resolves `host` and connects a DEALER to `tcp://ip:port` (or to the peer's ipc socket when it
    /// is on this host, see `LocalIPC`), replacing an earlier connection to `peer`. ZeroMQ connects in
    /// the background; messages sent meanwhile wait in its queue.
    public func connect(to peer: Int32, host: String, port: Int) throws {
        let address = try HostResolver.resolve(host)
        state.lock()
        let isRunning = running && !stopRequested
        let identity = currentIdentity
        let ipc = self.ipc
        state.unlock()
        let endpoint = ipc?.endpoint(forPeer: address.ip, port: port) ?? address.endpoint(port: port)
        guard isRunning else { throw TransportError.notRunning }
        sendLock.lock()
        defer { sendLock.unlock() }
        guard !dealersClosed else { throw TransportError.notRunning }
        if let old = dealers.removeValue(forKey: peer) { zmq_close(old) }
        dealers[peer] = try openDealer(endpoint: endpoint, ipv6: address.isIPv6, identity: identity)
        state.lock()
        peers[peer] = endpoint
        state.unlock()
        logger.debug("ZMQVan connected to \(NodeID.name(of: peer)) (id \(peer)) at \(endpoint)")
    }

    /// The endpoint the DEALER to `peer` is connected to (`tcp://…` or `ipc://…`), if any.
    public func endpoint(of peer: Int32) -> String? {
        state.lock()
        defer { state.unlock() }
        return peers[peer]
    }

    /// Closes the DEALER to `peer`, if any; ZeroMQ's I/O thread goes on sending what was queued for up
    /// to `flushing` seconds (`ZMQ_LINGER`).
    public func disconnect(from peer: Int32, flushing: Double) {
        sendLock.lock()
        if let socket = dealers.removeValue(forKey: peer) {
            if flushing > 0 { setSocketOption(socket, ZMQ_LINGER, Int32(min(flushing, 3600) * 1000)) }
            zmq_close(socket)
        }
        state.lock()
        peers.removeValue(forKey: peer)
        state.unlock()
        sendLock.unlock()
    }

    /// Encodes the meta, checks the limits and hands the message to ZeroMQ on the calling thread
    /// (without copying the data frames). Returns the bytes it will send. A message ZeroMQ refuses
    /// (the peer's queue is full: it is not reading) throws `TransportError.sendFailed` naming the
    /// peer, and is counted (`failedSendCount`); the caller decides (a request fails at once instead
    /// of waiting out its deadline and blaming the peer for not answering).
    @discardableResult
    public func send(_ message: Message, to peer: Int32, meta encoded: [UInt8]?) throws -> Int {
        var message = message
        state.lock()
        let id = localID
        let isRunning = running && !stopRequested
        state.unlock()
        guard isRunning else { throw TransportError.notRunning }
        if id != NodeID.unassigned { message.sender = id }
        let meta = encoded ?? MetaCodec.encode(message)
        try options.limits.check(message, metaBytes: meta.count)
        sendLock.lock()
        defer { sendLock.unlock() }
        guard !dealersClosed else { throw TransportError.notRunning }
        guard let socket = dealers[peer] else { throw TransportError.unknownPeer(peer) }
        var framesSent = 0
        do {
            try sendMultipart(socket, peer: peer, meta: meta, data: message.data, framesSent: &framesSent)
        } catch {
            // Cut after its first frame, the message leaves the DEALER mid-message: ZeroMQ would glue
            // the next message to it, or drop that one silently. A new DEALER starts clean.
            if framesSent > 0 { replaceDealer(of: peer) }
            throw error
        }
        return meta.count + message.dataByteCount
    }

    /// Closes the DEALER to `peer` and opens another to the same endpoint. The old one still sends
    /// what it holds whole for `stopLinger` seconds; ZeroMQ discards its unfinished message. Caller
    /// holds `sendLock`.
    private func replaceDealer(of peer: Int32) {
        state.lock()
        let endpoint = peers[peer]
        let identity = currentIdentity
        state.unlock()
        if let old = dealers.removeValue(forKey: peer) {
            setSocketOption(old, ZMQ_LINGER, Int32(options.stopLinger * 1000))
            zmq_close(old)
        }
        guard let endpoint else { return }
        do {
            dealers[peer] = try openDealer(endpoint: endpoint, ipv6: endpoint.hasPrefix("tcp://["), identity: identity)
        } catch {
            logger.warning("ZMQVan cannot reopen its connection to \(NodeID.name(of: peer)) at \(endpoint): \(error)")
        }
    }

    /// Flushes what was sent (up to `stopLinger`), closes every socket, joins the receive thread and
    /// ends the ZeroMQ context. Safe to call more than once, from any thread: a call made while another
    /// is stopping returns when that one has finished (so a caller that exits the process next, such
    /// as a termination handler, never cuts the other's flush short).
    public func stop() {
        state.lock()
        if stopped {
            let deadline = MonotonicCondition.now() + options.stopLinger + 12
            while !stopFinished && state.wait(until: deadline) {}
            state.unlock()
            return
        }
        stopRequested = true
        stopped = true
        let threads = [receiveThread].compactMap { $0 }
        let wasRunning = running
        running = false
        state.broadcast()
        state.unlock()
        closeDealers()
        defer { markStopFinished() }
        guard wasRunning || !threads.isEmpty else {
            context.terminate()
            return
        }
        let deadline = options.stopLinger + 10
        var allJoined = true
        for thread in threads where !thread.join(timeout: deadline) {
            allJoined = false
            logger.error("ZMQVan: thread \(thread.name) did not stop within \(deadline) s; leaking the ZeroMQ context")
        }
        if allJoined { context.terminate() }
    }
}
