import PSTestSupport
import Testing

@testable import SwiftPSTransport

/// Seeded mutation fuzzing of `MetaCodec.decode`: every mutant of a realistic meta frame must decode
/// or throw a `WireError`, never trap, and what it decodes can never be larger than the frame.
@Suite struct MetaCodecFuzzTests {
    /// The meta frames the fuzzing starts from, by name: the kinds of message a job sends.
    static let samples: [(name: String, message: Message)] = {
        var joining = NodeInfo(
            role: .worker, hostname: "10.0.0.7", port: 41_234, shardSize: 60_000,
            auth: Array(repeating: 0xA5, count: 32),
            nonce: Array(0..<16), job: "3f2a9c0d1e4b5a67")
        joining.numWorkers = 2
        joining.numServers = 1
        joining.settings = ["--batch-size": "64", "--num-epochs": "3"]
        let table = [
            NodeInfo(role: .scheduler, id: 1, hostname: "10.0.0.1", port: 9100),
            NodeInfo(role: .server, id: 8, hostname: "10.0.0.5", port: 41_000, rank: 0),
            NodeInfo(role: .worker, id: 9, hostname: "10.0.0.7", port: 41_234, rank: 0, shardSize: 30_000),
            NodeInfo(role: .worker, id: 11, hostname: "10.0.0.8", port: 41_235, rank: 1, shardSize: 30_000),
        ]
        var tagged = Message(
            head: 1, request: true, push: true, appID: 0, customerID: 0, timestamp: 17, priority: -2, sender: 9,
            data: [Payload(copying: [UInt64(3)]), Payload(copying: [Float(0.25), -1.5]), Payload(copying: [Int32(2)])])
        tagged.seq = 1_234_567
        tagged.tag = Array(200..<216)
        return [
            (
                "push request",
                Message(
                    head: 1, request: true, push: true, customerID: 0, timestamp: 4_096, priority: -3, sender: 9,
                    data: [
                        Payload(copying: [UInt64(0), 1, 7]), Payload(copying: [Float](repeating: 0.5, count: 6)),
                        Payload(copying: [Int32(2), 2, 2]),
                    ])
            ),
            (
                "pull response with error",
                Message(
                    head: 2, body: Array(#"{"reason":"unknown key"}"#.utf8), pull: true, timestamp: 4_097, sender: 8,
                    error: "key 7 was never initialised: call init first", data: [Payload(copying: [UInt64(7)])])
            ),
            ("ADD_NODE request", Message(control: Control(cmd: .addNode, nodes: [joining]), request: true)),
            (
                "ADD_NODE table reply",
                Message(
                    control: Control(
                        cmd: .addNode, nodes: table, auth: Array(repeating: 0x3C, count: 32), nonce: Array(0..<16),
                        session: Array(100..<132), encrypted: true), sender: 1)
            ),
            (
                "BARRIER",
                Message(control: Control(cmd: .barrier, barrierGroup: 6, msgSig: 99), request: true, sender: 11)
            ),
            ("tagged push", tagged),
        ]
    }()

    /// What is wrong with a decoded meta whose frame had `inputCount` bytes: every collection it holds
    /// came out of the frame, so none can be longer than the frame (a string by at most 3x, when
    /// invalid UTF-8 bytes become U+FFFD).
    static func oversized(_ d: DecodedMeta, inputCount n: Int) -> [String] {
        var problems: [String] = []
        func check(_ what: String, _ count: Int, limit: Int) {
            if count > limit { problems.append("\(what) has \(count) elements from a \(n)-byte frame") }
        }
        let m = d.message
        check("body", m.body.count, limit: n)
        check("tag", m.tag.count, limit: n)
        check("error", m.error.utf8.count, limit: 3 * n)
        check("data types", d.dataTypes.count, limit: n)
        check("nodes", m.control.nodes.count, limit: n)
        check("control auth", m.control.auth.count, limit: n)
        check("control nonce", m.control.nonce.count, limit: n)
        check("session", m.control.session.count, limit: n)
        for node in m.control.nodes {
            check("hostname", node.hostname.utf8.count, limit: 3 * n)
            check("job", node.job.utf8.count, limit: 3 * n)
            check("node auth", node.auth.count, limit: n)
            check("node nonce", node.nonce.count, limit: n)
            check("settings", node.settings.count, limit: n)
        }
        return problems
    }

    /// The fields of a message that travel in the meta, for comparing two decodes (`Message` is not
    /// `Equatable`; `Control` is, and compares node settings as dictionaries).
    struct WireView: Equatable {
        var scalars: String
        var control: Control?

        init(_ m: Message) {
            scalars =
                "\(m.head)|\(m.body)|\(m.request)|\(m.push)|\(m.pull)|\(m.simpleApp)|\(m.appID)|"
                + "\(m.customerID)|\(m.timestamp)|\(m.priority)|\(m.sender)|\(m.error)|\(m.seq)|\(m.tag)"
            control = m.isControl ? m.control : nil
        }
    }

    /// Decodes every mutant; returns how many decoded and the problems found.
    static func fuzz(_ mutants: [[UInt8]]) -> (decoded: Int, problems: [String]) {
        var decoded = 0
        var problems: [String] = []
        for (index, bytes) in mutants.enumerated() {
            let d: DecodedMeta
            do { d = try MetaCodec.decode(bytes) } catch {
                // The typed throw makes this a WireError; it must still describe the frame.
                if case .undecodable(let count) = error, count != bytes.count {
                    problems.append("case \(index): undecodable(byteCount: \(count)) for \(bytes.count) bytes")
                }
                continue
            }
            decoded += 1
            problems += oversized(d, inputCount: bytes.count).map { "case \(index): \($0)" }
            // What was decoded can be sent again and reads back the same.
            do {
                let again = try MetaCodec.decode(MetaCodec.encode(d.message)).message
                if WireView(again) != WireView(d.message) {
                    problems.append("case \(index): re-encoding changed \(WireView(d.message)) to \(WireView(again))")
                }
            } catch {
                problems.append("case \(index): the re-encoded meta does not decode: \(error)")
            }
        }
        return (decoded, problems)
    }

    /// Mutants that replace the value of every varint field and the length prefix of every
    /// length-delimited field (in the meta, its control and its nodes) with boundary varints.
    static func fieldValueMutants(_ valid: [UInt8]) -> [[UInt8]] {
        guard let fields = ProtoWire.metaFields(valid) else { return [] }
        var values: [UInt64] = [0, 1, 0x7F, 0x80, 0x3FFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, UInt64.max]
        values += [UInt64(bitPattern: -1), UInt64(bitPattern: Int64(Int32.min)), UInt64(valid.count)]
        var out: [[UInt8]] = []
        for field in fields where field.wireType == 0 || field.wireType == 2 {
            var lengths = values
            if field.wireType == 2 {
                let content = field.end - field.value.upperBound
                lengths += [
                    UInt64(content + 1), UInt64(max(content - 1, 0)), UInt64(valid.count - field.value.upperBound + 1),
                ]
            }
            for value in lengths {
                out.append(ProtoWire.replacing(valid, field.value, with: ProtoWire.varint(value)))
            }
        }
        return out
    }

    @Test func theSamplesAreWellFormedAndUseMetaProtoFieldNumbers() throws {
        for (name, message) in Self.samples {
            let bytes = MetaCodec.encode(message)
            let fields = try #require(ProtoWire.metaFields(bytes), "\(name)")
            let top = Set(fields.filter { $0.parents.isEmpty }.map(\.number))
            #expect(top.contains(20), "\(name): version is field 20")
            if message.isControl {
                #expect(top.contains(3), "\(name): control is field 3")
                #expect(fields.contains { $0.parents == [3] && $0.number == 1 }, "\(name): cmd is control field 1")
            }
            if !message.data.isEmpty {
                #expect(top.contains(9) && top.contains(11), "\(name): data_type 9, data_size 11")
            }
            if !message.tag.isEmpty { #expect(top.contains(23) && top.contains(24), "\(name): seq 23, tag 24") }
        }
        let reply = MetaCodec.encode(Self.samples[3].message)
        let fields = try #require(ProtoWire.metaFields(reply))
        #expect(fields.filter { $0.parents == [3] && $0.number == 2 }.count == 4, "four node entries")
        #expect(fields.contains { $0.parents == [3] && $0.number == 25 }, "encrypted is control field 25")
        #expect(fields.contains { $0.parents == [3] && $0.number == 24 }, "session is control field 24")
    }

    @Test(arguments: 0..<6) func mutantsDecodeOrThrowWireErrors(sample: Int) throws {
        let (name, message) = Self.samples[sample]
        let valid = MetaCodec.encode(message)
        let start = try MetaCodec.decode(valid)
        #expect(WireView(start.message) == WireView(message), "\(name) round-trips")
        var mutants = Mutations.standard(valid, header: valid.count, random: 1500, seed: 0x5EED_0601 + UInt64(sample))
        mutants += Self.fieldValueMutants(valid)
        let (decoded, problems) = Self.fuzz(mutants)
        #expect(problems.isEmpty, "\(name): \(problems.prefix(5))")
        // Both outcomes occur: a flip inside a byte string still decodes, a cut inside a field does not.
        #expect(decoded > 0, "\(name): no mutant decoded")
        #expect(decoded < mutants.count, "\(name): every one of \(mutants.count) mutants decoded")
    }

    @Test func everyTruncationOfAValidMetaIsUndecodableOrShorter() throws {
        // A cut inside a field fails; a cut between fields leaves a valid meta with fewer fields, which
        // then fails the version check unless version (field 20) was already read.
        let valid = MetaCodec.encode(Self.samples[3].message)
        let fields = try #require(ProtoWire.metaFields(valid)).filter { $0.parents.isEmpty }
        let boundaries = Set(fields.map(\.start))
        let versionEnd = try #require(fields.first { $0.number == 20 }).end
        for cut in 0..<valid.count {
            let result = Result { () throws(WireError) in try MetaCodec.decode(Array(valid.prefix(cut))) }
            if !boundaries.contains(cut) {
                #expect(throws: WireError.undecodable(byteCount: cut)) { try result.get() }
            } else if cut < versionEnd {
                #expect(throws: WireError.unsupportedVersion(found: 0, expected: 1)) { try result.get() }
            } else {
                #expect(throws: Never.self) { try result.get() }
            }
        }
    }
}
