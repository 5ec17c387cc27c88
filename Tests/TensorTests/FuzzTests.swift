import PSTestSupport
import Testing

@testable import SwiftPSTensor

/// Seeded mutation fuzzing of the `.params` and `.npy` decoders: every mutant of a valid file must
/// decode or throw the format's typed error naming the input, never trap.
@Suite struct TensorFuzzTests {
    /// A `.params` file of checkpoint keys: a 2x3 weight and a 2-element auxiliary state.
    static func validParams() throws -> [UInt8] {
        try ParamsFile.encode([
            ("arg:w", NDArray([1, 2, 3, 4, 5, 6], shape: [2, 3])), ("aux:m", NDArray([7, 8], shape: [2])),
        ])
    }

    /// A `.params` file with a V1 record, a legacy (pre-V1) record and no names, written by hand:
    /// the older layouts take other branches of the decoder.
    static func legacyParams() -> [UInt8] {
        var out: [UInt8] = []
        LittleEndianBytes.append(ParamsFile.listMagic, to: &out)
        LittleEndianBytes.append(UInt64(0), to: &out)
        LittleEndianBytes.append(UInt64(2), to: &out)
        // V1: magic, int32 ndim, int64 dims, cpu(0), type flag 4 (int32), values.
        LittleEndianBytes.append(ParamsFile.recordMagicV1, to: &out)
        LittleEndianBytes.append(Int32(1), to: &out)
        LittleEndianBytes.append(Int64(2), to: &out)
        for v: Int32 in [1, 0, 4, -3, 9] { LittleEndianBytes.append(v, to: &out) }
        // Legacy: uint32 ndim 2, uint32 dims 1 and 2, cpu(0), type flag 3 (uint8), values.
        for v: UInt32 in [2, 1, 2, 1, 0, 3] { LittleEndianBytes.append(v, to: &out) }
        out += [200, 7]
        LittleEndianBytes.append(UInt64(0), to: &out)
        return out
    }

    /// Decodes every mutant as a `.params` file and as checkpoint params; returns how many decoded.
    static func fuzzParams(_ mutants: [[UInt8]]) -> Int {
        var decoded = 0
        for (index, bytes) in mutants.enumerated() {
            do {
                _ = try ParamsFile.decode(bytes, path: "fuzz.params")
                decoded += 1
            } catch {
                #expect(error.path == "fuzz.params", "case \(index): \(error)")
                #expect("\(error)".hasPrefix("fuzz.params: "), "case \(index): \(error)")
            }
            do {
                _ = try ParamsFile.decodeCheckpointParams(bytes, path: "fuzz.params")
            } catch {
                #expect(error.path == "fuzz.params", "case \(index): \(error)")
            }
        }
        return decoded
    }

    @Test func paramsMutantsDecodeOrThrowTypedErrors() throws {
        let valid = try Self.validParams()
        #expect(Self.fuzzParams([valid]) == 1)
        let mutants = Mutations.standard(valid, header: valid.count, random: 2000, seed: 0x5EED_0001)
        let decoded = Self.fuzzParams(mutants)
        // Flips inside the float values (and of the reserved field) still decode; most others do not.
        #expect(decoded > 0 && decoded < mutants.count)
    }

    @Test func legacyParamsMutantsDecodeOrThrowTypedErrors() {
        let valid = Self.legacyParams()
        let arrays = (try? ParamsFile.decode(valid)) ?? []
        #expect(arrays.map(\.0) == ["0", "1"])
        #expect(arrays.first?.1.toArray() == [-3, 9])
        #expect(arrays.last?.1.toArray() == [200, 7])
        let mutants = Mutations.standard(valid, header: valid.count, random: 1000, seed: 0x5EED_0002)
        #expect(Self.fuzzParams(mutants) < mutants.count)
    }

    /// `.npy` bytes with `header` as the dictionary (padded as `numpy.save` pads) and `data` after it.
    static func npy(_ header: String, data: [UInt8]) -> [UInt8] {
        var text = header
        text += String(repeating: " ", count: (64 - (10 + text.utf8.count + 1) % 64) % 64) + "\n"
        let length = text.utf8.count
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(text.utf8) + data
    }

    static func fuzzNPY(_ mutants: [[UInt8]]) -> Int {
        var decoded = 0
        for (index, bytes) in mutants.enumerated() {
            do {
                _ = try NPYFile.decode(bytes, path: "fuzz.npy")
                decoded += 1
            } catch {
                #expect(error.path == "fuzz.npy", "case \(index): \(error)")
                #expect("\(error)".hasPrefix("fuzz.npy: "), "case \(index): \(error)")
            }
        }
        return decoded
    }

    @Test func npyMutantsDecodeOrThrowTypedErrors() {
        let valid = NPYFile.encode(NDArray([1, 2, 3, 4, 5, 6], shape: [2, 3]))
        #expect(Self.fuzzNPY([valid]) == 1)
        // The header is the first 64 bytes; the values follow.
        var mutants = Mutations.standard(valid, header: 64, random: 1500, seed: 0x5EED_0003)
        let int8 = Self.npy("{'descr': '|i1', 'fortran_order': False, 'shape': (3,), }", data: [1, 255, 7])
        mutants += Mutations.standard(int8, header: 64, random: 500, seed: 0x5EED_0004)
        let decoded = Self.fuzzNPY(mutants)
        #expect(decoded > 0 && decoded < mutants.count)
    }

    /// The shapes a header can claim that no memory holds: each is a typed error.
    @Test(arguments: [
        "(99999999999, 99999999999)", "(4611686018427387904, 4)", "(9223372036854775807,)",
        "(3074457345618258603, 1)", "(3, -1)", "(99999999999999999999,)",
    ])
    func npyHeaderShapesThatOverflowAreErrors(shape: String) {
        for descr in ["<f4", "<f8", "|u1"] {
            let bytes = Self.npy(
                "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }", data: [0, 0, 0, 0])
            #expect(throws: NPYError.self) { try NPYFile.decode(bytes, path: "big.npy") }
        }
    }
}
