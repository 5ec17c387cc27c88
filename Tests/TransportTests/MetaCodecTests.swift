import Foundation
import Testing

@testable import SwiftPSTransport

@Suite struct MetaCodecTests {
    @Test func roundTripsEveryField() throws {
        var worker = NodeInfo(
            role: .worker, id: 11, hostname: "10.0.0.7", port: 41_234, isRecovery: true, rank: 1, shardSize: 30_000,
            auth: [1, 2, 3], nonce: [9, 8, 7, 6], job: "3f2a9c0d1e4b5a67")
        worker.numWorkers = 4
        worker.numServers = 2
        worker.settings = ["--num-epochs": "10", "--model-prefix": "ckpt/a=b", "--metrics": ""]
        worker.protocolVersion = 7
        let nodes = [worker, NodeInfo(role: .scheduler, id: 1, hostname: "host-a", port: 9100)]
        let control = Control(
            cmd: .addNode, nodes: nodes, barrierGroup: 6, msgSig: 0xDEAD_BEEF_0000_0001, epoch: 12,
            batchesPerEpoch: 468, auth: [0xAA, 0xBB], nonce: [0xCC])
        let message = Message(
            head: 42, body: Array("optimizer".utf8), control: control, request: true, push: true, pull: true,
            simpleApp: true, appID: 3, customerID: 4, timestamp: 1 << 40, priority: -7, sender: 9, recver: 8,
            error: "boom",
            data: [
                Payload(copying: [UInt64(1), 2, 3]), Payload(copying: [Float(1.5), 2.5]), Payload(copying: [Int32(4)]),
            ])
        let decoded = try MetaCodec.decode(MetaCodec.encode(message))
        let m = decoded.message
        #expect(m.head == 42)
        #expect(m.body == Array("optimizer".utf8))
        #expect(m.control == control)
        #expect(m.control.nodes.map(\.protocolVersion) == [7, 0])
        #expect(m.request && m.push && m.pull && m.simpleApp)
        #expect(m.appID == 3 && m.customerID == 4)
        #expect(m.timestamp == 1 << 40)
        #expect(m.priority == -7)
        #expect(m.sender == 9)
        #expect(m.recver == NodeID.unassigned, "recver is not on the wire, as in ps-lite")
        #expect(m.error == "boom")
        #expect(decoded.dataTypes == [.uint64, .float32, .int32])
        #expect(decoded.dataSize == 24 + 8 + 4)
        #expect(m.data.isEmpty)
    }

    @Test func roundTripsAnEmptyAppMessage() throws {
        let decoded = try MetaCodec.decode(MetaCodec.encode(Message()))
        #expect(decoded.message.control.cmd == .empty)
        #expect(!decoded.message.isControl)
        #expect(decoded.dataTypes.isEmpty)
    }

    @Test func garbageIsATypedError() {
        // Field 1, length-delimited, claims 255 bytes that are not there.
        #expect(throws: WireError.undecodable(byteCount: 2)) { try MetaCodec.decode([0x0A, 0xFF]) }
        #expect(throws: WireError.self) { try MetaCodec.decode([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) }
    }

    @Test func versionIsChecked() {
        // An empty meta has version 0; field 20 = 2 is a future version.
        #expect(throws: WireError.unsupportedVersion(found: 0, expected: 1)) { try MetaCodec.decode([]) }
        #expect(throws: WireError.unsupportedVersion(found: 2, expected: 1)) {
            try MetaCodec.decode([0xA0, 0x01, 0x02])
        }
    }

    @Test func unknownEnumValuesAreTypedErrors() {
        // control { cmd: 99 }, version 1.
        #expect(throws: WireError.unknownCommand(99)) {
            try MetaCodec.decode([0x1A, 0x02, 0x08, 0x63, 0xA0, 0x01, 0x01])
        }
        // data_type: [50] (packed), version 1.
        #expect(throws: WireError.unknownDataType(50)) { try MetaCodec.decode([0x4A, 0x01, 0x32, 0xA0, 0x01, 0x01]) }
    }

    @Test func aNodeSettingWithoutEqualsIsATypedError() {
        // control { node { settings: "ab" } }, version 1: field 26 (length-delimited) is tag 0xD2 0x01.
        let meta: [UInt8] = [0x1A, 0x07, 0x12, 0x05, 0xD2, 0x01, 0x02, 0x61, 0x62, 0xA0, 0x01, 0x01]
        #expect(throws: WireError.malformedSetting("ab")) { try MetaCodec.decode(meta) }
    }

    @Test func randomAndTruncatedBytesNeverCrash() {
        var rng = SystemRandomNumberGenerator()
        let valid = MetaCodec.encode(
            Message(head: 1, control: Control(cmd: .barrier, nodes: [NodeInfo(role: .server, hostname: "h")])))
        var failures = 0
        for cut in 0..<valid.count {
            do { _ = try MetaCodec.decode(Array(valid.prefix(cut))) } catch { failures += 1 }
        }
        #expect(failures > 0)
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = try? MetaCodec.decode(bytes)
        }
    }

    @Test func debugDescriptionLooksLikePsLite() {
        let message = Message(
            control: Control(cmd: .barrier, barrierGroup: 4), request: true, timestamp: 3, sender: 9, recver: 1,
            data: [Payload(copying: [Float(1)])])
        let text = message.debugDescription
        #expect(text.contains("9=>1"))
        #expect(text.contains("cmd=BARRIER"))
        #expect(text.contains("group=4"))
        #expect(text.contains("float32:4B"))
    }
}
