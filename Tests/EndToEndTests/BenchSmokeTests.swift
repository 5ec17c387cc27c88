import Foundation
import SwiftPSTensor
import Testing

/// The benchmarks a user runs (`swiftps bench …`, `scripts/bench`), kept small: each prints one JSON
/// object with the fields the README's Speed section reads, and its figures are measurements (positive,
/// finite), not placeholders. Speed itself is never asserted.
@Suite(.serialized, .enabled(if: CLIRunner.available, "no release swiftps binary: run scripts/test"))
struct BenchSmokeTests {
    /// Runs `swiftps bench args…` and returns its JSON object.
    private func bench(_ args: [String], env: [String: String] = [:]) throws -> [String: Any] {
        let run = try CLIRunner.run(["bench"] + args, timeout: 300, env: env)
        try #require(
            run.status == 0, "swiftps bench \(args.joined(separator: " ")) exited \(run.status): \(run.stderr)")
        let object = try JSONSerialization.jsonObject(with: run.stdout) as? [String: Any]
        return try #require(object, "not a JSON object: \(run.text)")
    }

    private func expectMeasured(_ value: Any?, _ what: String) {
        let number = (value as? NSNumber)?.doubleValue ?? -1
        #expect(number > 0 && number.isFinite, "\(what) is \(String(describing: value))")
    }

    /// dist_sync pushPull through a real cluster of child processes, with the raw ZeroMQ round trip of
    /// the same run beside it; 2-bit compression sends a sixteenth of the push, fp16 half of each way.
    @Test func kvstoreReportsRoundsBesideTheRawZeroMQRoundTrip() throws {
        let plain = try bench(["kvstore", "--floats", "1024,65536", "--rounds", "20", "--warmup", "2"])
        #expect(plain["benchmark"] as? String == "kvstore")
        let keys = try #require(plain["keys"] as? [[String: Any]])
        #expect(keys.map { $0["key_floats"] as? Int } == [1024, 65536])
        for key in keys {
            expectMeasured(key["median_round_ms"], "median_round_ms")
            expectMeasured(key["per_worker_gb_per_s"], "per_worker_gb_per_s")
            #expect((key["per_worker"] as? [Any])?.count == 2)
        }
        let raw = try #require(plain["zmq_round_trip"] as? [String: Any], "\(plain)")
        #expect(raw["transport"] as? String == plain["same_host_transport"] as? String)
        #expect(raw["rounds"] as? Int == 2000)
        expectMeasured(raw["median_ms"], "zmq_round_trip.median_ms")
        // Its children divide the CPUs as a local `swiftps launch` job's do, and the JSON says how.
        if ProcessInfo.processInfo.environment["SWIFTPS_CPU_BIND"] == nil {
            #expect(plain["cpu_bind"] as? String == "cores", "\(plain)")
            let allowed = try #require(CPUAffinity.allowed())
            let nodes = try #require(plain["node_cpus"] as? [String: String], "\(plain)")
            func share(_ slot: CPUPlacement.Slot) -> String {
                let cpus = CPUPlacement.cpus(for: slot, allowed: allowed, workers: 2, servers: 1)
                return CPUAffinity.isNarrowed() ? "unbound" : cpus.map(CPUAffinity.listText) ?? "unbound"
            }
            // The children are named in the order they start; ranks come from the order they join.
            let workers = [nodes["worker0"], nodes["worker1"]].compactMap { $0 }.sorted()
            #expect(workers == [share(.worker(0)), share(.worker(1))].sorted(), "\(nodes)")
            #expect(nodes["server0"] == share(.server(0)), "\(nodes)")
        }

        let compressed = try bench(
            ["kvstore", "--floats", "65536", "--rounds", "10", "--gc-type", "2bit"], env: ["SWIFTPS_CPU_BIND": "none"])
        #expect(compressed["cpu_bind"] as? String == "none", "\(compressed)")
        #expect(
            (compressed["node_cpus"] as? [String: String])?.values.allSatisfy { $0 == "unbound" } == true,
            "\(compressed)")
        let key = try #require((compressed["keys"] as? [[String: Any]])?.first)
        #expect(key["wire_bytes_per_round"] as? Int == 65536 * 4 + 65536 / 16 * 4)
        // fp16: half the bytes both ways (and the sums still check out: the bench verifies them).
        let half = try bench(["kvstore", "--floats", "65536", "--rounds", "10", "--gc-type", "fp16"])
        #expect(half["gradient_compression"] as? String == "fp16")
        let halfKey = try #require((half["keys"] as? [[String: Any]])?.first)
        #expect(halfKey["wire_bytes_per_round"] as? Int == 65536 * 2 + 65536 * 2)
        expectMeasured(halfKey["median_round_ms"], "median_round_ms")
    }

    /// One-process training and the kernels: samples per second and the process's peak memory.
    @Test func trainAndGemmReportSpeedAndMemory() throws {
        let train = try bench(["train", "--network", "mlp", "--batches", "50"], env: ["OPENBLAS_CORETYPE": "Haswell"])
        expectMeasured(train["samples_per_sec"], "samples_per_sec")
        expectMeasured(train["peak_rss_mb"], "peak_rss_mb")
        // The kernels OpenBLAS runs, and the variable that chose them, are part of the record.
        #expect(train["openblas_coretype"] as? String == "Haswell", "\(train)")
        #expect(train["blas_core"] as? String == "Haswell", "\(train)")
        let gemm = try bench(["gemm", "--repeats", "2", "--steps", "mlp"])
        #expect(gemm["benchmark"] as? String == "gemm", "\(gemm)")
        let single = try bench(["layers", "--repeats", "1", "--only", "depthwise_3x3,lenet_conv1,max_pool_3x3_stride2"])
        let layers = single["layers"] as? [[String: Any]] ?? []
        #expect(
            layers.map { $0["layer"] as? String } == ["lenet_conv1", "depthwise_3x3", "max_pool_3x3_stride2"],
            "\(single)")
        for layer in layers { expectMeasured(layer["backward_ms_median"], "backward_ms_median") }
    }

    /// dist_sync training through a real cluster (here with fp16 compression), with the opt-in CPU
    /// wake-up request recorded when asked for (held or not: the JSON records what the run was asked
    /// to do).
    @Test func distributedTrainingReportsTheWholeJob() throws {
        let out = try bench(
            ["train", "--kv-store", "dist_sync", "--epochs", "2", "--gc-type", "fp16"],
            env: ["SWIFTPS_CPU_DMA_LATENCY": "0"])
        #expect(out["gradient_compression"] as? String == "fp16", "\(out)")
        expectMeasured(out["samples_per_sec"], "samples_per_sec")
        expectMeasured(out["max_worker_peak_rss_mb"], "max_worker_peak_rss_mb")
        expectMeasured(out["test_accuracy"], "test_accuracy")
        #expect(out["cpu_dma_latency_us"] as? Int == 0, "\(out)")
    }
}
