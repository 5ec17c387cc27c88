import Foundation
import SwiftPSTensor

/// The SwiftPS optimizer-state file: the portable replacement of MXNet 1.x's pickled `.states` file.
///
/// All integers are little-endian; floats are IEEE-754 binary32, little-endian. Layout (version 1):
///
///     offset  size       field
///     0       8          magic, the ASCII bytes "SPSOPT01"
///     8       4          version, UInt32 = 1
///     12      4          L, UInt32: length of the configuration JSON (0 = no configuration)
///     16      L          the `OptimizerConfig` as UTF-8 JSON (keys sorted)
///     16+L    4          P, UInt32: number of parameter records
///     then P records, each:
///             4          N, UInt32: length of the name (1 ... 65536)
///             N          the parameter name, UTF-8
///             8          C, UInt64: element count of this slice (of every state array)
///             8          offset, UInt64: where the slice starts in the whole parameter
///             8          T, UInt64: element count of the whole parameter (offset + C <= T)
///             8          numUpdate, UInt64: the parameter's update count
///             4          A, UInt32: number of state arrays (0 ... 16)
///             4*A*C      the arrays' float32 values, array after array
///             8          checksum, UInt64: FNV-1a (64-bit) of the record's bytes from N to the data end
///     nothing may follow the last record.
///
/// The same description is in `STATE-FORMAT.md`. `decode` throws `OptimizerError.badState` for any
/// truncation, bad field or checksum mismatch, naming the parameter record it was reading, and
/// `OptimizerError.badStateFile` naming the file as well when given its path (`load(from:)` does).
public enum OptimizerStateFile {
    /// The eight magic bytes, "SPSOPT01".
    public static let magic: [UInt8] = Array("SPSOPT01".utf8)
    /// The format version this code writes and reads.
    public static let version: UInt32 = 1
    /// The longest parameter name accepted, in UTF-8 bytes.
    public static let maxNameLength = 65_536
    /// The most state arrays a record may hold.
    public static let maxArrays = 16

    /// Serialises a configuration (optional) and a set of named states.
    ///
    /// Throws `OptimizerError.badParameter` if the configuration cannot be written as JSON
    /// (a non-finite number) or a name is empty or too long.
    public static func encode(
        config: OptimizerConfig? = nil, states: [NamedOptimizerState]
    ) throws(OptimizerError) -> [UInt8] {
        var out = magic
        LittleEndianBytes.append(version, to: &out)
        if let config {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let json: Data
            do { json = try encoder.encode(config) } catch {
                throw .badParameter("optimizer configuration cannot be written as JSON: \(error)")
            }
            LittleEndianBytes.append(UInt32(json.count), to: &out)
            out.append(contentsOf: json)
        } else {
            LittleEndianBytes.append(UInt32(0), to: &out)
        }
        LittleEndianBytes.append(UInt32(states.count), to: &out)
        // Reserved once: growing the output record by record reallocated and copied it each time
        // (80% of a 1.1 GB shard's 10 s encoding went to page faults and copies).
        out.reserveCapacity(
            states.reduce(out.count) { $0 + 64 + $1.name.utf8.count + 4 * $1.state.count * $1.state.arrays.count })
        for s in states {
            let name = Array(s.name.utf8)
            guard !name.isEmpty, name.count <= maxNameLength else {
                throw .badParameter("parameter name '\(s.name)' must have 1 to \(maxNameLength) bytes")
            }
            guard s.state.arrays.count <= maxArrays else {
                throw .badParameter("'\(s.name)' has \(s.state.arrays.count) state arrays; at most \(maxArrays)")
            }
            let start = out.count
            LittleEndianBytes.append(UInt32(name.count), to: &out)
            out.append(contentsOf: name)
            LittleEndianBytes.append(UInt64(s.state.count), to: &out)
            LittleEndianBytes.append(UInt64(s.offset), to: &out)
            LittleEndianBytes.append(UInt64(s.totalCount), to: &out)
            LittleEndianBytes.append(UInt64(s.state.numUpdate), to: &out)
            LittleEndianBytes.append(UInt32(s.state.arrays.count), to: &out)
            for a in s.state.arrays {
                a.withUnsafeBufferPointer { LittleEndianBytes.append($0, to: &out) }
            }
            let sum = out.withUnsafeBytes { fnv1a(UnsafeRawBufferPointer(rebasing: $0[start...])) }
            LittleEndianBytes.append(sum, to: &out)
        }
        return out
    }

    /// Reads a state file: the configuration, if one was written, and the named states in file order.
    ///
    /// Throws `OptimizerError.badState` saying which record and what is wrong for a truncated or
    /// corrupt file, a wrong magic or an unsupported version; given the `path` the bytes came from,
    /// every error is `OptimizerError.badStateFile` naming it (as `ParamsFile.decode(_:path:)` does).
    public static func decode(
        _ bytes: [UInt8], path: String? = nil
    ) throws(OptimizerError) -> (OptimizerConfig?, [NamedOptimizerState]) {
        do {
            return try decodeUnlabelled(bytes)
        } catch {
            guard let path else { throw error }
            switch error {
            case .badState(let reason): throw .badStateFile(path: path, reason: reason)
            case .badStateFile, .io: throw error
            case .unknownOptimizer, .badParameter: throw .badStateFile(path: path, reason: "\(error)")
            }
        }
    }

    /// Reads the state file at `path` (written by `encode`, or a server's `.states` shard): the
    /// configuration, if one was written, and the named states in file order, as MXNet's
    /// `Module.load_optimizer_states` reads its `.states` file.
    ///
    /// Throws `OptimizerError.io` if the file cannot be read and `OptimizerError.badStateFile`
    /// naming `path`, the record and the problem if it is truncated or corrupt.
    public static func load(from path: String) throws(OptimizerError) -> (OptimizerConfig?, [NamedOptimizerState]) {
        let bytes: [UInt8]
        do { bytes = try AtomicFile.read(path) } catch { throw .io(error) }
        return try decode(bytes, path: path)
    }

