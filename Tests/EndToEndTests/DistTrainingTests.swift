import Foundation
import SwiftPSGraph
import SwiftPSTensor
import Testing

/// `swiftps` scheduler, servers and workers as real processes on 127.0.0.1 (release binary).
@Suite(
    .serialized,
    .enabled(
        if: SwiftPSBinary.path != nil,
        "no release swiftps binary: set SWIFTPS_BIN or build one (swift build -c release); scripts/test does both"))
struct DistTrainingTests {
    static let quiet = ["--network", "mlp"] + silent
    static let silent = ["--no-progress", "--disp-batches", "100000"]

    /// dist_sync with 2 workers at batch B must end where one process at batch 2B over the same samples
    /// ends (DESIGN.md's main correctness check). Worker r's step t uses samples
    /// `[r*N/2 + t*B, r*N/2 + (t+1)*B)` of its contiguous half; `--interleave-shards 2` gives the single
    /// process exactly those 2B samples at its step t.
    @Test func distSyncTwoWorkersEqualsOneProcessAtDoubleBatch() throws {
        try checkEquivalence(servers: 1, extra: [:])
    }

    /// The same with 2 servers and a bound of 50,000 elements, so fc1_weight (100,352) is split in two.
    @Test func equivalenceHoldsWithFc1WeightSplitOverTwoServers() throws {
        try checkEquivalence(servers: 2, extra: ["SWIFTPS_BIGARRAY_BOUND": "50000"])
    }

    /// The same with a secret and SWIFTPS_ENCRYPT=1: every data frame travels encrypted, split keys
    /// included, and decrypts to exactly what was sent.
    @Test func equivalenceHoldsWithEncryptedTraffic() throws {
        try checkEquivalence(servers: 2, extra: ["SWIFTPS_BIGARRAY_BOUND": "50000"], encrypted: true)
    }

    /// The same for a symbol JSON network of the newer operators, whose parameters all reach the
    /// servers: prelu (a learned gamma), a depthwise convolution, InstanceNorm, SliceChannel's two
    /// outputs, broadcast_mul against a global pooling, LayerNorm; 2 servers, fc1_weight split.
    @Test func equivalenceHoldsForANetworkOfTheNewerOperators() throws {
        let data = Symbol.variable("data")
        var h = try Symbol.convolution(data, kernel: [3, 3], numFilter: 8, pad: [1, 1], name: "conv1")
        h = try Symbol.leakyReLU(h, actType: "prelu", name: "prelu1")
        h = try Symbol.pooling(h, kernel: [2, 2], stride: [2, 2], name: "pool1")
        h = try Symbol.convolution(
            h, kernel: [3, 3], numFilter: 8, stride: [2, 2], pad: [1, 1], numGroup: 8, name: "depthwise")
        let parts = try Symbol.sliceChannel(try Symbol.instanceNorm(h, name: "in1"), numOutputs: 2, name: "halves")
        // A max, not a mean: an instance-normalized channel's mean is its beta, 0 at the start, and
        // LayerNorm of a product with ~0 normalizes rounding noise (1 step then differed by 5e-5).
        let gate = try Symbol.pooling(parts[1], kernel: [1, 1], poolType: "max", globalPool: true, name: "gate")
        h = try Symbol.layerNorm(try Symbol.flatten(try Symbol.broadcastMul(parts[0], gate)), name: "ln1")
        let net = try Symbol.softmaxOutput(try Symbol.fullyConnected(h, numHidden: 10, name: "fc1"), name: "softmax")
        let dir = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try net.save(to: dir + "/newer-ops-symbol.json")
        try checkEquivalence(
            servers: 2, extra: ["SWIFTPS_BIGARRAY_BOUND": "1000"], network: dir + "/newer-ops-symbol.json",
            parameters: 11)
    }

    @Test func distSyncFashionMNISTReachesAccuracy() throws {
        let (accuracy, speed) = try trainFashionMNIST(kvStore: "dist_sync", extra: [])
        print("dist_sync mlp, 2 workers + 1 server: test accuracy \(accuracy), samples/sec per epoch \(speed)")
        // Over seeds 0-15 on this machine: SwiftPS 0.871 mean, sd 0.005, 0.864-0.880; MXNet 1.9.1
        // launched the same way 0.871 mean, sd 0.004, 0.866-0.877 (anchors.md: 0.876, one run); each
        // reaches 0.87 in 8 of 16. Seed 0 (this test) gives 0.8665. The bar catches broken training,
        // not seed noise.
        #expect(accuracy >= 0.86)
    }

    @Test func distAsyncWithoutMomentumReachesAccuracy() throws {
        let (accuracy, speed) = try trainFashionMNIST(kvStore: "dist_async", extra: ["--mom", "0"])
        print("dist_async mlp (mom 0), 2 workers + 1 server: test accuracy \(accuracy), samples/sec \(speed)")
        #expect(accuracy >= 0.85)
    }

    /// `--gc-type 2bit` (MXNet's gradient compression, pushes a sixteenth of the bytes) still trains
    /// the mlp; without momentum, which error feedback makes unstable (as in MXNet). (Wrong values of
    /// the flags: `CLIInputTests`.)
    @Test func twoBitGradientCompressionTrains() throws {
        let (accuracy, _) = try trainFashionMNIST(kvStore: "dist_sync", extra: ["--mom", "0", "--gc-type", "2bit"])
        print("dist_sync mlp (mom 0, 2bit), 2 workers + 1 server: test accuracy \(accuracy)")
        #expect(accuracy >= 0.84)
    }

