import Foundation
import SwiftPSKVStore
import SwiftPSOptimizer
import SwiftPSTensor
import Testing

/// The checkpoint files on their own: manifest, server shards, joining and re-slicing, assembling.
struct CheckpointFileTests {
    /// A checkpoint without shards (one process's, or one whose workers ran the optimizer) restores
    /// servers too: its params file's `arg:` arrays and its states file become whole parameters that
    /// any slicing takes its part of; without a states file only the weights; damage names the file.
    @Test func aWholeCheckpointRestoresServerSlices() throws {
        let weight = NDArray([1, 2, 3, 4], shape: [2, 2])
        let params = try ParamsFile.encode([("arg:w", weight), ("aux:m", NDArray([9]))])
        let local = LocalKVStore()
        try local.initialize(["w"], values: [weight])
        try local.setOptimizer(OptimizerConfig(name: "sgd", learningRate: 0.1, momentum: 0.9))
        try local.push("w", NDArray([1, 1, 1, 1], shape: [2, 2]))
        let states = try local.encodedOptimizerStates()

        let shards = try CheckpointShards.whole(params: params, paramsPath: "p", states: states, statesPath: "s")
        #expect(shards.weights["w"]?.toArray() == [1, 2, 3, 4] && shards.weights["m"] == nil)
        #expect(shards.optimizer?.momentum == 0.9)
        let part = try shards.part(name: "w", offset: 1, count: 2, totalCount: 4)
        #expect(part.weights.toArray() == [2, 3])
        let momentum = try #require(part.state?.arrays.first?.toArray())
        #expect(momentum.count == 2 && momentum.allSatisfy { $0 != 0 }, "\(momentum)")
        #expect(
            try CheckpointShards.whole(params: params, paramsPath: "p", states: nil, statesPath: "s").states.isEmpty)

