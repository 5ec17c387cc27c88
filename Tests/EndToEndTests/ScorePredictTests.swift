import Foundation
import Testing

@testable import SwiftPS

/// `swiftps score` and `swiftps predict` as a user runs them (issue: using a trained model).
@Suite(.serialized) struct ScorePredictTests {
    /// Trains the mlp for one epoch with a checkpoint and a metrics file, in `dir`.
    func trainOneEpoch(_ dir: String) throws -> Double {
        let result = try CLIRunner.run([
            "train", "--network", "mlp", "--num-epochs", "1", "--model-prefix", dir + "/mlp",
            "--metrics-out", dir + "/metrics.jsonl", "--seed", "3",
        ])
        #expect(result.status == 0, "train failed: \(result.stderr)")
        let line = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8)
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        return (object["validation"] as! [String: Any])["accuracy"] as! Double
    }

    @Test(.enabled(if: CLIRunner.available, "needs the release swiftps binary (scripts/test builds it)"))
    func scoreMatchesTrainingAndPredictMatchesTheLibrary() throws {
        let dir = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let validation = try trainOneEpoch(dir)

        let score = try CLIRunner.run([
            "score", "--model-prefix", dir + "/mlp", "--load-epoch", "1", "--metrics", "acc,ce", "--json",
        ])
        #expect(score.status == 0, "score failed: \(score.stderr)")
        let scored = try JSONSerialization.jsonObject(with: score.stdout) as! [String: Any]
        #expect(scored["accuracy"] as? Double == validation, "score's accuracy equals the training run's validation")
        #expect(scored["samples"] as? Int == 10_000)
        #expect((scored["cross-entropy"] as? Double ?? 0) > 0)

        // The first 1,000 test images, as a .npy file, through the CLI and through the library.
        let all = try SampleFile.load(FashionMNIST.defaultDirectory + "/t10k-images-idx3-ubyte.gz")
        let images = all.slice(0..<1000).copy()
        try AtomicFile.write(NPYFile.encode(images), to: dir + "/in.npy")
        let predicted = try CLIRunner.run([
            "predict", "--model-prefix", dir + "/mlp", "--load-epoch", "1", "--input", dir + "/in.npy", "--format",
            "npy", "--output", dir + "/out.npy",
        ])
        #expect(predicted.status == 0, "predict failed: \(predicted.stderr)")
        let cli = try NPYFile.decode(try AtomicFile.read(dir + "/out.npy"), path: "out.npy")

        let module = try Module.load(prefix: dir + "/mlp", epoch: 1)
        let iter = try NDArrayIter(data: images, batchSize: 128)
        try module.bind(dataShapes: iter.provideData, forTraining: false)
        try module.initParams()
        // With the CLI's compute threads: a product split over threads can differ in its last bits.
        let library = try ComputeThreads.withThreads(BLAS.automaticThreads()) { try module.predict(iter)[0][0] }
        #expect(cli.shape == [1000, 10])
        let differing = zip(cli.toArray(), library.toArray()).filter { $0.0.bitPattern != $0.1.bitPattern }.count
        #expect(differing == 0, "predict's output equals Module.predict bit for bit (\(differing) values differ)")
    }

    /// A checkpoint laid out by hand as MXNet 1.x writes it: symbol JSON and `.params` records.
    func writeMXNetCheckpoint(_ prefix: String, op: String = "FullyConnected") throws {
        let json = """
            {
              "nodes": [
                {"op": "null", "name": "data", "inputs": []},
                {"op": "null", "name": "fc1_weight", "attrs": {"num_hidden": "2"}, "inputs": []},
                {"op": "null", "name": "fc1_bias", "attrs": {"num_hidden": "2"}, "inputs": []},
                {"op": "\(op)", "name": "fc1", "attrs": {"num_hidden": "2"}, "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]},
                {"op": "null", "name": "softmax_label", "inputs": []},
                {"op": "SoftmaxOutput", "name": "softmax", "inputs": [[3, 0, 0], [4, 0, 0]]}
              ],
              "arg_nodes": [0, 1, 2, 4],
              "node_row_ptr": [0, 1, 2, 3, 4, 5, 6],
              "heads": [[5, 0, 0]],
              "attrs": {"mxnet_version": ["int", 10901]}
            }
            """
        try json.write(toFile: prefix + "-symbol.json", atomically: true, encoding: .utf8)
        var bytes: [UInt8] = []
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        func i32(_ v: Int32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        func i64(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        func f32(_ v: Float) { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
        func record(_ shape: [Int64], _ values: [Float]) {
            u32(0xF993_FAC9)  // V2
            i32(0)  // dense
            i32(Int32(shape.count))
            for d in shape { i64(d) }
            i32(1)  // cpu
            i32(0)  // device 0
            i32(0)  // float32
            for v in values { f32(v) }
        }
        u64(0x112)
        u64(0)
        u64(2)
        record([2, 2], [1, 2, 3, 4])  // fc1_weight = [[1, 2], [3, 4]]
        record([2], [0.5, -0.5])  // fc1_bias
        u64(2)
        for name in ["arg:fc1_weight", "arg:fc1_bias"] {
            u64(UInt64(name.utf8.count))
            bytes += Array(name.utf8)
        }
        try Data(bytes).write(to: URL(fileURLWithPath: prefix + "-0010.params"))
    }

    @Test(.enabled(if: CLIRunner.available, "needs the release swiftps binary (scripts/test builds it)"))
    func predictOnAHandMadeMXNetCheckpoint() throws {
        let dir = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeMXNetCheckpoint(dir + "/mx")
        // Row [1, 0]: logits W·x + b = [1 + 0.5, 3 - 0.5] = [1.5, 2.5] → softmax [1/(1+e), e/(1+e)].
        // Row [0, 1]: [2 + 0.5, 4 - 0.5] = [2.5, 3.5] → the same. Row [0, 0]: [0.5, -0.5] → reversed.
        let e = Float(M_E)
        let low = 1 / (1 + e)
        let high = e / (1 + e)
        let expected: [[Float]] = [[low, high], [low, high], [high, low]]
        let result = try CLIRunner.run(
            ["predict", "--model-prefix", dir + "/mx", "--load-epoch", "10", "--input", "-", "--top-k", "1"],
            stdin: Data("1,0\n0,1\n0,0\n".utf8))
        #expect(result.status == 0, "predict failed: \(result.stderr)")
        let rows = result.text.split(separator: "\n").map { $0.split(separator: ",").map { Float(String($0))! } }
        #expect(rows.count == 3)
        for (row, want) in zip(rows, expected) {
            #expect(abs(row[0] - want[0]) < 1e-6 && abs(row[1] - want[1]) < 1e-6, "\(row) vs \(want)")
            #expect(Int(row[2]) == (want[1] > want[0] ? 1 : 0), "top-1 label")
        }
        let json = try CLIRunner.run(
            ["predict", "--model-prefix", dir + "/mx", "--load-epoch", "10", "--input", "-", "--format", "json"],
            stdin: Data("1,0\n".utf8))
        let parsed = try JSONSerialization.jsonObject(with: json.stdout) as! [[String: [Double]]]
        #expect(abs(parsed[0]["probabilities"]![1] - Double(high)) < 1e-6)
        // More than the 2 outputs: each row lists both, and stderr says so.
        let wide = try CLIRunner.run(
            ["predict", "--model-prefix", dir + "/mx", "--load-epoch", "10", "--input", "-", "--top-k", "5"],
            stdin: Data("1,0\n".utf8))
        let cells = wide.text.trimmingCharacters(in: .newlines).split(separator: ",").map(String.init)
        #expect(wide.status == 0 && cells.count == 4 && cells.suffix(2) == ["1", "0"], "\(wide.text)")
        #expect(wide.stderr.contains("--top-k 5 is more than the network's 2 outputs: each sample lists all 2"))
    }

    @Test(.enabled(if: CLIRunner.available, "needs the release swiftps binary (scripts/test builds it)"))
    func badInputsGiveAOneLineErrorAndFail() throws {
        let dir = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeMXNetCheckpoint(dir + "/mx")
        func expectFailure(_ args: [String], stdin: Data? = nil, mentioning words: [String]) throws {
            let r = try CLIRunner.run(args, stdin: stdin)
            #expect(r.status != 0, "\(args) should fail")
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1, "one line of error, got: \(r.stderr)")
            for w in words { #expect(r.stderr.contains(w), "'\(w)' missing from: \(r.stderr)") }
        }
        let predict = ["predict", "--model-prefix", dir + "/mx", "--input", "-"]
        // A missing epoch file.
        try expectFailure(predict + ["--load-epoch", "3"], stdin: Data("1,0\n".utf8), mentioning: ["mx-0003.params"])
        // A wrong input width: 3 values per row where the network takes 2.
        try expectFailure(
            predict + ["--load-epoch", "10"], stdin: Data("1,0,0\n".utf8), mentioning: ["[3]", "[2, 2]"])
        // Corrupt params: cut in the middle of a record.
        let params = try Data(contentsOf: URL(fileURLWithPath: dir + "/mx-0010.params"))
        try params.prefix(40).write(to: URL(fileURLWithPath: dir + "/cut-0010.params"))
        try FileManager.default.copyItem(atPath: dir + "/mx-symbol.json", toPath: dir + "/cut-symbol.json")
        try expectFailure(
            ["predict", "--model-prefix", dir + "/cut", "--load-epoch", "10", "--input", "-"],
            stdin: Data("1,0\n".utf8), mentioning: ["cut-0010.params"])
        // An unknown operator.
        try writeMXNetCheckpoint(dir + "/odd", op: "Deconvolution")
        try expectFailure(
            ["predict", "--model-prefix", dir + "/odd", "--load-epoch", "10", "--input", "-"],
            stdin: Data("1,0\n".utf8), mentioning: ["Deconvolution"])
        // score without labels for CSV data: a usage error (ArgumentParser's message and usage, exit 64).
        let unlabelled = try CLIRunner.run([
            "score", "--model-prefix", dir + "/mx", "--load-epoch", "10", "--data-csv", dir + "/none.csv",
        ])
        #expect(unlabelled.status == 64, "\(unlabelled.stderr)")
        #expect(unlabelled.stderr.hasPrefix("Error: --data-csv needs --label-csv"), "\(unlabelled.stderr)")
    }
}
