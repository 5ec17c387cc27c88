import SwiftPSTensor
import Testing

// The expected bytes below are worked out by hand from the IEEE-754 binary32 layout (sign, 8-bit
// exponent biased by 127, 23-bit fraction) and written least significant byte first.

@Test func floatsBecomeTheirLittleEndianBinary32Bytes() {
    var out: [UInt8] = [0xEE]  // appending keeps what is there
    let values: [Float] = [1.0, -2.0, 0.1, 0.5, -0.0, .infinity]
    values.withUnsafeBufferPointer { LittleEndianBytes.append($0, to: &out) }
    #expect(
        out == [
            0xEE,
            0x00, 0x00, 0x80, 0x3F,  // 1.0 = 0x3F800000
            0x00, 0x00, 0x00, 0xC0,  // -2.0 = 0xC0000000
            0xCD, 0xCC, 0xCC, 0x3D,  // 0.1 rounds to 0x3DCCCCCD
            0x00, 0x00, 0x00, 0x3F,  // 0.5 = 0x3F000000
            0x00, 0x00, 0x00, 0x80,  // -0.0 = 0x80000000
            0x00, 0x00, 0x80, 0x7F,  // +infinity = 0x7F800000
        ])

    var one: [UInt8] = []
    LittleEndianBytes.append(Float(1.5), to: &one)  // 1.5 = 0x3FC00000
    #expect(one == [0x00, 0x00, 0xC0, 0x3F])
}

@Test func integersBecomeTheirLittleEndianBytes() {
    var out: [UInt8] = []
    LittleEndianBytes.append(UInt32(0x1122_3344), to: &out)
    LittleEndianBytes.append(Int32(-2), to: &out)
    LittleEndianBytes.append(UInt64(0x0102_0304_0506_0708), to: &out)
    LittleEndianBytes.append(Int16(0x0A0B), to: &out)
    #expect(
        out == [
            0x44, 0x33, 0x22, 0x11,
            0xFE, 0xFF, 0xFF, 0xFF,
            0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
            0x0B, 0x0A,
        ])
}

@Test func littleEndianBytesReadBackAtAnyOffset() {
    // One stray byte first, so that every value starts at an odd (unaligned) offset.
    let bytes: [UInt8] = [
        0xAA,
        0x00, 0x00, 0x80, 0x3F,  // 1.0
        0x00, 0x00, 0x20, 0xC1,  // -10.0 = 0xC1200000
        0x01, 0x00, 0xC0, 0x7F,  // a quiet NaN with payload 1: 0x7FC00001
        0x44, 0x33, 0x22, 0x11,
    ]
    bytes.withUnsafeBytes { raw in
        #expect(LittleEndianBytes.float(from: raw, at: 1) == 1.0)
        #expect(LittleEndianBytes.float(from: raw, at: 5) == -10.0)
        #expect(LittleEndianBytes.float(from: raw, at: 9).bitPattern == 0x7FC0_0001)
        #expect(LittleEndianBytes.integer(UInt32.self, from: raw, at: 13) == 0x1122_3344)
        #expect(LittleEndianBytes.integer(Int32.self, from: raw, at: 5) == Int32(bitPattern: 0xC120_0000))
        #expect(LittleEndianBytes.integer(UInt16.self, from: raw, at: 0) == 0x00AA)

        // Bulk: two floats from offset 1 (more bytes follow and must not be read); the third
        // destination slot keeps its value.
        var out: [Float] = [7, 7, 7]
        out.withUnsafeMutableBufferPointer { dst in
            LittleEndianBytes.read(UnsafeRawBufferPointer(rebasing: raw[1...]), into: dst.baseAddress!, count: 2)
        }
        #expect(out == [1.0, -10.0, 7])
    }
}

@Test func bulkFloatsRoundTripBitForBit() {
    // Awkward values: subnormals, the extremes, a negative NaN payload.
    let values: [Float] = [
        .leastNonzeroMagnitude, -.leastNormalMagnitude, .greatestFiniteMagnitude, -.infinity,
        Float(bitPattern: 0xFFC1_2345), 3.141_592_7, -0.0,
    ]
    var bytes: [UInt8] = []
    values.withUnsafeBufferPointer { LittleEndianBytes.append($0, to: &bytes) }
    #expect(bytes.count == 4 * values.count)
    // The first value is 0x00000001: a single 1 in the lowest byte.
    #expect(Array(bytes.prefix(4)) == [0x01, 0x00, 0x00, 0x00])
    var back = [Float](repeating: 0, count: values.count)
    bytes.withUnsafeBytes { raw in
        back.withUnsafeMutableBufferPointer { dst in
            LittleEndianBytes.read(raw, into: dst.baseAddress!, count: values.count)
        }
    }
    #expect(back.map(\.bitPattern) == values.map(\.bitPattern))
}
