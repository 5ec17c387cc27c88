import Foundation
import SwiftPSTransport

/// The scheduler's side of rendezvous (ps-lite's `ProcessAddNodeCommandAtScheduler`): registering
/// nodes, refusing those that do not fit the job, assigning ranks, and failing the rendezvous for
/// everyone when it cannot complete.
extension PostOffice {
    /// The scheduler's rendezvous: waits until every node registered (or the deadline), then assigns
    /// ranks and ids; a failed rendezvous is told to every node that arrived. Takes `state` itself.
    func rendezvousAsScheduler(deadline: Double) throws {
        state.lock()
        defer { state.unlock() }
        table[NodeID.scheduler] = me
        let complete = clock.wait(on: state, until: deadline) {
            arrivalsComplete || terminalError != nil || phase == .stopped
        }
        if let terminalError {
            // Nodes started with the refused one may still be on their way: tell them too, rather than
            // leave them to their own rendezvous deadline and a message blaming a missing scheduler.
            // Counted by role: an extra worker told does not stand in for a server still to come.
            let grace = min(deadline, clock.now() + Self.failureNoticeGrace)
            _ = clock.wait(on: state, until: grace) {
                (toldOfFailure[.server]?.count ?? 0) >= config.numServers
                    && (toldOfFailure[.worker]?.count ?? 0) >= config.numWorkers || phase == .stopped
            }
            throw terminalError
        }
        if phase == .stopped { throw ClusterError.notRunning("stopped during rendezvous") }
        guard complete else {
            let reason = missingDescription()
            failRendezvous(reason)
            throw ClusterError.rendezvousFailed(reason)
        }
        assignRanks()
        var connected: [Int32] = []
        for node in table.values where node.id != NodeID.scheduler {
            do {
                try transport.connect(to: node.id, host: node.hostname, port: Int(node.port))
                connected.append(node.id)
            } catch {
                // Every node that arrived hears why, naming the node, instead of waiting for a table.
                // The connections just made go first: the verdicts travel on connections of their own,
                // which a node's ZeroMQ would refuse beside one under the same identity (ps1).
                for id in connected { transport.disconnect(from: id, flushing: 0) }
                let reason =
                    "the scheduler cannot connect to \(node): \(error); give that node an address the scheduler's host can reach (DMLC_NODE_HOST or DMLC_INTERFACE)"
                failRendezvous(reason)
                throw ClusterError.rendezvousFailed(reason)
            }
        }
        let entries = table.values.sorted { $0.id < $1.id }
        let published = entries.map { entry -> NodeInfo in
            var entry = entry
            entry.auth = []
            entry.nonce = []
            entry.settings = [:]
            return entry
        }
        for node in entries where node.id != NodeID.scheduler {
            // `validate` lets `encrypt` be set only with a secret.
            var control = Control(
                cmd: .addNode, nodes: published, nonce: node.nonce, session: session, encrypted: config.encrypt)
            if let authenticator {
                control.auth = authenticator.sign(
                    table: published, nonce: node.nonce, session: session, encrypted: control.encrypted)
            }
            sendLocked(Message(control: control, request: false), to: node.id)
        }
        for node in published { table[node.id] = node }
        let now = clock.now()
        for id in table.keys { lastHeard[id] = now }
        phase = .ready
        logger.info("scheduler: all \(arrivals.count) nodes registered: \(published.map(\.description))")
    }

    private var arrivalsComplete: Bool {
        arrivals.filter { $0.role == .server }.count == config.numServers
            && arrivals.filter { $0.role == .worker }.count == config.numWorkers
    }

    private func missingDescription() -> String {
        let servers = arrivals.filter { $0.role == .server }.count
        let workers = arrivals.filter { $0.role == .worker }.count
        var missing: [String] = []
        if servers < config.numServers {
            missing.append("\(config.numServers - servers) of \(config.numServers) servers")
        }
        if workers < config.numWorkers {
            missing.append("\(config.numWorkers - workers) of \(config.numWorkers) workers")
        }
        let arrived = arrivals.isEmpty ? "none" : arrivals.map { "\($0.role) at \($0.address)" }.joined(separator: ", ")
        return
            "\(missing.joined(separator: " and ")) never registered with the scheduler at \(config.schedulerHost):\(config.schedulerPort) within \(formatSeconds(config.rendezvousTimeout)) s (arrived: \(arrived)); are they running? do they use this DMLC_PS_ROOT_URI/PORT? is a firewall blocking the port?"
    }

