/// A minimal reader and writer of the protobuf wire format (varints, tags, length-delimited fields),
/// written independently of libprotobuf-c so the meta fuzz tests can find and overwrite the fields and
/// length prefixes of an encoded `Meta`.
enum ProtoWire {
    /// One field as found on the wire.
    struct Field: Equatable {
        /// The field number.
        var number: Int
        /// The wire type: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
        var wireType: Int
        /// The first byte of the tag.
        var start: Int
        /// The bytes of the varint value (wire type 0) or of the length prefix (wire type 2), or of the
        /// fixed-width value.
        var value: Range<Int>
        /// One past the field's last byte.
        var end: Int
        /// The path of enclosing field numbers, outermost first (empty for a top-level field).
        var parents: [Int]
    }

    /// The varint encoding of `value` (little-endian groups of 7 bits, high bit = more follow).
    static func varint(_ value: UInt64) -> [UInt8] {
        var v = value
        var out: [UInt8] = []
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
        return out
    }

    /// The tag of field `number` with `wireType`.
    static func tag(_ number: Int, _ wireType: Int) -> [UInt8] { varint(UInt64(number << 3 | wireType)) }

    /// A length-delimited field.
    static func bytesField(_ number: Int, _ content: [UInt8]) -> [UInt8] {
        tag(number, 2) + varint(UInt64(content.count)) + content
    }

    /// A varint field; negative `Int64` values take ten bytes, as proto3 writes a negative int32.
    static func varintField(_ number: Int, _ value: Int64) -> [UInt8] {
        tag(number, 0) + varint(UInt64(bitPattern: value))
    }

    /// `version: 1`, which every meta this build accepts carries.
    static let version1: [UInt8] = varintField(20, 1)

    /// Reads a varint of at most ten bytes at `index` within `range`, advancing `index`.
    static func readVarint(_ bytes: [UInt8], at index: inout Int, limit: Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < limit, shift < 70 {
            let b = bytes[index]
            index += 1
            value |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return value }
            shift += 7
        }
        return nil
    }

    /// The fields of the message in `range`, or nil if it is not well-formed.
    static func fields(_ bytes: [UInt8], in range: Range<Int>, parents: [Int] = []) -> [Field]? {
        var out: [Field] = []
        var i = range.lowerBound
        while i < range.upperBound {
            let start = i
            guard let key = readVarint(bytes, at: &i, limit: range.upperBound) else { return nil }
            let wireType = Int(key & 7)
            let valueStart = i
            switch wireType {
            case 0:
                guard readVarint(bytes, at: &i, limit: range.upperBound) != nil else { return nil }
                out.append(
                    Field(
                        number: Int(key >> 3), wireType: 0, start: start, value: valueStart..<i, end: i,
                        parents: parents))
            case 1, 5:
                let width = wireType == 1 ? 8 : 4
                guard range.upperBound - i >= width else { return nil }
                i += width
                out.append(
                    Field(
                        number: Int(key >> 3), wireType: wireType, start: start, value: valueStart..<i, end: i,
                        parents: parents))
            case 2:
                guard let length = readVarint(bytes, at: &i, limit: range.upperBound),
                    length <= UInt64(range.upperBound - i)
                else { return nil }
                let prefixEnd = i
                i += Int(length)
                out.append(
                    Field(
                        number: Int(key >> 3), wireType: 2, start: start, value: valueStart..<prefixEnd, end: i,
                        parents: parents))
            default:
                return nil
            }
        }
        return out
    }

    /// The fields of an encoded `Meta`, with those of its `Control` (field 3) and of the control's
    /// `Node` entries (field 2) after them; nil if the bytes are not well-formed.
    static func metaFields(_ bytes: [UInt8]) -> [Field]? {
        guard let top = fields(bytes, in: 0..<bytes.count) else { return nil }
        var all = top
        for control in top where control.number == 3 && control.wireType == 2 {
            guard let inner = fields(bytes, in: control.value.upperBound..<control.end, parents: [3]) else {
                return nil
            }
            all += inner
            for node in inner where node.number == 2 && node.wireType == 2 {
                guard let leaves = fields(bytes, in: node.value.upperBound..<node.end, parents: [3, 2]) else {
                    return nil
                }
                all += leaves
            }
        }
        return all
    }

    /// `bytes` with the bytes of `range` replaced by `replacement`.
    static func replacing(_ bytes: [UInt8], _ range: Range<Int>, with replacement: [UInt8]) -> [UInt8] {
        var out = bytes
        out.replaceSubrange(range, with: replacement)
        return out
    }
}
