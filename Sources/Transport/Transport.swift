/// Where a transport binds its receiving socket. The bind address is separate from the address a
/// node advertises to its peers (ps-lite binds the advertised IP, or `0.0.0.0` under Kubernetes).
public struct BindOptions: Sendable, Equatable {
    /// The interface address to bind (`0.0.0.0` = every IPv4 interface; a host name is resolved).
    public var host: String
    /// The port; 0 picks one from `portRange`, or an ephemeral port when `portRange` is `nil`.
    public var port: Int
    /// The ports to try when `port` is 0 (ps-lite tries random ports in 10000-50000).
    public var portRange: ClosedRange<Int>?

    /// Creates bind options.
    public init(host: String = "0.0.0.0", port: Int = 0, portRange: ClosedRange<Int>? = nil) {
        self.host = host
        self.port = port
        self.portRange = portRange
    }
}

/// Limits a transport enforces on every message it sends or receives. Received messages that break
/// them are dropped with a logged reason (ps-lite would crash or allocate without bound).
public struct TransportLimits: Sendable, Equatable {
    /// The largest message (meta plus data frames) in bytes; default 1 GiB.
    public var maxMessageBytes: Int
    /// The most data frames one message may carry; default 64 (the KVStore uses 2 or 3).
    public var maxDataFrames: Int
    /// The largest meta frame in bytes; default 16 MiB. The largest a job sends is the node table,
    /// about 400 bytes a node (some 40,000 nodes fit). A received meta is checked against it before
    /// it is decoded, and decoding may take at most `MetaCodec.decodeBudget` of memory.
    public var maxMetaBytes: Int

    /// Creates limits.
    public init(maxMessageBytes: Int = 1 << 30, maxDataFrames: Int = 64, maxMetaBytes: Int = 16 << 20) {
        self.maxMessageBytes = maxMessageBytes
        self.maxDataFrames = maxDataFrames
        self.maxMetaBytes = maxMetaBytes
    }

    /// Throws when `message` with an encoded meta of `metaBytes` breaks a limit.
    func check(_ message: Message, metaBytes: Int) throws(TransportError) {
        guard message.data.count <= maxDataFrames else {
            throw .tooManyFrames(count: message.data.count, limit: maxDataFrames)
        }
        guard metaBytes <= maxMetaBytes else { throw .messageTooLarge(bytes: metaBytes, limit: maxMetaBytes) }
        let total = metaBytes + message.dataByteCount
        guard total <= maxMessageBytes else { throw .messageTooLarge(bytes: total, limit: maxMessageBytes) }
    }
}

/// The message transport under the cluster, ps-lite's `Van` reduced to its four duties (`Bind`,
/// `Connect`, `SendMsg`, `RecvMsg`). `ZMQVan` is the real one; `InMemoryTransport` runs a whole
/// cluster inside one process for tests.
///
/// Contract: `start` binds and begins delivering received messages to `onReceive`, always from one
/// receive thread (never concurrently), which must not block for long. `connect` maps a peer id to
/// an address (replacing an earlier mapping). `send` queues the message for the peer and returns the
/// number of bytes it will put on the wire; it never blocks on the network. Delivery is in order per
/// peer and at most once. `stop` flushes what it can, closes everything and joins its threads.
public protocol Transport: AnyObject, Sendable {
    /// Binds the receiving endpoint, starts the receive thread and returns the bound port.
    func start(bind: BindOptions, onReceive: @escaping @Sendable (Message) -> Void) throws -> Int
    /// Sets this node's id once rendezvous assigned it: it becomes the `recver` of received messages
    /// and the identity (`ps<id>`) of connections made afterwards.
    func setLocalID(_ id: Int32)
    /// Whether connections carry this node's `ps<id>` identity, which proves the sender of what
    /// arrives over them (`Message.senderVerified`). A job with a secret turns it off before it
    /// starts: its message tags prove the sender instead, and an identity is something a stranger
    /// could take first (the peer then refuses the node's own connection under it).
    func useConnectionIdentity(_ on: Bool)
    /// Connects to the peer known as `peer` at `host:port` (host names are resolved first).
    func connect(to peer: Int32, host: String, port: Int) throws
    /// Forgets the connection to `peer`, if any. What was sent to it may still leave for up to
    /// `flushing` seconds (0: it is dropped, as for a peer known to be dead).
    func disconnect(from peer: Int32, flushing: Double)
    /// Queues `message` for `peer`; returns the bytes it will send. `meta`, when given, is the meta
    /// frame already encoded from `message` with this node as its sender (what
    /// `MessageAuthenticator.seal` returns), sent as it is; otherwise the transport encodes it.
    @discardableResult
    func send(_ message: Message, to peer: Int32, meta: [UInt8]?) throws -> Int
    /// Stops receiving and sending, closes every socket and joins the threads. Idempotent.
    func stop()
}

extension Transport {
    /// Forgets the connection to `peer`, dropping what was not sent yet.
    public func disconnect(from peer: Int32) {
        disconnect(from: peer, flushing: 0)
    }

    /// Queues `message` for `peer`, encoding its meta; returns the bytes it will send.
    @discardableResult
    public func send(_ message: Message, to peer: Int32) throws -> Int {
        try send(message, to: peer, meta: nil)
    }
}
