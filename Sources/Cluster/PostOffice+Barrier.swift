import SwiftPSTransport

extension PostOffice {
    /// Blocks until every node of `group` has called `barrier` with the same group, ps-lite's
    /// `Postoffice::Barrier`: each member sends BARRIER to the scheduler, which releases all members
    /// once all have arrived. Unlike ps-lite it has a deadline (default `barrierTimeout`), fails at once
    /// if the job is terminated, and the scheduler's timeout error names the members that never arrived.
    /// A group of at most one member returns at once.
    public func barrier(group: NodeGroup, timeout: Double? = nil) throws {
        let members = self.members(of: group)
        let seconds = timeout ?? config.barrierTimeout
        state.lock()
        defer { state.unlock() }
        if let terminalError { throw terminalError }
        guard phase == .ready else {
            throw ClusterError.notRunning("barrier needs a started cluster node (phase \(phase))")
        }
        guard members.contains(me.id) else {
            throw ClusterError.protocolViolation(
                "\(describe(me.id)) is not a member of the barrier group \(groupName(group))")
        }
        if members.count <= 1 { return }
        let generation = barrierReleases[group.rawValue, default: 0]
        if isScheduler {
            handleBarrierRequest(from: me.id, group: group.rawValue)
        } else {
            sendLocked(
                Message(control: Control(cmd: .barrier, barrierGroup: group.rawValue), request: true),
                to: NodeID.scheduler)
        }
        let released = clock.wait(on: state, until: clock.now() + seconds) {
            barrierReleases[group.rawValue, default: 0] > generation || terminalError != nil || phase == .stopped
        }
        if let terminalError { throw terminalError }
        if phase == .stopped {
            throw ClusterError.notRunning("stopped while waiting in a barrier over \(groupName(group))")
        }
        guard released else {
            let detail: String
            if isScheduler {
                let arrived = barrierArrived[group.rawValue] ?? []
                let missing = members.filter { !arrived.contains($0) }.map { describe($0) }
                detail =
                    "never reached it: \(missing.joined(separator: ", ")); are they stuck or slower than the deadline?"
            } else {
                detail = "the scheduler has not released it (its log names the nodes that never arrived)"
            }
            throw ClusterError.barrierTimeout(group: groupName(group), seconds: seconds, detail: detail)
        }
    }

    /// The scheduler's BARRIER handling (ps-lite's `ProcessBarrierCommand`), with `state` held.
    func handleBarrierRequest(from sender: Int32, group raw: Int32) {
        let group = NodeGroup(rawValue: raw)
        guard (1...NodeGroup.all.rawValue).contains(raw) else {
            logger.warning("dropped a BARRIER for unknown group \(raw) from \(describe(sender))")
            return
        }
        let members = self.members(of: group)
        guard members.contains(sender) else {
            logger.warning("dropped a BARRIER over \(groupName(group)) from non-member \(describe(sender))")
            return
        }
        var arrived = barrierArrived[raw] ?? []
        arrived.insert(sender)
        guard arrived.count == members.count else {
            barrierArrived[raw] = arrived
            return
        }
        barrierArrived[raw] = []
        for id in members where id != NodeID.scheduler {
            sendLocked(Message(control: Control(cmd: .barrier, barrierGroup: raw), request: false), to: id)
        }
        barrierReleases[raw, default: 0] += 1
        state.broadcast()
    }

    /// The barriers some members have reached and others not, naming those others, for the reason a
    /// job is stopped with ("; in the barrier over workers, worker 0 (id 9) at … never arrived");
    /// empty when none is open. Scheduler, under `state`.
    func openBarriers() -> String {
        barrierArrived.filter { !$0.value.isEmpty }.sorted { $0.key < $1.key }.compactMap { raw, arrived in
            let group = NodeGroup(rawValue: raw)
            let missing = members(of: group).filter { !arrived.contains($0) }.map { describe($0) }
            guard !missing.isEmpty else { return nil }
            return "; in the barrier over \(groupName(group)), \(missing.joined(separator: ", ")) never arrived"
        }.joined()
    }

    func groupName(_ group: NodeGroup) -> String {
        var names: [String] = []
        if group.contains(.scheduler) { names.append("scheduler") }
        if group.contains(.servers) { names.append("servers") }
        if group.contains(.workers) { names.append("workers") }
        return group == .all ? "all nodes" : names.joined(separator: "+")
    }
}
