import CZlib
import Testing

@testable import SwiftPSModule
@testable import SwiftPSTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A fresh directory under /tmp for one test's files.
private struct TempDir {
    let path: String

    init() {
        var template = Array("/tmp/swiftps-data-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { buffer -> String in
            guard let base = buffer.baseAddress, let made = mkdtemp(base) else { return "/tmp" }
            return String(cString: made)
        }
    }

    func remove(_ names: [String]) {
        for name in names { unlink(path + "/" + name) }
        rmdir(path)
    }
}

/// Writes `bytes` through zlib's gzip writer.
private func writeGzip(_ bytes: [UInt8], to path: String) {
    guard let file = gzopen(path, "wb") else {
        Issue.record("gzopen \(path) failed")
        return
    }
    let written = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
    #expect(Int(written) == bytes.count)
    gzclose(file)
}

/// A big-endian uint32.
private func be(_ v: UInt32) -> [UInt8] {
    [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
}

@Suite struct MNISTIterTests {
    @Test func tinyGzippedIdxFilesReadBack() throws {
        let dir = TempDir()
        defer { dir.remove(["img.gz", "lbl.gz", "img-raw", "bad.gz"]) }
        // 3 images of 2×2: pixel values 0, 51, 102, 255, …; labels 7, 0, 9.
        let pixels: [UInt8] = [0, 51, 102, 255, 255, 0, 0, 0, 1, 2, 3, 4]
        let imageHeader: [UInt8] = [0, 0, 8, 3] + be(3) + be(2) + be(2)
        let labelHeader: [UInt8] = [0, 0, 8, 1] + be(3)
        writeGzip(imageHeader + pixels, to: dir.path + "/img.gz")
        writeGzip(labelHeader + [7, 0, 9], to: dir.path + "/lbl.gz")

        let iter = try MNISTIter(
            image: dir.path + "/img.gz", label: dir.path + "/lbl.gz", batchSize: 2, shuffle: false)
        #expect(iter.sampleCount == 3)
        #expect(iter.provideData == [DataDesc(name: "data", shape: [2, 1, 2, 2])])
        #expect(iter.provideLabel == [DataDesc(name: "softmax_label", shape: [2])])
        let first = try #require(try iter.next())
        #expect(first.data[0].toArray() == [0, 0.2, 0.4, 1, 1, 0, 0, 0])
        #expect(first.label[0].toArray() == [7, 0])
        let second = try #require(try iter.next())
        let scaled: [Float] = [1, 2, 3, 4].map { $0 / 255 }
        #expect(Array(second.data[0].toArray().prefix(4)) == scaled)
        #expect(second.label[0].toArray() == [9, 7])
        #expect(second.pad == 1)
        #expect(try iter.next() == nil)

        // Plain (not gzipped) files read the same, and `flat` gives (B, rows*cols).
        let raw = imageHeader + pixels
        try AtomicFile.write(raw, to: dir.path + "/img-raw")
        let flat = try MNISTIter(
            image: dir.path + "/img-raw", label: dir.path + "/lbl.gz", batchSize: 3, shuffle: false, flat: true)
        #expect(flat.provideData == [DataDesc(name: "data", shape: [3, 4])])
        let flatFirst = try #require(try flat.next())
        #expect(Array(flatFirst.data[0].toArray().prefix(4)) == [0, 0.2, 0.4, 1])

        // A labels file given as images: wrong magic, named in the error.
        #expect(throws: DataIterError.self) {
            try MNISTIter(image: dir.path + "/lbl.gz", label: dir.path + "/lbl.gz", batchSize: 1)
        }
        // A header promising more pixels than the file holds.
        let badHeader: [UInt8] = [0, 0, 8, 3] + be(4) + be(2) + be(2)
        writeGzip(badHeader + pixels, to: dir.path + "/bad.gz")
        do {
            _ = try MNISTIter(image: dir.path + "/bad.gz", label: dir.path + "/lbl.gz", batchSize: 1)
            Issue.record("a truncated idx file was read")
        } catch {
            guard case .badFile(let path, let reason) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(path == dir.path + "/bad.gz")
            #expect(reason.contains("16 values"))
        }
    }

    @Test func missingFashionMNISTSaysHowToInstallIt() {
        do {
            _ = try FashionMNIST.train(dataDir: "/nonexistent/fashion")
            Issue.record("a missing data set was opened")
        } catch {
            guard case .missingFile(let path, let hint) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(path == "/nonexistent/fashion/train-images-idx3-ubyte.gz")
            #expect(hint.contains("scripts/setup"))
            #expect(hint.contains("dataset-fashion-mnist"))
        }
    }

    @Test func realFashionMNISTTrainingSet() throws {
        let image = FashionMNIST.defaultDirectory + "/train-images-idx3-ubyte.gz"
        guard access(image, R_OK) == 0 else {
            print("skipped: \(FashionMNIST.defaultDirectory) is missing; run scripts/setup (dataset-fashion-mnist)")
            return
        }
        let iter = try FashionMNIST.train(batchSize: 1000, shuffle: false, flat: true)
        #expect(iter.sampleCount == 60000)
        #expect(iter.imageSize == (28, 28))
        #expect(iter.provideData == [DataDesc(name: "data", shape: [1000, 784])])
        var batches = 0
        var counts = [Int](repeating: 0, count: 10)
        while let batch = try iter.next() {
            batches += 1
            #expect(batch.pad == 0)
            for v in batch.label[0].toArray() {
                guard v >= 0, v <= 9, v == v.rounded() else {
                    Issue.record("label \(v) outside 0…9")
                    return
                }
                counts[Int(v)] += 1
            }
            let (lo, hi) = batch.data[0].withUnsafeBufferPointer { ($0.min() ?? 0, $0.max() ?? 0) }
            #expect(lo >= 0 && hi <= 1)
        }
        #expect(batches == 60)
        #expect(counts == [Int](repeating: 6000, count: 10), "Fashion-MNIST's training set is balanced")
    }
}

