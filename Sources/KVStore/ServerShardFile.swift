import SwiftPSTensor

/// A slice of one parameter's weights as a server holds it: elements `offset ..< offset + count`
/// of parameter `name`, whose whole array has `totalCount` elements.
public struct WeightSlice: Sendable {
    /// The parameter's name, for example `fc1_weight`.
    public var name: String
    /// Where the slice starts in the whole (flattened) parameter.
    public var offset: Int
    /// The element count of the whole parameter.
    public var totalCount: Int
    /// The slice's values (one dimension).
    public var values: NDArray

    /// A slice; the caller keeps `offset + values.count <= totalCount`.
    public init(name: String, offset: Int, totalCount: Int, values: NDArray) {
        self.name = name
        self.offset = offset
        self.totalCount = totalCount
        self.values = values
    }

    /// The elements it covers in the whole parameter.
    public var range: Range<Int> { offset..<(offset + values.count) }
}

/// A server's weight shard, `prefix-%04d.serverK.params`: MXNet's `.params` NDArray-list format
/// (so any `.params` reader opens it) with one 1-D float32 array per slice, keyed
/// `slice:<offset>:<total>:<name>` (offset and total in elements of the flattened parameter). The
/// optimizer state of the same slices is in the matching `.states` file (`OptimizerStateFile`).
public enum ServerShardFile {
    /// The key of `slice` in the file.
    public static func key(of slice: WeightSlice) -> String {
        "slice:\(slice.offset):\(slice.totalCount):\(slice.name)"
    }

    /// The file's bytes for `slices`.
    public static func encode(_ slices: [WeightSlice], path: String) throws(CheckpointError) -> [UInt8] {
        do {
            return try ParamsFile.encode(slices.map { (key(of: $0), $0.values) }, path: path)
        } catch {
            throw .cannotWrite(path: path, reason: "\(error)")
        }
    }

    /// Reads the slices of a shard file's bytes; throws `corrupt` naming `path` for a bad key.
    public static func decode(_ bytes: [UInt8], path: String) throws(CheckpointError) -> [WeightSlice] {
        let arrays: [(String, NDArray)]
        do { arrays = try ParamsFile.decode(bytes, path: path) } catch {
            throw .corrupt(path: path, reason: "\(error)")
        }
        return try arrays.map { (key, array) throws(CheckpointError) -> WeightSlice in
            let parts = key.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
            guard parts.count == 4, parts[0] == "slice", let offset = Int(parts[1]), let total = Int(parts[2]),
                !parts[3].isEmpty, offset >= 0, offset <= total, array.count <= total - offset
            else {
                throw .corrupt(path: path, reason: "key '\(key)' is not slice:<offset>:<total>:<name> of its array")
            }
            return WeightSlice(
                name: String(parts[3]), offset: offset, totalCount: total,
                values: (try? array.reshaped([array.count])) ?? array)
        }
    }

    /// Joins the slices of each parameter into its whole (flattened) weights. Throws
    /// `inconsistent` naming the parameter when slices overlap, leave a gap or disagree on its size.
    public static func merge(_ slices: [WeightSlice]) throws(CheckpointError) -> [String: NDArray] {
        var byName: [String: [WeightSlice]] = [:]
        for slice in slices { byName[slice.name, default: []].append(slice) }
        var whole: [String: NDArray] = [:]
        for (name, parts) in byName {
            let total = parts[0].totalCount
            guard parts.allSatisfy({ $0.totalCount == total }) else {
                throw .inconsistent("the slices of '\(name)' disagree on its size \(parts.map(\.totalCount))")
            }
            // Check that the slices tile 0..<total before allocating `total` elements: the size comes
            // from the file's keys, and only slices that cover it prove that it is real.
            let sorted = parts.sorted(by: { $0.offset < $1.offset })
            var next = 0
            for part in sorted {
                guard part.offset == next else {
                    throw .inconsistent(
                        part.offset < next
                            ? "slices of '\(name)' overlap at element \(part.offset)"
                            : "elements \(next)..<\(part.offset) of '\(name)' are in no slice")
                }
                next = part.offset + part.values.count
            }
            guard next == total else {
                throw .inconsistent("elements \(next)..<\(total) of '\(name)' are in no slice")
            }
            let array = NDArray(shape: [total])
            for part in sorted {
                (array.data + part.offset).update(from: part.values.data, count: part.values.count)
            }
            whole[name] = array
        }
        return whole
    }
}
