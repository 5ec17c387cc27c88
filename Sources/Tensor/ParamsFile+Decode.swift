extension ParamsFile {
    /// Decodes an MXNet NDArray-list file (`mx.nd.load`), keeping the file's order.
    ///
    /// Accepted beyond what `encode` writes, as MXNet's `NDArray::Load` accepts them:
    /// - V1 records (magic `0xF993FAC8`: no storage type), pre-V1 legacy records (the first uint32
    ///   is ndim, up to 32, followed by uint32 dims) and V3 NumPy-shape records (`0xF993FACA`: ndim 0
    ///   is a scalar, -1 is "none").
    /// - Any context (cpu, gpu, cpu_pinned, cpu_shared): it is ignored and the array lands on the CPU.
    /// - Every dense dtype of mshadow's `TypeFlag` — f32, f64, f16, u8, i32, i8, i64, bool, i16, u16,
    ///   u32, u64, bf16 — converted to Float32 (as `astype('float32')`; wide integers and f64 round to
    ///   the nearest Float32).
    /// - "None" arrays (V1/V2/legacy ndim 0) come back as empty arrays of shape `[0]`.
    /// - A file without names (`mx.nd.save` of a list) gets the names "0", "1", … in order.
    ///
    /// Sparse records (row_sparse, csr) are an `unsupported` error, and so is an unknown dtype.
    /// Truncated input is `truncated`, a bad magic, count or value is `corrupt`, and bytes after the
    /// last name are `corrupt` too; each names `path`, the byte offset and what was expected there.
    public static func decode(_ bytes: [UInt8], path: String = "<memory>") throws(ParamsFileError)
        -> [(String, NDArray)]
    {
        var reader = ParamsReader(bytes: bytes, path: path)
        let magic = try reader.u64("the list magic 0x112 (uint64)")
        guard magic == listMagic else {
            throw .corrupt(path: path, offset: 0, expected: "the list magic 0x112", found: hex(magic))
        }
        _ = try reader.u64("the reserved field (uint64)")
        let countOffset = reader.offset
        let count = try reader.u64("the array count (uint64)")
        guard count <= UInt64(bytes.count) else {
            throw .corrupt(
                path: path, offset: countOffset, expected: "an array count that fits the file",
                found: String(count))
        }
        var arrays: [NDArray] = []
        for index in 0..<Int(count) { arrays.append(try reader.record(index)) }

        let namesOffset = reader.offset
        let nameCount = try reader.u64("the name count (uint64)")
        guard nameCount == 0 || nameCount == count else {
            throw .corrupt(
                path: path, offset: namesOffset, expected: "a name count of 0 or \(count)", found: String(nameCount))
        }
        var names: [String] = []
        for index in 0..<Int(nameCount) {
            let lengthOffset = reader.offset
            let length = try reader.u64("the byte length of name \(index) (uint64)")
            guard length <= UInt64(reader.remaining) else {
                throw .truncated(
                    path: path, offset: bytes.count,
                    expected: "\(length) bytes of name \(index) from byte \(lengthOffset + 8)")
            }
            let start = reader.offset
            reader.offset += Int(length)
            guard let name = String(validating: bytes[start..<reader.offset], as: UTF8.self) else {
                throw .corrupt(
                    path: path, offset: start, expected: "UTF-8 text for name \(index)", found: "invalid UTF-8")
            }
            names.append(name)
        }
        if nameCount == 0 { names = (0..<arrays.count).map(String.init) }
        guard reader.remaining == 0 else {
            throw .corrupt(
                path: path, offset: reader.offset, expected: "the end of the file after the names",
                found: "\(reader.remaining) more bytes")
        }
        return Array(zip(names, arrays))
    }

    /// `0x…` for error messages.
    static func hex<T: BinaryInteger>(_ value: T) -> String { "0x" + String(value, radix: 16, uppercase: true) }
}

/// A cursor over the bytes of one `.params` file; every read names what it expected.
private struct ParamsReader {
    let bytes: [UInt8]
    let path: String
    var offset = 0

    var remaining: Int { bytes.count - offset }