@Suite struct CSVIterTests {
    @Test func readsPadsAndShards() throws {
        let dir = TempDir()
        defer { dir.remove(["d.csv", "l.csv"]) }
        try AtomicFile.write(Array("1,2\n3, 4\n\n5,6\r\n7,8\n9,10\n".utf8), to: dir.path + "/d.csv")
        try AtomicFile.write(Array("0\n1\n2\n3\n4\n".utf8), to: dir.path + "/l.csv")
        let iter = try CSVIter(
            dataCSV: dir.path + "/d.csv", dataShape: [2], labelCSV: dir.path + "/l.csv", batchSize: 2)
        #expect(iter.sampleCount == 5)
        #expect(iter.provideData == [DataDesc(name: "data", shape: [2, 2])])
        #expect(iter.provideLabel == [DataDesc(name: "softmax_label", shape: [2])])
        var rows: [[Float]] = []
        var pads: [Int] = []
        while let batch = try iter.next() {
            rows.append(batch.data[0].toArray() + batch.label[0].toArray())
            pads.append(batch.pad)
        }
        #expect(rows == [[1, 2, 3, 4, 0, 1], [5, 6, 7, 8, 2, 3], [9, 10, 1, 2, 4, 0]])
        #expect(pads == [0, 0, 1])

        // Without a label file every label is 0; part 1 of 2 holds samples 2…4.
        let part = try CSVIter(
            dataCSV: dir.path + "/d.csv", dataShape: [1, 2], batchSize: 3, numParts: 2, partIndex: 1)
        let batch = try #require(try part.next())
        #expect(batch.data[0].shape == [3, 1, 2])
        #expect(batch.data[0].toArray() == [5, 6, 7, 8, 9, 10])
        #expect(batch.label[0].toArray() == [0, 0, 0])
        #expect(batch.index == [2, 3, 4] && part.shardRange == 2..<5, "indices count rows of the whole file")
    }

