import ArgumentParser
import Foundation
import SwiftPS

/// The flags of `swiftps bench train` for a distributed run (`--kv-store dist_sync`).
struct BenchDistTrainOptions: ParsableArguments {
    @Option(help: "The kvstore: local (this process), dist_sync or dist_async (a cluster of child processes).")
    var kvStore: String = "local"

    @Option(parsing: .unconditional, help: "Workers of a distributed run.")
    var workers: Int = 2

    @Option(parsing: .unconditional, help: "Servers of a distributed run.")
    var servers: Int = 1

    @Option(
        parsing: .unconditional, help: "Epochs of a distributed run, at least 2 (the first is left out of the median).")
    var epochs: Int = 4

    @Option(parsing: .unconditional, help: "Seconds a distributed run may take before its processes are killed.")
    var timeout: Double = 1200

    @Option(help: "Gradient compression of a distributed run: none, 2bit or fp16 (as swiftps train's --gc-type).")
    var gcType: String = "none"

    func validate() throws {
        guard KVStoreType(parsing: kvStore) != nil else {
            throw ValidationError("--kv-store '\(kvStore)': use local, dist_sync or dist_async")
        }
        _ = try FlagCheck.parsing("--gc-type", gcType) { try GradientCompression(kind: gcType) }
        guard isDistributed else {
            guard gcType == "none" else {
                throw ValidationError(
                    "--gc-type \(gcType) compresses a cluster's traffic: it needs --kv-store dist_sync or dist_async")
            }
            return
        }
        try FlagCheck.atLeast(1, "--workers", workers)
        try FlagCheck.atLeast(1, "--servers", servers)
        try FlagCheck.atLeast(2, "--epochs", epochs)
        try FlagCheck.number("--timeout", timeout, must: "a positive number of seconds") { $0 > 0 }
    }

    /// Whether these flags ask for a distributed run.
    var isDistributed: Bool { KVStoreType(parsing: kvStore)?.isDistributed == true }
}

/// `swiftps bench train --kv-store dist_sync`: trains with real `swiftps train` workers against
/// `swiftps server`s and a `swiftps scheduler`, all child processes on 127.0.0.1, and reports the
/// samples/sec of all workers (median of the epochs after the first, from the workers' metrics files)
/// and each process's peak resident memory (`VmHWM`, sampled while it runs).
struct BenchDistTrain {
    let options: BenchDistTrainOptions
    let network: String
    let batchSize: Int
    let dataDir: String

    func run() throws {
        let cluster = try BenchDistCluster(workers: options.workers, servers: options.servers)
        defer { cluster.killAll() }
        let metrics = { (rank: Int) in cluster.directory.appendingPathComponent("metrics\(rank).jsonl").path }
        let lr = network == "lenet" ? "0.01" : "0.1"
        try cluster.start { rank in
            [
                "train", "--kv-store", options.kvStore, "--network", network, "--batch-size", "\(batchSize)",
                "--num-epochs", "\(options.epochs)", "--lr", lr, "--data-dir", dataDir, "--metrics-out", metrics(rank),
                "--no-progress", "--disp-batches", "1000000", "--gc-type", options.gcType,
            ]
        }
        try cluster.waitAll(timeout: options.timeout)

        let epochs = try epochLines(metrics(0))
        let speeds = epochs.map(\.speed)
        guard speeds.count == options.epochs else {
            throw BenchError.badResult("worker 0 recorded \(speeds.count) epochs of \(options.epochs)")
        }
        let timed = speeds.dropFirst().sorted()
        let accuracies = (0..<options.workers).compactMap { rank -> Double? in
            let line = cluster.log("worker\(rank)").split(separator: "\n").first {
                $0.contains("final validation accuracy")
            }
            return line.flatMap { $0.split(separator: " ").compactMap { Double($0) }.first }
        }
        guard accuracies.count == options.workers else {
            throw BenchError.badResult(
                "\(options.workers - accuracies.count) worker(s) printed no final validation accuracy\n\(cluster.logs())"
            )
        }

        var out = JSONObject()
        out.set("benchmark", "train")
        out.set("network", network)
        out.set("kvstore", options.kvStore)
        out.set("workers", options.workers)
        out.set("servers", options.servers)
        out.set("gradient_compression", options.gcType)
        let onWorkers = !Module.updateOnKVStore(environment: ProcessInfo.processInfo.environment)
        out.set("optimizer_runs_on", onWorkers ? "workers (MXNET_UPDATE_ON_KVSTORE=0)" : "servers")
        cluster.describeSetup(into: &out)
        out.set("batch_size_per_worker", batchSize)
        out.set("epochs", options.epochs)
        out.set("samples_per_sec", median(timed))
        out.set("samples_per_sec_per_epoch", speeds.map { JSONObject(pairs: [("samples_per_sec", $0)]) })
        let waits = epochs.dropFirst().map(\.waitFraction).sorted()
        out.set("kvstore_wait_fraction", median(waits))
        out.set("test_accuracy", accuracies.reduce(0, +) / Double(accuracies.count))
        out.set(
            "worker_peak_rss_mb",
            (0..<options.workers).map { JSONObject(pairs: [("mb", cluster.peakMB("worker\($0)"))]) })
        out.set("max_worker_peak_rss_mb", (0..<options.workers).map { cluster.peakMB("worker\($0)") }.max() ?? 0)
        out.set("server_peak_rss_mb", (0..<options.servers).map { cluster.peakMB("server\($0)") }.max() ?? 0)
        out.set("scheduler_peak_rss_mb", cluster.peakMB("scheduler"))
        out.set("reference", reference)
        print(out.text)
    }

    private var reference: String {
        network == "lenet"
            ? "anchors.md: MXNet 1.9.1 lenet dist_sync 2 workers + 1 server ~5,100 samples/s, worker peak 909 MB"
            : "anchors.md: MXNet 1.9.1 mlp dist_sync 2 workers + 1 server ~44,500 samples/s, worker peak 810 MB, server 123 MB; targets >= 3x (133,500) and < 150 MB"
    }

    /// Each epoch line of a metrics file: `samples_per_sec` (all workers' samples) and the workers' mean
    /// share of the epoch spent waiting for the servers (`kvstore_wait_seconds_per_worker` / `seconds`).
    private func epochLines(_ path: String) throws -> [(speed: Double, waitFraction: Double)] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let speed = object["samples_per_sec"] as? Double, let seconds = object["seconds"] as? Double,
                let waits = object["kvstore_wait_seconds_per_worker"] as? [String: Double], !waits.isEmpty
            else { throw BenchError.badResult("no samples_per_sec, seconds or wait times in \(path): \(line)") }
            return (speed, waits.values.reduce(0, +) / Double(waits.count) / max(seconds, 1e-9))
        }
    }
}
