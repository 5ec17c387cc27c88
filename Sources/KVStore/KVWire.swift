import Foundation
import SwiftPSTensor
import SwiftPSTransport

/// The application command in a KV message's `head` (MXNet packs its request type there too).
enum KVHead: Int32 {
    /// A push, a pull or a pushpull (the meta's `push`/`pull` flags say which).
    case data = 0
    /// Rank 0's first push of a key: it sets the stored value; `body` is a `KVSliceInfo` in JSON.
    case initialize = 1
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
}

/// One KV message's data frames, as ps-lite lays them out: `keys` (uint64), then optionally
/// `vals` (float32) and `lens` (int32, elements per key). SwiftPS sends exactly one key per message,
/// as MXNet's per-key `ZPush`/`ZPull` do.
struct KVFrames {
    var key: Int
    var values: Payload?
    var count: Int

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

    /// A float32 frame holding a copy of `count` elements at `source`.
    static func floats(copying source: UnsafePointer<Float>, count: Int) -> Payload {
        Payload(count: count, of: Float.self) { buffer in
            if let base = buffer.baseAddress { base.update(from: source, count: count) }
        }
    }
}