    /// Each part parses only its own rows (a worker holds its part of a large file as numbers, not
    /// the whole): the parts together are the file, row for row with their labels, and a bad cell
    /// in another part's rows is that part's error, not this one's.
    @Test func eachPartParsesOnlyItsRows() throws {
        let dir = TempDir()
        defer { dir.remove(["d.csv", "l.csv"]) }
        let lines = (0..<10).map { "\($0),\($0 * 10)" }
        try AtomicFile.write(
            Array((lines[0..<4] + ["", " "] + lines[4...]).joined(separator: "\r\n").utf8), to: dir.path + "/d.csv")
        try AtomicFile.write(Array((0..<10).map { "\($0 % 3)" }.joined(separator: "\n").utf8), to: dir.path + "/l.csv")
        var seen: [Float] = []
        for part in 0..<3 {
            let iter = try CSVIter(
                dataCSV: dir.path + "/d.csv", dataShape: [2], labelCSV: dir.path + "/l.csv", batchSize: 1,
                numParts: 3, partIndex: part)
            #expect(iter.sampleCount == 10)
            while let batch = try iter.next() {
                let row = try #require(batch.index?.first)
                #expect(batch.data[0].toArray() == [Float(row), Float(row * 10)])
                #expect(batch.label[0].toArray() == [Float(row % 3)])
                if batch.pad == 0 { seen.append(Float(row)) }
            }
        }
        #expect(seen == (0..<10).map(Float.init))
        // Row 8 (part 2's) is bad: parts 0 and 1 read, part 2 names it.
        var bad = lines
        bad[8] = "8,x"
        try AtomicFile.write(Array(bad.joined(separator: "\n").utf8), to: dir.path + "/d.csv")
        for part in 0..<2 {
            _ = try CSVIter(dataCSV: dir.path + "/d.csv", dataShape: [2], batchSize: 1, numParts: 3, partIndex: part)
        }
        #expect(
            throws: DataIterError.badCell(path: dir.path + "/d.csv", line: 9, column: 2, reason: "'x' is not a number")
        ) {
            try CSVIter(dataCSV: dir.path + "/d.csv", dataShape: [2], batchSize: 1, numParts: 3, partIndex: 2)
        }
    }

    @Test func badCellsNameLineAndColumn() throws {
        let dir = TempDir()
        defer { dir.remove(["bad.csv", "short.csv", "l.csv", "two.csv"]) }
        try AtomicFile.write(Array("1,2,3\n4,5,6\n7,x8,9\n".utf8), to: dir.path + "/bad.csv")
        #expect(
            throws: DataIterError.badCell(
                path: dir.path + "/bad.csv", line: 3, column: 2, reason: "'x8' is not a number")
        ) { try CSVIter(dataCSV: dir.path + "/bad.csv", dataShape: [3], batchSize: 1) }

        try AtomicFile.write(Array("1,2,3\n4,5\n".utf8), to: dir.path + "/short.csv")
        #expect(
            throws: DataIterError.badCell(
                path: dir.path + "/short.csv", line: 2, column: 3, reason: "expected 3 values per line, found 2")
        ) { try CSVIter(dataCSV: dir.path + "/short.csv", dataShape: [3], batchSize: 1) }

        // A label file with another number of rows than the data is named with both counts.
        try AtomicFile.write(Array("1,2\n3,4\n".utf8), to: dir.path + "/two.csv")
        try AtomicFile.write(Array("1\n".utf8), to: dir.path + "/l.csv")
        let rows = #expect(throws: DataIterError.self) {
            try CSVIter(dataCSV: dir.path + "/two.csv", dataShape: [2], labelCSV: dir.path + "/l.csv", batchSize: 1)
        }
        #expect(
            "\(String(describing: rows))".contains("has 2 samples but \(dir.path)/l.csv has 1"),
            "\(String(describing: rows))")
        #expect(throws: DataIterError.self) {
            try CSVIter(dataCSV: dir.path + "/none.csv", dataShape: [2], batchSize: 1)
        }
    }
}