    private static func decodeUnlabelled(
        _ bytes: [UInt8]
    ) throws(OptimizerError) -> (OptimizerConfig?, [NamedOptimizerState]) {
        var r = ByteReader(bytes: bytes)
        let head = "file header"
        guard try r.bytes(8, head) == magic else {
            throw .badState("not a SwiftPS optimizer-state file (magic is not SPSOPT01)")
        }
        let v = try r.uint32(head)
        guard v == version else { throw .badState("state file version \(v) is not supported (this reads \(version))") }
        let configLength = Int(try r.uint32(head))
        var config: OptimizerConfig?
        if configLength > 0 {
            let json = try r.bytes(configLength, "optimizer configuration")
            do { config = try JSONDecoder().decode(OptimizerConfig.self, from: Data(json)) } catch {
                throw .badState("optimizer configuration JSON cannot be read: \(error)")
            }
        }
        let count = Int(try r.uint32(head))
        var states: [NamedOptimizerState] = []
        for i in 0..<count { states.append(try readRecord(&r, index: i)) }
        guard r.position == bytes.count else {
            throw .badState("\(bytes.count - r.position) unexpected bytes after the last parameter record")
        }
        return (config, states)
    }

    private static func readRecord(_ r: inout ByteReader, index: Int) throws(OptimizerError) -> NamedOptimizerState {
        let start = r.position
        var what = "parameter record \(index)"
        let nameLength = Int(try r.uint32(what))
        guard nameLength >= 1, nameLength <= maxNameLength else {
            throw .badState("\(what): name length \(nameLength) is outside 1...\(maxNameLength)")
        }
        let nameBytes = try r.bytes(nameLength, what)
        let name = String(decoding: nameBytes, as: UTF8.self)
        guard Array(name.utf8) == nameBytes else {
            throw .badState("\(what): the name is not valid UTF-8")
        }
        what = "parameter '\(name)' (record \(index))"
        let count = try r.uint64(what)
        let offset = try r.uint64(what)
        let total = try r.uint64(what)
        let numUpdate = try r.uint64(what)
        let arrayCount = Int(try r.uint32(what))
        let limit = UInt64(Int.max / 8)
        guard count <= limit, offset <= limit, total <= limit, numUpdate <= limit else {
            throw .badState("\(what): a count, offset or update count is impossibly large")
        }
        guard offset + count <= total else {
            throw .badState("\(what): slice \(offset)..<\(offset + count) lies outside the \(total) elements")
        }
        guard arrayCount <= maxArrays else {
            throw .badState("\(what): \(arrayCount) state arrays; at most \(maxArrays)")
        }
        let n = Int(count)
        let (floats, overflow) = n.multipliedReportingOverflow(by: 4 * arrayCount)
        guard !overflow, floats <= r.remaining else {
            throw .badState("\(what): truncated: \(arrayCount) arrays of \(n) floats need more bytes than remain")
        }
        var arrays: [NDArray] = []
        for _ in 0..<arrayCount {
            let a = NDArray(shape: [n])
            try r.floats(into: a.data, count: n, what)
            arrays.append(a)
        }
        let expected = r.checksum(from: start)
        let stored = try r.uint64(what)
        guard stored == expected else { throw .badState("\(what): checksum mismatch, the record is corrupt") }
        let state = OptimizerState(unchecked: n, arrays: arrays, numUpdate: Int(numUpdate))
        return try NamedOptimizerState(name: name, state: state, offset: Int(offset), totalCount: Int(total))
    }

    /// FNV-1a, 64-bit: offset basis 0xcbf29ce484222325, prime 0x100000001b3.
    static func fnv1a(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return h
    }

    /// Reads little-endian fields, throwing `badState("<what>: truncated ...")` past the end.
    private struct ByteReader {
        let bytes: [UInt8]
        var position = 0

        var remaining: Int { bytes.count - position }

        mutating func bytes(_ n: Int, _ what: String) throws(OptimizerError) -> [UInt8] {
            guard n >= 0, n <= remaining else {
                throw .badState("\(what): truncated: needs \(n) more bytes, \(remaining) remain")
            }
            defer { position += n }
            return Array(bytes[position..<(position + n)])
        }

        mutating func uint32(_ what: String) throws(OptimizerError) -> UInt32 { try integer(UInt32.self, what) }

        mutating func uint64(_ what: String) throws(OptimizerError) -> UInt64 { try integer(UInt64.self, what) }

        private mutating func integer<T: FixedWidthInteger>(_: T.Type, _ what: String) throws(OptimizerError) -> T {
            let size = MemoryLayout<T>.size
            guard remaining >= size else {
                throw .badState("\(what): truncated: needs \(size) more bytes, \(remaining) remain")
            }
            let value = bytes.withUnsafeBytes { LittleEndianBytes.integer(T.self, from: $0, at: position) }
            position += size
            return value
        }

        mutating func floats(
            into dst: UnsafeMutablePointer<Float>, count n: Int, _ what: String
        ) throws(OptimizerError) {
            guard n * 4 <= remaining else { throw .badState("\(what): truncated inside the state arrays") }
            bytes.withUnsafeBytes { raw in
                LittleEndianBytes.read(UnsafeRawBufferPointer(rebasing: raw[position...]), into: dst, count: n)
            }
            position += 4 * n
        }

        func checksum(from start: Int) -> UInt64 {
            bytes.withUnsafeBytes { OptimizerStateFile.fnv1a(UnsafeRawBufferPointer(rebasing: $0[start..<position])) }
        }
    }
}
