import ArgumentParser
import SwiftPS

/// `swiftps scheduler`: the coordinator of a job (MXNet's `DMLC_ROLE=scheduler` process).
struct Scheduler: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the scheduler of a distributed job (rendezvous, barriers, heartbeats, epochs, checkpoints).",
        discussion: """
            The cluster comes from the flags or from MXNet's environment variables (DMLC_PS_ROOT_URI, \
            DMLC_PS_ROOT_PORT, DMLC_NUM_WORKER, DMLC_NUM_SERVER, SWIFTPS_*). Exits 0 when every node \
            has left cleanly, 1 with a message naming the node when one fails. At each epoch end it \
            combines the workers' metrics, logs them, writes the metrics file and, when worker 0 runs \
            with --model-prefix, the checkpoint: the scheduler writes every file (the servers' shards, \
            which they send it, the merged PREFIX-%04d.params and, last, PREFIX-%04d.manifest.json) and \
            reads them back for workers and servers on resume, so only its host needs to see the prefix; a \
            relative prefix (or worker metrics file) is relative to the scheduler's working directory.
            """)

    @OptionGroup var cluster: ClusterOptions

    @Option(
        help: """
            Append one JSON object per epoch (global train and validation metrics, samples/sec per \
            worker and in total, seconds) to this file (default: the workers' --metrics-out).
            """)
    var metricsOut: String?

    @Option(
        parsing: .unconditional,
        help: """
            Warn, naming it, about a worker this many seconds behind the others at an epoch end \
            (default: SWIFTPS_STRAGGLER_TIMEOUT, else 30).
            """)
    var stragglerTimeout: Double?

    func validate() throws {
        if let seconds = stragglerTimeout, !(seconds > 0) {
            throw ValidationError("--straggler-timeout \(seconds): give a positive number of seconds")
        }
    }

    func run() throws {
        try ClusterRoles.reportingErrors("scheduler") {
            try ClusterRoles.runScheduler(cluster, metricsOut: metricsOut, stragglerTimeout: stragglerTimeout)
        }
    }
}
