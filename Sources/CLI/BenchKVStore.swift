import ArgumentParser
import Foundation
import SwiftPS

/// `swiftps bench kvstore`: the dist_sync KVStore microbenchmark of anchors.md. Starts a scheduler,
/// servers and workers as child processes of this binary on 127.0.0.1; each worker initializes one key
/// per size, warms up, then times rounds of pushPull + wait on it. Prints one JSON object.
struct BenchKVStore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kvstore",
        abstract: "Round time and per-worker throughput of dist_sync pushPull of one key, as JSON.",
        discussion: """
            Per-worker throughput = (bytes pushed + bytes pulled) / median round time, counting float32 \
            bytes (with --gc-type 2bit the push travels as a sixteenth of them, with fp16 the push and \
            the answer as half: wire_bytes_per_round). \
            The cluster is 2 workers (--workers) and 1 server (--servers) on loopback, each a child \
            process; no optimizer runs on the server, so a round is merge + answer, as in anchors.md's \
            MXNet figures.
            """)

    @Option(help: "Comma-separated key sizes in float32 elements (4 KB, 4 MB, 64 MB by default).")
    var floats: String = "1024,1048576,16777216"

    @Option(help: "Timed rounds of pushPull per key size.")
    var rounds: Int = 50

    @Option(help: "Untimed rounds before the timed ones.")
    var warmup: Int = 5

    @Option(help: "Number of workers.")
    var workers: Int = 2

    @Option(help: "Number of servers.")
    var servers: Int = 1

    @Option(help: "Seconds the whole run may take before the children are killed.")
    var timeout: Double = 600

    @Option(help: "Gradient compression: none, 2bit (threshold 0.5) or fp16.")
    var gcType: String = "none"

    @Flag(help: .hidden)
    var worker = false

    @Option(help: .hidden)
    var resultFile: String?

    @OptionGroup(visibility: .hidden)
    var cluster: ClusterOptions

    func validate() throws {
        _ = try FlagCheck.positiveList("--floats", floats)
        guard rounds > 0, warmup >= 0, workers > 0, servers > 0 else {
            throw ValidationError("--rounds, --workers and --servers must be positive, --warmup not negative")
        }
        _ = try compression
    }

    /// `--gc-type` (checked by `validate`).
    var compression: GradientCompression {
        get throws { try FlagCheck.parsing("--gc-type", gcType) { try GradientCompression(kind: gcType) } }
    }

    /// `--floats` (checked by `validate`).
    var sizes: [Int] { (try? FlagCheck.positiveList("--floats", floats)) ?? [] }

    func run() throws {
        if worker {
            try ClusterRoles.reportingErrors("bench kvstore (worker)") { try runWorker() }
            return
        }
        let cluster = try BenchDistCluster(workers: workers, servers: servers)
        defer { cluster.killAll() }
        let resultPath = { (rank: Int) in cluster.directory.appendingPathComponent("result\(rank).json").path }
        try cluster.start { rank in
            [
                "bench", "kvstore", "--worker", "--result-file", resultPath(rank), "--floats", floats,
                "--rounds", "\(rounds)", "--warmup", "\(warmup)", "--gc-type", gcType,
            ]
        }
        try cluster.waitAll(timeout: timeout)
        let results = try (0..<workers).map { rank in
            try JSONDecoder().decode(
                KVBenchWorkerResult.self, from: Data(contentsOf: URL(fileURLWithPath: resultPath(rank))))
        }
        print(report(results, cluster: cluster).text)
    }

    /// One worker: joins, initializes a key per size, then warm-up and timed rounds of pushPull.
    private func runWorker() throws {
        guard let resultFile else { throw ValidationError("--worker needs --result-file") }
        let logger = LogSetup.logger("swiftps.bench.kvstore")
        let office = try ClusterRoles.join(as: .worker, cluster, logger: logger)
        var closed = false
        defer { if !closed { office.stop() } }
        let store = try DistKVStore(postOffice: office, type: .distSync, logger: logger)
        let compression = try self.compression
        try store.setGradientCompression(compression)
        var series: [KVBenchSeries] = []
        for count in sizes {
            let key = "bench_\(count)"
            let value = NDArray(shape: [count], repeating: Float(store.rank + 1))
            let out = NDArray(shape: [count])
            try store.initialize([key], values: [value])
            for _ in 0..<warmup {
                try store.pushPull(key, value, into: out)
                try store.wait(key)
            }
            var seconds: [Double] = []
            seconds.reserveCapacity(rounds)
            for _ in 0..<rounds {
                let start = MonotonicClock.now()
                try store.pushPull(key, value, into: out)
                try store.wait(key)
                seconds.append(MonotonicClock.now() - start)
            }
            // Without an optimizer the stored value is the sum of the workers' pushes: rank + 1 each
            // (exact in half precision too), or with 2bit the threshold each (every value reaches it).
            let expected =
                compression.keepsResiduals
                ? Float(store.numWorkers) * compression.threshold
                : Float(store.numWorkers * (store.numWorkers + 1) / 2)
            guard out[flat: 0] == expected, out[flat: count - 1] == expected else {
                throw BenchError.badResult("pulled \(out[flat: 0]) for key \(key), expected the sum \(expected)")
            }
            series.append(KVBenchSeries(floats: count, seconds: seconds))
        }
        try store.close()
        try office.finalize()
        closed = true
        let data = try JSONEncoder().encode(KVBenchWorkerResult(rank: store.rank, series: series))
        try data.write(to: URL(fileURLWithPath: resultFile))
    }

    /// A raw ZeroMQ request/reply of 4 KB measured now, over the transport the cluster used, so that
    /// the 4 KB round has its floor beside it; nil (with a note on standard error) if it fails.
    private func rawRoundTrip() -> JSONObject? {
        let ipc = LocalIPC.defaultDirectory(environment: ProcessInfo.processInfo.environment).flatMap {
            FileManager.default.fileExists(atPath: $0) ? $0 : nil  // the cluster's nodes made it
        }
        let endpoint =
            ipc.map { "ipc://\($0)/bench-ping-\(getpid())" }
            ?? PortProbe.freePortBelowEphemeralRange().map { "tcp://127.0.0.1:\($0)" }
        do {
            guard let endpoint else { throw BenchError.childFailed("no free port for the raw ZeroMQ round trip") }
            let times = try ZMQPingPong.measure(endpoint: endpoint, bytes: 4096, rounds: 2000).sorted()
            var raw = JSONObject()
            raw.set("transport", ipc == nil ? "tcp" : "ipc")
            raw.set("bytes", 4096)
            raw.set("rounds", times.count)
            raw.set("median_ms", median(times) * 1000)
            raw.set("p90_ms", times[times.count * 9 / 10] * 1000)
            return raw
        } catch {
            printError("swiftps bench kvstore: the raw ZeroMQ round trip was not measured: \(error)")
            return nil
        }
    }

    private func report(_ results: [KVBenchWorkerResult], cluster: BenchDistCluster) -> JSONObject {
        var out = JSONObject()
        out.set("benchmark", "kvstore")
        out.set("kvstore", "dist_sync")
        out.set("workers", workers)
        out.set("servers", servers)
        cluster.describeSetup(into: &out)
        out.set("gradient_compression", (try? compression)?.description ?? gcType)
        out.set("rounds", rounds)
        out.set("warmup_rounds", warmup)
        var entries: [JSONObject] = []
        for (i, count) in sizes.enumerated() {
            let bytes = count * MemoryLayout<Float>.stride
            let pooled = results.flatMap { $0.series[i].seconds }.sorted()
            let middle = median(pooled)
            var entry = JSONObject()
            entry.set("key_floats", count)
            entry.set("key_bytes", bytes)
            let kind = (try? compression)?.kind ?? .none
            let half = count * MemoryLayout<UInt16>.stride
            let pushed = kind == .twoBit ? GradientCompression.wordCount(count) * 4 : kind == .fp16 ? half : bytes
            entry.set("wire_bytes_per_round", pushed + (kind == .fp16 ? half : bytes))
            entry.set("median_round_ms", middle * 1000)
            entry.set("p90_round_ms", pooled[min(pooled.count - 1, pooled.count * 9 / 10)] * 1000)
            entry.set("best_round_ms", pooled[0] * 1000)
            entry.set("per_worker_gb_per_s", Double(2 * bytes) / middle / 1e9)
            entry.set(
                "per_worker",
                results.map { result in
                    let sorted = result.series[i].seconds.sorted()
                    var w = JSONObject()
                    w.set("rank", result.rank)
                    w.set("median_round_ms", median(sorted) * 1000)
                    w.set("gb_per_s", Double(2 * bytes) / median(sorted) / 1e9)
                    return w
                })
            if let reference = Self.reference[count] { entry.set("reference", reference) }
            entries.append(entry)
        }
        out.set("keys", entries)
        out.set("reference_zmq_round_trip_ms", 0.09)
        if let raw = rawRoundTrip() { out.set("zmq_round_trip", raw) }
        return out
    }

    /// anchors.md's MXNet 1.9.1 figures (dist_sync, 2 workers + 1 server) and the targets.
    static let reference: [Int: String] = [
        1024: "anchors.md: MXNet 1.9.1 4 KB round 0.55-0.59 ms; raw ZeroMQ round trip 0.09 ms; target < 0.15 ms",
        1_048_576: "anchors.md: MXNet 1.9.1 4 MB 0.89 GB/s per worker (9.3 ms round); target >= 1.8 GB/s",
        16_777_216: "anchors.md: MXNet 1.9.1 64 MB 0.42 GB/s per worker (310 ms round); target >= 0.84 GB/s",
    ]
}

/// One worker's timed rounds for one key size.
struct KVBenchSeries: Codable {
    var floats: Int
    var seconds: [Double]
}

/// What a benchmark worker hands back to the parent (through `--result-file`).
struct KVBenchWorkerResult: Codable {
    var rank: Int
    var series: [KVBenchSeries]
}
