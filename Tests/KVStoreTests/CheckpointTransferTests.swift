import Foundation
import SwiftPSCluster
import SwiftPSKVStore
import SwiftPSTensor
import SwiftPSTransport
import Testing

/// Checkpoint files travelling to and from the scheduler, which alone reads and writes them.
struct CheckpointTransferTests {
    private let files = CheckpointFileTests()

    /// Checkpoint 3 of two servers (`CheckpointFileTests.writeShards`) in a fresh directory, with
    /// its manifest.
    private func twoServerCheckpoint() throws -> (
        dir: String, layout: CheckpointLayout, manifest: CheckpointManifest, reports: [ServerCheckpointReport]
    ) {
        let (dir, prefix) = try files.scratch()
        let layout = CheckpointLayout(prefix: prefix, epoch: 3)
        let reports = try files.writeShards(layout)
        let manifest = CheckpointManifest(
            epoch: 3, numServers: 2, numWorkers: 1, optimizer: reports[0].optimizer, files: reports.flatMap(\.files))
        return (dir, layout, manifest, reports)
    }

    /// Shards joined from received bytes equal the shards read from disk; a file left out or
    /// changed is named.
    @Test func shardsFromBytesMatchShardsFromFiles() throws {
        let (dir, layout, manifest, _) = try twoServerCheckpoint()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var contents: [String: [UInt8]] = [:]
        for file in manifest.files { contents[file.name] = try AtomicFile.read(manifest.path(of: file, in: layout)) }
        // The weights alone (what the params file needs): the state shards stay on disk, unread.
        let weightShards = contents.filter { name, _ in
            manifest.files.contains { $0.name == name && $0.role == "server-params" }
        }
        let weightsOnly = try CheckpointShards.decode(
            layout, manifest: manifest, contents: weightShards, source: "test", weightsOnly: true)
        #expect(weightsOnly.weights["w"]?.toArray() == files.values(6, 1) + files.values(4, 4))
        #expect(weightsOnly.states.isEmpty)
        try FileManager.default.removeItem(atPath: dir)

        let fromBytes = try CheckpointShards.decode(layout, manifest: manifest, contents: contents, source: "test")
        #expect(fromBytes.weights["w"]?.toArray() == files.values(6, 1) + files.values(4, 4))
        #expect(fromBytes.states["w"]?.state.numUpdate == 7)
        #expect(fromBytes.optimizer?.momentum == 0.9)

        let states = layout.serverStatesPath(1)
        var missing = contents
        missing[(states as NSString).lastPathComponent] = nil
        #expect(throws: CheckpointError.missing(path: states, hint: "test did not send it")) {
            try CheckpointShards.decode(layout, manifest: manifest, contents: missing, source: "test")
        }
        var changed = contents
        changed[(states as NSString).lastPathComponent]?[0] ^= 1
        let error = #expect(throws: CheckpointError.self) {
            try CheckpointShards.decode(layout, manifest: manifest, contents: changed, source: "the scheduler")
        }
        let text = error.map(String.init(describing:)) ?? ""
        #expect(text.contains(states) && text.contains("SHA-256") && text.contains("the scheduler"), "\(text)")
    }

    /// A server of a job with as many servers reads only its own two files and finds its slices there
    /// exactly, with their optimizer state; a slice cut otherwise is not there (nil: the server then
    /// reads every shard), and another server's files are never asked for.
    @Test func aServerReadsOnlyItsOwnShard() throws {
        let (dir, layout, manifest, reports) = try twoServerCheckpoint()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var asked: [String] = []
        let own = try CheckpointShard.fetch(layout, manifest: manifest, server: 1) {
            file, path throws(CheckpointError) in
            asked.append(file.name)
            let bytes = try CheckpointManifest.readFile(path, hint: "test")
            try file.check(bytes, path: path)
            return bytes
        }
        #expect(Set(asked) == Set(reports[1].files.map(\.name)) && asked.count == 2, "\(asked)")
        #expect(own.sliceCount == 2 && own.optimizer?.momentum == 0.9)
        let w = try #require(try own.part(name: "w", offset: 6, count: 4, totalCount: 10))
        #expect(w.weights.toArray() == files.values(4, 4))
        #expect(w.state?.numUpdate == 7 && w.state?.arrays[0].toArray() == files.values(4, 4).map { -$0 })
        #expect(try own.part(name: "b", offset: 0, count: 3, totalCount: 3)?.weights.toArray() == files.values(3, -1))
        // Server 0's slice, a slice cut at another offset or of another size, a parameter of another size.
        #expect(try own.part(name: "w", offset: 0, count: 6, totalCount: 10) == nil)
        #expect(try own.part(name: "w", offset: 5, count: 5, totalCount: 10) == nil)
        #expect(try own.part(name: "w", offset: 6, count: 3, totalCount: 10) == nil)
        #expect(try own.part(name: "b", offset: 0, count: 3, totalCount: 4) == nil)
        // The parts are copies: restoring into them leaves the shard as read.
        w.weights.fill(0)
        w.state?.arrays[0].fill(0)
        let again = try #require(try own.part(name: "w", offset: 6, count: 4, totalCount: 10))
        #expect(again.weights.toArray() == files.values(4, 4) && again.state?.arrays[0].toArray() != [0, 0, 0, 0])
        // A manifest without that server's files is refused, naming itself.
        #expect(throws: CheckpointError.self) {
            try CheckpointShard.fetch(layout, manifest: manifest, server: 2) { _, _ throws(CheckpointError) in [] }
        }
    }

    /// The scheduler checks a server's report before reading: a wrong count, role or name is a
    /// `CheckpointError` naming the server.
    @Test func aServersReportIsCheckedBeforeItsFilesAreRead() throws {
        let layout = CheckpointLayout(prefix: "/ckpt/mlp", epoch: 4)
        let weights = CheckpointManifest.File(
            path: layout.serverParamsPath(1), role: "server-params", server: 1, content: [1, 2, 3, 4])
        let states = CheckpointManifest.File(
            path: layout.serverStatesPath(1), role: "server-states", server: 1, content: [5, 6])
        let report = ServerCheckpointReport(server: 1, files: [weights, states], optimizer: nil)
        let destinations = try report.destinations(in: layout)
        #expect(destinations.map(\.path) == [layout.serverParamsPath(1), layout.serverStatesPath(1)])
        #expect(destinations.map(\.file) == [weights, states])

        for files in [[weights], [weights, states, states], [states, weights]] {
            let error = #expect(throws: CheckpointError.self) {
                try ServerCheckpointReport(server: 1, files: files, optimizer: nil).destinations(in: layout)
            }
            let text = error.map(String.init(describing:)) ?? ""
            #expect(text.contains("server 1"), "\(text)")
        }
        var renamed = report
        renamed.files[0].name = "../../etc/passwd"
        let error = #expect(throws: CheckpointError.self) { try renamed.destinations(in: layout) }
        #expect("\(error.map(String.init(describing:)) ?? "")".contains("server 1 reported ../../etc/passwd"))
    }

    /// The request and answer bodies survive JSON.
    @Test func requestAndAnswerBodiesRoundTrip() throws {
        let fetch = CheckpointFetch(prefix: "/ckpt/mlp", epoch: 2)
        #expect(try JSONDecoder().decode(CheckpointFetch.self, from: JSONEncoder().encode(fetch)) == fetch)
        #expect(fetch.layout == CheckpointLayout(prefix: "/ckpt/mlp", epoch: 2))
        let read = CheckpointRead(prefix: "/ckpt/mlp", epoch: 2, name: "mlp-0002.params", offset: 16, length: 8)
        #expect(try JSONDecoder().decode(CheckpointRead.self, from: JSONEncoder().encode(read)) == read)
        for request in [
            ResumeRequest(prefix: "/ckpt/mlp", loadEpoch: 3, resume: false),
            ResumeRequest(prefix: nil, loadEpoch: nil, resume: true, workersUpdate: true),
        ] {
            #expect(try JSONDecoder().decode(ResumeRequest.self, from: JSONEncoder().encode(request)) == request)
        }
        let params = CheckpointManifest.File(path: "/ckpt/mlp-0002.params", role: "params", content: [1, 2])
        for answer in [
            ResumeAnswer(epoch: 2, prefix: "/ckpt/mlp", hasServerShards: true, files: [params]),
            ResumeAnswer(epoch: nil, hasServerShards: false),
        ] {
            #expect(try JSONDecoder().decode(ResumeAnswer.self, from: JSONEncoder().encode(answer)) == answer)
        }
        #expect(ResumeAnswer(epoch: 2, hasServerShards: false, files: [params]).file(role: "params") == params)
        #expect(ResumeAnswer(epoch: 2, hasServerShards: false, files: [params]).file(role: "states") == nil)
    }

    /// A read's range must lie within the file; the chunk size comes from the environment, checked.
    @Test func readRangesAndTheChunkSizeAreChecked() throws {
        func read(_ offset: Int, _ length: Int) -> CheckpointRead {
            CheckpointRead(prefix: "/p", epoch: 1, name: "p-0001.params", offset: offset, length: length)
        }
        try read(0, 10).check(size: 10)
        try read(9, 1).check(size: 10)
        for bad in [read(-1, 2), read(0, 0), read(5, 6), read(11, 1), read(1, Int.max)] {
            let error = #expect(throws: CheckpointError.self) { try bad.check(size: 10) }
            #expect("\(error.map(String.init(describing:)) ?? "")".contains("p-0001.params"))
        }
        #expect(try CheckpointTransfer.chunkBytes(environment: [:]) == 16 << 20)
        #expect(try CheckpointTransfer.chunkBytes(environment: ["SWIFTPS_CHECKPOINT_CHUNK_BYTES": "4096"]) == 4096)
        for bad in ["0", "-5", "lots", "\(1 << 40)"] {
            let error = #expect(throws: CheckpointError.self) {
                try CheckpointTransfer.chunkBytes(environment: ["SWIFTPS_CHECKPOINT_CHUNK_BYTES": bad])
            }
            #expect("\(error.map(String.init(describing:)) ?? "")".contains("SWIFTPS_CHECKPOINT_CHUNK_BYTES='\(bad)'"))
        }
    }

    /// The scheduler serves only its checkpoints' files, by name: the symbol, the params and what
    /// the manifest lists; never another file of the directory or a path; ranges stay in the file.
    @Test func theSchedulerServesOnlyTheCheckpointsFiles() throws {
        let (dir, prefix) = try files.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let layout = CheckpointLayout(prefix: prefix, epoch: 5)
        let reports = try files.writeShards(layout)
        try AtomicFile.write(Array("{}".utf8), to: layout.symbolPath)
        try AtomicFile.write(Array("secret".utf8), to: dir + "/other.txt")
        func read(_ name: String, _ offset: Int, _ length: Int, epoch: Int = 5) throws -> [UInt8] {
            let request = CheckpointRead(prefix: prefix, epoch: epoch, name: name, offset: offset, length: length)
            let chunk = try CheckpointTransfer.chunk(
                of: request, layout: CheckpointLayout(prefix: prefix, epoch: epoch))
            return chunk.withUnsafeBytes { Array($0) }
        }
        func refusal(_ name: String, _ offset: Int = 0, _ length: Int = 1, epoch: Int = 5) -> String {
            let error = #expect(throws: CheckpointError.self) { try read(name, offset, length, epoch: epoch) }
            return error.map(String.init(describing:)) ?? ""
        }
        // Before the manifest: the symbol, not a shard.
        #expect(try read("net-symbol.json", 0, 2) == Array("{}".utf8))
        let shard = (layout.serverStatesPath(1) as NSString).lastPathComponent
        #expect(refusal(shard).contains("\(shard) is not a file of checkpoint 5"))
        try CheckpointAssembler.complete(
            layout, reports: reports, argShapes: ["w": [2, 5], "b": [3]], extra: [:], numWorkers: 1)
        let whole = try AtomicFile.read(layout.serverStatesPath(1))
        #expect(try read(shard, 0, whole.count) == whole)
        #expect(try read(shard, 3, 5) == Array(whole[3..<8]))
        #expect(try read("net-0005.params", 0, 8) == Array(try AtomicFile.read(layout.paramsPath)[0..<8]))
        for name in ["other.txt", "../net-0005.params", dir + "/other.txt", "net-0005.manifest.json"] {
            #expect(refusal(name).contains("is not a file of checkpoint 5"), "\(name)")
        }
        #expect(refusal(shard, whole.count - 1, 2).contains("the file has \(whole.count)"))
        #expect(refusal(shard, 0, 0).contains("asks 0 bytes"))
        #expect(refusal("net-0004.params", epoch: 4).contains("cannot be read"))
        let huge = CheckpointRead(prefix: prefix, epoch: 5, name: shard, offset: 0, length: 1 << 30)
        let error = #expect(throws: CheckpointError.self) { try huge.check(size: 1 << 31) }
        #expect("\(error.map(String.init(describing:)) ?? "")".contains("more than one answer may carry"))
    }

    /// A server's shard (CHECKPOINT) and a worker's offered file are read by the scheduler in chunks
    /// over a real cluster (in memory), each whole file checked; a file is withdrawn once read to
    /// its end, and a file not on offer, of another epoch or differing from its announcement is an
    /// error naming it.
    @Test func theSchedulerReadsOfferedFilesInChunks() throws {
        let cluster = try KVCluster(workers: 1, servers: 1)
        defer { cluster.stop() }
        let values = (0..<1000).map { Float($0) * 0.5 }
        #expect(
            cluster.onWorkers { _, store in try store.initialize(["w"], values: [NDArray(values, shape: [1000])]) }
                == [nil])
        let office = cluster.scheduler
        let layout = CheckpointLayout(prefix: "/ckpt/mlp", epoch: 3)
        let answer = try office.request(
            Message(
                body: [UInt8](try JSONEncoder().encode(CheckpointCommand(prefix: layout.prefix, epoch: 3))),
                control: Control(cmd: .checkpoint)), to: NodeID.server(0))
        #expect(answer.data.isEmpty)
        let report = try JSONDecoder().decode(ServerCheckpointReport.self, from: Data(answer.body))
        func download(_ file: CheckpointManifest.File, from node: Int32, chunk: Int = 333) throws -> [UInt8] {
            try CheckpointTransfer.download(
                file, prefix: layout.prefix, epoch: 3, from: node, office: office, path: "/ckpt/\(file.name)",
                chunkBytes: chunk)
        }
        for (file, path) in try report.destinations(in: layout) {
            let bytes = try download(file, from: NodeID.server(0))
            #expect(bytes.count == file.bytes, "\(path)")
            if file.role == "server-params" {
                #expect(file.bytes > 10 * 333)
                let slices = try ServerShardFile.decode(bytes, path: path)
                #expect(slices.map(\.name) == ["w"] && slices.first?.values.toArray() == values)
            }
            // Read to its end, the file is withdrawn.
            let again = #expect(throws: KVStoreError.self) { try download(file, from: NodeID.server(0)) }
            #expect("\(again.map(String.init(describing:)) ?? "")".contains("not on offer"))
        }

        let store = cluster.stores[0]
        let content = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let residuals = store.checkpointOutbox.offer(
            content, path: layout.workerResidualsPath(0), role: CheckpointManifest.workerResidualsRole, epoch: 3,
            worker: 0)
        #expect(store.checkpointOutbox.names == ["mlp-0003.worker0.residuals"])
        var forged = residuals
        forged.sha256 = String(repeating: "0", count: 64)
        let corrupt = #expect(throws: CheckpointError.self) {
            try download(forged, from: NodeID.worker(0), chunk: 1000)
        }
        #expect("\(corrupt.map(String.init(describing:)) ?? "")".contains("SHA-256"))
        _ = store.checkpointOutbox.offer(
            content, path: layout.workerResidualsPath(0), role: CheckpointManifest.workerResidualsRole, epoch: 3,
            worker: 0)
        #expect(try download(residuals, from: NodeID.worker(0), chunk: 7) == content)
        #expect(store.checkpointOutbox.names.isEmpty)
        // Streamed to a file: in place once whole and checked; a forged announcement leaves no file.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-read-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func save(_ file: CheckpointManifest.File) throws {
            _ = store.checkpointOutbox.offer(
                content, path: layout.workerResidualsPath(0), role: CheckpointManifest.workerResidualsRole, epoch: 3,
                worker: 0)
            try CheckpointTransfer.downloadToFile(
                file, prefix: layout.prefix, epoch: 3, from: NodeID.worker(0), office: office, path: dir + "/r",
                chunkBytes: 100)
        }
        #expect(throws: CheckpointError.self) { try save(forged) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
        try save(residuals)
        #expect(try AtomicFile.read(dir + "/r") == content)
        var unknown = residuals
        unknown.name = "mlp-0003.worker5.residuals"
        let missing = #expect(throws: KVStoreError.self) { try download(unknown, from: NodeID.worker(0)) }
        #expect("\(missing.map(String.init(describing:)) ?? "")".contains("mlp-0003.worker5.residuals"))
        // Only the scheduler may read what a worker offers.
        let offered = store.checkpointOutbox.offer(
            content, path: layout.workerResidualsPath(0), role: CheckpointManifest.workerResidualsRole, epoch: 3)
        let foreign = #expect(throws: KVStoreError.self) {
            try CheckpointTransfer.download(
                offered, prefix: layout.prefix, epoch: 3, from: NodeID.worker(0), office: cluster.serverOffices[0],
                path: "p", chunkBytes: 100)
        }
        #expect("\(foreign.map(String.init(describing:)) ?? "")".contains("only accepted from the scheduler"))
        #expect(store.checkpointOutbox.names == ["mlp-0003.worker0.residuals"])
        // An empty file is announced but never held.
        let empty = store.checkpointOutbox.offer([], path: "/ckpt/mlp-0003.e", role: "x", epoch: 3)
        #expect(empty.bytes == 0 && !store.checkpointOutbox.names.contains("mlp-0003.e"))
        #expect(try download(empty, from: NodeID.worker(0)) == [])
        _ = store.checkpointOutbox.offer(content, path: "/ckpt/mlp-0004.x", role: "x", epoch: 4)
        let stale = #expect(throws: KVStoreError.self) { try download(residuals, from: NodeID.worker(0)) }
        #expect("\(stale.map(String.init(describing:)) ?? "")".contains("checkpoint 4"))
        #expect(cluster.shutdown().allSatisfy { $0 == nil })
    }
}
