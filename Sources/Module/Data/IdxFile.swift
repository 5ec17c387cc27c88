import CZlib
import SwiftPSTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An IDX file as used by MNIST and Fashion-MNIST (LeCun's format): a big-endian header of two
/// zero bytes, a type byte (0x08 = unsigned byte), a dimension count, then one big-endian uint32 per
/// dimension, followed by the values row-major.
///
/// Files are read through zlib's `gzopen`/`gzread`, which reads gzip-compressed and plain files
/// alike, into one buffer.
struct IdxFile {
    /// The dimensions from the header, outermost first.
    let dims: [Int]
    /// The values, one byte each.
    let values: [UInt8]

    /// Reads the file at `path`, checking that it holds unsigned bytes with `expectedRank` dimensions.
    static func read(_ path: String, expectedRank: Int, missingHint: String) throws(DataIterError) -> IdxFile {
        try read(path, expectedRank: expectedRank, missingHint: missingHint, headerOnly: false)
    }

    /// The dimensions of the file at `path` from its header alone (the values are not read).
    static func dimensions(_ path: String, expectedRank: Int, missingHint: String) throws(DataIterError) -> [Int] {
        try read(path, expectedRank: expectedRank, missingHint: missingHint, headerOnly: true).dims
    }

    private static func read(_ path: String, expectedRank: Int, missingHint: String, headerOnly: Bool)
        throws(DataIterError) -> IdxFile
    {
        // Read the header first, then the values into a buffer of exactly their size: a 47 MB
        // image file never costs more than 47 MB (reading into a growing buffer cost twice that).
        guard access(path, F_OK) == 0 else { throw .missingFile(path: path, hint: missingHint) }
        guard let file = gzopen(path, "rb") else {
            throw .badFile(path: path, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { gzclose(file) }
        gzbuffer(file, 1 << 18)
        let headerSize = 4 + 4 * expectedRank
        var header = [UInt8](repeating: 0, count: headerSize)
        let got = try readExactly(file, into: &header, path: path)
        guard got == headerSize else {
            return try decode(Array(header[..<got]), path: path, expectedRank: expectedRank)
        }
        let probe = try decode(header, path: path, expectedRank: expectedRank, headerOnly: true)
        if headerOnly { return probe }
        let total = probe.dims.reduce(1, *)
        // The buffer starts at up to 64 MiB and grows (doubling, up to `total`) only as the bytes
        // arrive: a header that claims more values than the file holds costs at most that, or twice
        // the file's content.
        var values = [UInt8](repeating: 0, count: min(total, 1 << 26))
        var read = try readExactly(file, into: &values, path: path)
        while read == values.count, values.count < total {
            values.append(contentsOf: repeatElement(0, count: min(total - values.count, values.count)))
            read = try readExactly(file, into: &values, from: read, path: path)
        }
        var extra: UInt8 = 0
        let more = try withUnsafeMutableBytes(of: &extra) { raw in
            Result { () throws(DataIterError) in try readChunk(file, into: raw.baseAddress!, count: 1, path: path) }
        }.get()
        guard read == total, more == 0 else {
            throw .badFile(
                path: path,
                reason: "IDX header says \(probe.dims) = \(total) values, but the file holds "
                    + (more > 0 ? "more" : "\(read)") + " bytes after its \(headerSize)-byte header")
        }
        return IdxFile(dims: probe.dims, values: values)
    }

    /// Reads into `buffer` from index `start` until it is full or the file ends; returns how many
    /// bytes of `buffer` are filled.
    private static func readExactly(_ file: gzFile, into buffer: inout [UInt8], from start: Int = 0, path: String)
        throws(DataIterError) -> Int
    {
        var done = start
        while done < buffer.count {
            let n = try buffer.withUnsafeMutableBytes { raw in
                Result { () throws(DataIterError) in
                    try readChunk(
                        file, into: raw.baseAddress! + done, count: min(raw.count - done, 1 << 30), path: path)
                }
            }.get()
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// One `gzread` of up to `count` bytes: how many it read, 0 at the end of the file. Throws when
    /// the data cannot be decompressed, and when a gzip stream ends before its end (a truncated
    /// file, which `gzread` reports only through `gzerror`): its data must not pass for shorter data.
    static func readChunk(_ file: gzFile, into buffer: UnsafeMutableRawPointer, count: Int, path: String)
        throws(DataIterError) -> Int
    {
        let n = gzread(file, buffer, UInt32(count))
        var code: Int32 = 0
        guard n >= 0 else {
            let message = gzerror(file, &code).map { String(cString: $0) } ?? "zlib error \(code)"
            throw .badFile(path: path, reason: "cannot decompress: \(message)")
        }
        if n == 0 {
            _ = gzerror(file, &code)
            if code == Z_BUF_ERROR {
                throw .badFile(path: path, reason: "the gzip data ends early: the file is truncated")
            }
        }
        return Int(n)
    }

    /// True when `bytes` start like an IDX file of unsigned bytes.
    static func looksLikeIdx(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && bytes[0] == 0 && bytes[1] == 0 && bytes[2] == 0x08 && (1...4).contains(bytes[3])
    }

    /// Parses IDX content already in memory; `path` names it in errors.
    static func decode(_ bytes: [UInt8], path: String, expectedRank: Int, headerOnly: Bool = false)
        throws(DataIterError) -> IdxFile
    {
        guard bytes.count >= 4 else {
            throw .badFile(path: path, reason: "not an IDX file: \(bytes.count) bytes, shorter than the 4-byte magic")
        }
        let magic = bigEndian(bytes, at: 0)
        let wanted = UInt32(0x0800) | UInt32(expectedRank)
        guard magic == wanted else {
            throw .badFile(
                path: path,
                reason: "expected the IDX magic 0x\(String(wanted, radix: 16, uppercase: true).leftPadded(8)) "
                    + "(unsigned bytes, \(expectedRank) dimensions), found "
                    + "0x\(String(magic, radix: 16, uppercase: true).leftPadded(8))")
        }
        let headerSize = 4 + 4 * expectedRank
        guard bytes.count >= headerSize else {
            throw .badFile(path: path, reason: "truncated IDX header: \(bytes.count) bytes, expected \(headerSize)")
        }
        let dims = (0..<expectedRank).map { Int(bigEndian(bytes, at: 4 + 4 * $0)) }
        // Zero dimensions count as 1 here: (0, 2^32-1, 2^32-1) holds no values, but its image size
        // (rows × cols) would still overflow.
        guard NDArray.checkedElementCount(dims.map { max($0, 1) }) != nil else {
            throw .badFile(path: path, reason: "IDX dimensions \(dims) overflow")
        }
        let total = NDArray.elementCount(dims)
        if headerOnly { return IdxFile(dims: dims, values: []) }
        guard bytes.count - headerSize == total else {
            throw .badFile(
                path: path,
                reason: "IDX header says \(dims) = \(total) values, but the file holds \(bytes.count - headerSize) "
                    + "bytes after its \(headerSize)-byte header")
        }
        let values = bytes.withUnsafeBytes { [UInt8](UnsafeRawBufferPointer(rebasing: $0[headerSize...])) }
        return IdxFile(dims: dims, values: values)
    }

    /// The uint32 stored big-endian at `offset`.
    private static func bigEndian(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        (UInt32(bytes[offset]) << 24) | (UInt32(bytes[offset + 1]) << 16) | (UInt32(bytes[offset + 2]) << 8)
            | UInt32(bytes[offset + 3])
    }

    /// The whole (decompressed) content of `path` (`-` is standard input), read with `gzread` into a
    /// buffer that doubles as it fills; plain and gzip-compressed files alike.
    static func readAll(_ path: String, missingHint: String) throws(DataIterError) -> [UInt8] {
        let opened: gzFile?
        if path == "-" {
            opened = gzdopen(dup(STDIN_FILENO), "rb")
        } else {
            guard access(path, F_OK) == 0 else { throw .missingFile(path: path, hint: missingHint) }
            opened = gzopen(path, "rb")
        }
        guard let file = opened else {
            throw .badFile(path: path, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { gzclose(file) }
        gzbuffer(file, 1 << 18)
        var capacity = 1 << 22
        var buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        defer { buffer.deallocate() }
        var size = 0
        while true {
            if size == capacity {
                let bigger = UnsafeMutableRawPointer.allocate(byteCount: capacity * 2, alignment: 16)
                bigger.copyMemory(from: buffer, byteCount: size)
                buffer.deallocate()
                buffer = bigger
                capacity *= 2
            }
            let n = try readChunk(file, into: buffer + size, count: min(capacity - size, Int(Int32.max)), path: path)
            if n == 0 { break }
            size += n
        }
        return [UInt8](UnsafeRawBufferPointer(start: buffer, count: size))
    }
}

extension String {
    /// The string padded on the left with zeros to `width` characters.
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
