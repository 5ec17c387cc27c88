import Foundation
import Logging
import SwiftPSTransport

/// One process's membership in a SwiftPS cluster, ps-lite's `Postoffice` + the control half of `Van`:
/// rendezvous at the scheduler, the node table, barriers, heartbeats, request deadlines,
/// authentication and termination, over any `Transport`.
///
/// Threads: control messages are handled on the transport's receive thread (briefly, never blocking);
/// application messages are handed to a dedicated dispatch thread that calls the app handler (so the
/// handler may block briefly without stalling heartbeats), or, for a handler registered with
/// `onReceiveThread`, handled on the receive thread itself (one thread wake-up less); a heartbeat
/// thread pings the scheduler (or, on the scheduler, watches everyone); the termination handler runs on
/// its own thread.
///
/// Every wait has a deadline on `clock`, and every failure names the node concerned.
public final class PostOffice: @unchecked Sendable {
    enum Phase: Int, Comparable {
        case idle, rendezvous, ready, stopped
        static func < (a: Phase, b: Phase) -> Bool { a.rawValue < b.rawValue }
    }

    struct PendingKey: Hashable {
        var peer: Int32
        var timestamp: Int64
    }

    /// The configuration this node runs with.
    public let config: ClusterConfig
    /// The transport under this node.
    public let transport: any Transport
    /// The clock every deadline is measured on.
    public let clock: any DeadlineClock
    let logger: Logger
    let authenticator: Authenticator?
    /// Counts (and rate-limits the log of) messages refused as not from this job: a missing or wrong
    /// tag, a repeated counter, or a rendezvous answer that does not answer this node's request.
    let tagDrops = DropCounter()
    let onTermination: @Sendable (ClusterError) -> Void
    let state = MonotonicCondition()

    // Guarded by `state`:
    var phase = Phase.idle
    var me: NodeInfo
    var table: [Int32: NodeInfo] = [:]
    var terminalError: ClusterError?
    var lastHeard: [Int32: Double] = [:]
    var nextTimestampValue: Int64 = 1
    var pending: [PendingKey: Message?] = [:]
    var appHandler: (@Sendable (Message) -> Void)?
    var appHandlerInline = false
    var appQueue: [Message] = []
    /// Whether the dispatch thread is running the handler on a batch.
    var dispatching = false
    /// Whether the receive thread is running an `onReceiveThread` handler.
    var inlineActive = false
    var barrierArrived: [Int32: Set<Int32>] = [:]
    var barrierReleases: [Int32: Int] = [:]
    var arrivals: [NodeInfo] = []
    /// Scheduler, once its rendezvous failed at once (a refused node): the addresses of the nodes told
    /// why, by role, so it stays to tell the ones still starting (`rendezvousAsScheduler`).
    var toldOfFailure: [NodeRole: Set<String>] = [:]
    var temporaryPeer: Int32 = -1
    var tableReply: Message?
    /// The job's message tags, once this node has the session (scheduler: at start; others: from the
    /// table). Nil without a secret.
    var messageAuth: MessageAuthenticator?
    /// The session nonce the scheduler publishes in the table (scheduler only).
    var session: [UInt8] = []
    /// The message counters seen from each sender (with a secret).
    var replayWindows: [Int32: ReplayWindow] = [:]
    var threads: [JoinableThread] = []
    /// The clock reading of the heartbeat thread's last completed tick (tests wait on it).
    var heartbeatTick = -Double.infinity
    /// The last time this process itself did not run for a while (SIGSTOP, a suspended VM, a starved
    /// CPU), seen by the heartbeat thread as a late tick: when it ended and how long it lasted.
    var ownStall: (end: Double, seconds: Double)?
    /// What the heartbeat thread sleeps on between ticks; `heartbeatStop` (guarded by it) ends it.
    let heartbeatWake = MonotonicCondition()
    var heartbeatStop = false
    var terminationThread: JoinableThread?