    /// Ranks each role by the nodes' rank hints when every node of the role gave a distinct one in
    /// 0..<n (a launcher's task index), else by (host, port); then assigns ps-lite ids.
    private func assignRanks() {
        for role in [NodeRole.server, .worker] {
            let nodes = arrivals.filter { $0.role == role }
            let hints = nodes.map { Int($0.rank) }
            let sorted =
                Set(hints) == Set(0..<nodes.count)
                ? nodes.sorted { $0.rank < $1.rank }
                : nodes.sorted { ($0.hostname, $0.port) < ($1.hostname, $1.port) }
            for (rank, var node) in sorted.enumerated() {
                node.rank = Int32(rank)
                node.id = role == .server ? NodeID.server(rank) : NodeID.worker(rank)
                table[node.id] = node
            }
        }
    }

    /// How long a refusal or rendezvous TERMINATE may take to leave once its connection is closed.
    static let verdictFlushSeconds = 2.0

    /// Sends `message` (a refusal or TERMINATE) to `node`, which has no id yet, over a connection made
    /// for it and closed at once; ZeroMQ goes on delivering it for `verdictFlushSeconds`. So refusals
    /// never pile up sockets, however many ADD_NODEs arrive. A host name is looked up only for a node
    /// `proven` (by the secret, when the job has one) during rendezvous: otherwise the node is told
    /// only at a numeric address, since the lookup runs on the receive thread, and a slow one there
    /// (a stranger's name, a stale process's) would hold up every heartbeat of a running job.
    private func tell(_ node: NodeInfo, _ message: Message, proven: Bool) {
        guard HostResolver.isNumeric(node.hostname) || (proven && phase == .rendezvous) else {
            logger.warning(
                "not telling \(node.role) at \(node.address) why: its host name is not looked up \(proven ? "while the job runs" : "for a node without the secret")"
            )
            return
        }
        let peer = temporaryPeer
        temporaryPeer = temporaryPeer == Int32.min ? -1 : temporaryPeer - 1
        do {
            try transport.connect(to: peer, host: node.hostname, port: Int(node.port))
        } catch {
            logger.warning("cannot reach \(node.role) at \(node.address) to tell it: \(error)")
            return
        }
        sendLocked(message, to: peer)
        transport.disconnect(from: peer, flushing: Self.verdictFlushSeconds)
    }

    /// The scheduler's ADD_NODE handling (ps-lite's `ProcessAddNodeCommandAtScheduler`), on the receive
    /// thread with `state` held.
    func handleAddNode(_ message: Message) {
        guard var node = message.control.nodes.first, node.role != .scheduler else {
            logger.warning("dropped an ADD_NODE without a worker or server entry: \(message.debugDescription)")
            return
        }
        // No answer can reach such a node, and no one could connect to it later.
        guard (1...65_535).contains(node.port), !node.hostname.isEmpty else {
            logger.warning(
                "dropped an ADD_NODE from a \(node.role) at '\(node.hostname)' port \(node.port): not an address it can be reached at"
            )
            return
        }
        // Whether the node proved the secret (every node does in a job without one). Only a proven
        // node can end the rendezvous for everyone or count as told of its failure.
        let proven = authenticator?.verify(request: node) ?? true
        // The rendezvous already failed (the scheduler is on its way out): say why at once.
        if phase == .rendezvous, case .rendezvousFailed(let reason)? = terminalError {
            tell(node, verdict(code: RefusalCode.terminate, reason: reason, to: node), proven: proven)
            if proven { toldOfFailure[node.role, default: []].insert(node.address) }
            state.broadcast()
            return
        }
        // Another job's node first: it may well hold another secret, and "another job" is the news.
        // (The scheduler's own job id stays in its log: a stranger must not learn it from the answer.)
        if node.job != config.jobID {
            logger.warning(
                "refused \(node.role) at \(node.address): it belongs to job '\(node.job)', this scheduler to job '\(config.jobID)'"
            )
            refuse(
                node, code: .otherJob,
                "the scheduler at \(config.schedulerHost):\(config.schedulerPort) runs another job (this node's is '\(node.job)'): two jobs were given one scheduler port (DMLC_PS_ROOT_PORT), or a process of an old job is still running",
                proven: proven)
            return
        }
        // Before the secret's verdict: a build that reads messages differently may not even sign
        // alike. Only a proven node fails the rendezvous for all; an unproven one is refused alone.
        if node.protocolVersion != me.protocolVersion {
            refuseProtocol(node, proven: proven)
            return
        }
        if !proven {
            logger.error("refused \(node.role) at \(node.address): its HMAC does not match this cluster's secret")
            refuse(
                node, code: .authentication, "authentication refused by the scheduler: check --secret-file",
                proven: false)
            return
        }
        if authenticator == nil && !node.auth.isEmpty {
            logger.error("refused \(node.role) at \(node.address): it has a secret but the scheduler has none")
            refuse(
                node, code: .authentication,
                "authentication refused by the scheduler: it runs without a secret; check --secret-file on both",
                proven: true)
            return
        }
        if let index = arrivals.firstIndex(where: { $0.hostname == node.hostname && $0.port == node.port }) {
            // The same request again: its answer is on its way, or comes with the table.
            if arrivals[index].nonce == node.nonce { return }
            // Another process at the address of one that registered: that one is gone (the address
            // is this one's now), e.g. restarted within a narrow SWIFTPS_PORT_RANGE. Ignored, it would
            // wait for a table that never comes and blame the network.
            guard phase == .rendezvous else {
                logger.error("refused \(node.role) at \(node.address): a node at that address already joined the job")
                refuse(
                    node, code: .clusterFull,
                    "a node at \(node.address) already joined this job, which is running: a restarted process cannot rejoin it; restart the whole job"
                )
                return
            }
            logger.warning(
                "scheduler: \(node.role) at \(node.address) registered again from a new process: it takes the place of the earlier one"
            )
            arrivals.remove(at: index)
        }
        if node.numWorkers != config.numWorkers || node.numServers != config.numServers {
            refuseClusterSize(node)
            return
        }
        let expected = node.role == .server ? config.numServers : config.numWorkers
        if phase != .rendezvous || arrivals.filter({ $0.role == node.role }).count >= expected {
            logger.error("refused \(node.role) at \(node.address): the cluster already has \(expected) \(node.role)s")
            refuse(
                node, code: .clusterFull,
                "the cluster already has its \(expected) \(node.role)s: check DMLC_NUM_SERVER / DMLC_NUM_WORKER and stale processes"
            )
            return
        }
        if let theirs = node.settings[Self.heartbeatSetting], theirs != Self.describeHeartbeats(config) {
            refuseHeartbeats(node, theirs)
            return
        }
        // Checked: from here on a node's settings are what its trainer declared.
        node.settings[Self.heartbeatSetting] = nil
        if node.role == .worker, !node.settings.isEmpty,
            let earlier = arrivals.first(where: { $0.role == .worker && !$0.settings.isEmpty }),
            ClusterConfig.compared(earlier.settings) != ClusterConfig.compared(node.settings)
        {
            refuseSettings(node, unlike: earlier)
            return
        }
        arrivals.append(node)
        logger.info(
            "scheduler: \(node.role) at \(node.address) registered (\(arrivals.count) of \(config.numServers + config.numWorkers))"
        )
        state.broadcast()
    }

