import ArgumentParser
import Foundation
import Logging
import SwiftPS

/// The scheduler's epoch ends (DESIGN.md, "Epochs and checkpoints"), and the checkpoint files it
/// serves to the nodes (RESUME_POINT from workers, CHECKPOINT_FETCH from servers, CHECKPOINT_READ
/// from both).
///
/// Every worker sends EPOCH_END (an `EpochReport`) at the end of each epoch and waits for the
/// answer. When all have reported, the scheduler combines their metric partials weighted by samples
/// (`Metrics.combine`), logs `Epoch[N] Train-…`/`Validation-…` for the whole job, runs the checkpoint
/// when worker 0 asked for one (`SchedulerCheckpoint`), appends the epoch's line to the metrics file,
/// then answers every worker with the global figures (`EpochSummary`), which releases them into the
/// next epoch. When the checkpoint or the metrics cannot be written, it ends the job instead
/// (`PostOffice.terminateJob`), naming the file.
///
/// A worker that reports more than `stragglerSeconds` after the first one is named in a warning
/// (once per epoch, while it is still missing); one missing `deadline` seconds after the first
/// report fails the epoch and ends the job (`PostOffice.terminateJob`), naming it, so every process
/// exits non-zero with that name.
final class EpochCoordinator: @unchecked Sendable {
    struct Settings {
        /// The metrics file; nil: each path the workers give with `--metrics-out`.
        var metricsOut: String?
        /// Seconds behind the first worker after which a worker is named in a warning.
        var stragglerSeconds: Double
        /// Seconds after the first report within which every worker must report.
        var deadline: Double
        /// The chunk in which checkpoint files are read from the nodes (`CheckpointTransfer.chunkBytes`).
        var chunkBytes = CheckpointTransfer.defaultChunkBytes
    }

    private struct Round {
        var reports: [Int: (report: EpochReport, request: Message, arrived: Double)] = [:]
        var firstArrival: Double
        var warned: Set<Int> = []
    }

    private let office: PostOffice
    private let settings: Settings
    private let logger: Logger
    private let condition = MonotonicCondition()
    private var rounds: [Int: Round] = [:]
    private var stopped = false
    private var watchdog: JoinableThread?
    /// The checkpoint files served to the nodes (used on the dispatch thread only).
    private let files: SchedulerCheckpointFiles

    init(office: PostOffice, settings: Settings, logger: Logger) {
        self.office = office
        self.settings = settings
        self.logger = logger
        files = SchedulerCheckpointFiles(chunkBytes: settings.chunkBytes, logger: logger)
    }

    /// Handles EPOCH_END from now on and starts the straggler watchdog.
    func start() {
        office.setAppHandler { [self] message in handle(message) }
        watchdog = JoinableThread(name: "epoch-watchdog") { [self] in watch() }
    }

