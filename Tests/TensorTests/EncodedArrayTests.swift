import Foundation
import Testing

@testable import SwiftPSTensor

/// `EncodedArray`: an NDArray as JSON, bit-exact, and every malformed encoding a typed error.
@Suite struct EncodedArrayTests {
    /// Bit patterns a float copy must keep: quiet and signalling NaNs with payloads, a negative NaN,
    /// -0, the smallest and largest denormals of both signs, infinities and the extremes.
    static let patterns: [UInt32] = [
        0x7FC0_0001, 0x7F80_0001, 0xFFC0_1234, 0xFFFF_FFFF, 0x8000_0000, 0x0000_0000, 0x0000_0001, 0x007F_FFFF,
        0x8000_0001, 0x807F_FFFF, 0x7F80_0000, 0xFF80_0000, 0x7F7F_FFFF, 0x0080_0000, 0x3F80_0000,
    ]

    @Test func roundTripsEveryBitPattern() throws {
        let values = Self.patterns.map { Float(bitPattern: $0) }
        let array = NDArray(values, shape: [3, 5])
        let encoded = EncodedArray(array)
        #expect(encoded.shape == [3, 5])
        let back = try encoded.array()
        #expect(back.shape == [3, 5])
        #expect(back.toArray().map(\.bitPattern) == Self.patterns)
        // Through JSON text as well, as the scheduler receives it.
        let json = try JSONEncoder().encode(encoded)
        let decoded = try JSONDecoder().decode(EncodedArray.self, from: json)
        #expect(decoded == encoded)
        #expect(try decoded.array().toArray().map(\.bitPattern) == Self.patterns)
    }

    @Test func theJSONMatchesAHandWrittenEncoding() throws {
        // 1.0 is 0x3F800000 and -2.0 is 0xC0000000, little-endian: 00 00 80 3F 00 00 00 C0. In
        // base64 the groups 00 00 80 | 3F 00 00 | 00 C0 are "AACA", "PwAA" and "AMA=".
        let encoded = EncodedArray(NDArray([1, -2], shape: [1, 2]))
        #expect(encoded.data == "AACAPwAAAMA=")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = String(decoding: try encoder.encode(encoded), as: UTF8.self)
        #expect(text == #"{"data":"AACAPwAAAMA=","shape":[1,2]}"#)
        // And the hand-written text decodes to the array.
        let read = try JSONDecoder().decode(EncodedArray.self, from: Data(#"{"shape":[2],"data":"AACAPwAAAMA="}"#.utf8))
        let array = try read.array()
        #expect(array.shape == [2])
        #expect(array.toArray() == [1, -2])
    }

    @Test func emptyAndScalarArrays() throws {
        let empty = EncodedArray(NDArray(shape: [0, 3]))
        #expect(empty.data == "")
        #expect(try empty.array().shape == [0, 3])
        // A scalar (shape []) holds one value: 0.5 is 0x3F000000, bytes 00 00 00 3F.
        let scalar = EncodedArray(shape: [], data: "AAAAPw==")
        #expect(try scalar.array().toArray() == [0.5])
    }

    @Test func badShapesAreTypedErrors() {
        #expect(throws: EncodedArrayError.badShape([2, -1])) {
            try EncodedArray(shape: [2, -1], data: "AACAPwAAAMA=").array()
        }
        #expect(throws: EncodedArrayError.badShape([Int.max, 2])) {
            try EncodedArray(shape: [Int.max, 2], data: "AACAPwAAAMA=").array()
        }
        // A huge but valid shape is refused by the data's size, before anything is allocated.
        #expect(throws: EncodedArrayError.countMismatch(shape: [1 << 40], expected: 1 << 40, found: 2)) {
            try EncodedArray(shape: [1 << 40], data: "AACAPwAAAMA=").array()
        }
    }

    @Test func badDataIsATypedError() {
        #expect(throws: EncodedArrayError.invalidBase64(length: 10)) {
            try EncodedArray(shape: [2], data: "not base64").array()
        }
        // Missing padding and a line break are not accepted either.
        #expect(throws: EncodedArrayError.invalidBase64(length: 11)) {
            try EncodedArray(shape: [2], data: "AACAPwAAAMA").array()
        }
        #expect(throws: EncodedArrayError.invalidBase64(length: 13)) {
            try EncodedArray(shape: [2], data: "AACAPw\nAAAMA=").array()
        }
        // "AAAAAAA=" is 5 bytes: one float and one stray byte.
        #expect(throws: EncodedArrayError.partialElement(byteCount: 5)) {
            try EncodedArray(shape: [1], data: "AAAAAAA=").array()
        }
        // 8 bytes are 2 floats; the shape asks for 3, then for 1.
        #expect(throws: EncodedArrayError.countMismatch(shape: [3], expected: 3, found: 2)) {
            try EncodedArray(shape: [3], data: "AACAPwAAAMA=").array()
        }
        #expect(throws: EncodedArrayError.countMismatch(shape: [1, 1], expected: 1, found: 2)) {
            try EncodedArray(shape: [1, 1], data: "AACAPwAAAMA=").array()
        }
    }

    @Test func errorsSayWhatIsWrong() {
        let mismatch = EncodedArrayError.countMismatch(shape: [3], expected: 3, found: 2)
        #expect("\(mismatch)" == "encoded array data holds 2 float32 values; the shape [3] needs 3")
        #expect("\(EncodedArrayError.partialElement(byteCount: 5))".contains("not a multiple of 4"))
        #expect("\(EncodedArrayError.badShape([-1]))".contains("[-1]"))
        #expect("\(EncodedArrayError.invalidBase64(length: 3))".contains("not base64"))
    }
}
