import Testing

@testable import SwiftPSTensor

/// Lays out little-endian bytes by hand, following the format description (MXNet `ndarray.cc`).
private struct Bytes {
    var out: [UInt8] = []

    mutating func u64(_ v: UInt64) { for i in 0..<8 { out.append(UInt8((v >> (8 * UInt64(i))) & 0xFF)) } }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { out.append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
    mutating func u16(_ v: UInt16) {
        out.append(UInt8(v & 0xFF))
        out.append(UInt8(v >> 8))
    }
    mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
    mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }
    mutating func f64(_ v: Double) { u64(v.bitPattern) }
    mutating func name(_ s: String) {
        u64(UInt64(s.utf8.count))
        out.append(contentsOf: s.utf8)
    }
    /// File header: magic 0x112, reserved 0, array count.
    mutating func header(count: UInt64) {
        u64(0x112)
        u64(0)
        u64(count)
    }
}

/// The file of the task description: one V2 float32 record of shape (2,3) holding 1…6, named
/// "arg:fc1_weight".
private func handFile() -> [UInt8] {
    var b = Bytes()
    b.header(count: 1)
    b.u32(0xF993_FAC9)  // V2 magic
    b.i32(0)  // stype dense
    b.i32(2)  // ndim
    b.i64(2)
    b.i64(3)
    b.i32(1)  // cpu
    b.i32(0)  // dev id
    b.i32(0)  // float32
    for v: Float in [1, 2, 3, 4, 5, 6] { b.f32(v) }
    b.u64(1)
    b.name("arg:fc1_weight")
    return b.out
}

@Suite struct ParamsFileTests {
    @Test func handLaidFileDecodes() throws {
        let bytes = handFile()
        #expect(bytes.count == 24 + 4 + 4 + 4 + 16 + 8 + 4 + 24 + 8 + 8 + 14)
        #expect(Array(bytes[0..<8]) == [0x12, 0x01, 0, 0, 0, 0, 0, 0])
        #expect(Array(bytes[24..<28]) == [0xC9, 0xFA, 0x93, 0xF9])
        let arrays = try ParamsFile.decode(bytes)
        #expect(arrays.count == 1)
        #expect(arrays[0].0 == "arg:fc1_weight")
        #expect(arrays[0].1.shape == [2, 3])
        #expect(arrays[0].1.toArray() == [1, 2, 3, 4, 5, 6])
    }

    @Test func encodeGivesTheHandLaidBytes() throws {
        let a = NDArray([1, 2, 3, 4, 5, 6], shape: [2, 3])
        #expect(try ParamsFile.encode([("arg:fc1_weight", a)]) == handFile())
    }

