import SwiftPSTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Batches read from comma-separated text files, MXNet's `CSVIter`.
///
/// `dataCSV` holds one sample per line: `prod(dataShape)` numbers separated by commas (spaces around
/// a number are allowed; blank lines are skipped). `labelCSV`, when given, holds one line per
/// sample of `prod(labelShape)` numbers; without it every label is 0, as in MXNet. A label shape of
/// `[1]` gives labels of shape `(B)`. Batching, padding (MXNet's `round_batch` is
/// `lastBatchHandle: .pad`, with one difference: MXNet's next epoch then starts after the samples
/// that filled the padded batch, this one at the first sample again), sharding and
/// `batchesPerEpoch` behave as in `NDArrayIter`, and the
/// returned batch is reused on every `next()`. A part (`numParts`/`partIndex`) parses only its own
/// rows, so a worker holds its share of a large file as numbers, not the whole (the file's bytes are
/// read once to find them); a bad cell is an error of the part whose row it is, naming the file, the
/// 1-based line and the 1-based column.
public final class CSVIter: DataIter {
    /// The number of samples in the file (all parts together).
    public let sampleCount: Int
    private let inner: NDArrayIter

    /// Reads the CSV files and prepares the first epoch.
    public init(
        dataCSV: String, dataShape: [Int], labelCSV: String? = nil, labelShape: [Int] = [1], batchSize: Int,
        shuffle: Bool = false, seed: UInt64 = 0, lastBatchHandle: LastBatchHandle = .pad,
        dataName: String = "data", labelName: String = "softmax_label", numParts: Int = 1, partIndex: Int = 0,
        batchesPerEpoch: Int? = nil
    ) throws(DataIterError) {
        guard !dataShape.isEmpty, dataShape.allSatisfy({ $0 > 0 }), labelShape.allSatisfy({ $0 > 0 }) else {
            throw .invalidArgument("CSVIter: shapes must have positive dims, got data \(dataShape) label \(labelShape)")
        }
        // Each worker parses only its part's rows: a part of a large file is all it holds as numbers.
        let shard = try DataShard(numParts: numParts, partIndex: partIndex)
        let dataBytes = try CSVIter.read(dataCSV)
        let rows = CSVIter.countRows(dataBytes)
        guard rows > 0 else { throw .badFile(path: dataCSV, reason: "it holds no rows of numbers") }
        let part = shard.range(totalSamples: rows)
        let (values, _) = try CSVIter.parse(
            bytes: dataBytes, path: dataCSV, width: NDArray.elementCount(dataShape), keep: part)
        let data = NDArray(shape: [part.count] + dataShape)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { data.data.update(from: base, count: src.count) }
        }
        let labelSampleShape = labelShape == [1] ? [] : labelShape
        let label = NDArray(shape: [part.count] + labelSampleShape)
        if let labelCSV {
            let (labels, labelRows) = try CSVIter.parse(
                bytes: try CSVIter.read(labelCSV), path: labelCSV, width: NDArray.elementCount(labelShape), keep: part)
            guard labelRows == rows else {
                throw .invalidArgument("CSVIter: \(dataCSV) has \(rows) samples but \(labelCSV) has \(labelRows)")
            }
            labels.withUnsafeBufferPointer { src in
                if let base = src.baseAddress { label.data.update(from: base, count: src.count) }
            }
        }
        sampleCount = rows
        inner = try NDArrayIter(
            data: [(dataName, data)], label: [(labelName, label)], batchSize: batchSize, shuffle: shuffle,
            seed: seed, lastBatchHandle: lastBatchHandle, shard: shard, partOf: rows, batchesPerEpoch: batchesPerEpoch)
    }

    /// Samples per batch.
    public var batchSize: Int { inner.batchSize }
    /// `data`: `[B] + dataShape`.
    public var provideData: [DataDesc] { inner.provideData }
    /// `softmax_label`: `[B] + labelShape` (`[B]` for a label shape of `[1]`).
    public var provideLabel: [DataDesc] { inner.provideLabel }
    /// The samples of this iterator's shard.
    public var shardRange: Range<Int> { inner.shardRange }
    /// The number of batches the current epoch yields.
    public var batchesInEpoch: Int { inner.batchesInEpoch }
    /// Starts the next epoch.
    public func reset() { inner.reset() }
    /// The next batch (reused between calls), or nil at the end of the epoch.
    public func next() throws -> DataBatch? { try inner.next() }

    /// The bytes of the CSV file `path`; a missing or unreadable one is an error naming it.
    static func read(_ path: String) throws(DataIterError) -> [UInt8] {
        do {
            return try AtomicFile.read(path)
        } catch {
            if error.code == ENOENT { throw .missingFile(path: path, hint: "check the CSV path") }
            throw .badFile(path: path, reason: error.reason)
        }
    }

    /// The rows of CSV text: its lines that are not blank, as `parse` counts them.
    static func countRows(_ bytes: [UInt8]) -> Int {
        var rows = 0
        var lineStart = 0
        while lineStart < bytes.count {
            let (line, next) = nextLine(bytes, from: lineStart)
            if !bytes[line].allSatisfy(isBlank) { rows += 1 }
            lineStart = next
        }
        return rows
    }

    /// The line starting at `start`, without its end (`\n` or `\r\n`), and where the next begins.
    static func nextLine(_ bytes: [UInt8], from start: Int) -> (line: Range<Int>, next: Int) {
        var end = start
        while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
        let next = end + 1
        if end > start && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return (start..<end, next)
    }

    /// The numbers of CSV text already in memory, and its row count; `width` nil takes the first
    /// row's width. With `keep`, only the rows of that range (counted from 0) are parsed and given.
    static func parse(bytes: [UInt8], path: String, width: Int?, keep: Range<Int>? = nil) throws(DataIterError) -> (
        [Float], Int
    ) {
        guard let width = width ?? firstRowWidth(bytes) else {
            throw .badFile(path: path, reason: "no rows of numbers")
        }
        var values: [Float] = []
        values.reserveCapacity((keep?.count ?? 0) * width)
        var rows = 0
        var line = 0
        var lineStart = 0
        while lineStart < bytes.count {
            line += 1
            let (content, next) = nextLine(bytes, from: lineStart)
            let lineEnd = content.upperBound
            defer { lineStart = next }
            if bytes[lineStart..<lineEnd].allSatisfy(isBlank) { continue }
            if let keep, !keep.contains(rows) {
                rows += 1
                continue
            }
            var column = 0
            var cellStart = lineStart
            while cellStart <= lineEnd {
                var cellEnd = cellStart
                while cellEnd < lineEnd && bytes[cellEnd] != UInt8(ascii: ",") { cellEnd += 1 }
                column += 1
                guard column <= width else {
                    throw .badCell(
                        path: path, line: line, column: column, reason: "expected \(width) values per line, found more")
                }
                var from = cellStart
                var to = cellEnd
                while from < to && isBlank(bytes[from]) { from += 1 }
                while to > from && isBlank(bytes[to - 1]) { to -= 1 }
                let cell = String(decoding: bytes[from..<to], as: UTF8.self)
                guard let value = Float(cell) else {
                    throw .badCell(
                        path: path, line: line, column: column,
                        reason: cell.isEmpty ? "empty cell" : "'\(cell)' is not a number")
                }
                values.append(value)
                cellStart = cellEnd + 1
            }
            guard column == width else {
                throw .badCell(
                    path: path, line: line, column: column + 1,
                    reason: "expected \(width) values per line, found \(column)")
            }
            rows += 1
        }
        return (values, rows)
    }
}

/// The number of cells in the first non-blank line.
private func firstRowWidth(_ bytes: [UInt8]) -> Int? {
    var start = 0
    while start < bytes.count {
        var end = start
        while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
        let line = bytes[start..<end]
        if !line.allSatisfy({ isBlank($0) || $0 == UInt8(ascii: "\r") }) {
            return line.reduce(1) { $1 == UInt8(ascii: ",") ? $0 + 1 : $0 }
        }
        start = end + 1
    }
    return nil
}

/// A space or a tab.
private func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