    /// Reads `N` bytes as a little-endian integer.
    mutating func integer<T: FixedWidthInteger>(_: T.Type, _ what: String) throws(ParamsFileError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw .truncated(path: path, offset: bytes.count, expected: what) }
        let value = bytes.withUnsafeBytes { LittleEndianBytes.integer(T.self, from: $0, at: offset) }
        offset += size
        return value
    }

    mutating func u64(_ what: String) throws(ParamsFileError) -> UInt64 { try integer(UInt64.self, what) }
    mutating func u32(_ what: String) throws(ParamsFileError) -> UInt32 { try integer(UInt32.self, what) }
    mutating func i32(_ what: String) throws(ParamsFileError) -> Int32 { try integer(Int32.self, what) }
    mutating func i64(_ what: String) throws(ParamsFileError) -> Int64 { try integer(Int64.self, what) }

    /// A TShape (`Tuple::Save`): int32 ndim then int64 dims. Returns nil for ndim -1 (unknown).
    mutating func tshape(_ record: Int) throws(ParamsFileError) -> [Int]? {
        let at = offset
        let ndim = try i32("the ndim of record \(record) (int32)")
        if ndim == -1 { return nil }
        guard (0...32).contains(ndim) else {
            throw .corrupt(
                path: path, offset: at, expected: "an ndim in -1…32 for record \(record)", found: String(ndim))
        }
        var shape: [Int] = []
        for axis in 0..<Int(ndim) {
            let dimAt = offset
            let dim = try i64("dim \(axis) of record \(record) (int64)")
            guard dim >= 0, dim <= Int64(Int.max) else {
                throw .corrupt(
                    path: path, offset: dimAt, expected: "a non-negative dim \(axis) for record \(record)",
                    found: String(dim))
            }
            shape.append(Int(dim))
        }
        return shape
    }

    /// One NDArray record in any of the layouts `ParamsFile.decode` accepts.
    mutating func record(_ index: Int) throws(ParamsFileError) -> NDArray {
        let start = offset
        let magic = try u32("the magic of record \(index) (uint32)")
        var shape: [Int]?
        switch magic {
        case ParamsFile.recordMagicV2, ParamsFile.recordMagicV3:
            let stypeAt = offset
            let stype = try i32("the storage type of record \(index) (int32)")
            switch stype {
            case 0, -1: break
            case 1, 2:
                throw .unsupported(
                    path: path, offset: stypeAt,
                    what: "record \(index) has \(stype == 1 ? "row_sparse" : "csr") storage; only dense arrays "
                        + "are read (convert with tostype('default') before saving)")
            default:
                throw .corrupt(
                    path: path, offset: stypeAt, expected: "a storage type of -1, 0, 1 or 2 for record \(index)",
                    found: String(stype))
            }
            shape = try tshape(index)
            // V2 (MXNet 1.x shape semantics): ndim 0 is "none". V3: ndim 0 is a scalar.
            if magic == ParamsFile.recordMagicV2, shape?.isEmpty == true { shape = nil }
            if stype == -1, shape != nil {
                throw .corrupt(
                    path: path, offset: stypeAt, expected: "storage type 0 for the non-empty record \(index)",
                    found: "-1 (undefined)")
            }
        case ParamsFile.recordMagicV1:
            shape = try tshape(index)
            if shape?.isEmpty == true { shape = nil }
        case 0...32:
            // Pre-V1 legacy record: the "magic" is ndim, followed by uint32 dims.
            var dims: [Int] = []
            for axis in 0..<Int(magic) {
                dims.append(Int(try u32("dim \(axis) of legacy record \(index) (uint32)")))
            }
            shape = dims.isEmpty ? nil : dims
        default:
            throw .corrupt(
                path: path, offset: start,
                expected: "a record magic (0xF993FAC9 V2, 0xF993FAC8 V1, 0xF993FACA V3, or a legacy ndim ≤ 32) "
                    + "for record \(index)",
                found: ParamsFile.hex(magic))
        }
        guard let shape else { return NDArray(shape: [0]) }

        let deviceAt = offset
        let deviceType = try i32("the device type of record \(index) (int32)")
        guard [1, 2, 3, 5].contains(deviceType) else {
            throw .corrupt(
                path: path, offset: deviceAt,
                expected: "a device type of 1 (cpu), 2 (gpu), 3 (cpu_pinned) or 5 (cpu_shared) for record \(index)",
                found: String(deviceType))
        }
        _ = try i32("the device id of record \(index) (int32)")
        let typeAt = offset
        let typeFlag = try i32("the type flag of record \(index) (int32)")
        guard let dtype = ParamsDType(rawValue: typeFlag) else {
            throw .unsupported(
                path: path, offset: typeAt, what: "record \(index) has the unknown type flag \(typeFlag) (known: 0…12)")
        }
        var count = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow else {
                throw .corrupt(path: path, offset: typeAt, expected: "a shape that fits memory", found: "\(shape)")
            }
            count = product
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        guard !overflow, byteCount <= remaining else {
            throw .truncated(
                path: path, offset: bytes.count,
                expected: "\(count) \(dtype) values of record \(index) (shape \(shape)) from byte \(offset)")
        }
        let array = NDArray(shape: shape)
        bytes.withUnsafeBytes { raw in
            dtype.convert(UnsafeRawBufferPointer(rebasing: raw[offset..<offset + byteCount]), into: array.data)
        }
        offset += byteCount
        return array
    }
}
