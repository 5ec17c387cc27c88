import Foundation
import PSTestSupport
import SwiftPSOptimizer
import SwiftPSTensor
import Testing

@testable import SwiftPSKVStore

/// Seeded mutation fuzzing of the checkpoint readers: server shard files (`ServerShardFile`), their
/// join with the state files (`CheckpointShards.decode`) and the manifest JSON. Every mutant is
/// read or gives a `CheckpointError` naming the file, never a trap.
@Suite struct CheckpointFuzzTests {
    static let layout = CheckpointLayout(prefix: "/ckpt/net", epoch: 3)

    /// Server 0's shard of `w` (elements 0..<3 of 5) and `b` (whole, 2 elements).
    static func weights() throws -> [UInt8] {
        try ServerShardFile.encode(
            [
                WeightSlice(name: "w", offset: 0, totalCount: 3, values: NDArray([1, 2, 3])),
                WeightSlice(name: "b", offset: 0, totalCount: 2, values: NDArray([4, 5])),
            ], path: "shard")
    }

    static func states() throws -> [UInt8] {
        let state = try OptimizerState(count: 3, arrays: [NDArray([0.5, 0.25, 0])], numUpdate: 2)
        return try OptimizerStateFile.encode(
            config: OptimizerConfig(name: "sgd", learningRate: 0.1, momentum: 0.9),
            states: [try NamedOptimizerState(name: "w", state: state, offset: 0, totalCount: 3)])
    }

    /// Joins `weights` and `states` as one server's shard, with a manifest announcing exactly those
    /// bytes (as a scheduler relaying a damaged file would).
    static func join(weights: [UInt8], states: [UInt8]) throws(CheckpointError) -> CheckpointShards {
        let files = [
            CheckpointManifest.File(
                path: layout.serverParamsPath(0), role: "server-params", server: 0, content: weights),
            CheckpointManifest.File(
                path: layout.serverStatesPath(0), role: "server-states", server: 0, content: states),
        ]
        let manifest = CheckpointManifest(epoch: 3, numServers: 1, numWorkers: 1, optimizer: nil, files: files)
        return try CheckpointShards.decode(
            layout, manifest: manifest, contents: [files[0].name: weights, files[1].name: states], source: "fuzz")
    }

    @Test func shardMutantsJoinOrThrow() throws {
        let weights = try Self.weights()
        let states = try Self.states()
        let shards = try Self.join(weights: weights, states: states)
        #expect(shards.weights["w"]?.toArray() == [1, 2, 3])
        var joined = 0
        let weightMutants = Mutations.standard(weights, header: weights.count, random: 1500, seed: 0x5EED_0301)
        let stateMutants = Mutations.standard(states, header: 16, random: 1000, seed: 0x5EED_0302)
        let cases = weightMutants.map { ($0, states) } + stateMutants.map { (weights, $0) }
        for (index, (w, s)) in cases.enumerated() {
            do {
                let shards = try Self.join(weights: w, states: s)
                joined += 1
                for (name, array) in shards.weights {
                    _ = try? shards.part(name: name, offset: 0, count: min(1, array.count), totalCount: array.count)
                }
            } catch {
                if case .corrupt(let path, _) = error {
                    #expect(path.hasPrefix("/ckpt/net-0003.server0."), "case \(index): \(error)")
                } else {
                    guard case .inconsistent = error else {
                        Issue.record("case \(index): \(error)")
                        continue
                    }
                }
            }
        }
        #expect(joined > 0 && joined < cases.count)
    }

    /// Keys a shard file may hold that claim impossible slices: each is an error, not a trap.
    @Test(arguments: [
        "slice:9223372036854775807:9223372036854775807:w", "slice:0:99999999999999:w",
        "slice:4611686018427387904:9223372036854775807:w", "slice:0:-1:w", "slice:-3:5:w", "slice:1:2:w",
    ])
    func impossibleSliceKeysAreErrors(key: String) throws {
        let bytes = try ParamsFile.encode([(key, NDArray([1, 2]))], path: "shard")
        #expect(throws: CheckpointError.self) { try Self.join(weights: bytes, states: try Self.states()) }
    }

    @Test func manifestMutantsReadOrThrow() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let layout = CheckpointLayout(prefix: dir + "/net", epoch: 3)
        let manifest = CheckpointManifest(
            epoch: 3, numServers: 1, numWorkers: 2, optimizer: OptimizerConfig(name: "sgd", learningRate: 0.1),
            files: [CheckpointManifest.File(path: "net-0003.params", role: "params", content: [1, 2, 3])])
        try manifest.write(layout)
        let valid = try [UInt8](Data(contentsOf: URL(fileURLWithPath: layout.manifestPath)))
        var mutants = Mutations.random(valid, count: 400, seed: 0x5EED_0303)
        // Numbers where the manifest has them: huge, negative, fractional, exponent.
        let text = String(decoding: valid, as: UTF8.self)
        for number in ["-1", "1e300", "99999999999999999999", "1.5", "-9223372036854775808", "null", "\"3\""] {
            for field in ["\"epoch\" : 3", "\"num_servers\" : 1", "\"bytes\" : 3", "\"version\" : 1"] {
                let name = field.split(separator: ":")[0]
                mutants.append(Array(text.replacingOccurrences(of: field, with: "\(name): \(number)").utf8))
            }
        }
        var read = 0
        for (index, bytes) in mutants.enumerated() {
            try Data(bytes).write(to: URL(fileURLWithPath: layout.manifestPath))
            do {
                let manifest = try CheckpointManifest.read(layout)
                read += 1
                _ = try? CheckpointShards.serverFiles(layout, manifest: manifest)
            } catch {
                #expect("\(error)".contains(layout.manifestPath), "case \(index): \(error)")
            }
        }
        #expect(read > 0 && read < mutants.count)
    }
}
