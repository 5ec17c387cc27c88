import Foundation
import Logging

/// An in-process network of `InMemoryTransport`s, for tests that run a whole cluster in one process:
/// the counterpart of NIO's `EmbeddedChannel`, with a controllable clock and fault injection.
///
/// Endpoints are addressed `host:port`, exactly like ZeroMQ ones. As with ZeroMQ, a message sent to an
/// address nobody has bound yet waits until someone binds it. Messages are encoded and decoded with
/// `MetaCodec` on the way, so only what the wire carries arrives; data frames are shared, not copied.
public final class InMemoryNetwork: @unchecked Sendable {
    /// The clock the network's delays (and a cluster under test) run on.
    public let clock: any DeadlineClock
    /// Limits applied to every message, as `ZMQVan` applies them.
    public let limits: TransportLimits
    let logger: Logger
    private let lock = NSLock()
    private var endpoints: [String: InMemoryTransport] = [:]
    private var waiting: [String: [Envelope]] = [:]
    private var isolated: Set<String> = []
    private var delays: [String: Double] = [:]
    private var nextPort = 20000

    /// Creates an empty network.
    public init(
        clock: any DeadlineClock = SystemDeadlineClock(), limits: TransportLimits = TransportLimits(),
        logger: Logger = Logger(label: "swiftps.transport.inmemory")
    ) {
        self.clock = clock
        self.limits = limits
        self.logger = logger
    }

    /// A new transport whose endpoint will live on `host` once started.
    public func makeTransport(host: String = "127.0.0.1") -> InMemoryTransport {
        InMemoryTransport(network: self, host: host)
    }

    /// Fault injection: every message to or from `address` (`host:port`) is silently lost from now on,
    /// as if the process hung or the cable was cut.
    public func isolate(_ address: String) {
        lock.lock()
        isolated.insert(address)
        lock.unlock()
    }

    /// Undoes `isolate(_:)`.
    public func reconnect(_ address: String) {
        lock.lock()
        isolated.remove(address)
        lock.unlock()
    }

    /// Fault injection: messages to `address` arrive `seconds` later on the network's clock
    /// (0 removes the delay). Order per destination is kept.
    public func setDelay(_ seconds: Double, to address: String) {
        lock.lock()
        delays[address] = seconds > 0 ? seconds : nil
        lock.unlock()
    }

    /// Binds `transport` at `host:port` (port 0 = the next free port, or one from `range`).
    func bind(_ transport: InMemoryTransport, host: String, port: Int, range: ClosedRange<Int>?) throws -> Int {
        lock.lock()
        defer { lock.unlock() }
        var chosen = port
        if chosen == 0 {
            if let range {
                guard let free = range.first(where: { endpoints["\(host):\($0)"] == nil }) else {
                    throw TransportError.portRangeExhausted(host: host, range: range)
                }
                chosen = free
            } else {
                while endpoints["\(host):\(nextPort)"] != nil { nextPort += 1 }
                chosen = nextPort
                nextPort += 1
            }
        }
        let address = "\(host):\(chosen)"
        guard endpoints[address] == nil else {
            throw TransportError.bindFailed(address: address, reason: "address already in use")
        }
        endpoints[address] = transport
        let pending = waiting.removeValue(forKey: address) ?? []
        for envelope in pending { transport.enqueue(envelope) }
        return chosen
    }

    /// Removes a stopped transport's endpoint.
    func unbind(_ address: String) {
        lock.lock()
        endpoints.removeValue(forKey: address)
        lock.unlock()
    }

    /// Carries a message from `source` to `destination`, honouring isolation and delays.
    func deliver(meta: [UInt8], data: [Payload], from source: String, to destination: String) {
        lock.lock()
        defer { lock.unlock() }
        if isolated.contains(source) || isolated.contains(destination) { return }
        let envelope = Envelope(meta: meta, data: data, due: clock.now() + (delays[destination] ?? 0))
        if let target = endpoints[destination] {
            target.enqueue(envelope)
        } else {
            waiting[destination, default: []].append(envelope)
        }
    }
}

/// A message in flight on an `InMemoryNetwork`.
struct Envelope: Sendable {
    var meta: [UInt8]
    var data: [Payload]
    var due: Double
}