    /// Stops the watchdog.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
        _ = watchdog?.join(timeout: 5)
    }

    private func handle(_ message: Message) {
        if message.request, [.resumePoint, .checkpointFetch, .checkpointRead].contains(message.control.cmd) {
            serveCheckpointFiles(message)
            return
        }
        guard message.control.cmd == .epochEnd, message.request else {
            logger.warning("scheduler ignored \(message.debugDescription) from \(NodeID.name(of: message.sender))")
            return
        }
        let report: EpochReport
        do {
            report = try EpochWire.decoder.decode(EpochReport.self, from: Data(message.body))
        } catch {
            answer(message, error: "EPOCH_END carries no valid report: \(error)")
            return
        }
        let rank = NodeID.rank(of: message.sender)
        condition.lock()
        var round = rounds[report.epoch] ?? Round(firstArrival: MonotonicClock.now())
        round.reports[rank] = (report, message, MonotonicClock.now())
        let complete = round.reports.count == office.numWorkers
        rounds[report.epoch] = complete ? nil : round
        condition.unlock()
        if complete { finish(epoch: report.epoch, round) }
    }

    /// Combines, logs, checkpoints, writes the metrics line and answers every worker of `round`.
    private func finish(epoch: Int, _ round: Round) {
        // The workers resumed (if they did) before they trained this epoch.
        files.dropJoined()
        let ranks = round.reports.keys.sorted()
        let reports = ranks.compactMap { round.reports[$0]?.report }
        let lateness = round.reports.mapValues { $0.arrived - round.firstArrival }
        for (rank, late) in lateness where late > settings.stragglerSeconds && !round.warned.contains(rank) {
            logger.warning(
                "\(office.description(of: NodeID.worker(rank))) reached the end of epoch \(epoch) \(String(format: "%.1f", late)) s after the first worker (straggler threshold \(settings.stragglerSeconds) s)"
            )
        }
        var summary = EpochSummary(epoch: epoch, train: [], validation: [], checkpoint: nil)
        do {
            let metric = try Metrics.create(reports[0].metricNames)
            let train = try metric.get(fromPartials: try Metrics.combine(reports.map { $0.train.map(\.partial) }))
            let validation = try metric.get(
                fromPartials: try Metrics.combine(reports.map { $0.validation.map(\.partial) }))
            summary.train = train.map { NamedValue(name: $0.name, value: $0.value) }
            summary.validation = validation.map { NamedValue(name: $0.name, value: $0.value) }
            let seconds = reports.map(\.seconds).max() ?? 0
            let samples = reports.map(\.samples).reduce(0, +)
            for (name, value) in train { logger.info("Epoch[\(epoch)] Train-\(name)=\(String(format: "%f", value))") }
            for (name, value) in validation {
                logger.info("Epoch[\(epoch)] Validation-\(name)=\(String(format: "%f", value))")
            }
            logger.info(
                "Epoch[\(epoch)] Time cost=\(String(format: "%.3f", seconds)) samples/sec=\(String(format: "%.1f", Double(samples) / max(seconds, 1e-9))) (\(ranks.count) worker\(ranks.count == 1 ? "" : "s")\(Self.waitShare(reports)))"
            )
            if let plan = reports.first(where: { $0.rank == 0 })?.checkpoint {
                // Each worker's compression residuals, which it offers when it has them.
                var residuals: [Int: CheckpointManifest.File] = [:]
                for report in reports { if let file = report.residuals { residuals[report.rank] = file } }
                summary.checkpoint = try SchedulerCheckpoint.run(
                    plan, residuals: residuals, office: office, chunkBytes: settings.chunkBytes, logger: logger)
            }
            // The scheduler's --metrics-out, else every path the workers named (usually one).
            let paths =
                settings.metricsOut.map { [$0] }
                ?? Array(Set(reports.compactMap { $0.metricsOut.map(ResumePoint.absolute) })).sorted()
            for path in paths { try writeMetrics(path, epoch: epoch, train, validation, reports, seconds: seconds) }
        } catch {
            // A checkpoint or metrics file that cannot be written ends the job (as MXNet's
            // do_checkpoint raising in fit does): every process exits now with this reason, which
            // names the file, rather than the waiting workers failing and being blamed for it.
            office.terminateJob("the end of epoch \(epoch) failed on the scheduler: \(error)")
            return
        }
        let body = (try? EpochWire.encoder.encode(summary)) ?? Data()
        for rank in ranks {
            guard let request = round.reports[rank]?.request else { continue }
            answer(request, body: body)
        }
    }

    /// Appends one JSON object: epoch, global train and validation metrics, the total and
    /// per-worker samples/sec, the slowest worker's training seconds, and each worker's seconds
    /// blocked waiting for the servers.
    private func writeMetrics(
        _ path: String, epoch: Int, _ train: [(name: String, value: Double)],
        _ validation: [(name: String, value: Double)], _ reports: [EpochReport], seconds: Double
    ) throws {
        var perWorker = JSONObject()
        var waits = JSONObject()
        for report in reports.sorted(by: { $0.rank < $1.rank }) {
            perWorker.set("worker \(report.rank)", Double(report.samples) / max(report.seconds, 1e-9))
            if let wait = report.waitSeconds { waits.set("worker \(report.rank)", wait) }
        }
        var line = JSONObject()
        line.set("epoch", epoch)
        line.set("train", JSONObject(pairs: train))
        line.set("validation", JSONObject(pairs: validation))
        line.set("samples_per_sec", Double(reports.map(\.samples).reduce(0, +)) / max(seconds, 1e-9))
        line.set("samples_per_sec_per_worker", perWorker)
        line.set("seconds", seconds)
        line.set("kvstore_wait_seconds_per_worker", waits)
        // A worker's path reaches the scheduler only now: its directory is made here, as a
        // one-process job makes it before training.
        try OutputPath.createParentDirectory(of: path)
        try AppendFile.appendLine(line.text, to: path)
    }

    /// ", N% waiting for the servers": the workers' mean share of their training time spent blocked
    /// on answers (empty when the workers did not say).
    static func waitShare(_ reports: [EpochReport]) -> String {
        let shares = reports.compactMap { report in report.waitSeconds.map { $0 / max(report.seconds, 1e-9) } }
        guard !shares.isEmpty else { return "" }
        let mean = shares.reduce(0, +) / Double(shares.count)
        return ", \(Int((100 * mean).rounded()))% of the time waiting for the servers"
    }

    /// Warns about workers missing `stragglerSeconds` after the first report of an epoch; fails
    /// the epoch for the waiting workers `deadline` seconds after it.
    private func watch() {
        condition.lock()
        defer { condition.unlock() }
        while !stopped {
            condition.wait(seconds: min(1, settings.stragglerSeconds / 4))
            let now = MonotonicClock.now()
            for (epoch, round) in rounds {
                let missing = (0..<office.numWorkers).filter { round.reports[$0] == nil }
                let waited = now - round.firstArrival
                if waited > settings.deadline {
                    rounds[epoch] = nil
                    let names = missing.map { office.description(of: NodeID.worker($0)) }.joined(separator: ", ")
                    let error =
                        "\(names) did not reach the end of epoch \(epoch) within \(settings.deadline) s of the first worker (SWIFTPS_BARRIER_TIMEOUT)"
                    // The job cannot go on without them: stop every process now, naming the late
                    // workers (the waiting ones would otherwise fail and be blamed). Their EPOCH_END
                    // requests fail with the TERMINATE; answering them first would let a waiting
                    // worker report the error as its own before the TERMINATE went out.
                    office.terminateJob(error)
                    continue
                }
                guard waited > settings.stragglerSeconds else { continue }
                for rank in missing where !round.warned.contains(rank) {
                    rounds[epoch]?.warned.insert(rank)
                    logger.warning(
                        "\(office.description(of: NodeID.worker(rank))) is more than \(settings.stragglerSeconds) s behind the other workers at the end of epoch \(epoch) (--straggler-timeout / SWIFTPS_STRAGGLER_TIMEOUT)"
                    )
                }
            }
        }
    }

    /// RESUME_POINT, CHECKPOINT_FETCH and CHECKPOINT_READ: the scheduler reads the checkpoint files
    /// for the nodes (`SchedulerCheckpointFiles`); a failure is the answer's error, and is logged here too.
    private func serveCheckpointFiles(_ request: Message) {
        var response: Message
        do {
            switch request.control.cmd {
            case .resumePoint: response = try files.resumePoint(request, numWorkers: office.numWorkers)
            case .checkpointFetch: response = try files.fetch(request)
            default: response = try files.read(request)
            }
        } catch {
            logger.error("\(request.control.cmd) from \(NodeID.name(of: request.sender)) failed: \(error)")
            response = Message(control: Control(cmd: request.control.cmd), error: "\(error)")
        }
        do {
            try office.respond(to: request, with: response)
        } catch {
            logger.error("cannot answer \(NodeID.name(of: request.sender))'s \(request.control.cmd): \(error)")
        }
    }

    private func answer(_ request: Message, body: Data = Data(), error: String = "") {
        let response = Message(body: [UInt8](body), control: Control(cmd: .epochEnd), error: error)
        do {
            try office.respond(to: request, with: response)
        } catch {
            logger.error("cannot answer \(NodeID.name(of: request.sender))'s EPOCH_END: \(error)")
        }
    }
}

extension EpochCoordinator {
    /// `SWIFTPS_STRAGGLER_TIMEOUT` in seconds (default 30); throws for a value that is not positive.
    static func stragglerFromEnvironment() throws -> Double {
        guard let text = ProcessInfo.processInfo.environment["SWIFTPS_STRAGGLER_TIMEOUT"] else { return 30 }
        guard let seconds = Double(text), seconds > 0, seconds.isFinite else {
            throw ValidationError("SWIFTPS_STRAGGLER_TIMEOUT='\(text)': give a positive number of seconds")
        }
        return seconds
    }
}