    /// Creates a node; nothing happens on the network until `start()`.
    ///
    /// - Parameter onTermination: called once, on its own thread, when the job must end: the scheduler
    ///   declared a node dead, terminated the job, or this node lost the scheduler. A command-line
    ///   process should print the error and exit non-zero (see `exitProcess`).
    public init(
        config: ClusterConfig, transport: any Transport, clock: any DeadlineClock = SystemDeadlineClock(),
        logger: Logger = Logger(label: "swiftps.cluster"),
        onTermination: @escaping @Sendable (ClusterError) -> Void
    ) {
        self.config = config
        self.transport = transport
        self.clock = clock
        self.logger = logger
        self.onTermination = onTermination
        authenticator = config.secret.map { Authenticator(secret: $0) }
        me = NodeInfo(role: config.role, shardSize: config.shardSize, job: config.jobID)
        me.numWorkers = Int32(clamping: config.numWorkers)
        me.numServers = Int32(clamping: config.numServers)
        me.settings = config.sharedSettings
        // Every node says how it times heartbeats: the scheduler judges silence by its own timeout, so
        // a node that beats more slowly (or not at all) would be declared dead while alive.
        me.settings[Self.heartbeatSetting] = Self.describeHeartbeats(config)
        me.protocolVersion = config.wireProtocol
    }

    /// The setting every node's ADD_NODE carries: its heartbeat interval and timeout.
    static let heartbeatSetting = "swiftps.heartbeats"

    /// `interval 1 s, timeout 10 s` (`off` for an interval of 0).
    static func describeHeartbeats(_ config: ClusterConfig) -> String {
        config.heartbeatInterval > 0
            ? "interval \(config.heartbeatInterval) s, timeout \(config.heartbeatTimeout) s" : "off"
    }

    /// A termination handler for command-line processes: logs the error and exits with status 1.
    public static let exitProcess: @Sendable (ClusterError) -> Void = { error in
        FileHandle.standardError.write(Data("swiftps: \(error)\n".utf8))
        exit(1)
    }

    // MARK: - Identity and table

    /// This node's id (scheduler 1, server r → 8+2r, worker r → 9+2r); `NodeID.unassigned` before `start`.
    public var myID: Int32 { locked { me.id } }
    /// This node's rank within its role (ps-lite's `MyRank`, exported as `DMLC_RANK`).
    public var rank: Int { locked { Int(me.rank) } }
    /// This node's role.
    public var role: NodeRole { config.role }
    /// Whether this node is the scheduler.
    public var isScheduler: Bool { config.role == .scheduler }
    /// Whether this node is a server.
    public var isServer: Bool { config.role == .server }
    /// Whether this node is a worker.
    public var isWorker: Bool { config.role == .worker }
    /// The number of workers (`DMLC_NUM_WORKER`).
    public var numWorkers: Int { config.numWorkers }
    /// The number of servers (`DMLC_NUM_SERVER`).
    public var numServers: Int { config.numServers }
    /// This node's own table entry (advertised host and bound port once started).
    public var myNode: NodeInfo { locked { me } }
    /// The node table after rendezvous, sorted by id: the scheduler, then servers and workers with their
    /// ranks, addresses and (for workers) shard sizes.
    public var nodes: [NodeInfo] { locked { table.values.sorted { $0.id < $1.id } } }
    /// The table entry of `id`.
    public func node(_ id: Int32) -> NodeInfo? { locked { table[id] } }
    /// The ids of a group (ps-lite's `GetNodeIDs`).
    public func members(of group: NodeGroup) -> [Int32] {
        group.members(numServers: config.numServers, numWorkers: config.numWorkers)
    }
    /// When (on `clock`) anything was last heard from `id`: heartbeats and every other message count.
    public func lastHeard(from id: Int32) -> Double? { locked { lastHeard[id] } }
    /// The error that ended the job, if one did.
    public var terminationError: ClusterError? { locked { terminalError } }
    /// Whether this node has stopped (`stop()` or `finalize()` ran, or the job ended).
    public var isStopped: Bool { locked { phase == .stopped } }

    /// A fresh request id. Use it for every timestamped message sent through this node, so responses
    /// to `request(_:to:timeout:)` can never be confused with other traffic.
    public func nextTimestamp() -> Int64 {
        locked {
            defer { nextTimestampValue += 1 }
            return nextTimestampValue
        }
    }

    /// `server 1 (id 10) at 10.0.0.5:41234`, or `server 1 (id 10)` when the node is not in the table:
    /// how messages name a node.
    public func description(of id: Int32) -> String { locked { describe(id) } }

    /// `description(of:)` with `state` held.
    func describe(_ id: Int32) -> String {
        if let node = table[id] { return node.description }
        return "\(NodeID.name(of: id)) (id \(id))"
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        state.lock()
        defer { state.unlock() }
        return try body()
    }

    // MARK: - Application messages

