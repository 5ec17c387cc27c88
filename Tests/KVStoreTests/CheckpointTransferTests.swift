import Foundation
import SwiftPSKVStore
import SwiftPSTensor
import SwiftPSTransport
import Testing

/// Checkpoint files travelling to and from the scheduler, which alone reads and writes them.
struct CheckpointTransferTests {
    private let files = CheckpointFileTests()

    /// Shards joined from received bytes equal the shards read from disk; a file left out or
    /// changed is named.
    @Test func shardsFromBytesMatchShardsFromFiles() throws {
        let (dir, prefix) = try files.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let layout = CheckpointLayout(prefix: prefix, epoch: 3)
        let reports = try files.writeShards(layout)
        let manifest = CheckpointManifest(
            epoch: 3, numServers: 2, numWorkers: 1, optimizer: reports[0].optimizer, files: reports.flatMap(\.files))
        var contents: [String: [UInt8]] = [:]
        for file in manifest.files { contents[file.name] = try AtomicFile.read(manifest.path(of: file, in: layout)) }
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

    /// The scheduler checks a server's frames against its report: a wrong size, SHA-256, count or
    /// name is a `CheckpointError` naming the server.
    @Test func aServersFramesAreCheckedAgainstItsReport() throws {
        let layout = CheckpointLayout(prefix: "/ckpt/mlp", epoch: 4)
        let weights: [UInt8] = [1, 2, 3, 4]
        let states: [UInt8] = [5, 6]
        let report = ServerCheckpointReport(
            server: 1,
            files: [
                .init(path: layout.serverParamsPath(1), role: "server-params", server: 1, content: weights),
                .init(path: layout.serverStatesPath(1), role: "server-states", server: 1, content: states),
            ], optimizer: nil)
        let received = try report.received([weights, states], layout: layout)
        #expect(received.map(\.path) == [layout.serverParamsPath(1), layout.serverStatesPath(1)])
        #expect(received.map(\.bytes) == [weights, states])

        let cases: [[[UInt8]]] = [[weights, [5, 7]], [weights, [5]], [weights], [weights, states, states]]
        for frames in cases {
            let error = #expect(throws: CheckpointError.self) { try report.received(frames, layout: layout) }
            let text = error.map(String.init(describing:)) ?? ""
            #expect(text.contains("server 1"), "\(text)")
        }
        var renamed = report
        renamed.files[0].name = "../../etc/passwd"
        let error = #expect(throws: CheckpointError.self) { try renamed.received([weights, states], layout: layout) }
        #expect("\(error.map(String.init(describing:)) ?? "")".contains("server 1 reported ../../etc/passwd"))
    }

    /// The request and answer bodies survive JSON, and bytes survive a data frame.
    @Test func requestAndAnswerBodiesRoundTrip() throws {
        let fetch = CheckpointFetch(prefix: "/ckpt/mlp", epoch: 2, files: ["mlp-0002.server0.params"])
        #expect(try JSONDecoder().decode(CheckpointFetch.self, from: JSONEncoder().encode(fetch)) == fetch)
        #expect(fetch.layout == CheckpointLayout(prefix: "/ckpt/mlp", epoch: 2))
        for request in [
            ResumeRequest(prefix: "/ckpt/mlp", loadEpoch: 3, resume: false),
            ResumeRequest(prefix: nil, loadEpoch: nil, resume: true),
        ] {
            #expect(try JSONDecoder().decode(ResumeRequest.self, from: JSONEncoder().encode(request)) == request)
        }
        for answer in [ResumeAnswer(epoch: 2, hasServerShards: true), ResumeAnswer(epoch: nil, hasServerShards: false)]
        {
            #expect(try JSONDecoder().decode(ResumeAnswer.self, from: JSONEncoder().encode(answer)) == answer)
        }
        let bytes: [UInt8] = [0, 255, 7, 42, 9]
        let message = Message(data: [CheckpointTransfer.frame(bytes), CheckpointTransfer.frame([])])
        #expect(CheckpointTransfer.frames(message) == [bytes, []])
    }

    /// A shard too large for one message is refused with the limit and what to do, before sending.
    @Test func aShardTooLargeForOneMessageIsAClearError() throws {
        try CheckpointTransfer.checkFits(1000, what: "server 0's shard", limit: 2 << 20)
        let error = #expect(throws: CheckpointError.self) {
            try CheckpointTransfer.checkFits(2 << 20, what: "server 0's shard of checkpoint 1", limit: 2 << 20)
        }
        let text = error.map(String.init(describing:)) ?? ""
        #expect(text.contains("server 0's shard of checkpoint 1") && text.contains("-s"), "\(text)")
        #expect(TransportLimits().maxMessageBytes == 1 << 30)
        let hinted = #expect(throws: CheckpointError.self) {
            try CheckpointTransfer.checkFits(2 << 20, what: "worker 0's checkpoint", limit: 2 << 20, hint: "do this")
        }
        #expect(hinted.map(String.init(describing:))?.hasSuffix("for the header): do this") == true)
    }
}
