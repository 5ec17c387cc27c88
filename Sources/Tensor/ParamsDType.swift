/// mshadow's `TypeFlag`: the element types a `.params` record can hold, each read as Float32.
enum ParamsDType: Int32, CustomStringConvertible {
    case float32 = 0
    case float64 = 1
    case float16 = 2
    case uint8 = 3
    case int32 = 4
    case int8 = 5
    case int64 = 6
    case bool = 7
    case int16 = 8
    case uint16 = 9
    case uint32 = 10
    case uint64 = 11
    case bfloat16 = 12

    /// Bytes per element.
    var size: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .float16, .int16, .uint16, .bfloat16: return 2
        case .float32, .int32, .uint32: return 4
        case .float64, .int64, .uint64: return 8
        }
    }

    var description: String {
        switch self {
        case .float32: return "float32"
        case .float64: return "float64"
        case .float16: return "float16"
        case .uint8: return "uint8"
        case .int32: return "int32"
        case .int8: return "int8"
        case .int64: return "int64"
        case .bool: return "bool"
        case .int16: return "int16"
        case .uint16: return "uint16"
        case .uint32: return "uint32"
        case .uint64: return "uint64"
        case .bfloat16: return "bfloat16"
        }
    }

    /// Converts little-endian elements in `source` to Float32 values at `out`.
    func convert(_ source: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<Float>) {
        let n = source.count / size
        switch self {
        case .float32:
            LittleEndianBytes.read(source, into: out, count: n)
        case .float64:
            for i in 0..<n { out[i] = Float(Double(bitPattern: load(UInt64.self, source, i))) }
        case .float16:
            for i in 0..<n { out[i] = ParamsDType.halfToFloat(load(UInt16.self, source, i)) }
        case .bfloat16:
            for i in 0..<n { out[i] = Float(bitPattern: UInt32(load(UInt16.self, source, i)) << 16) }
        case .uint8, .bool:
            for i in 0..<n { out[i] = Float(source[i]) }
        case .int8:
            for i in 0..<n { out[i] = Float(Int8(bitPattern: source[i])) }
        case .int16:
            for i in 0..<n { out[i] = Float(Int16(bitPattern: load(UInt16.self, source, i))) }
        case .uint16:
            for i in 0..<n { out[i] = Float(load(UInt16.self, source, i)) }
        case .int32:
            for i in 0..<n { out[i] = Float(Int32(bitPattern: load(UInt32.self, source, i))) }
        case .uint32:
            for i in 0..<n { out[i] = Float(load(UInt32.self, source, i)) }
        case .int64:
            for i in 0..<n { out[i] = Float(Int64(bitPattern: load(UInt64.self, source, i))) }
        case .uint64:
            for i in 0..<n { out[i] = Float(load(UInt64.self, source, i)) }
        }
    }

    /// Element `i` of `source` as a little-endian `T`.
    @inline(__always)
    private func load<T: FixedWidthInteger>(_: T.Type, _ source: UnsafeRawBufferPointer, _ i: Int) -> T {
        LittleEndianBytes.integer(T.self, from: source, at: i * MemoryLayout<T>.size)
    }

    /// IEEE 754 binary16 to binary32, exactly (every half value is a float value).
    static func halfToFloat(_ h: UInt16) -> Float {
        let negative = h & 0x8000 != 0
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        let magnitude: Float
        switch exponent {
        case 0: magnitude = Float(mantissa) * 0x1p-24  // zero or subnormal
        case 31: magnitude = Float(bitPattern: 0x7F80_0000 | (mantissa << 13))  // inf or NaN
        default: magnitude = Float(bitPattern: (UInt32(exponent - 15 + 127) << 23) | (mantissa << 13))
        }
        return negative ? -magnitude : magnitude
    }
}