    /// Seconds a scheduler whose rendezvous failed at once stays to tell nodes that arrive late why
    /// (at most until the rendezvous deadline, and only until every node of the job was told).
    static let failureNoticeGrace = 10.0

    /// Refuses `node`, started for another cluster size than this scheduler's. During rendezvous the
    /// job cannot start as configured, so it fails at once for every node that arrived (TERMINATE
    /// naming the node and both sizes) instead of at the rendezvous deadline; a job already running
    /// goes on without it.
    private func refuseClusterSize(_ node: NodeInfo) {
        let theirs = Self.clusterSize(workers: Int(node.numWorkers), servers: Int(node.numServers))
        let mine = Self.clusterSize(workers: config.numWorkers, servers: config.numServers)
        let scheduler = "the scheduler at \(config.schedulerHost):\(config.schedulerPort)"
        let fix = "give every process the same DMLC_NUM_WORKER and DMLC_NUM_SERVER (--num-workers, --num-servers)"
        logger.error(
            "refused \(node.role) at \(node.address): it was started for \(theirs), this scheduler for \(mine)")
        refuse(
            node, code: .clusterSize, "\(scheduler) runs a job of \(mine), this node was started for \(theirs): \(fix)")
        failRendezvous(
            "\(node.role) at \(node.address) was started for \(theirs), \(scheduler) for \(mine): \(fix)", refused: node
        )
    }

    /// Refuses `node`, which speaks another wire protocol (another SwiftPS build); during rendezvous
    /// the job fails at once for every node, as for a cluster size, when the node is `proven`.
    private func refuseProtocol(_ node: NodeInfo, proven: Bool) {
        let theirs = Self.describeProtocol(node.protocolVersion)
        let mine = Self.describeProtocol(me.protocolVersion)
        let scheduler = "the scheduler at \(config.schedulerHost):\(config.schedulerPort)"
        logger.error(
            "refused \(node.role) at \(node.address): it speaks wire protocol \(theirs), this scheduler \(mine)")
        refuse(
            node, code: .wireProtocol,
            "\(scheduler) speaks SwiftPS wire protocol \(mine), this node \(theirs): \(Self.sameBuildFix)",
            proven: proven)
        guard proven else { return }
        failRendezvous(
            "\(node.role) at \(node.address) speaks SwiftPS wire protocol \(theirs), \(scheduler) \(mine): \(Self.sameBuildFix)",
            refused: node)
    }

