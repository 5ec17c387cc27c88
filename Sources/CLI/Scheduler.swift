import ArgumentParser
import SwiftPS

/// `swiftps scheduler`: the coordinator of a job (MXNet's `DMLC_ROLE=scheduler` process).
struct Scheduler: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the scheduler of a distributed job (rendezvous, barriers, heartbeats).",
        discussion: """
            The cluster comes from the flags or from MXNet's environment variables (DMLC_PS_ROOT_URI, \
            DMLC_PS_ROOT_PORT, DMLC_NUM_WORKER, DMLC_NUM_SERVER, SWIFTPS_*). Exits 0 when every node \
            has left cleanly, 1 with a message naming the node when one fails.
            """)

    @OptionGroup var cluster: ClusterOptions

    func run() throws {
        try ClusterRoles.reportingErrors("scheduler") { try ClusterRoles.runScheduler(cluster) }
    }
}
