import SwiftPSTransport

extension PostOffice {
    /// The heartbeat thread, ps-lite's `Van::Heartbeat` + `GetDeadNodes`, but acting on what it finds:
    /// workers and servers send HEARTBEAT to the scheduler every `heartbeatInterval` and terminate
    /// themselves when the scheduler has been silent for `heartbeatTimeout`; the scheduler answers each
    /// heartbeat and, when a node has been silent for `heartbeatTimeout`, tells everyone (NODE_FAILED
    /// naming the node's role, rank, id and address) and terminates.
    ///
    /// Between ticks it sleeps on `heartbeatWake`, not on `state`, which is signalled for every
    /// received message: sharing it cost two needless thread switches per message.
    func heartbeatLoop() {
        var next = clock.now()
        while true {
            heartbeatWake.lock()
            _ = clock.wait(on: heartbeatWake, until: next) { heartbeatStop }
            heartbeatWake.unlock()
            state.lock()
            defer { state.unlock() }
            guard phase == .ready, terminalError == nil else { return }
            let now = clock.now()
            guard now >= next else { continue }
            next = now + config.heartbeatInterval
            defer { heartbeatTick = now }
            noteOwnStall(now: now)
            if isScheduler {
                checkNodes(now: now)
            } else {
                sendLocked(Message(control: Control(cmd: .heartbeat, nodes: [me]), request: true), to: NodeID.scheduler)
                let heard = lastHeard[NodeID.scheduler] ?? now
                // Nodes give the scheduler longer than it gives them (one and a half timeouts plus an
                // interval): when a node dies, the scheduler's NODE_FAILED, which names it, must
                // arrive before anyone gives up on the scheduler itself.
                let schedulerTimeout = config.heartbeatTimeout * 1.5 + config.heartbeatInterval
                if now - heard > schedulerTimeout {
                    let scheduler = table[NodeID.scheduler].map(\.description) ?? "the scheduler"
                    terminate(
                        .schedulerLost(
                            "lost contact with \(scheduler): nothing heard for \(formatSeconds(now - heard)) s (timeout \(formatSeconds(schedulerTimeout)) s); is it still running?\(ownStallNote(now: now))"
                        ), dead: [NodeID.scheduler])
                }
            }
        }
    }

    private func checkNodes(now: Double) {
        let silent = table.values.filter { node in
            node.id != NodeID.scheduler && now - (lastHeard[node.id] ?? now) > config.heartbeatTimeout
        }.sorted { $0.id < $1.id }
        guard !silent.isEmpty else { return }
        let names = silent.map { node in
            "\(node.role) \(node.rank) (id \(node.id)) at \(node.address), silent for \(formatSeconds(now - (lastHeard[node.id] ?? now))) s"
        }
        let reason =
            "\(names.joined(separator: "; ")): no heartbeat within \(formatSeconds(config.heartbeatTimeout)) s; did the process crash or hang? check its log\(ownStallNote(now: now))"
        for node in table.values where node.id != NodeID.scheduler && !silent.contains(node) {
            sendLocked(Message(control: Control(cmd: .nodeFailed, nodes: silent), error: reason), to: node.id)
        }
        terminate(.nodeFailed(reason), dead: silent.map(\.id))
    }

    /// Notices that this process itself did not run (the tick comes more than two intervals late:
    /// SIGSTOP, a suspended VM, a starved CPU). What it did not hear meanwhile says nothing about the
    /// other nodes, so each gets a full timeout from now to be heard again, rather than being declared
    /// dead for this process's own pause; and the pause is recorded for the messages that follow.
    private func noteOwnStall(now: Double) {
        let late = now - heartbeatTick
        guard heartbeatTick.isFinite, late > 2 * config.heartbeatInterval + 1 else { return }
        ownStall = (now, late)
        for id in lastHeard.keys { lastHeard[id] = max(lastHeard[id] ?? now, now) }
        logger.warning(
            "\(describe(me.id)) itself did not run for \(formatSeconds(late.rounded())) s (stopped with SIGSTOP, suspended, or starved of CPU): the other nodes get \(formatSeconds(config.heartbeatTimeout)) s from now to be heard again"
        )
    }

    /// For a message that gives up on other nodes: this process's own pause, if one ended within the
    /// last two heartbeat timeouts (the others may have given up on it meanwhile).
    private func ownStallNote(now: Double) -> String {
        guard let stall = ownStall, now - stall.end <= 2 * config.heartbeatTimeout + config.heartbeatInterval
        else { return "" }
        return
            " (this \(config.role) itself did not run for \(formatSeconds(stall.seconds.rounded())) s until \(formatSeconds((now - stall.end).rounded())) s ago: stopped, suspended or starved; the other nodes have likely given up on it)"
    }
}