    /// `--gc-type fp16` (pushes and the weights answering them in half precision) trains the mlp with
    /// the usual recipe, momentum included, to the accuracy of float32 traffic (0.871 at seed 0 here;
    /// float32 0.8665, and 0.864-0.880 over seeds). The bar catches broken training, as the others.
    @Test func fp16GradientCompressionTrains() throws {
        let (accuracy, _) = try trainFashionMNIST(kvStore: "dist_sync", extra: ["--gc-type", "fp16"])
        print("dist_sync mlp (fp16), 2 workers + 1 server: test accuracy \(accuracy)")
        #expect(accuracy >= 0.85)
    }

    /// A worker killed mid-training: every other process exits non-zero, naming it.
    @Test func aDeadWorkerStopsTheJobNamingIt() throws {
        try ProcessCluster.with(workers: 2, servers: 1) { cluster in
            try cluster.startJob(
                ["--kv-store", "dist_sync", "--num-epochs", "50"] + Self.quiet,
                extra: ["SWIFTPS_HEARTBEAT_TIMEOUT": "3"])
            // The process that became worker 1 (ranks follow the workers' ports, not their start order).
            let rank1 = cluster.waitForLog(of: ["worker0", "worker1"], containing: "Epoch[0]", timeout: 60).flatMap {
                _ in
                ["worker0", "worker1"].first { cluster.log($0).contains("worker 1 of 2") }
            }
            let victim = try #require(rank1, "no worker reached training: \(cluster.allLogs())")
            cluster.kill(victim)
            let statuses = cluster.waitAll(timeout: 60)
            for name in ["scheduler", "server0", victim == "worker0" ? "worker1" : "worker0"] {
                let status = statuses[name] ?? nil
                #expect(status != nil && status != 0, "\(name) exited with \(String(describing: status))")
                #expect(cluster.log(name).contains("worker 1 (id 11)"), "\(name) does not name the dead worker")
            }
        }
    }

    // MARK: - Helpers

    private func checkEquivalence(
        servers: Int, extra: [String: String], encrypted: Bool = false, network: String = "mlp", parameters: Int = 6
    ) throws {
        try ProcessCluster.with(workers: 2, servers: servers) { cluster in
            var extra = extra
            if encrypted {
                extra["SWIFTPS_SECRET_FILE"] = try cluster.secretFile("secret", secret: "equivalence \(UUID())")
                extra["SWIFTPS_ENCRYPT"] = "1"
            }
            let steps =
                ["--num-epochs", "1", "--num-batches", "60", "--no-shuffle", "--network", network] + Self.silent
            let distParams = cluster.directory.appendingPathComponent("dist.params").path
            let singleParams = cluster.directory.appendingPathComponent("single.params").path
            try cluster.startJob(
                ["--kv-store", "dist_sync", "--batch-size", "32", "--save-final", distParams] + steps, extra: extra)
            var local = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("DMLC_") }
            local["OPENBLAS_NUM_THREADS"] = "1"
            try cluster.spawn(
                "single",
                [
                    "train", "--kv-store", "local", "--batch-size", "64", "--interleave-shards", "2", "--save-final",
                    singleParams,
                ]
                    + steps, env: local)
            let statuses = cluster.waitAll(timeout: 180)
            guard statuses.values.allSatisfy({ $0 == 0 }) else {
                Issue.record("processes did not all exit 0: \(statuses)\n\(cluster.allLogs())")
                return
            }
            let dist = try ParamsFile.loadCheckpointParams(distParams).args
            let single = try ParamsFile.loadCheckpointParams(singleParams).args
            #expect(Set(dist.keys) == Set(single.keys))
            #expect(dist.count == parameters)
            var worst: Float = 0
            for (name, weight) in dist {
                let other = try #require(single[name])
                worst = max(worst, weight.maxAbsDifference(other))
            }
            print("dist_sync (\(servers) server(s)) vs single process: max |Δweight| = \(worst) after 60 steps")
            #expect(worst < 1e-4)
            if encrypted {
                for name in ["server0", "worker0", "worker1"] {
                    #expect(cluster.log(name).contains("data frames are encrypted"), "\(name):\n\(cluster.log(name))")
                }
            }
        }
    }

    /// Trains the mlp for 10 epochs on 2 workers + 1 server; returns the test accuracy (the mean of
    /// the workers' halves of the test set) and worker 0's samples/sec per epoch (all workers).
    private func trainFashionMNIST(kvStore: String, extra: [String]) throws -> (Double, [Double]) {
        return try ProcessCluster.with(workers: 2, servers: 1) { cluster in
            try cluster.startSchedulerAndServers()
            let metrics = { (i: Int) in cluster.directory.appendingPathComponent("metrics\(i).jsonl").path }
            for i in 0..<2 {
                try cluster.spawn(
                    "worker\(i)",
                    ["train", "--kv-store", kvStore, "--num-epochs", "10", "--metrics-out", metrics(i)]
                        + Self.quiet + extra, env: cluster.environment(role: "worker"))
            }
            let statuses = cluster.waitAll(timeout: 300)
            guard statuses.values.allSatisfy({ $0 == 0 }) else {
                throw ClusterFailure(description: "processes did not all exit 0: \(statuses)\n\(cluster.allLogs())")
            }
            let accuracies = try (0..<2).map { i -> Double in
                let line = cluster.log("worker\(i)").split(separator: "\n").first {
                    $0.contains("final validation accuracy")
                }
                guard let line, let value = line.split(separator: " ").compactMap({ Double($0) }).first else {
                    throw ClusterFailure(description: "worker\(i) printed no accuracy:\n\(cluster.log("worker\(i)"))")
                }
                return value
            }
            let speeds = try String(contentsOfFile: metrics(0), encoding: .utf8).split(separator: "\n").compactMap {
                line -> Double? in
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return object?["samples_per_sec"] as? Double
            }
            return (accuracies.reduce(0, +) / 2, speeds)
        }
    }
}