    /// `1`, or `0 (a build from before wire protocol numbers)`.
    static func describeProtocol(_ version: Int32) -> String {
        version == 0 ? "0 (a build from before wire protocol numbers)" : "\(version)"
    }

    /// What to do about nodes of different builds.
    static let sameBuildFix = "run the same swiftps build on every host (compare `swiftps --version`)"

    /// Refuses `node`, which times heartbeats otherwise than this scheduler (`theirs`); during
    /// rendezvous the job fails at once for every node, as for a cluster size: this scheduler would
    /// declare the node dead while alive (or miss it dying).
    private func refuseHeartbeats(_ node: NodeInfo, _ theirs: String) {
        let mine = Self.describeHeartbeats(config)
        let fix =
            "give every process the same SWIFTPS_HEARTBEAT_INTERVAL and SWIFTPS_HEARTBEAT_TIMEOUT (--heartbeat-interval, --heartbeat-timeout)"
        logger.error("refused \(node.role) at \(node.address): its heartbeats are \(theirs), this scheduler's \(mine)")
        refuse(node, code: .settings, "this node's heartbeats are \(theirs), the scheduler's \(mine): \(fix)")
        failRendezvous(
            "\(node.role) at \(node.address) times heartbeats \(theirs), the scheduler \(mine): \(fix)", refused: node)
    }

    /// Refuses worker `node`, whose shared settings differ from those of `earlier`, a worker already
    /// registered; during rendezvous the job fails at once for every node, as for a cluster size.
    private func refuseSettings(_ node: NodeInfo, unlike earlier: NodeInfo) {
        let (nodeSettings, earlierSettings) = (
            ClusterConfig.compared(node.settings), ClusterConfig.compared(earlier.settings)
        )
        let differing = Set(nodeSettings.keys).union(earlierSettings.keys).sorted().compactMap { name in
            let (theirs, ours) = (nodeSettings[name], earlierSettings[name])
            return theirs == ours ? nil : (name, theirs ?? "(not given)", ours ?? "(not given)")
        }
        let fix =
            "give every worker the same settings (in dist_sync, workers that train different numbers of steps wait for each other)"
        let here = differing.map { "\($0) \($1) here, \($2) there" }.joined(separator: "; ")
        let both = differing.map { "\($0) \($1) against \($2)" }.joined(separator: "; ")
        logger.error("refused worker at \(node.address): its settings differ from the worker at \(earlier.address)'s")
        refuse(node, code: .settings, "this worker differs from the worker at \(earlier.address): \(here): \(fix)")
        failRendezvous(
            "the worker at \(node.address) differs from the worker at \(earlier.address): \(both): \(fix)",
            refused: node)
    }

    /// During rendezvous, ends it for every node that arrived (a signed TERMINATE giving `reason`)
    /// and for this scheduler; a job already running goes on. `node`, refused, was told already.
    private func failRendezvous(_ reason: String, refused node: NodeInfo? = nil) {
        guard phase == .rendezvous else { return }
        for arrived in arrivals {
            tell(arrived, verdict(code: RefusalCode.terminate, reason: reason, to: arrived), proven: true)
        }
        toldOfFailure = [:]
        for told in arrivals + [node].compactMap({ $0 }) { toldOfFailure[told.role, default: []].insert(told.address) }
        terminalError = .rendezvousFailed(reason)
        state.broadcast()
    }

    /// `2 workers and 1 server`.
    static func clusterSize(workers: Int, servers: Int) -> String {
        "\(workers) worker\(workers == 1 ? "" : "s") and \(servers) server\(servers == 1 ? "" : "s")"
    }

    /// Refuses `node` (`proven`: see `tell`).
    private func refuse(_ node: NodeInfo, code: RefusalCode, _ reason: String, proven: Bool = true) {
        tell(node, verdict(code: code.rawValue, reason: reason, to: node), proven: proven)
    }

    /// What the scheduler tells `node`, which has no session key yet: a refusal of its ADD_NODE (`code`
    /// a `RefusalCode`) or, with `code` `RefusalCode.terminate`, a TERMINATE. Either carries the node's ADD_NODE nonce and,
    /// with a secret, an HMAC over (code, reason, nonce), so a process that never saw the request or
    /// lacks the secret cannot stop a node while it waits for its table.
    private func verdict(code: Int32, reason: String, to node: NodeInfo) -> Message {
        var control = Control(cmd: code == RefusalCode.terminate ? .terminate : .addNode, nonce: node.nonce)
        control.auth = authenticator?.sign(verdict: code, reason: reason, nonce: node.nonce) ?? []
        return Message(head: code, control: control, request: false, error: reason)
    }
}
