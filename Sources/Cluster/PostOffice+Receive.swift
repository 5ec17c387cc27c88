import SwiftPSTransport

extension PostOffice {
    /// Entry point for every received message (the transport's receive thread), ps-lite's
    /// `Van::Receiving`: control commands are handled here, application messages go to the dispatch
    /// thread (or to an `onReceiveThread` handler, called here once `state` is released), and
    /// responses to `request` wake their caller.
    ///
    /// With a secret, a message from another node must carry a valid tag (`MessageAuthenticator`),
    /// checked here before `state` is taken (its data frames decrypted when the job encrypts them),
    /// and a counter not seen before from its sender.
    func receive(_ received: Message, onReceiveThread: Bool = true, local: Bool = false) {
        let tagged = !local && authenticator != nil
        var message = received
        // Whether it passed untagged: decided once, so that a phase change before `route` cannot
        // turn an untagged message into one taken as checked.
        var untagged = false
        if tagged {
            guard let (opened, exempt) = openTagged(received) else { return }
            message = opened
            untagged = exempt
            // Its tag, keyed with this job's secret, covers the sender it names.
            if !exempt { message.senderVerified = true }
        }
        state.lock()
        let inline = route(message, onReceiveThread: onReceiveThread, tagged: tagged, untagged: untagged)
        state.unlock()
        guard let inline else { return }
        inline(message)
        state.lock()
        inlineActive = false
        if !appQueue.isEmpty { state.broadcast() }  // the dispatch thread waits for `inlineActive`
        state.unlock()
    }

    /// Handles `message` under `state`; returns the app handler to call on this thread, if any.
    private func route(_ message: Message, onReceiveThread: Bool, tagged: Bool, untagged: Bool)
        -> (@Sendable (Message) -> Void)?
    {
        guard phase != .stopped, phase != .idle else { return nil }
        guard accepts(message) else { return nil }
        if tagged && untagged && !isExemptFromTags(message) {
            tagDrops.drop(
                "\(message.debugDescription) from \(NodeID.name(of: message.sender)): it came untagged while this node was in rendezvous, which has ended",
                logger: logger)
            return nil
        }
        if tagged && !untagged
            && !replayWindows[message.sender, default: ReplayWindow()].accept(message.seq)
        {
            tagDrops.drop(
                "\(message.debugDescription) from \(NodeID.name(of: message.sender)) repeats message counter \(message.seq): a replay",
                logger: logger)
            return nil
        }
        // An ADD_NODE request is the one message a stranger may send after rendezvous (to be refused):
        // the sender it claims must not look alive because of it.
        if message.sender != NodeID.unassigned && !(message.control.cmd == .addNode && message.request) {
            lastHeard[message.sender] = clock.now()
        }
        switch message.control.cmd {
        case .addNode:
            if isScheduler && message.request {
                handleAddNode(message)
            } else if !isScheduler && !message.request && phase == .rendezvous {
                guard isGenuineVerdict(message) else {
                    dropForgedVerdict(message)
                    return nil
                }
                tableReply = message
                state.broadcast()
            }
        case .barrier:
            if isScheduler && message.request {
                handleBarrierRequest(from: message.sender, group: message.control.barrierGroup)
            } else if !message.request {
                barrierReleases[message.control.barrierGroup, default: 0] += 1
                state.broadcast()
            }
        case .heartbeat:
            if isScheduler && message.request {
                sendLocked(Message(control: Control(cmd: .heartbeat), request: false), to: message.sender)
            }
        case .terminate:
            if phase == .rendezvous {
                guard isGenuineVerdict(message) else {
                    dropForgedVerdict(message)
                    return nil
                }
                terminate(.rendezvousFailed(message.error))
            } else if isScheduler && message.request {
                handleAbort(message)
            } else {
                terminate(.terminated(message.error))
            }
        case .nodeFailed:
            // Before this node has its table, no NODE_FAILED can be checked: with a secret it has no
            // session key for the tag yet (so the tag check drops it), and without one it would stop
            // on a stranger's word. The start barrier then fails on its own deadline.
            guard phase != .rendezvous else {
                tagDrops.drop(
                    "\(message.debugDescription) during rendezvous: it cannot be checked before this node has its table",
                    logger: logger)
                return nil
            }
            terminate(.nodeFailed(message.error), dead: message.control.nodes.map(\.id))
        default:
            let key = PendingKey(peer: message.sender, timestamp: message.timestamp)
            if !message.request, let slot = pending[key], slot == nil {
                pending[key] = .some(message)
                state.broadcast()
            } else if onReceiveThread, appHandlerInline, let appHandler, appQueue.isEmpty, !dispatching {
                // Nothing older is waiting for the dispatch thread, so order is kept; `inlineActive`
                // keeps the dispatch thread from running the handler at the same time.
                inlineActive = true
                return appHandler
            } else {
                appQueue.append(message)
                state.broadcast()
            }
        }
        return nil
    }

    /// Logs and counts a rendezvous answer or TERMINATE that does not answer this node's request.
    private func dropForgedVerdict(_ message: Message) {
        tagDrops.drop(
            "\(message.debugDescription) during rendezvous: it does not carry this node's ADD_NODE nonce\(authenticator == nil ? "" : " and a valid HMAC") (not from this job's scheduler)",
            logger: logger)
    }

    /// Whether `message` may arrive without a tag (under `state`).
    private func isExemptFromTags(_ message: Message) -> Bool {
        MessageAuthenticator.isExempt(
            message, receiverInRendezvous: phase == .rendezvous, receiverIsScheduler: isScheduler)
    }

    /// `message` with its tag checked with this job's key (and its data frames decrypted when the job
    /// encrypts them), and false; an exempt message as it is, and true; or nil with the refusal logged.
    private func openTagged(_ message: Message) -> (Message, exempt: Bool)? {
        state.lock()
        let exempt = isExemptFromTags(message)
        let messageAuth = self.messageAuth
        let myID = me.id
        state.unlock()
        if exempt { return (message, true) }
        let reason: String
        if let messageAuth {
            if let opened = messageAuth.open(message, recipient: myID) { return (opened, false) }
            reason = message.tag.isEmpty ? "it has no tag" : "its tag does not verify"
        } else {
            reason = "this node has no session key yet"
        }
        tagDrops.drop(
            "\(message.debugDescription) claiming to be from \(NodeID.name(of: message.sender)): \(reason) (a process without this job's secret, or a stale one)",
            logger: logger)
        return nil
    }

    /// Drops messages from unknown senders: before the table exists only the scheduler may talk to a
    /// node and only ADD_NODE may reach the scheduler; afterwards every sender must be in the table.
    private func accepts(_ message: Message) -> Bool {
        let sender = message.sender
        let allowed: Bool
        if phase == .rendezvous {
            allowed = isScheduler ? message.control.cmd == .addNode && message.request : sender == NodeID.scheduler
        } else if isScheduler && message.control.cmd == .addNode && message.request {
            allowed = true  // a late or refused joiner: handled (and refused) by the rendezvous code
        } else {
            // After rendezvous a sender must be a member and proven by its connection (its ZeroMQ
            // routing identity), not only claimed in the meta: a stranger cannot speak for a node.
            allowed = table[sender] != nil && message.senderVerified
        }
        if !allowed {
            logger.warning(
                "dropped \(message.debugDescription) from \(message.senderVerified ? "unknown" : "unproven") sender \(sender)"
            )
        }
        return allowed
    }
}
