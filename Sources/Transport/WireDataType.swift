/// The element type of a data frame, ps-lite's `DataType` enum (`meta.proto` field `data_type`).
public enum WireDataType: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// Characters (bytes of text).
    case char = 0
    /// Signed 8-bit integers.
    case int8 = 1
    /// Signed 16-bit integers.
    case int16 = 2
    /// Signed 32-bit integers (ps-lite's `lens` frame).
    case int32 = 3
    /// Signed 64-bit integers.
    case int64 = 4
    /// Unsigned bytes.
    case uint8 = 5
    /// Unsigned 16-bit integers.
    case uint16 = 6
    /// Unsigned 32-bit integers.
    case uint32 = 7
    /// Unsigned 64-bit integers (ps-lite's `keys` frame).
    case uint64 = 8
    /// 32-bit floats (the `vals` frame of dense float32 traffic).
    case float32 = 9
    /// 64-bit floats.
    case float64 = 10
    /// Anything else (opaque bytes).
    case other = 11

    /// Bytes per element (1 for `char`, `uint8`, `int8` and `other`).
    public var byteWidth: Int {
        switch self {
        case .char, .int8, .uint8, .other: return 1
        case .int16, .uint16: return 2
        case .int32, .uint32, .float32: return 4
        case .int64, .uint64, .float64: return 8
        }
    }

    /// The lowercase name, for logs.
    public var description: String {
        switch self {
        case .char: return "char"
        case .int8: return "int8"
        case .int16: return "int16"
        case .int32: return "int32"
        case .int64: return "int64"
        case .uint8: return "uint8"
        case .uint16: return "uint16"
        case .uint32: return "uint32"
        case .uint64: return "uint64"
        case .float32: return "float32"
        case .float64: return "float64"
        case .other: return "other"
        }
    }
}

/// A plain element type that can travel in a data frame, tagged with its `WireDataType`
/// (the role of ps-lite's `SArray<V>` element types).
public protocol WireElement: BitwiseCopyable {
    /// The wire tag for this element type.
    static var wireType: WireDataType { get }
}

extension Float: WireElement {
    /// `float32`.
    public static var wireType: WireDataType { .float32 }
}

extension Double: WireElement {
    /// `float64`.
    public static var wireType: WireDataType { .float64 }
}

extension UInt64: WireElement {
    /// `uint64`.
    public static var wireType: WireDataType { .uint64 }
}

extension Int64: WireElement {
    /// `int64`.
    public static var wireType: WireDataType { .int64 }
}

extension UInt32: WireElement {
    /// `uint32`.
    public static var wireType: WireDataType { .uint32 }
}

extension Int32: WireElement {
    /// `int32`.
    public static var wireType: WireDataType { .int32 }
}

extension UInt16: WireElement {
    /// `uint16`.
    public static var wireType: WireDataType { .uint16 }
}

extension Int16: WireElement {
    /// `int16`.
    public static var wireType: WireDataType { .int16 }
}

extension UInt8: WireElement {
    /// `uint8`.
    public static var wireType: WireDataType { .uint8 }
}

extension Int8: WireElement {
    /// `int8`.
    public static var wireType: WireDataType { .int8 }
}
