import ArgumentParser
import SwiftPS

/// `swiftps server`: a parameter server (MXNet's `DMLC_ROLE=server` process).
struct Server: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a parameter server: stores a shard of the weights and runs the optimizer on it.",
        discussion: """
            The cluster comes from the flags or from MXNet's environment variables (DMLC_PS_ROOT_URI, \
            DMLC_PS_ROOT_PORT, DMLC_NUM_WORKER, DMLC_NUM_SERVER, DMLC_NODE_HOST, DMLC_INTERFACE, \
            SWIFTPS_*). Serves until worker 0 ends the job; exits 1 with a message naming the node \
            when a node fails. A dist_sync step left waiting for a worker's push is logged after \
            SWIFTPS_STRAGGLER_TIMEOUT seconds (default 30) and failed, naming the worker, at 90% (and at least 2 s short) of \
            SWIFTPS_REQUEST_TIMEOUT.
            """)

    @OptionGroup var cluster: ClusterOptions

    @Option(
        help: """
            Record a timeline of this server's dist_sync rounds (first push to updated weights, with the sum and \
            update) in Chrome's trace format, written as FILE with .serverK before its extension when \
            the server stops (default: SWIFTPS_TIMELINE).
            """)
    var timeline: String?

    func run() throws {
        let path = TrainTimeline.requestedPath(flag: timeline)
        try ClusterRoles.reportingErrors("server") { try ClusterRoles.runServer(cluster, timeline: path) }
    }
}
