import Foundation

/// Why an `EncodedArray` cannot be turned back into an `NDArray`.
public enum EncodedArrayError: Error, CustomStringConvertible, Equatable {
    /// A dimension is negative or the element count overflows `Int`.
    case badShape([Int])
    /// `data` is not base64 text (standard alphabet, with padding, no line breaks); `length` is its
    /// length in characters.
    case invalidBase64(length: Int)
    /// The decoded bytes are not a whole number of float32 values.
    case partialElement(byteCount: Int)
    /// The data holds `found` float32 values; `shape` needs `expected`.
    case countMismatch(shape: [Int], expected: Int, found: Int)

    /// What is wrong and what the sender must fix.
    public var description: String {
        switch self {
        case .badShape(let shape):
            return "encoded array has the shape \(shape): a dimension is negative or the element count overflows"
        case .invalidBase64(let length):
            return "encoded array data (\(length) characters) is not base64 text"
        case .partialElement(let count):
            return "encoded array data has \(count) bytes, not a multiple of 4 (one float32 each)"
        case .countMismatch(let shape, let expected, let found):
            return "encoded array data holds \(found) float32 values; the shape \(shape) needs \(expected)"
        }
    }
}

/// An `NDArray` as a JSON value: `{"data": "<base64>", "shape": [d0, d1, ...]}`, the float32
/// values row-major and little-endian (the byte layout of MXNet's `.params` records), then base64
/// (RFC 4648, standard alphabet, padded).
///
/// SwiftPS uses it for the few arrays a JSON control message carries (worker 0's auxiliary states
/// and fixed parameters at a checkpoint). Encoding copies the bits: NaN payloads, -0 and denormals
/// come back unchanged.
public struct EncodedArray: Codable, Sendable, Equatable {
    /// The array's shape.
    public var shape: [Int]
    /// The values, little-endian float32, base64.
    public var data: String

    /// An encoded array from its fields, unchecked; `array()` checks them.
    public init(shape: [Int], data: String) {
        self.shape = shape
        self.data = data
    }

    /// The encoding of `array`'s shape and values.
    public init(_ array: NDArray) {
        shape = array.shape
        var bytes: [UInt8] = []
        bytes.reserveCapacity(4 * array.count)
        array.withUnsafeBufferPointer { LittleEndianBytes.append($0, to: &bytes) }
        data = Data(bytes).base64EncodedString()
    }

    /// The array, after checking that the shape is valid, the data is base64 and holds exactly
    /// the shape's number of float32 values; otherwise an `EncodedArrayError` saying which.
    public func array() throws(EncodedArrayError) -> NDArray {
        guard let count = NDArray.checkedElementCount(shape) else { throw .badShape(shape) }
        guard let bytes = Data(base64Encoded: data) else { throw .invalidBase64(length: data.count) }
        guard bytes.count % 4 == 0 else { throw .partialElement(byteCount: bytes.count) }
        guard bytes.count / 4 == count else {
            throw .countMismatch(shape: shape, expected: count, found: bytes.count / 4)
        }
        let array = NDArray(shape: shape)
        bytes.withUnsafeBytes { LittleEndianBytes.read($0, into: array.data, count: count) }
        return array
    }
}
