import Foundation
import SwiftPSTransport

/// Why the scheduler refused an ADD_NODE, carried in the refusal's `head`.
enum RefusalCode: Int32 {
    case authentication = 1
    case clusterFull = 2
    case otherJob = 3
    case clusterSize = 4
    case settings = 5
    case wireProtocol = 6

    /// The code a rendezvous TERMINATE is signed with (`PostOffice.verdict`): no refusal has it.
    static let terminate: Int32 = 0
    /// Refusals a node accepts on its nonce alone: a scheduler with another secret cannot sign them in
    /// a way the node could check.
    static let unsignable: Set<Int32> = [authentication.rawValue, otherJob.rawValue]
}

extension PostOffice {
    /// Joins the cluster, ps-lite's `Van::Start` + `Postoffice::Start` with a deadline: binds, registers
    /// with the scheduler (ADD_NODE), receives the node table, connects to every node except peers of
    /// its own role, starts heartbeats, then barriers over everyone.
    ///
    /// The scheduler collects `numServers + numWorkers` nodes and ranks each role by (host, port), so
    /// ranks are deterministic for fixed addresses; ids follow ps-lite (server r → 8+2r, worker r → 9+2r).
    /// If the cluster is not complete within `rendezvousTimeout`, the scheduler sends TERMINATE naming
    /// the missing nodes to those that arrived, and every process throws `ClusterError.rendezvousFailed`.
    public func start() throws {
        do {
            try config.validate()
            let host = try AdvertisedHost.choose(for: config, logger: logger)
            state.lock()
            guard phase == .idle else {
                state.unlock()
                throw ClusterError.notRunning("start() was already called")
            }
            phase = .rendezvous
            // With a secret, tags prove who sent a message, not the connection's identity (which a
            // stranger could take before the node reconnects under it).
            if config.secret != nil { transport.useConnectionIdentity(false) }
            // The ADD_NODE nonce exists before anything can arrive: a verdict is checked against it.
            if !isScheduler { me.nonce = Authenticator.nonce() }
            if isScheduler {
                // Known before the first ADD_NODE can arrive, so even early refusals carry sender 1.
                me.id = NodeID.scheduler
                transport.setLocalID(NodeID.scheduler)
                if let secret = config.secret {
                    session = Authenticator.nonce(count: MessageAuthenticator.sessionNonceCount)
                    messageAuth = MessageAuthenticator(secret: secret, session: session, encrypts: config.encrypt)
                }
            }
            state.unlock()
            if config.heartbeatInterval == 0 {
                logger.warning(
                    "heartbeats are off (SWIFTPS_HEARTBEAT_INTERVAL=0): a node that dies between requests is not noticed, and the others can wait for ever at the end of the job (under swiftps launch the launcher still stops it when a process exits)"
                )
            }
            if authenticator == nil {
                logger.notice(
                    "the cluster is unauthenticated: anyone who reaches its ports can join (set SWIFTPS_SECRET_FILE)")
            } else {
                let encryption =
                    !isScheduler
                    ? "" : config.encrypt ? "; data frames are encrypted (AES-256-GCM)" : " (not encrypted)"
                logger.info(
                    "the cluster is authenticated: nodes prove the secret to join, and every message carries a tag keyed from it\(encryption)"
                )
            }
            // The scheduler's deadline runs from before it can hear the first ADD_NODE: a cluster that
            // completes while this thread is still starting must be seen complete in time, and a test
            // clock advanced once the nodes have arrived must expire it.
            let rendezvousDeadline = clock.now() + config.rendezvousTimeout
            let bind = BindOptions(
                host: config.bindHost, port: isScheduler ? config.schedulerPort : 0,
                portRange: isScheduler ? nil : config.portRange)
            let port: Int
            do {
                port = try transport.start(bind: bind) { [weak self] message in self?.receive(message) }
            } catch {
                throw ClusterError.transport("\(config.role) cannot listen on \(bind.host):\(bind.port): \(error)")
            }
            state.lock()
            me.hostname = host
            me.port = Int32(port)
            state.unlock()
            let dispatcher = JoinableThread(name: "ps-dispatch") { [self] in dispatchLoop() }
            locked { threads.append(dispatcher) }
            if isScheduler { try rendezvousAsScheduler(deadline: rendezvousDeadline) } else { try rendezvousAsNode() }
            if config.heartbeatInterval > 0 {
                let thread = JoinableThread(name: "ps-heartbeat") { [self] in heartbeatLoop() }
                locked { threads.append(thread) }
            }
            try barrier(group: .all, timeout: config.rendezvousTimeout)
            logger.info("\(locked { describe(me.id) }) joined the cluster (rank \(rank))")
        } catch let error as ClusterError {
            stop()
            throw error
        } catch {
            stop()
            throw ClusterError.transport("\(error)")
        }
    }

    /// Whether `message`, a TERMINATE or an ADD_NODE answer that reached this node during rendezvous,
    /// answers this node's request: it echoes the request's nonce and, with a secret, is signed (except
    /// a refusal for authentication or for belonging to another job: a scheduler with another secret
    /// cannot sign those in a way this node could check). Under `state`.
    func isGenuineVerdict(_ message: Message) -> Bool {
        guard !me.nonce.isEmpty, message.control.nonce == me.nonce else { return false }
        guard let authenticator else { return true }
        if message.control.cmd == .terminate {
            return authenticator.verify(
                verdict: RefusalCode.terminate, reason: message.error, nonce: me.nonce, auth: message.control.auth)
        }
        // The table is checked by `adoptTable`; unsignable refusals pass on the nonce.
        if message.error.isEmpty || RefusalCode.unsignable.contains(message.head) { return true }
        return authenticator.verify(
            verdict: message.head, reason: message.error, nonce: me.nonce, auth: message.control.auth)
    }

