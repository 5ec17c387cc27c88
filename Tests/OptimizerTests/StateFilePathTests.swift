import Foundation
import SwiftPSTensor
import Testing

@testable import SwiftPSOptimizer

/// Errors of an optimizer-state file read from disk name the file, as `.params` errors do.
@Suite struct StateFilePathTests {
    /// A file without configuration holding parameter "w": 2 arrays of 3 values, update count 4.
    static func valid() throws -> [UInt8] {
        let state = try OptimizerState(count: 3, arrays: [NDArray([1, 2, 3]), NDArray([4, 5, 6])], numUpdate: 4)
        return try OptimizerStateFile.encode(states: [NamedOptimizerState(name: "w", state: state)])
    }

    /// Byte offsets in `valid()` worked out from the layout: 16 header bytes (no configuration),
    /// the record count (4), then the record: name length (4), "w" (1), four UInt64 fields (32),
    /// the array count (4), 2 x 3 floats (24) and the checksum (8).
    static let recordStart = 20
    static let dataStart = recordStart + 4 + 1 + 32 + 4
    static let fileLength = dataStart + 24 + 8

    /// Writes `bytes` to a new temporary file and runs `body` with its path.
    static func withFile<T>(_ bytes: [UInt8], _ body: (String) throws -> T) throws -> T {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-\(UUID()).states").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(path)
    }

    /// The error `load(from:)` throws for a file holding `bytes`, with the file's path.
    static func loadError(_ bytes: [UInt8]) throws -> (error: OptimizerError, path: String) {
        try withFile(bytes) { path in
            do throws(OptimizerError) {
                _ = try OptimizerStateFile.load(from: path)
            } catch {
                return (error, path)
            }
            Issue.record("the damaged file loaded")
            return (OptimizerError.badState("none"), path)
        }
    }

    @Test func aValidFileLoadsFromItsPath() throws {
        let bytes = try Self.valid()
        #expect(bytes.count == Self.fileLength)
        let (config, states) = try Self.withFile(bytes) { try OptimizerStateFile.load(from: $0) }
        #expect(config == nil)
        #expect(states.count == 1)
        #expect(states.first?.name == "w")
        #expect(states.first?.state.arrays.map { $0.toArray() } == [[1, 2, 3], [4, 5, 6]])
        #expect(states.first?.state.numUpdate == 4)
    }

    @Test func aTruncatedFileNamesItsPathAndRecord() throws {
        // Cut inside the second state array.
        let bytes = Array(try Self.valid().prefix(Self.dataStart + 14))
        let (error, path) = try Self.loadError(bytes)
        guard case .badStateFile(let named, let reason) = error else {
            Issue.record("expected badStateFile, got \(error)")
            return
        }
        #expect(named == path)
        #expect(error.path == path)
        #expect(reason.contains("'w'") && reason.contains("truncated"), "\(reason)")
        #expect("\(error)".hasPrefix("\(path): "), "\(error)")
    }

    @Test func aCorruptFileNamesItsPath() throws {
        // A flipped bit in the first float fails the record's checksum.
        var flipped = try Self.valid()
        flipped[Self.dataStart] ^= 0x01
        let (checksum, path) = try Self.loadError(flipped)
        #expect(
            checksum
                == .badStateFile(
                    path: path, reason: "parameter 'w' (record 0): checksum mismatch, the record is corrupt"))
        #expect("\(checksum)".contains(path))
        // Another file's magic, and a byte after the last record.
        var magic = try Self.valid()
        magic[0] = UInt8(ascii: "X")
        let (wrongMagic, magicPath) = try Self.loadError(magic)
        #expect(wrongMagic.path == magicPath)
        #expect("\(wrongMagic)".contains(magicPath) && "\(wrongMagic)".contains("SPSOPT01"), "\(wrongMagic)")
        let (trailing, trailingPath) = try Self.loadError(try Self.valid() + [0])
        #expect(
            trailing == .badStateFile(path: trailingPath, reason: "1 unexpected bytes after the last parameter record"))
    }

    @Test func aMissingFileIsAnIOErrorNamingIt() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-\(UUID())-absent.states").path
        #expect(throws: OptimizerError.self) { try OptimizerStateFile.load(from: path) }
        do throws(OptimizerError) {
            _ = try OptimizerStateFile.load(from: path)
        } catch {
            guard case .io(let io) = error else {
                Issue.record("expected io, got \(error)")
                return
            }
            #expect(io.code == ENOENT)
            #expect(error.path == path)
            #expect("\(error)".contains(path))
        }
    }

    @Test func everyTruncationNamesThePathOnlyWhenGivenOne() throws {
        let bytes = try Self.valid()
        for cut in 0..<bytes.count {
            let prefix = Array(bytes.prefix(cut))
            do throws(OptimizerError) {
                _ = try OptimizerStateFile.decode(prefix, path: "ckpt/net-0002.states")
                Issue.record("a \(cut)-byte prefix decoded")
            } catch {
                #expect(error.path == "ckpt/net-0002.states", "cut \(cut): \(error)")
                #expect("\(error)".hasPrefix("ckpt/net-0002.states: "), "cut \(cut): \(error)")
            }
            do throws(OptimizerError) {
                _ = try OptimizerStateFile.decode(prefix)
                Issue.record("a \(cut)-byte prefix decoded")
            } catch {
                // Without a path the error is the plain badState it always was.
                guard case .badState = error else {
                    Issue.record("cut \(cut): \(error) is not badState")
                    continue
                }
                #expect(error.path == nil)
            }
        }
    }
}