    /// Registers the handler for application (non-control) messages, called one at a time in arrival
    /// order. Messages that arrived before a handler was set are delivered to it first. Responses
    /// matched by `request(_:to:timeout:)` do not reach it.
    ///
    /// - Parameter onReceiveThread: `false` (the default) calls the handler on the dispatch thread,
    ///   where it may block briefly (a server merging and updating). `true` calls it on the transport's
    ///   receive thread as the message arrives, saving a thread wake-up per message; such a handler must
    ///   return quickly and never wait on the network, since heartbeats and control messages queue
    ///   behind it (a worker copying pulled values into place).
    public func setAppHandler(onReceiveThread: Bool = false, _ handler: @escaping @Sendable (Message) -> Void) {
        state.lock()
        appHandler = handler
        appHandlerInline = onReceiveThread
        state.broadcast()
        state.unlock()
    }

    /// Sends `message` to node `id` (ps-lite's `Van::Send`), stamping this node as the sender. A message
    /// to this node itself is delivered locally. Returns the bytes sent.
    @discardableResult
    public func send(_ message: Message, to id: Int32) throws -> Int {
        var message = message
        state.lock()
        guard phase == .ready else {
            let phase = self.phase
            state.unlock()
            throw terminalErrorOr(.notRunning("cannot send before rendezvous completed or after stop (\(phase))"))
        }
        guard table[id] != nil else {
            state.unlock()
            throw ClusterError.unknownNode(id)
        }
        message.sender = me.id
        let myID = me.id
        let messageAuth = self.messageAuth
        state.unlock()
        if id == myID {
            message.recver = myID
            message.senderVerified = true  // it never left this process
            receive(message, onReceiveThread: false, local: true)
            return message.dataByteCount
        }
        let meta = messageAuth?.seal(&message, to: id)
        do {
            return try transport.send(message, to: id, meta: meta)
        } catch {
            throw ClusterError.transport("sending to \(locked { describe(id) }): \(error)")
        }
    }

    func terminalErrorOr(_ error: ClusterError) -> ClusterError {
        locked { terminalError } ?? error
    }

    /// Sends a control or app message while holding `state`; logs instead of throwing.
    func sendLocked(_ message: Message, to id: Int32) {
        var message = message
        message.sender = me.id
        // A temporary peer (a refused or timed-out joiner) has no session key: its messages are exempt.
        let meta = id > 0 ? messageAuth?.seal(&message, to: id) : nil
        do {
            try transport.send(message, to: id, meta: meta)
        } catch {
            logger.warning("could not send \(message.control.cmd) to \(describe(id)): \(error)")
        }
    }

    func dispatchLoop() {
        while true {
            state.lock()
            while (appQueue.isEmpty || appHandler == nil || inlineActive) && phase != .stopped {
                state.wait(seconds: 0.5)
            }
            if phase == .stopped {
                state.unlock()
                return
            }
            let batch = appQueue
            appQueue.removeAll()
            let handler = appHandler
            dispatching = true
            state.unlock()
            for message in batch { handler?(message) }
            state.lock()
            dispatching = false
            state.unlock()
        }
    }

    // MARK: - Termination and shutdown

    /// Ends the job with `error`: fails every pending wait, stops heartbeats and runs the termination
    /// handler once, on its own thread. During rendezvous `start()` throws the error instead.
    /// Ends this node with `error` (under `state`). The connections to `dead` (nodes known to have died)
    /// are dropped first, so stopping does not spend its linger on messages that can never leave.
    func terminate(_ error: ClusterError, dead: [Int32] = []) {
        guard terminalError == nil, phase != .stopped else { return }
        terminalError = error
        state.broadcast()
        stopHeartbeat()
        logger.error("\(error)")
        if phase == .rendezvous { return }
        let handler = onTermination
        let transport = self.transport
        terminationThread = JoinableThread(name: "ps-terminate") {
            // Stop the transport first: it lets what this node just sent (the scheduler's NODE_FAILED
            // naming the dead node) leave within its linger, before a handler such as `exitProcess`
            // ends the process. Exiting at once lost those messages, and the other nodes then blamed
            // the scheduler instead of naming the node that died.
            for peer in dead { transport.disconnect(from: peer) }
            transport.stop()
            handler(error)
        }
    }

    /// Ends the whole job from the scheduler (a deadline of the job itself expired): every other node
    /// receives TERMINATE carrying `reason` and exits with it, then this node terminates with it too.
    /// Does nothing on other roles (they cannot stop the job for everyone) or once the job has ended.
    public func terminateJob(_ reason: String) {
        state.lock()
        defer { state.unlock() }
        guard isScheduler else {
            logger.warning("only the scheduler can terminate the job; ignored: \(reason)")
            return
        }
        guard phase == .ready, terminalError == nil else { return }
        for node in table.values where node.id != me.id {
            sendLocked(Message(control: Control(cmd: .terminate), error: reason), to: node.id)
        }
        terminate(.terminated(reason))
    }