    // MARK: - Worker and server side

    private func rendezvousAsNode() throws {
        let schedulerAddress = "\(config.schedulerHost):\(config.schedulerPort)"
        do {
            try transport.connect(to: NodeID.scheduler, host: config.schedulerHost, port: config.schedulerPort)
        } catch {
            throw ClusterError.transport("cannot reach the scheduler at \(schedulerAddress): \(error)")
        }
        state.lock()
        defer { state.unlock() }
        // The request carries the rank this node asks for (-1: none) in the rank field.
        var request = me
        request.rank = Int32(config.rankHint ?? -1)
        request.auth = authenticator?.sign(request: request) ?? []
        me.auth = request.auth
        sendLocked(Message(control: Control(cmd: .addNode, nodes: [request]), request: true), to: NodeID.scheduler)
        // A little longer than the scheduler's own deadline, so its TERMINATE (which names the missing
        // nodes) arrives first.
        let patience = config.rendezvousTimeout + max(5, config.heartbeatTimeout)
        let answered = clock.wait(on: state, until: clock.now() + patience) {
            tableReply != nil || terminalError != nil || phase == .stopped
        }
        if let terminalError { throw terminalError }
        if phase == .stopped { throw ClusterError.notRunning("stopped during rendezvous") }
        guard answered, let reply = tableReply else {
            throw ClusterError.rendezvousFailed(
                "no node table from the scheduler at \(schedulerAddress) within \(formatSeconds(patience)) s: is it running? is a firewall blocking port \(config.schedulerPort)? or can it not reach this node at \(me.address) (set DMLC_NODE_HOST or DMLC_INTERFACE to an address it can reach)?"
            )
        }
        try adoptTable(reply)
    }

    /// The refusal this node makes of a table whose scheduler speaks another wire protocol (a
    /// scheduler of an older build does not check the nodes' protocol: the node checks its entry).
    func schedulerProtocolMismatch(in nodes: [NodeInfo]) -> ClusterError? {
        guard let scheduler = nodes.first(where: { $0.id == NodeID.scheduler }),
            scheduler.protocolVersion != me.protocolVersion
        else { return nil }
        return .rendezvousRefused(
            "the scheduler at \(config.schedulerHost):\(config.schedulerPort) speaks SwiftPS wire protocol \(PostOffice.describeProtocol(scheduler.protocolVersion)), this node \(PostOffice.describeProtocol(me.protocolVersion)): \(PostOffice.sameBuildFix)"
        )
    }

    /// Checks and adopts the scheduler's table (ps-lite's `UpdateLocalID` + connecting to the peers).
    private func adoptTable(_ reply: Message) throws {
        if !reply.error.isEmpty {
            if reply.head == RefusalCode.authentication.rawValue {
                throw ClusterError.authenticationRefused(reply.error)
            }
            throw ClusterError.rendezvousRefused(reply.error)
        }
        guard reply.control.nonce == me.nonce else {
            throw ClusterError.protocolViolation("the scheduler's node table answers another request (nonce mismatch)")
        }
        // Before the signature, which covers the protocols too: a scheduler of another build is the
        // news, not a signature this build would compute differently.
        if let mismatch = schedulerProtocolMismatch(in: reply.control.nodes) { throw mismatch }
        if let authenticator {
            let control = reply.control
            guard
                authenticator.verify(
                    table: control.nodes, nonce: me.nonce, session: control.session, encrypted: control.encrypted,
                    auth: control.auth)
            else {
                throw ClusterError.authenticationRefused(
                    "authentication refused: the scheduler's node table is not signed with this node's secret; check --secret-file on the scheduler"
                )
            }
            guard control.session.count == MessageAuthenticator.sessionNonceCount, let secret = config.secret else {
                throw ClusterError.protocolViolation(
                    "the scheduler's node table has no session nonce for message tags (is it an older SwiftPS?)")
            }
            guard control.encrypted || !config.encrypt else {
                throw ClusterError.authenticationRefused(
                    "this node wants its traffic encrypted (SWIFTPS_ENCRYPT=1) but the scheduler runs without encryption: set SWIFTPS_ENCRYPT=1 on the scheduler too"
                )
            }
            messageAuth = MessageAuthenticator(secret: secret, session: control.session, encrypts: control.encrypted)
            logger.info(
                control.encrypted
                    ? "data frames are encrypted (AES-256-GCM), as the scheduler asks"
                    : "data frames are not encrypted (the scheduler's choice; SWIFTPS_ENCRYPT=1 on it turns encryption on)"
            )
        }
        guard let mine = reply.control.nodes.first(where: { $0.hostname == me.hostname && $0.port == me.port }) else {
            throw ClusterError.protocolViolation("the scheduler's node table does not list this node at \(me.address)")
        }
        me.id = mine.id
        me.rank = mine.rank
        transport.setLocalID(mine.id)
        for node in reply.control.nodes { table[node.id] = node }
        // Reconnect to the scheduler under this node's identity (ps<id>): from now on the scheduler
        // accepts only messages whose connection proves their sender.
        do {
            try transport.connect(to: NodeID.scheduler, host: config.schedulerHost, port: config.schedulerPort)
        } catch {
            throw ClusterError.transport(
                "cannot reconnect to the scheduler at \(config.schedulerHost):\(config.schedulerPort): \(error)")
        }
        for node in reply.control.nodes where node.role != config.role && node.id != NodeID.scheduler {
            do {
                try transport.connect(to: node.id, host: node.hostname, port: Int(node.port))
            } catch {
                throw ClusterError.transport("cannot connect to \(node): \(error)")
            }
        }
        lastHeard[NodeID.scheduler] = clock.now()
        phase = .ready
    }
}
