import Foundation
import SwiftPSTensor
import SwiftPSTransport

/// The application command in a KV message's `head` (MXNet packs its request type there too).
enum KVHead: Int32 {
    /// A push, a pull or a pushpull (the meta's `push`/`pull` flags say which).
    case data = 0
    /// Rank 0's first push of a key: it sets the stored value; `body` is a `KVSliceInfo` in JSON.
    case initialize = 1
    /// A push or pushpull whose values are 2-bit codes (`GradientCompression`): a uint32 frame of
    /// `ceil(n / 16)` words, `lens` = n; `body` is the threshold, a little-endian float32.
    case compressed = 2
    /// Another worker's description of the same key (`body`: its `KVSliceInfo`), no values: the server
    /// answers with an error naming both when it is not what worker 0 initialized.
    case check = 3
    /// A push or pushpull whose values are IEEE half precision (`GradientCompression` fp16): a uint16
    /// frame of n values, `lens` = n. The answer to such a pushpull carries the new weights the same
    /// way (answers repeat the request's head).
    case half = 4
}

/// What a SET_OPTIMIZER command asks of a server, in its `head`.
enum OptimizerUse: Int32 {
    /// Worker 0's optimizer, which the server runs on each merged gradient (MXNet's
    /// `update_on_kvstore`, the default).
    case install = 0
    /// Another worker's optimizer, compared with worker 0's installed one.
    case checkOnServers = 1
    /// Worker 0's optimizer, which the workers run (MXNet's `update_on_kvstore=False`): the server
    /// keeps it only to compare, and answers each pushpull with the summed gradient.
    case onWorkers = 2
    /// Another worker's optimizer, compared with worker 0's when the workers run it.
    case checkOnWorkers = 3

    /// Whether the command only compares a worker's optimizer with worker 0's.
    var isCheck: Bool { self == .checkOnServers || self == .checkOnWorkers }
}

/// What an initializing push tells the server about the slice it starts storing, so that the
/// server can key the optimizer state by parameter name (and slices by offset).
struct KVSliceInfo: Codable, Equatable {
    /// The parameter's name (`fc1_weight`).
    var name: String
    /// The number of elements of the whole parameter.
    var totalCount: Int
    /// Where this slice starts within the parameter.
    var offset: Int
    /// The parameter's shape (nil from a worker that did not say).
    var shape: [Int]? = nil
    /// How many keys the sending worker has initialized so far, this one included.
    var keys: Int? = nil

    /// `'fc1_weight' of shape (128, 784)`, for error messages.
    var described: String {
        "'\(name)' of \(shape.map { "shape \(NDArray.shapeDescription($0))" } ?? "\(totalCount) elements")"
    }
}

/// One KV message's data frames, as ps-lite lays them out: `keys` (uint64), then optionally
/// `vals` (float32; uint16 half-precision bits under `KVHead.half`; uint32 2-bit codes under
/// `KVHead.compressed`) and `lens` (int32, elements per key). SwiftPS sends exactly one key per message,
/// as MXNet's per-key `ZPush`/`ZPull` do.
struct KVFrames {
    var key: Int
    var values: Payload?
    var count: Int
    /// For a compressed push, the threshold its codes stand for (`values` holds the codes).
    var threshold: Float?
    /// Whether `values` holds half-precision bits (a `KVHead.half` request or answer).
    var half = false

    /// The frames of a message for `key` with `count` values in `values` (nil: keys only, a pull).
    static func encode(key: Int, values: Payload?, count: Int) -> [Payload] {
        var frames = [Payload(copying: [UInt64(key)])]
        if let values {
            frames.append(values)
            frames.append(Payload(copying: [Int32(count)]))
        }
        return frames
    }

    /// Parses and checks the frames of `message`; `needsValues` for pushes and pull answers.
    static func decode(_ message: Message, needsValues: Bool) throws(KVStoreError) -> KVFrames {
        let data = message.data
        guard data.count == 1 || data.count == 3 else {
            throw .remote("malformed KV message: \(data.count) data frames, expected keys or keys+vals+lens")
        }
        let keys: [UInt64]
        do {
            keys = try data[0].toArray(of: UInt64.self)
        } catch {
            throw .remote("malformed KV message: keys frame: \(error)")
        }
        guard keys.count == 1, keys[0] <= UInt64(Int32.max) else {
            throw .remote("malformed KV message: \(keys.count) keys (\(keys.prefix(3))), expected one key")
        }
        guard data.count == 3 else {
            if needsValues { throw .remote("malformed KV message: key \(keys[0]) carries no values") }
            return KVFrames(key: Int(keys[0]), values: nil, count: 0)
        }
        let lens: [Int32]
        do {
            lens = try data[2].toArray(of: Int32.self)
        } catch {
            throw .remote("malformed KV message: lens frame: \(error)")
        }
        if message.request && message.head == KVHead.compressed.rawValue {
            return try decodeCompressed(key: Int(keys[0]), codes: data[1], lens: lens, body: message.body)
        }
        // A half-precision request, or an answer in half precision (the server answers in float32
        // when the weights do not fit half precision: those frames are read as float32 below).
        if message.head == KVHead.half.rawValue && (message.request || data[1].dataType != .float32) {
            return try decodeHalf(key: Int(keys[0]), values: data[1], lens: lens)
        }
        guard data[1].dataType == .float32, let count = data[1].count(of: Float.self) else {
            throw .remote(
                "malformed KV message: values of key \(keys[0]) are \(data[1].byteCount) bytes of \(data[1].dataType), expected float32"
            )
        }
        guard lens.count == 1, Int(lens[0]) == count else {
            throw .remote("malformed KV message: lens \(lens.prefix(3)) do not match \(count) values of key \(keys[0])")
        }
        return KVFrames(key: Int(keys[0]), values: data[1], count: count)
    }