    /// Leaves the job at once because this process cannot go on (an error it hit, a signal it got).
    /// A worker or server first tells the scheduler, which stops every other node with NODE_FAILED
    /// naming this one and `reason` ("worker 1 (id 11) at 10.0.0.5:41234 stopped: …"), so they
    /// exit now rather than when its heartbeats are missed; the scheduler tells every node itself.
    /// Then stops, as `stop()`. The termination handler does not run: the caller ends the process.
    /// Before rendezvous has completed, or once the job has ended, it only stops.
    public func abort(_ reason: String) {
        state.lock()
        if phase == .ready, terminalError == nil {
            if isScheduler {
                let text = "\(describe(me.id)) stopped: \(reason)"
                for node in table.values where node.id != me.id {
                    sendLocked(Message(control: Control(cmd: .terminate), error: text), to: node.id)
                }
                terminalError = .terminated(text)
            } else {
                sendLocked(
                    Message(control: Control(cmd: .terminate), request: true, error: reason), to: NodeID.scheduler)
                terminalError = .nodeFailed("\(describe(me.id)) stopped: \(reason)")
            }
            state.broadcast()
        }
        state.unlock()
        stop()
    }

    /// The scheduler's side of `abort` (a TERMINATE request from a member, under `state`): every other
    /// node gets NODE_FAILED naming the sender and its reason, then this node terminates with it.
    func handleAbort(_ message: Message) {
        guard isScheduler, phase == .ready, terminalError == nil, let node = table[message.sender] else { return }
        // A node that gave up waiting in a barrier is not the culprit: the members that never came are.
        let reason = "\(node.description) stopped: \(message.error)\(openBarriers())"
        for other in table.values where other.id != me.id && other.id != node.id {
            sendLocked(Message(control: Control(cmd: .nodeFailed, nodes: [node]), error: reason), to: other.id)
        }
        terminate(.nodeFailed(reason), dead: [node.id])
    }

    /// Wakes the heartbeat thread for good (it then sees the phase or the error and returns).
    func stopHeartbeat() {
        heartbeatWake.lock()
        heartbeatStop = true
        heartbeatWake.broadcast()
        heartbeatWake.unlock()
    }

    /// Scheduler: the settings the workers declared at rendezvous (`ClusterConfig.sharedSettings`; all
    /// workers that declared any declared the same); empty on other roles.
    public var workerSettings: [String: String] {
        locked {
            arrivals.lazy.filter { $0.role == .worker }.map(\.settings).first { !$0.isEmpty } ?? [:]
        }
    }

    /// Scheduler: every value the workers declared for the setting `name` (one of
    /// `ClusterConfig.declaredSettingPrefix`), each once, in order; empty on other roles.
    public func workerDeclarations(_ name: String) -> [String] {
        locked { Set(arrivals.filter { $0.role == .worker }.compactMap { $0.settings[name] }).sorted() }
    }

    /// Stops at once, without the final barrier: heartbeats, the dispatch thread and the transport.
    /// Pending waits fail. Idempotent; safe to call from the app or termination handler.
    public func stop() {
        state.lock()
        if phase == .stopped {
            state.unlock()
            return
        }
        phase = .stopped
        state.broadcast()
        stopHeartbeat()
        let joinable = threads + [terminationThread].compactMap { $0 }
        state.unlock()
        for thread in joinable where !thread.isCurrent && thread.name != "ps-terminate" {
            if !thread.join(timeout: 10) { logger.error("thread \(thread.name) did not stop within 10 s") }
        }
        transport.stop()
        for thread in joinable where !thread.isCurrent && thread.name == "ps-terminate" {
            if !thread.join(timeout: 10) { logger.error("the termination handler did not return within 10 s") }
        }
    }

    /// Leaves the cluster cleanly, ps-lite's `Finalize`: a barrier over every node, then `stop()`.
    /// The scheduler returns once the final barrier completes. A worker or server whose final
    /// barrier fails tells the scheduler (`abort`), which stops the others naming it, rather than
    /// leaving silently for the scheduler to wait on or to blame on the nodes that were waiting.
    public func finalize(timeout: Double? = nil) throws {
        do {
            try barrier(group: .all, timeout: timeout ?? config.barrierTimeout)
        } catch {
            abort("its final barrier failed: \(error)")
            throw error
        }
        logger.info("\(locked { describe(me.id) }) finalized")
        stop()
    }
}
