import CZlib
import Foundation
import PSTestSupport
import Testing

@testable import SwiftPSModule
@testable import SwiftPSTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Seeded mutation fuzzing of the data-file readers (IDX in memory and from gzip or plain files,
/// CSV, and `SampleFile`'s detection of the three formats): every mutant must be read or give a
/// typed error naming the file, never trap.
@Suite struct DataFileFuzzTests {
    /// A big-endian uint32.
    static func be(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    /// 3 images of 2×3 pixels.
    static let images: [UInt8] = [0, 0, 8, 3] + be(3) + be(2) + be(3) + Array(0..<18)
    /// 3 labels.
    static let labels: [UInt8] = [0, 0, 8, 1] + be(3) + [7, 0, 9]

    /// Checks that `error` is a `DataIterError` whose message names `path`.
    static func expectNames(_ path: String, _ error: any Error, _ index: Int) {
        #expect(error is DataIterError || error is NPYError, "case \(index): \(error)")
        #expect("\(error)".contains(path), "case \(index): \(error)")
    }

    @Test func idxMutantsInMemoryDecodeOrThrow() {
        var cases = 0
        for (valid, rank) in [(Self.images, 3), (Self.labels, 1)] {
            let header = 4 + 4 * rank
            let mutants =
                Mutations.standard(valid, header: header, random: 1000, seed: 0x5EED_0101 + UInt64(rank))
                + Mutations.fieldOverwrites(valid, offsets: 0..<header, bigEndian: true)
            for (index, bytes) in mutants.enumerated() {
                do {
                    let idx = try IdxFile.decode(bytes, path: "fuzz.idx", expectedRank: rank)
                    #expect(idx.values.count == idx.dims.reduce(1, *))
                } catch {
                    Self.expectNames("fuzz.idx", error, index)
                }
                _ = try? IdxFile.decode(bytes, path: "fuzz.idx", expectedRank: rank, headerOnly: true)
            }
            cases += mutants.count
        }
        #expect(cases > 2000)
    }

    /// Header mutants written as files, plain and gzipped, read by `MNISTIter` (both files) and by
    /// `SampleFile`: the path that reads the header first and then the values.
    @Test func idxFileMutantsReadOrThrow() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let imagePath = dir.path + "/img"
        let labelPath = dir.path + "/lbl"
        try write(Self.labels, to: labelPath, gzip: false)
        let mutants =
            Mutations.fieldOverwrites(Self.images, offsets: 0..<16, bigEndian: true)
            + Mutations.truncations(Self.images) + Mutations.random(Self.images, count: 150, seed: 0x5EED_0103)
        var read = 0
        for (index, bytes) in mutants.enumerated() {
            let gzip = index % 2 == 1
            try write(bytes, to: imagePath, gzip: gzip)
            do {
                let iter = try MNISTIter(image: imagePath, label: labelPath, batchSize: 2, shuffle: false)
                #expect(iter.sampleCount == 3)
                read += 1
            } catch {
                Self.expectNames(imagePath, error, index)
            }
            do {
                _ = try SampleFile.load(imagePath)
            } catch {
                Self.expectNames(imagePath, error, index)
            }
        }
        #expect(read > 0 && read < mutants.count)
    }

    /// The header of a file with 0 images but 2^32-1 × 2^32-1 pixels each, and one claiming 2^31
    /// images of 2^31 pixels in a few bytes: errors, before any allocation of that size.
    @Test func idxHeadersClaimingHugeContentAreErrors() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let labelPath = dir.path + "/lbl"
        try write(Self.labels, to: labelPath, gzip: false)
        let headers: [[UInt8]] = [
            [0, 0, 8, 3] + Self.be(0) + Self.be(0xFFFF_FFFF) + Self.be(0xFFFF_FFFF),
            [0, 0, 8, 3] + Self.be(0) + Self.be(65536) + Self.be(65536),
            [0, 0, 8, 3] + Self.be(0x8000_0000) + Self.be(0x8000_0000) + Self.be(1),
            [0, 0, 8, 3] + Self.be(3) + Self.be(0xFFFF_FFFF) + Self.be(0xFFFF_FFFF),
        ]
        for (index, header) in headers.enumerated() {
            for gzip in [false, true] {
                let path = dir.path + "/img\(index)\(gzip ? ".gz" : "")"
                try write(header + [1, 2, 3], to: path, gzip: gzip)
                #expect(throws: DataIterError.self) {
                    try MNISTIter(image: path, label: labelPath, batchSize: 2, shuffle: false)
                }
                #expect(throws: DataIterError.self) { try SampleFile.load(path) }
            }
        }
        // An IDX file of floats is said to be one, not read as a CSV line of binary bytes.
        let floats = dir.path + "/floats"
        try write([0, 0, 0x0D, 2] + Self.be(1) + Self.be(1) + [0, 0, 0, 0], to: floats, gzip: false)
        let floatError = #expect(throws: DataIterError.self) { try SampleFile.load(floats) }
        #expect(
            "\(String(describing: floatError))".contains("IDX file of element type 0xD"),
            "\(String(describing: floatError))")
        // With a label file of 0 labels too, the counts agree and only the image size is left.
        try write([0, 0, 8, 1] + Self.be(0), to: labelPath, gzip: false)
        for header in headers.prefix(2) {
            let path = dir.path + "/empty"
            try write(header, to: path, gzip: false)
            #expect(throws: DataIterError.self) {
                try MNISTIter(image: path, label: labelPath, batchSize: 2, shuffle: false)
            }
        }
        let hugeLabels = [0, 0, 8, 1] + Self.be(0xFFFF_FFFF) + [1, 2]
        try write(hugeLabels, to: labelPath, gzip: true)
        #expect(throws: DataIterError.self) {
            try IdxFile.read(labelPath, expectedRank: 1, missingHint: "")
        }
    }

    @Test func csvMutantsParseOrThrow() {
        let valid = Array("1,2,3\n4.5, -6 ,7e3\n\n8,9,10\r\n".utf8)
        var mutants = Mutations.standard(valid, header: valid.count, random: 1500, seed: 0x5EED_0104)
        // Replacements drawn from the characters CSV parsing cares about.
        let alphabet = Array(",\n\r \t-+.eE0123456789nanif".utf8) + [0, 0xFF, 0xC3]
        var rng = SplitMix64(seed: 0x5EED_0105)
        for _ in 0..<1500 {
            var bytes = valid
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                bytes[Int(rng.next() % UInt64(bytes.count))] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
            }
            mutants.append(bytes)
        }
        var parsed = 0
        for (index, bytes) in mutants.enumerated() {
            for width in [nil, 3] as [Int?] {
                do {
                    let (values, rows) = try CSVIter.parse(bytes: bytes, path: "fuzz.csv", width: width)
                    #expect(rows == 0 || values.count % rows == 0, "case \(index)")
                    #expect(CSVIter.countRows(bytes) == rows, "case \(index): the rows a part is cut from")
                    parsed += 1
                } catch {
                    Self.expectNames("fuzz.csv", error, index)
                }
            }
        }
        #expect(parsed > 0 && parsed < 2 * mutants.count)
    }

    @Test func sampleFileMutantsLoadOrThrow() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.path + "/samples"
        let npy = NPYFile.encode(NDArray([1, 2, 3, 4, 5, 6], shape: [3, 2]))
        var mutants = Mutations.random(npy, count: 200, seed: 0x5EED_0106)
        mutants += Mutations.random(Self.images, count: 200, seed: 0x5EED_0107)
        mutants += Mutations.random(Array("1,2\n3,4\n".utf8), count: 100, seed: 0x5EED_0108)
        for (index, bytes) in mutants.enumerated() {
            try write(bytes, to: path, gzip: index % 3 == 0)
            do {
                let array = try SampleFile.load(path)
                #expect(array.count == array.shape.reduce(1, *))
            } catch {
                Self.expectNames(path, error, index)
            }
        }
    }

    /// A gzip file cut short is an error naming it, never data that is merely shorter: `gzread`
    /// reports the truncation only through `gzerror`. Cut anywhere (even just its 8-byte trailer,
    /// whose checksum would then go unchecked), CSV samples and IDX files alike are refused.
    @Test func truncatedGzipFilesAreErrors() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let csv = Array(String(repeating: "0.123456,0.123456,0.123456,0.123456\n", count: 2000).utf8)
        for (name, content) in [("samples.csv", csv), ("images", Self.images)] {
            let path = dir.path + "/" + name
            try write(content, to: path, gzip: true)
            let whole = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
            for keep in [whole.count / 2, whole.count - 8, whole.count - 1] {
                try Data(whole.prefix(keep)).write(to: URL(fileURLWithPath: path))
                do {
                    let array = try SampleFile.load(path)
                    Issue.record("\(name) cut to \(keep) of \(whole.count) bytes loaded as \(array.shape)")
                } catch {
                    #expect("\(error)".contains(path) && "\(error)".contains("truncated"), "\(error)")
                }
            }
        }
    }

    /// A `.npy` holding one number (0-d) has no sample axis: an error naming the file, not a trap in
    /// `swiftps score`; an empty CSV data file is an error, not an epoch of no batches; an IDX image
    /// file whose images have no rows is an error naming it.
    @Test func filesWithoutSamplesAreErrors() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let scalar = dir.path + "/scalar.npy"
        try write(NPYFile.encode(NDArray([7], shape: [])), to: scalar, gzip: false)
        #expect(
            throws: DataIterError.badFile(path: scalar, reason: "it holds a single number (a 0-d array), not samples")
        ) {
            try SampleFile.load(scalar)
        }
        let empty = dir.path + "/empty.csv"
        try write(Array("\n\n".utf8), to: empty, gzip: false)
        #expect(throws: DataIterError.badFile(path: empty, reason: "it holds no rows of numbers")) {
            try CSVIter(dataCSV: empty, dataShape: [2], batchSize: 1)
        }
        let images = dir.path + "/images"
        let labels = dir.path + "/labels"
        try write([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 28], to: images, gzip: false)
        try write([0, 0, 8, 1, 0, 0, 0, 2, 1, 2], to: labels, gzip: false)
        #expect(
            throws: DataIterError.badFile(
                path: images, reason: "the IDX header says its images have 0 rows of 28 pixels")
        ) {
            try MNISTIter(image: images, label: labels, batchSize: 1)
        }
    }
}

/// A fresh directory under /tmp, removed with its files.
struct TempDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/swiftps-fuzz-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, let made = mkdtemp(base) else { return nil }
            return String(cString: made)
        }
        guard let made else { throw DataIterError.invalidArgument("mkdtemp failed") }
        path = made
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Writes `bytes` to `path`, through zlib's gzip writer when `gzip`.
private func write(_ bytes: [UInt8], to path: String, gzip: Bool) throws {
    guard gzip else {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return
    }
    guard let file = gzopen(path, "wb") else { throw DataIterError.badFile(path: path, reason: "gzopen failed") }
    let written = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
    gzclose(file)
    guard Int(written) == bytes.count else { throw DataIterError.badFile(path: path, reason: "gzwrite failed") }
}
