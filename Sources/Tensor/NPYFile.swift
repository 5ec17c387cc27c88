/// Errors reading a NumPy `.npy` array.
public struct NPYError: Error, CustomStringConvertible, Equatable {
    /// The file, or `-` for standard input.
    public let path: String
    /// What is wrong.
    public let reason: String
    public var description: String { "\(path): not a usable .npy array: \(reason)" }
}

/// NumPy's `.npy` format (version 1.0–3.0): the magic `\x93NUMPY`, a version, a little-endian
/// header length, an ASCII dictionary (`descr`, `fortran_order`, `shape`), then the raw values.
///
/// Reading accepts C-ordered little-endian `<f4`, `<f8`, `|u1`, `|i1`, `<i4` and `<i8`, converted
/// to Float32; writing produces `<f4` version 1.0, as `numpy.save` does for a float32 array.
public enum NPYFile {
    /// True when `bytes` start with the `.npy` magic.
    public static func looksLikeNPY(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 6 && bytes[0] == 0x93 && Array(bytes[1..<6]) == Array("NUMPY".utf8)
    }

    /// Parses a `.npy` file held in memory.
    public static func decode(_ bytes: [UInt8], path: String) throws(NPYError) -> NDArray {
        func fail(_ reason: String) -> NPYError { NPYError(path: path, reason: reason) }
        guard looksLikeNPY(bytes), bytes.count >= 10 else { throw fail("missing the \\x93NUMPY magic") }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default: throw fail("unsupported version \(major)")
        }
        guard bytes.count >= headerStart + headerLength else { throw fail("truncated header") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard let descr = quotedValue(of: "descr", in: header) else { throw fail("no 'descr' in the header") }
        if header.contains("'fortran_order': True") { throw fail("Fortran-ordered arrays are not supported") }
        guard let shape = shapeValue(in: header) else { throw fail("no readable 'shape' in the header") }
        guard let count = NDArray.checkedElementCount(shape) else {
            throw fail("the header's shape \(shape) has more elements than memory can hold")
        }
        // `convert` reads element i; nil for float32, which is copied in bulk.
        let (size, convert): (Int, ((UnsafeRawPointer, Int) -> Float)?)
        switch descr {
        case "<f4": (size, convert) = (4, nil)
        case "<f8": (size, convert) = (8, { Float($0.loadUnaligned(fromByteOffset: $1 * 8, as: Double.self)) })
        case "|u1", "<u1": (size, convert) = (1, { Float($0.load(fromByteOffset: $1, as: UInt8.self)) })
        case "|i1", "<i1": (size, convert) = (1, { Float($0.load(fromByteOffset: $1, as: Int8.self)) })
        case "<i4": (size, convert) = (4, { Float($0.loadUnaligned(fromByteOffset: $1 * 4, as: Int32.self)) })
        case "<i8": (size, convert) = (8, { Float($0.loadUnaligned(fromByteOffset: $1 * 8, as: Int64.self)) })
        default: throw fail("element type '\(descr)' is not supported (use float32)")
        }
        let dataStart = headerStart + headerLength
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: size)
        guard !overflow, bytes.count - dataStart == byteCount else {
            throw fail(
                "the header's shape \(shape) needs \(overflow ? "more" : String(byteCount)) bytes, "
                    + "the file has \(bytes.count - dataStart)")
        }
        let out = NDArray(shape: shape)
        bytes.withUnsafeBytes { raw in
            let values = UnsafeRawBufferPointer(rebasing: raw[dataStart...])
            guard let convert else { return LittleEndianBytes.read(values, into: out.data, count: count) }
            guard let base = values.baseAddress else { return }  // no values
            for i in 0..<count { out.data[i] = convert(base, i) }
        }
        return out
    }

    /// Encodes `array` as a float32 `.npy` file (version 1.0).
    public static func encode(_ array: NDArray) -> [UInt8] {
        let dims = array.shape.map(String.init).joined(separator: ", ") + (array.ndim == 1 ? "," : "")
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(dims)), }"
        // Pad with spaces so that the data starts at a multiple of 64 bytes, ending with a newline.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        let length = header.utf8.count
        out += [UInt8(length & 0xFF), UInt8(length >> 8)]
        out += Array(header.utf8)
        array.withUnsafeBufferPointer { LittleEndianBytes.append($0, to: &out) }
        return out
    }

    private static func quotedValue(of key: String, in header: String) -> String? {
        guard let keyRange = header.firstRange(of: "'\(key)'") else { return nil }
        let rest = header[keyRange.upperBound...]
        guard let open = rest.firstIndex(of: "'") else { return nil }
        let after = rest[rest.index(after: open)...]
        guard let close = after.firstIndex(of: "'") else { return nil }
        return String(after[..<close])
    }

    private static func shapeValue(in header: String) -> [Int]? {
        guard let keyRange = header.firstRange(of: "'shape'") else { return nil }
        let rest = header[keyRange.upperBound...]
        guard let open = rest.firstIndex(of: "("), let close = rest[open...].firstIndex(of: ")") else { return nil }
        let inner = rest[rest.index(after: open)..<close]
        var dims: [Int] = []
        for part in inner.split(separator: ",") {
            let text = part.filter { $0 != " " }
            if text.isEmpty { continue }
            guard let d = Int(text), d >= 0 else { return nil }
            dims.append(d)
        }
        return dims
    }
}