    private static func decodeCompressed(key: Int, codes: Payload, lens: [Int32], body: [UInt8])
        throws(KVStoreError) -> KVFrames
    {
        guard lens.count == 1, lens[0] >= 0 else {
            throw .remote("malformed compressed push of key \(key): lens \(lens.prefix(3))")
        }
        let count = Int(lens[0])
        let words = GradientCompression.wordCount(count)
        guard codes.dataType == .uint32, codes.byteCount == words * MemoryLayout<UInt32>.stride else {
            throw .remote(
                "malformed compressed push of key \(key): \(codes.byteCount) bytes of \(codes.dataType) for \(count) values, expected \(words) uint32 words"
            )
        }
        guard body.count == 4 else {
            throw .remote("malformed compressed push of key \(key): a \(body.count)-byte threshold, expected 4")
        }
        let threshold = body.withUnsafeBytes { LittleEndianBytes.float(from: $0) }
        guard threshold > 0, threshold.isFinite else {
            throw .remote("compressed push of key \(key) has threshold \(threshold), not a positive number")
        }
        return KVFrames(key: key, values: codes, count: count, threshold: threshold)
    }

    private static func decodeHalf(key: Int, values: Payload, lens: [Int32]) throws(KVStoreError) -> KVFrames {
        guard lens.count == 1, lens[0] >= 0 else {
            throw .remote("malformed half-precision values of key \(key): lens \(lens.prefix(3))")
        }
        let count = Int(lens[0])
        guard values.dataType == .uint16, values.byteCount == count * MemoryLayout<UInt16>.stride else {
            throw .remote(
                "malformed half-precision values of key \(key): \(values.byteCount) bytes of \(values.dataType) for \(count) values, expected \(count) uint16"
            )
        }
        return KVFrames(key: key, values: values, count: count, half: true)
    }

    /// The 4-byte body of a compressed push: `threshold`, little-endian.
    static func thresholdBody(_ threshold: Float) -> [UInt8] {
        var body: [UInt8] = []
        LittleEndianBytes.append(threshold, to: &body)
        return body
    }

    /// Writes (or, with `accumulate`, adds) the pushed values into `array`: float32 values as they
    /// are, 2-bit codes expanded. Throws when there are none or their count is not the array's.
    func write(into array: NDArray, accumulate: Bool) throws(KVStoreError) {
        guard count == array.count else { throw .remote("\(count) values for a slice of \(array.count)") }
        try write(into: array.data, accumulate: accumulate)
    }

    /// Writes (or adds) the `count` values to `destination`, which must hold that many.
    func write(into destination: UnsafeMutablePointer<Float>, accumulate: Bool) throws(KVStoreError) {
        guard let values else { throw .remote("a push without values") }
        do {
            if half {
                try values.withUnsafeBufferPointer(of: UInt16.self) { bits in
                    guard let bits = bits.baseAddress else { return }
                    Half.decode(bits, count: count, into: destination, accumulate: accumulate)
                }
            } else if let threshold {
                try values.withUnsafeBufferPointer(of: UInt32.self) { words in
                    guard let words = words.baseAddress else { return }
                    GradientCompression.dequantize(
                        words, count: count, threshold: threshold, into: destination, accumulate: accumulate)
                }
            } else {
                try values.withUnsafeBufferPointer(of: Float.self) { source in
                    guard let source = source.baseAddress else { return }
                    if accumulate {
                        Kernels.addInPlace(count, source, destination)
                    } else {
                        destination.update(from: source, count: count)
                    }
                }
            }
        } catch {
            throw .remote("unreadable pushed values: \(error)")
        }
    }
}

extension Payload {
    /// A float32 frame over `count` elements of `array` starting at `offset`, sent without copying:
    /// the frame keeps `array` alive until the transport releases it. The caller must not change those
    /// elements until the request is answered.
    static func floats(noCopy array: NDArray, offset: Int, count: Int) -> Payload {
        let start = UnsafeMutableRawPointer(array.data + offset)
        return Payload(
            bytesNoCopy: UnsafeMutableRawBufferPointer(start: start, count: count * MemoryLayout<Float>.stride),
            dataType: .float32,
            deallocator: { _ in withExtendedLifetime(array) {} })
    }

    /// A uint16 frame holding the half-precision bits of `count` elements at `source` (`KVHead.half`),
    /// and how many of them are infinite (beyond half precision's range, or infinite already).
    static func halves(from source: UnsafePointer<Float>, count: Int) -> (Payload, infinite: Int) {
        var infinite = 0
        let payload = Payload(count: count, of: UInt16.self) { buffer in
            if let base = buffer.baseAddress { infinite = Half.encode(source, count: count, into: base) }
        }
        return (payload, infinite)
    }

    /// A float32 frame holding a copy of `count` elements at `source`.
    static func floats(copying source: UnsafePointer<Float>, count: Int) -> Payload {
        Payload(count: count, of: Float.self) { buffer in
            if let base = buffer.baseAddress { base.update(from: source, count: count) }
        }
    }
}