    @Test func severalArraysRoundTripThroughAFile() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.path + "/net-0003.params"
        let arrays: [(String, NDArray)] = [
            ("arg:fc1_weight", NDArray([0.5, -1.25, 3e-8, .greatestFiniteMagnitude], shape: [2, 2])),
            ("arg:fc1_bias", NDArray([7])),
            ("aux:bn_moving_var", NDArray((0..<12).map { Float($0) / 3 }, shape: [3, 2, 2])),
            ("empty", NDArray(shape: [0])),
        ]
        try ParamsFile.save(arrays, to: path)
        let back = try ParamsFile.load(path)
        #expect(back.map(\.0) == arrays.map(\.0))
        for (x, y) in zip(arrays, back) {
            #expect(x.1.shape == y.1.shape)
            #expect(x.1.toArray() == y.1.toArray())
        }
        #expect(dir.entries() == ["net-0003.params"])
    }

    @Test func v1RecordWithGpuContextAndFloat64AndNoNames() throws {
        var b = Bytes()
        b.header(count: 1)
        b.u32(0xF993_FAC8)  // V1: no stype
        b.i32(1)
        b.i64(3)
        b.i32(2)  // gpu
        b.i32(1)  // gpu 1
        b.i32(1)  // float64
        for v: Double in [0.5, -2, 1e10] { b.f64(v) }
        b.u64(0)  // no names
        let arrays = try ParamsFile.decode(b.out)
        #expect(arrays.map(\.0) == ["0"])
        #expect(arrays[0].1.shape == [3])
        #expect(arrays[0].1.toArray() == [0.5, -2, 1e10])
    }

    @Test func legacyRecordsAndOtherDtypes() throws {
        var b = Bytes()
        b.header(count: 5)
        // Pre-V1: the magic is ndim (2), then uint32 dims 3, 1; uint8 data.
        b.u32(2)
        b.u32(3)
        b.u32(1)
        b.i32(1)
        b.i32(0)
        b.i32(3)  // uint8
        b.out += [0, 7, 255]
        // V2 float16: 1.0, -2.0, 2^-24 (smallest subnormal), +inf.
        b.u32(0xF993_FAC9)
        b.i32(0)
        b.i32(1)
        b.i64(4)
        b.i32(3)  // cpu_pinned
        b.i32(0)
        b.i32(2)  // float16
        for h: UInt16 in [0x3C00, 0xC000, 0x0001, 0x7C00] { b.u16(h) }
        // V2 int32, int64, int8.
        for (flag, bytesPer, raw) in [(Int32(4), 4, [-3, 40]), (6, 8, [-5, 1 << 40]), (5, 1, [-128, 127])] {
            b.u32(0xF993_FAC9)
            b.i32(0)
            b.i32(1)
            b.i64(2)
            b.i32(1)
            b.i32(0)
            b.i32(flag)
            for v in raw {
                switch bytesPer {
                case 4: b.i32(Int32(v))
                case 8: b.i64(Int64(v))
                default: b.out.append(UInt8(bitPattern: Int8(v)))
                }
            }
        }
        b.u64(5)
        for n in ["u8", "f16", "i32", "i64", "i8"] { b.name(n) }
        let arrays = try ParamsFile.decode(b.out)
        #expect(arrays.map(\.0) == ["u8", "f16", "i32", "i64", "i8"])
        #expect(arrays[0].1.shape == [3, 1])
        #expect(arrays[0].1.toArray() == [0, 7, 255])
        #expect(arrays[1].1.toArray() == [1, -2, 0x1p-24, .infinity])
        #expect(arrays[2].1.toArray() == [-3, 40])
        #expect(arrays[3].1.toArray() == [-5, 1_099_511_627_776])
        #expect(arrays[4].1.toArray() == [-128, 127])
    }

    @Test func noneAndScalarRecords() throws {
        var b = Bytes()
        b.header(count: 2)
        b.u32(0xF993_FAC9)  // V2 none: stype -1, ndim 0, record ends
        b.i32(-1)
        b.i32(0)
        b.u32(0xF993_FACA)  // V3 scalar: ndim 0 is a shape ()
        b.i32(0)
        b.i32(0)
        b.i32(1)
        b.i32(0)
        b.i32(0)
        b.f32(2.5)
        b.u64(0)
        let arrays = try ParamsFile.decode(b.out)
        #expect(arrays[0].1.shape == [0])
        #expect(arrays[1].1.shape == [])
        #expect(arrays[1].1.toArray() == [2.5])
        #expect(throws: ParamsFileError.self) { try ParamsFile.encode([("s", arrays[1].1)]) }
    }

    @Test func everyTruncationIsATypedError() {
        let full = handFile()
        for length in 0..<full.count {
            do {
                _ = try ParamsFile.decode(Array(full[0..<length]), path: "cut.params")
                Issue.record("a \(length)-byte prefix decoded")
            } catch {
                guard case .truncated(let path, let offset, let expected) = error else {
                    Issue.record("prefix \(length): \(error)")
                    continue
                }
                #expect(path == "cut.params")
                #expect(offset == length)
                #expect(!expected.isEmpty)
            }
        }
    }

    @Test func corruptFilesAreTypedErrors() {
        var wrongMagic = handFile()
        wrongMagic[0] = 0x13
        #expect(throws: ParamsFileError.corrupt(path: "f", offset: 0, expected: "the list magic 0x112", found: "0x113"))
        {
            try ParamsFile.decode(wrongMagic, path: "f")
        }
        var badRecord = handFile()
        badRecord[27] = 0xDE
        #expect(throws: ParamsFileError.self) { try ParamsFile.decode(badRecord) }
        do {
            _ = try ParamsFile.decode(badRecord)
        } catch {
            #expect(error.offset == 24)
        }
        var sparse = handFile()
        sparse[28] = 1  // stype row_sparse
        do {
            _ = try ParamsFile.decode(sparse)
            Issue.record("sparse decoded")
        } catch {
            guard case .unsupported(_, 28, let what) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(what.contains("row_sparse"))
        }
        var nameCount = handFile()
        nameCount[24 + 4 + 4 + 4 + 16 + 8 + 4 + 24] = 2
        #expect(throws: ParamsFileError.self) { try ParamsFile.decode(nameCount) }
        #expect(throws: ParamsFileError.self) { try ParamsFile.decode(handFile() + [0]) }
        var badDevice = handFile()
        badDevice[24 + 4 + 4 + 4 + 16] = 9
        #expect(throws: ParamsFileError.self) { try ParamsFile.decode(badDevice) }
        var badType = handFile()
        badType[24 + 4 + 4 + 4 + 16 + 8] = 13
        #expect(throws: ParamsFileError.self) { try ParamsFile.decode(badType) }
    }

    @Test func checkpointParamsAreSortedAndSplit() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.path + "/mlp-0001.params"
        try ParamsFile.saveCheckpointParams(
            args: ["fc1_weight": NDArray([1, 2]), "a_bias": NDArray([3])],
            aux: ["bn_mean": NDArray([4, 5, 6])], to: path)
        #expect(try ParamsFile.load(path).map(\.0) == ["arg:a_bias", "arg:fc1_weight", "aux:bn_mean"])
        let (args, aux) = try ParamsFile.loadCheckpointParams(path)
        #expect(args.keys.sorted() == ["a_bias", "fc1_weight"])
        #expect(args["fc1_weight"]?.toArray() == [1, 2])
        #expect(aux["bn_mean"]?.toArray() == [4, 5, 6])

        try ParamsFile.save([("fc1_weight", NDArray([1]))], to: path)
        #expect(
            throws: ParamsFileError.invalidEntry(
                path: path, name: "fc1_weight",
                reason: "a checkpoint key must start with 'arg:' or 'aux:' (MXNet's load_checkpoint)")
        ) { try ParamsFile.loadCheckpointParams(path) }
        do {
            _ = try ParamsFile.load(dir.path + "/missing.params")
            Issue.record("missing file loaded")
        } catch {
            #expect(error.path == dir.path + "/missing.params")
        }
    }
}