        #expect(throws: CheckpointError.self) {
            try CheckpointShards.whole(
                params: Array(params.prefix(20)), paramsPath: "P-0002.params", states: nil, statesPath: "s")
        }
        do {
            _ = try CheckpointShards.whole(
                params: params, paramsPath: "p", states: [1, 2, 3], statesPath: "P-0002.states")
            Issue.record("a damaged states file was taken")
        } catch {
            #expect("\(error)".contains("P-0002.states"), "\(error)")
        }
    }

    /// A fresh directory with a prefix in it; removed by the caller.
    func scratch() throws -> (dir: String, prefix: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return (dir, dir + "/net")
    }

    func values(_ count: Int, _ base: Float) -> [Float] { (0..<count).map { base + Float($0) * 0.5 } }

    /// Server shards of `w` (10 elements, split 6 + 4) and `b` (3 elements, whole on server 1),
    /// with SGD momentum state and update count 7.
    func writeShards(_ layout: CheckpointLayout) throws -> [ServerCheckpointReport] {
        let config = OptimizerConfig(name: "sgd", learningRate: 0.1, momentum: 0.9)
        let parts: [[(String, Int, Int, [Float])]] = [
            [("w", 0, 10, values(6, 1))],
            [("w", 6, 10, values(4, 4)), ("b", 0, 3, values(3, -1))],
        ]
        return try parts.enumerated().map { server, slices in
            let weights = slices.map { WeightSlice(name: $0.0, offset: $0.1, totalCount: $0.2, values: NDArray($0.3)) }
            let states = try slices.map {
                try NamedOptimizerState(
                    name: $0.0,
                    state: OptimizerState(count: $0.3.count, arrays: [NDArray($0.3.map { -$0 })], numUpdate: 7),
                    offset: $0.1, totalCount: $0.2)
            }
            let wPath = layout.serverParamsPath(server)
            let sPath = layout.serverStatesPath(server)
            let wBytes = try ServerShardFile.encode(weights, path: wPath)
            let sBytes = try OptimizerStateFile.encode(config: config, states: states)
            try AtomicFile.write(wBytes, to: wPath)
            try AtomicFile.write(sBytes, to: sPath)
            return ServerCheckpointReport(
                server: server,
                files: [
                    .init(path: wPath, role: "server-params", server: server, content: wBytes),
                    .init(path: sPath, role: "server-states", server: server, content: sBytes),
                ], optimizer: config)
        }
    }

    /// File names as MXNet's `save_checkpoint` makes them, also for a prefix ending in "/" (files
    /// inside that directory, `ck/-0001.params`), and the epochs found under either.
    @Test func layoutNamesFilesAsMXNetAndFindsTheirEpochs() throws {
        let plain = CheckpointLayout(prefix: "/runs/ck/mlp", epoch: 12)
        #expect(plain.directory == "/runs/ck" && plain.baseName == "mlp")
        #expect(plain.paramsPath == "/runs/ck/mlp-0012.params" && plain.symbolPath == "/runs/ck/mlp-symbol.json")
        let slash = CheckpointLayout(prefix: "/runs/ck/", epoch: 3)
        #expect(slash.directory == "/runs/ck" && slash.baseName == "")
        #expect(slash.paramsPath == "/runs/ck/-0003.params" && slash.manifestPath == "/runs/ck/-0003.manifest.json")
        #expect(CheckpointLayout(prefix: "mlp", epoch: 1).directory == ".")
        #expect(CheckpointLayout(prefix: "/", epoch: 1).directory == "/")

        let (dir, _) = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in ["-0002.manifest.json", "-0010.manifest.json", "net-0004.manifest.json", "-12.manifest.json"] {
            try AtomicFile.write(Array("{}".utf8), to: dir + "/" + name)
        }
        #expect(CheckpointLayout.epochsWithManifest(prefix: dir + "/") == [10, 2])
        #expect(CheckpointLayout.epochsWithManifest(prefix: dir + "/net") == [4])
    }

    @Test func manifestRoundTripsAndVerifies() throws {
        let (dir, prefix) = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let layout = CheckpointLayout(prefix: prefix, epoch: 3)
        #expect(layout.manifestPath == prefix + "-0003.manifest.json")
        try AtomicFile.write(Array("hello".utf8), to: layout.paramsPath)
        let manifest = CheckpointManifest(
            epoch: 3, numServers: 0, numWorkers: 1, optimizer: OptimizerConfig(name: "adam", learningRate: 0.01),
            files: [try .init(path: layout.paramsPath, role: "params")])
        try manifest.write(layout)
        let read = try CheckpointManifest.read(layout)
        #expect(read == manifest)
        #expect(read.files[0].sha256 == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        try read.verify(layout)
        #expect(CheckpointManifest.latestComplete(prefix: prefix)?.0.epoch == 3)

        try AtomicFile.write(Array("jello".utf8), to: layout.paramsPath)
        #expect(
            throws: CheckpointError.corrupt(path: layout.paramsPath, reason: "its SHA-256 differs from the manifest's")
        ) {
            try read.verify(layout)
        }
        #expect(CheckpointManifest.latestComplete(prefix: prefix) == nil)
        #expect(throws: CheckpointError.self) {
            try CheckpointManifest.read(CheckpointLayout(prefix: prefix, epoch: 4))
        }
    }

    /// A manifest whose file names reach outside the checkpoint's directory (edited or forged) is
    /// refused when read, before any file it names is opened.
    @Test(arguments: ["../outside.params", "/etc/passwd", "sub/x.params", "..", ".", ""])
    func aManifestNamingAFileOutsideItsDirectoryIsCorrupt(name: String) throws {
        let (dir, prefix) = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let layout = CheckpointLayout(prefix: prefix, epoch: 2)
        try AtomicFile.write(Array("hello".utf8), to: layout.paramsPath)
        var file = try CheckpointManifest.File(path: layout.paramsPath, role: "params")
        file.name = name
        try CheckpointManifest(
            epoch: 2, numServers: 0, numWorkers: 1, optimizer: OptimizerConfig(name: "sgd", learningRate: 0.1),
            files: [file]
        ).write(layout)
        #expect(
            throws: CheckpointError.corrupt(
                path: layout.manifestPath,
                reason: "it lists '\(name)', which is not a file name in the checkpoint's directory")
        ) { try CheckpointManifest.read(layout) }
        #expect(CheckpointManifest.latestComplete(prefix: prefix) == nil)
    }

    @Test func latestCompleteSkipsADamagedNewerCheckpoint() throws {
        let (dir, prefix) = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for epoch in [1, 2] {
            let layout = CheckpointLayout(prefix: prefix, epoch: epoch)
            try AtomicFile.write([UInt8(epoch)], to: layout.paramsPath)
            try CheckpointManifest(
                epoch: epoch, numServers: 0, numWorkers: 1, optimizer: nil,
                files: [try .init(path: layout.paramsPath, role: "params")]
            ).write(layout)
        }
        try FileManager.default.removeItem(atPath: CheckpointLayout(prefix: prefix, epoch: 2).paramsPath)
        #expect(CheckpointLayout.epochsWithManifest(prefix: prefix) == [2, 1])
        #expect(CheckpointManifest.latestComplete(prefix: prefix)?.0.epoch == 1)
        let found = CheckpointManifest.search(prefix: prefix)
        #expect(found.latest?.0.epoch == 1 && found.damaged.map(\.epoch) == [2])
        #expect(found.damaged.first?.reason.contains(CheckpointLayout(prefix: prefix, epoch: 2).paramsPath) == true)
        // With no checkpoint left that verifies, the search says which ones it skipped and why.
        try AtomicFile.write([9], to: CheckpointLayout(prefix: prefix, epoch: 1).paramsPath)
        let none = CheckpointManifest.search(prefix: prefix)
        #expect(none.latest == nil && none.damaged.map(\.epoch) == [2, 1])
        #expect(none.damaged.last?.reason.contains("SHA-256") == true, "\(none.damaged)")
        #expect(CheckpointManifest.search(prefix: prefix, writtenBy: "another run").damaged.isEmpty)
        // What --load-epoch can name: the params files, not a server's shard or another prefix's.
        try AtomicFile.write([3], to: CheckpointLayout(prefix: prefix, epoch: 3).serverParamsPath(0))
        try AtomicFile.write([4], to: prefix + "x-0004.params")
        #expect(CheckpointLayout.epochsWithParams(prefix: prefix) == [1])
    }

    /// A restarted launch resumes only its own run's checkpoints (the run its manifests record), the
    /// newest of them; a manifest without a run (a job started by hand) is nobody's.
    @Test func latestCompleteOfARunSkipsOtherRuns() throws {
        let (dir, prefix) = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (epoch, run) in [(1, "a"), (2, "a"), (3, "b"), (4, nil)] {
            let layout = CheckpointLayout(prefix: prefix, epoch: epoch)
            try AtomicFile.write([UInt8(epoch)], to: layout.paramsPath)
            try CheckpointManifest(
                epoch: epoch, numServers: 0, numWorkers: 1, optimizer: nil,
                files: [try .init(path: layout.paramsPath, role: "params")], run: run
            ).write(layout)
        }
        #expect(CheckpointManifest.latestComplete(prefix: prefix)?.0.epoch == 4)
        #expect(CheckpointManifest.latestComplete(prefix: prefix, writtenBy: "a")?.0.epoch == 2)
        #expect(CheckpointManifest.latestComplete(prefix: prefix, writtenBy: "b")?.1.run == "b")
        #expect(CheckpointManifest.latestComplete(prefix: prefix, writtenBy: "c") == nil)
    }

    @Test func shardFileRoundTripsAndMergeFindsGapsAndOverlaps() throws {
        let slices = [
            WeightSlice(name: "fc:odd:name", offset: 2, totalCount: 5, values: NDArray([3, 4, 5])),
            WeightSlice(name: "fc:odd:name", offset: 0, totalCount: 5, values: NDArray([1, 2])),
        ]
        let decoded = try ServerShardFile.decode(try ServerShardFile.encode(slices, path: "x"), path: "x")
        #expect(decoded.map(\.name) == ["fc:odd:name", "fc:odd:name"])
        #expect(decoded.map(\.offset) == [2, 0])
        #expect(try ServerShardFile.merge(decoded)["fc:odd:name"]?.toArray() == [1, 2, 3, 4, 5])

        let gap = [slices[0], WeightSlice(name: "fc:odd:name", offset: 0, totalCount: 5, values: NDArray([1]))]
        #expect(throws: CheckpointError.inconsistent("elements 1..<2 of 'fc:odd:name' are in no slice")) {
            try ServerShardFile.merge(gap)
        }
        let overlap = [
            slices[0], WeightSlice(name: "fc:odd:name", offset: 0, totalCount: 5, values: NDArray([1, 2, 9])),
        ]
        #expect(throws: CheckpointError.inconsistent("slices of 'fc:odd:name' overlap at element 2")) {
            try ServerShardFile.merge(overlap)
        }
        let bytes = try ParamsFile.encode([("arg:w", NDArray([1]))], path: "bad")
        #expect(throws: CheckpointError.self) { try ServerShardFile.decode(bytes, path: "bad") }
    }

    /// Shards written by 2 servers restore on 3 (cut at other offsets) with the same values,
    /// optimizer state and update counts.
    @Test func shardsFromTwoServersResliceForThree() throws {
        let (dir, prefix) = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let layout = CheckpointLayout(prefix: prefix, epoch: 2)
        let reports = try writeShards(layout)
        let manifest = CheckpointManifest(
            epoch: 2, numServers: 2, numWorkers: 2, optimizer: reports[0].optimizer, files: reports.flatMap(\.files))
        let shards = try CheckpointShards.load(layout, manifest: manifest)
        #expect(shards.optimizer?.momentum == 0.9)
        let whole = values(6, 1) + values(4, 4)
        var rebuilt: [Float] = []
        var momentum: [Float] = []
        for (offset, count) in [(0, 4), (4, 3), (7, 3)] {
            let part = try shards.part(name: "w", offset: offset, count: count, totalCount: 10)
            rebuilt += part.weights.toArray()
            let state = try #require(part.state)
            #expect(state.numUpdate == 7)
            momentum += state.arrays[0].toArray()
        }
        #expect(rebuilt == whole)
        #expect(momentum == whole.map { -$0 })
        #expect(try shards.part(name: "b", offset: 0, count: 3, totalCount: 3).weights.toArray() == values(3, -1))
        #expect(throws: CheckpointError.self) { try shards.part(name: "w", offset: 0, count: 4, totalCount: 12) }
        #expect(throws: CheckpointError.self) { try shards.part(name: "fc9", offset: 0, count: 1, totalCount: 1) }

        // A damaged shard is named.
        try AtomicFile.write([0], to: layout.serverParamsPath(1))
        let listed = try #require(manifest.files.first { $0.role == "server-params" && $0.server == 1 })
        #expect(
            throws: CheckpointError.corrupt(
                path: layout.serverParamsPath(1), reason: "1 bytes, the manifest says \(listed.bytes)")
        ) {
            try CheckpointShards.load(layout, manifest: manifest)
        }
    }

    @Test func assemblerWritesFullParamsAndTheManifestLast() throws {
        let (dir, prefix) = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let layout = CheckpointLayout(prefix: prefix, epoch: 5)
        let reports = try writeShards(layout)
        // Without the symbol file, nothing claims the checkpoint complete, and the error says where
        // the file comes from (the scheduler writes it from worker 0's network).
        let noSymbol = #expect(throws: CheckpointError.self) {
            try CheckpointAssembler.complete(
                layout, reports: reports, argShapes: ["w": [2, 5], "b": [3]], extra: [:], numWorkers: 2)
        }
        #expect(
            "\(noSymbol.map(String.init(describing:)) ?? "")".contains(
                "the scheduler writes it from worker 0's network"))
        #expect(!FileManager.default.fileExists(atPath: layout.manifestPath))
        try AtomicFile.write(Array("{}".utf8), to: layout.symbolPath)
        // The same for a shard the scheduler wrote from a server's answer.
        let shard = layout.serverStatesPath(1)
        let saved = try AtomicFile.read(shard)
        try FileManager.default.removeItem(atPath: shard)
        let noShard = #expect(throws: CheckpointError.self) {
            try CheckpointAssembler.complete(
                layout, reports: reports, argShapes: ["w": [2, 5], "b": [3]], extra: [:], numWorkers: 2)
        }
        let text = noShard.map(String.init(describing:)) ?? ""
        #expect(
            text.contains(shard) && text.contains("the scheduler writes it from server 1's answer to CHECKPOINT"),
            "\(text)")
        // A state shard the assembler does not read must still be there whole (its size is checked).
        try AtomicFile.write(Array(saved.dropLast()), to: shard)
        let short = #expect(throws: CheckpointError.self) {
            try CheckpointAssembler.complete(
                layout, reports: reports, argShapes: ["w": [2, 5], "b": [3]], extra: [:], numWorkers: 2)
        }
        let shortText = short.map(String.init(describing:)) ?? ""
        #expect(shortText.contains(shard) && shortText.contains("the manifest says \(saved.count)"), "\(shortText)")
        try AtomicFile.write(saved, to: shard)
        #expect(throws: CheckpointError.self) {
            try CheckpointAssembler.complete(
                layout, reports: reports, argShapes: ["w": [3, 3], "b": [3]], extra: [:], numWorkers: 2)
        }
        let manifest = try CheckpointAssembler.complete(
            layout, reports: reports, argShapes: ["w": [2, 5], "b": [3]], extra: ["aux:bn_mean": NDArray([0.5])],
            numWorkers: 2)
        #expect(
            manifest.files.map(\.role) == [
                "symbol", "params", "server-params", "server-states", "server-params", "server-states",
            ])
        try CheckpointManifest.read(layout).verify(layout)
        let (args, aux) = try ParamsFile.loadCheckpointParams(layout.paramsPath)
        #expect(args["w"]?.shape == [2, 5])
        #expect(args["w"]?.toArray() == values(6, 1) + values(4, 4))
        #expect(args["b"]?.toArray() == values(3, -1))
        #expect(aux["bn_mean"]?.toArray() == [0.5])
    }
}
