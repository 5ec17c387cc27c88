import Testing

@testable import SwiftPSTransport

/// Hand-built hostile meta frames, each with the outcome the wire format and `MetaCodec` promise.
@Suite struct MetaCodecHostileInputTests {
    typealias W = ProtoWire

    @Test func aLengthPrefixBeyondTheFrameIsUndecodable() throws {
        // body (field 2) claims 6 bytes, 3 follow.
        let short = W.tag(2, 2) + W.varint(6) + [1, 2, 3]
        #expect(throws: WireError.undecodable(byteCount: 5)) { try MetaCodec.decode(short) }
        // The same with version first, so only the length can be at fault.
        let late = W.version1 + short
        #expect(throws: WireError.undecodable(byteCount: late.count)) { try MetaCodec.decode(late) }
        // A 5-byte prefix claiming Int32.max and one claiming UInt64.max.
        for claim in [UInt64(Int32.max), UInt64.max] {
            let huge = W.version1 + W.tag(2, 2) + W.varint(claim) + [0]
            #expect(throws: WireError.undecodable(byteCount: huge.count)) { try MetaCodec.decode(huge) }
        }
        // Every length prefix of a real ADD_NODE reply (meta, control, node, strings, bytes) set one
        // past what remains in the frame.
        let valid = MetaCodec.encode(MetaCodecFuzzTests.samples[3].message)
        let fields = try #require(W.metaFields(valid)).filter { $0.wireType == 2 }
        #expect(fields.count > 10)
        for field in fields {
            let claim = UInt64(valid.count - field.value.upperBound + 1)
            let bytes = W.replacing(valid, field.value, with: W.varint(claim))
            #expect(throws: WireError.undecodable(byteCount: bytes.count), "field \(field.parents + [field.number])") {
                try MetaCodec.decode(bytes)
            }
        }
        // A nested length that fits in the frame but not in its enclosing control message.
        let node = W.tag(2, 2) + W.varint(40) + W.varintField(2, 5)
        let control = W.bytesField(3, W.varintField(1, 2) + node)
        let nested = control + W.version1 + Array(repeating: 0, count: 40)
        #expect(throws: WireError.undecodable(byteCount: nested.count)) { try MetaCodec.decode(nested) }
    }

    /// Repeated empty node entries (2 bytes each on the wire, ~200 bytes each decoded) would make a
    /// small frame cost a hundred times its size: decoding stops at `decodeBudget` and the frame is
    /// undecodable. A real node table of as many nodes, with their strings, decodes.
    @Test func aFrameThatWouldDecodeIntoFarMoreMemoryIsRefused() throws {
        let entry: [UInt8] = W.tag(2, 2) + [0]
        let empties = [UInt8]((0..<200_000).map { _ in entry }.joined())
        let control = W.bytesField(3, W.varintField(1, 2) + empties)
        let forged = W.version1 + control
        #expect(throws: WireError.undecodable(byteCount: forged.count)) { try MetaCodec.decode(forged) }
        var table = Message(control: Control(cmd: .addNode))
        table.control.nodes = (0..<5_000).map { i in
            var node = NodeInfo(
                role: .worker, id: Int32(9 + 2 * i), hostname: "10.0.\(i / 250).\(i % 250)", port: 9200,
                isRecovery: false,
                rank: Int32(i), shardSize: 60_000, auth: Array(repeating: 7, count: 32),
                nonce: Array(repeating: 3, count: 16),
                job: "3f2a9c0d1e4b5a67")
            node.settings = ["--batch-size": "128", "--num-epochs": "10", "--kv-store": "dist_sync"]
            return node
        }
        let real = MetaCodec.encode(table)
        #expect(try MetaCodec.decode(real).message.control.nodes.count == 5_000)
    }

    /// A connection's identity names a node only in the one spelling a node uses (`ps7`): ZeroMQ
    /// turns a second connection away only under identical bytes, so `ps07` beside a live `ps7`
    /// must not pass for node 7.
    @Test func onlyTheCanonicalIdentityNamesANode() {
        func id(_ text: String) -> Int32? { Array(text.utf8).withUnsafeBytes { nodeID(fromIdentity: $0) } }
        #expect(id("ps7") == 7 && id("ps11") == 11 && id("ps0") == 0 && id("ps2147483647") == Int32.max)
        for forged in ["ps07", "ps007", "ps00", "ps", "ps7a", "ps-7", "ps2147483648", "px7"] {
            #expect(id(forged) == nil, "\(forged)")
        }
        #expect(identityBytes(for: 9) == Array("ps9".utf8))
    }

    /// A meta frame over the limit is refused before it is decoded.
    @Test func aMetaOverTheLimitIsRefusedUndecoded() throws {
        let meta = MetaCodec.encode(Message(body: Array(repeating: 1, count: 4096)))
        #expect(throws: WireError.metaTooLarge(byteCount: meta.count, limit: 1024)) {
            try meta.withUnsafeBytes { raw throws(WireError) in try MetaCodec.decode(raw, limit: 1024) }
        }
        #expect(
            try meta.withUnsafeBytes { raw throws(WireError) in try MetaCodec.decode(raw, limit: 8192) }.message.body
                .count == 4096)
    }

    @Test func varintsLongerThanTenBytesAreUndecodable() throws {
        // Ten bytes is the longest varint (a negative int32 takes all ten): head = -1 decodes.
        let ten = W.tag(1, 0) + Array(repeating: 0xFF, count: 9) + [0x01] + W.version1
        #expect(try MetaCodec.decode(ten).message.head == -1)
        // Eleven and sixteen bytes (ten or more continuation bytes) do not.
        for continuation in [10, 15] {
            let long = W.tag(1, 0) + Array(repeating: 0x80, count: continuation) + [0x01] + W.version1
            #expect(throws: WireError.undecodable(byteCount: long.count)) { try MetaCodec.decode(long) }
        }
        // A varint running off the end of the frame, and one as a length prefix.
        #expect(throws: WireError.undecodable(byteCount: 3)) { try MetaCodec.decode(W.tag(1, 0) + [0x80, 0x80]) }
        let prefix = W.version1 + W.tag(2, 2) + Array(repeating: 0x80, count: 11) + [0x00]
        #expect(throws: WireError.undecodable(byteCount: prefix.count)) { try MetaCodec.decode(prefix) }
        // A tag that is itself an over-long varint.
        let tag = Array(repeating: 0x80, count: 11) + [0x08, 0x01] + W.version1
        #expect(throws: WireError.undecodable(byteCount: tag.count)) { try MetaCodec.decode(tag) }
    }

    @Test func repeatedFieldCountsComeFromTheBytesNotFromAClaim() throws {
        // A packed data_type (field 9) claiming Int32.max - 1 and Int32.max bytes of entries.
        for claim in [UInt64(Int32.max - 1), UInt64(Int32.max)] {
            let packed = W.version1 + W.tag(9, 2) + W.varint(claim) + [3, 3, 3]
            #expect(throws: WireError.undecodable(byteCount: packed.count)) { try MetaCodec.decode(packed) }
        }
        // 20 000 packed entries give exactly 20 000 types; one unknown among them is a typed error.
        let count = 20_000
        let many = W.version1 + W.bytesField(9, Array(repeating: 9, count: count))
        #expect(try MetaCodec.decode(many).dataTypes == Array(repeating: .float32, count: count))
        var bad = Array(repeating: UInt8(8), count: count)
        bad[count - 1] = 12
        #expect(throws: WireError.unknownDataType(12)) { try MetaCodec.decode(W.version1 + W.bytesField(9, bad)) }
        // Unpacked entries (one tag each) are accepted as well, as protobuf requires.
        let unpacked = W.version1 + W.varintField(9, 8) + W.varintField(9, 9) + W.varintField(9, 3)
        #expect(try MetaCodec.decode(unpacked).dataTypes == [.uint64, .float32, .int32])
        // 5 000 empty node entries: 5 000 servers with every field zero, no more.
        let nodes = W.bytesField(3, W.varintField(1, 2) + Array(repeating: [0x12, 0x00], count: 5_000).flatMap { $0 })
        let table = try MetaCodec.decode(nodes + W.version1).message.control.nodes
        #expect(table.count == 5_000)
        #expect(table.allSatisfy { $0 == NodeInfo(role: .server, id: 0) })
    }

    @Test func negativeNodeFieldsDecodeAsSentForTheRendezvousToJudge() throws {
        // The wire types are int32: the codec returns what was sent; ports and ids are checked where
        // they are used (a connect to port -1 fails there with the address in the error).
        let node = NodeInfo(role: .worker, id: -5, hostname: "h", port: -1, rank: Int32.min, shardSize: -3)
        let bytes = MetaCodec.encode(Message(control: Control(cmd: .addNode, nodes: [node])))
        let decoded = try MetaCodec.decode(bytes).message.control.nodes
        #expect(decoded == [node])
        // By hand: node { role: 1, id: -5, port: -1 }, each negative value a ten-byte varint.
        let entry = W.varintField(1, 1) + W.varintField(2, -5) + W.varintField(4, -1)
        #expect(entry.count == 2 + 11 + 11)
        let manual = W.bytesField(3, W.varintField(1, 2) + W.bytesField(2, entry)) + W.version1
        let read = try #require(try MetaCodec.decode(manual).message.control.nodes.first)
        #expect(read.id == -5 && read.port == -1 && read.role == .worker)
        // A port of 2^31 does not fit an int32: protobuf keeps the low 32 bits (Int32.min).
        let wide = W.varintField(4, 1 << 31)
        let wrapped = W.bytesField(3, W.varintField(1, 2) + W.bytesField(2, wide)) + W.version1
        #expect(try MetaCodec.decode(wrapped).message.control.nodes.first?.port == Int32.min)
        // Negative enum values are unknown values, each a typed error naming it.
        let role = W.bytesField(3, W.varintField(1, 2) + W.bytesField(2, W.varintField(1, -1))) + W.version1
        #expect(throws: WireError.unknownRole(-1)) { try MetaCodec.decode(role) }
        let cmd = W.bytesField(3, W.varintField(1, -2)) + W.version1
        #expect(throws: WireError.unknownCommand(-2)) { try MetaCodec.decode(cmd) }
        #expect(throws: WireError.unknownDataType(-1)) { try MetaCodec.decode(W.varintField(9, -1) + W.version1) }
    }

    @Test func invalidUTF8InAStringFieldIsRepairedNotTrusted() throws {
        // protobuf-c does not check UTF-8; the codec reads each string with Swift's repairing
        // decoder, so every invalid byte becomes U+FFFD and the value is a valid Swift string.
        let invalid: [UInt8] = [0x68, 0xFF, 0x69, 0xC3]  // "h", a stray byte, "i", a cut 2-byte sequence
        let error = W.bytesField(22, invalid) + W.version1
        #expect(try MetaCodec.decode(error).message.error == "h\u{FFFD}i\u{FFFD}")
        let node = W.varintField(1, 1) + W.bytesField(3, invalid) + W.bytesField(23, [0xED, 0xA0, 0x80])
        let meta = W.bytesField(3, W.varintField(1, 2) + W.bytesField(2, node)) + W.version1
        let read = try #require(try MetaCodec.decode(meta).message.control.nodes.first)
        #expect(read.hostname == "h\u{FFFD}i\u{FFFD}")
        // An encoded surrogate (ED A0 80) is invalid UTF-8 too: three replacement characters.
        #expect(read.job == "\u{FFFD}\u{FFFD}\u{FFFD}")
        // A setting's name and value are repaired the same way; one without '=' stays an error.
        let settings = W.bytesField(26, [0x61, 0xFF, 0x3D, 0x62]) + W.bytesField(26, [0xFF])
        let withSettings = W.bytesField(3, W.varintField(1, 2) + W.bytesField(2, settings)) + W.version1
        #expect(throws: WireError.malformedSetting("\u{FFFD}")) { try MetaCodec.decode(withSettings) }
        let good = W.bytesField(3, W.varintField(1, 2) + W.bytesField(2, W.bytesField(26, [0x61, 0xFF, 0x3D, 0x62])))
        let one = try #require(try MetaCodec.decode(good + W.version1).message.control.nodes.first)
        #expect(one.settings == ["a\u{FFFD}": "b"])
    }

    @Test func aNULInAStringEndsIt() throws {
        // protobuf-c hands strings over NUL-terminated, so a NUL inside one cuts it there: the text
        // after it is dropped, never read past.
        let meta = W.bytesField(22, Array("bad\0tail".utf8)) + W.version1
        #expect(try MetaCodec.decode(meta).message.error == "bad")
    }
}
