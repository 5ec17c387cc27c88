import Foundation
import PSTestSupport
import SwiftPSCluster
import SwiftPSOptimizer
import SwiftPSTensor
import SwiftPSTransport
import Testing

@testable import SwiftPSKVStore

/// Malformed KV messages whose meta is valid but whose data frames are not: `KVFrames.decode`
/// rejects them with an error, and a server in an in-memory cluster answers each with an error
/// and keeps serving, never traps.
@Suite struct WireFuzzTests {
    /// A frame of `bytes` with element type `type`.
    static func frame(_ bytes: [UInt8], _ type: WireDataType) -> Payload {
        bytes.withUnsafeBytes { Payload(copying: $0, dataType: type) }
    }

    static func le<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        var out: [UInt8] = []
        for v in values { LittleEndianBytes.append(v, to: &out) }
        return out
    }

    /// Data frames that do not add up, with the head, push/pull flags and body to send them with.
    static func malformed(seed: UInt64) -> [Message] {
        let key = Payload(copying: [UInt64(0)])
        let vals = Payload(copying: [Float](repeating: 1, count: 4))
        let lens = Payload(copying: [Int32(4)])
        let keyFrames: [Payload] = [
            frame([], .uint64), frame(le([UInt64(0), 1]), .uint64), frame(le([UInt64.max]), .uint64),
            frame(le([UInt64(Int32.max)]), .uint64), frame([1, 2, 3], .uint64), frame([0, 0, 0, 0], .float32),
            frame(le([UInt64(1) << 40]), .uint64),
        ]
        let lensFrames: [Payload] = [
            frame([], .int32), Payload(copying: [Int32(-1)]), Payload(copying: [Int32.max]),
            Payload(copying: [Int32.min]),
            Payload(copying: [Int32(5)]), Payload(copying: [Int32(3)]), Payload(copying: [Int32(4), 4]),
            frame([4, 0], .int32), Payload(copying: [Int64(4)]),
        ]
        let valsFrames: [Payload] = [
            frame([], .float32), frame([1, 2, 3], .float32), Payload(copying: [UInt32(1), 2, 3, 4]),
            Payload(copying: [Float](repeating: 1, count: 5)), frame([0, 0, 0, 0, 0, 0, 0, 0], .float64),
        ]
        var frameSets: [[Payload]] = [[], [key, vals], [key, vals, lens, lens], [key, key, key]]
        frameSets += keyFrames.map { [$0] } + keyFrames.map { [$0, vals, lens] }
        frameSets += lensFrames.map { [key, vals, $0] } + valsFrames.map { [key, $0, lens] }
        // Compressed codes: 4 values need 1 word; wrong sizes, types and counts.
        let codesFrames: [Payload] = [
            frame([], .uint32), Payload(copying: [UInt32(0), 0]), Payload(copying: [Float(0)]), frame([1, 2], .uint32),
            Payload(copying: [UInt32.max]),
        ]
        let threshold = KVFrames.thresholdBody(0.5)
        var compressed: [([Payload], [UInt8])] = codesFrames.map { ([key, $0, lens], threshold) }
        compressed += lensFrames.map { ([key, Payload(copying: [UInt32(0)]), $0], threshold) }
        for t in [Float.nan, -1, 0, .infinity, .leastNonzeroMagnitude] {
            compressed.append(([key, Payload(copying: [UInt32.max]), lens], KVFrames.thresholdBody(t)))
        }
        compressed += [[], [1, 2, 3], [1, 2, 3, 4, 5]].map { ([key, Payload(copying: [UInt32(0)]), lens], $0) }

        // Half-precision values: 4 values need 8 bytes of uint16; wrong sizes, types and counts.
        let halfFrames: [Payload] = [
            frame([], .uint16), Payload(copying: [UInt16](repeating: 0, count: 3)),
            Payload(copying: [UInt16](repeating: 0, count: 5)), Payload(copying: [Float](repeating: 1, count: 4)),
            frame([1, 2, 3], .uint16), Payload(copying: [UInt32](repeating: 0, count: 2)),
        ]
        var half: [[Payload]] = halfFrames.map { [key, $0, lens] }
        half += lensFrames.map { [key, Payload(copying: [UInt16](repeating: 0x3C00, count: 4)), $0] }

        var messages: [Message] = []
        for frames in half {
            messages.append(Message(head: KVHead.half.rawValue, push: true, pull: true, data: frames))
        }
        messages.append(Message(head: KVHead.half.rawValue, pull: true, data: [key]))
        for frames in frameSets {
            for (push, pull) in [(true, false), (false, true), (true, true)] {
                messages.append(Message(head: KVHead.data.rawValue, push: push, pull: pull, data: frames))
            }
        }
        for (frames, body) in compressed {
            messages.append(Message(head: KVHead.compressed.rawValue, body: body, push: true, pull: true, data: frames))
        }
        // Initializing pushes whose slice description does not fit the values.
        let descriptions = [
            #"{"name":"w","totalCount":9223372036854775807,"offset":9223372036854775807}"#,
            #"{"name":"w","totalCount":4,"offset":9223372036854775807}"#,
            #"{"name":"w","totalCount":-9223372036854775808,"offset":1}"#,
            #"{"name":"w","totalCount":4,"offset":-1}"#, #"{"name":"w","totalCount":3,"offset":0}"#,
            #"{"name":"x","totalCount":4,"offset":0}"#, #"{"name":"w","totalCount":4}"#, "", "{", "[]",
            #"{"name":"w","totalCount":1e300,"offset":0}"#,
            #"{"name":"w","totalCount":4,"offset":0,"shape":[-1,99999999999]}"#,
        ]
        for body in descriptions {
            messages.append(
                Message(head: KVHead.initialize.rawValue, body: Array(body.utf8), push: true, data: [key, vals, lens]))
            messages.append(Message(head: KVHead.check.rawValue, body: Array(body.utf8), data: [key]))
        }
        messages.append(Message(head: 99, push: true, data: [key, vals, lens]))
        messages.append(Message(head: KVHead.compressed.rawValue, body: threshold, pull: true, data: [key]))
        // Field overwrites of the keys and lens frames' bytes, with random element types.
        var rng = SplitMix64(seed: seed)
        let types: [WireDataType] = [.uint64, .int32, .float32, .uint32, .uint8, .int64, .other]
        for keyBytes in Mutations.fieldOverwrites(le([UInt64(0)]), offsets: 0..<8) {
            let lensBytes = Mutations.random(le([Int32(4)]), count: 1, seed: rng.next())[0]
            let keyType = rng.next() % 4 == 0 ? types[Int(rng.next() % UInt64(types.count))] : .uint64
            messages.append(
                Message(
                    head: KVHead.data.rawValue, push: true, pull: true,
                    data: [frame(keyBytes, keyType), vals, frame(lensBytes, .int32)]))
        }
        return messages
    }

    @Test func malformedFramesAreRejectedByTheDecoder() {
        var rejected = 0
        let messages = Self.malformed(seed: 0x5EED_0401)
        for var message in messages {
            message.request = true
            do {
                _ = try KVFrames.decode(message, needsValues: message.push)
            } catch {
                rejected += 1
            }
        }
        #expect(rejected > messages.count / 2)
    }

    @Test func serverAnswersMalformedPushesWithErrorsAndKeepsServing() throws {
        let cluster = try KVCluster(workers: 1, servers: 1, type: .distAsync)
        defer { cluster.stop() }
        let worker = cluster.workerOffices[0]
        let server = NodeID.server(0)
        let key = Payload(copying: [UInt64(0)])
        let lens = Payload(copying: [Int32(4)])
        let body = Array(#"{"name":"w","totalCount":4,"offset":0}"#.utf8)
        _ = try worker.request(
            Message(
                head: KVHead.initialize.rawValue, body: body, push: true,
                data: [key, Payload(copying: [Float(1), 2, 3, 4]), lens]), to: server, timeout: 10)
        var refused = 0
        let messages = Self.malformed(seed: 0x5EED_0402)
        for message in messages {
            do {
                _ = try worker.request(message, to: server, timeout: 10)
            } catch ClusterError.remoteError {
                refused += 1
            } catch {
                Issue.record("no error answer to \(message.debugDescription): \(error)")
                return
            }
        }
        #expect(refused > messages.count / 2)
        // Still serving: a valid push replaces the value (dist_async, no optimizer), a pull reads it.
        _ = try worker.request(
            Message(
                head: KVHead.data.rawValue, push: true, data: [key, Payload(copying: [Float(5), 6, 7, 8]), lens]),
            to: server, timeout: 10)
        let answer = try worker.request(Message(head: KVHead.data.rawValue, pull: true, data: [key]), to: server)
        #expect((try? answer.data[1].toArray(of: Float.self)) == [5, 6, 7, 8])
    }

    /// The mode and the optimizer come from worker 0 alone (other workers only check theirs): a
    /// SYNC_MODE or SET_OPTIMIZER from another worker is refused, and changes nothing.
    @Test func onlyWorkerZeroSetsTheModeAndTheOptimizer() throws {
        let cluster = try KVCluster(workers: 2, servers: 1)
        defer { cluster.stop() }
        let other = try #require(cluster.workerOffices.first { $0.rank != 0 })
        let server = NodeID.server(0)
        do {
            _ = try other.request(Message(head: 0, control: Control(cmd: .syncMode)), to: server, timeout: 10)
            Issue.record("worker 1 switched the server's mode")
        } catch ClusterError.remoteError(_, let message) {
            #expect(message.contains("only accepted from worker 0"), "\(message)")
        }
        let body = [UInt8](try JSONEncoder().encode(OptimizerConfig(name: "sgd", learningRate: 0.5)))
        do {
            _ = try other.request(
                Message(head: OptimizerUse.install.rawValue, body: body, control: Control(cmd: .setOptimizer)),
                to: server, timeout: 10)
            Issue.record("worker 1 installed an optimizer")
        } catch ClusterError.remoteError(_, let message) {
            #expect(message.contains("only accepted from worker 0"), "\(message)")
        }
        #expect(cluster.servers[0].isSyncMode)
    }

    /// An initializing request that fails leaves no key behind: one without values (not a push) is
    /// refused, and the real initialization of that key then succeeds.
    @Test func aFailedInitializationLeavesNoKey() throws {
        let cluster = try KVCluster(workers: 1, servers: 1, type: .distAsync)
        defer { cluster.stop() }
        let worker = cluster.workerOffices[0]
        let server = NodeID.server(0)
        let key = Payload(copying: [UInt64(0)])
        let body = Array(#"{"name":"w","totalCount":4,"offset":0}"#.utf8)
        #expect(throws: ClusterError.self) {
            _ = try worker.request(
                Message(head: KVHead.initialize.rawValue, body: body, data: [key]), to: server, timeout: 10)
        }
        _ = try worker.request(
            Message(
                head: KVHead.initialize.rawValue, body: body, push: true,
                data: [key, Payload(copying: [Float(1), 2, 3, 4]), Payload(copying: [Int32(4)])]),
            to: server, timeout: 10)
        let answer = try worker.request(Message(head: KVHead.data.rawValue, pull: true, data: [key]), to: server)
        #expect((try? answer.data[1].toArray(of: Float.self)) == [1, 2, 3, 4])
    }
}
