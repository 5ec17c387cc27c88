/// MXNet's NDArray-list `.params` file: `mx.nd.save`/`mx.nd.load` and the checkpoint weights
/// written by `mx.model.save_checkpoint` (`prefix-0001.params`).
///
/// Layout (all little-endian, `src/ndarray/ndarray.cc` in MXNet 1.x): uint64 magic `0x112`, uint64
/// reserved, uint64 array count N, N array records, then uint64 name count (0 or N) and the names,
/// each as uint64 byte length plus UTF-8 bytes. Arrays are written as V2 records: uint32 magic
/// `0xF993FAC9`, int32 storage type 0 (dense), the shape as int32 ndim plus int64 dims, the context
/// as int32 device type 1 (cpu) plus int32 device id 0, int32 type flag 0 (float32), then the raw
/// values. See `decode(_:path:)` for the older and wider variants that are also read.
public enum ParamsFile {
    /// `kMXAPINDArrayListMagic`, the first uint64 of every NDArray-list file.
    public static let listMagic: UInt64 = 0x112
    /// The record magic MXNet 1.x writes (`NDARRAY_V2_MAGIC`): V1 plus a storage-type field.
    public static let recordMagicV2: UInt32 = 0xF993_FAC9
    /// The legacy record magic (`NDARRAY_V1_MAGIC`): no storage type, int64 dims.
    public static let recordMagicV1: UInt32 = 0xF993_FAC8
    /// The NumPy-shape record magic (`NDARRAY_V3_MAGIC`): like V2, but ndim 0 is a scalar and -1 "none".
    public static let recordMagicV3: UInt32 = 0xF993_FACA

    /// Encodes `arrays` as an MXNet NDArray-list file with every name stored (as `mx.nd.save` does
    /// for a dict), in the given order, as dense float32 V2 records on cpu(0).
    ///
    /// A 0-d array cannot be written: V2 reads ndim 0 as an empty ("none") array, so MXNet 1.x
    /// would load it as nothing; reshape scalars to `[1]`. `path` only labels errors.
    public static func encode(_ arrays: [(String, NDArray)], path: String = "<memory>") throws(ParamsFileError)
        -> [UInt8]
    {
        var size = 24 + 8
        for (name, array) in arrays {
            guard array.ndim > 0 else {
                throw .invalidEntry(
                    path: path, name: name,
                    reason: "a 0-d array cannot be stored in a V2 record (MXNet 1.x reads ndim 0 as 'none'); "
                        + "reshape it to [1]")
            }
            size += 4 + 4 + 4 + 8 * array.ndim + 8 + 4 + 4 * array.count + 8 + name.utf8.count
        }
        var out: [UInt8] = []
        out.reserveCapacity(size)
        LittleEndianBytes.append(listMagic, to: &out)
        LittleEndianBytes.append(UInt64(0), to: &out)
        LittleEndianBytes.append(UInt64(arrays.count), to: &out)
        for (_, array) in arrays {
            LittleEndianBytes.append(recordMagicV2, to: &out)
            LittleEndianBytes.append(Int32(0), to: &out)  // storage type: default (dense)
            LittleEndianBytes.append(Int32(array.ndim), to: &out)
            for dim in array.shape { LittleEndianBytes.append(Int64(dim), to: &out) }
            LittleEndianBytes.append(Int32(1), to: &out)  // context: cpu
            LittleEndianBytes.append(Int32(0), to: &out)  // device id 0
            LittleEndianBytes.append(Int32(0), to: &out)  // type flag: float32
            array.withUnsafeBufferPointer { LittleEndianBytes.append($0, to: &out) }
        }
        LittleEndianBytes.append(UInt64(arrays.count), to: &out)
        for (name, _) in arrays {
            LittleEndianBytes.append(UInt64(name.utf8.count), to: &out)
            out.append(contentsOf: name.utf8)
        }
        return out
    }

    /// Writes `arrays` to `path` (as `mx.nd.save` with a dict), atomically: a crash leaves either
    /// the old file or the new one, never a truncated one.
    public static func save(_ arrays: [(String, NDArray)], to path: String) throws(ParamsFileError) {
        let bytes = try encode(arrays, path: path)
        do { try AtomicFile.write(bytes, to: path) } catch { throw .io(error) }
    }

    /// Reads every array of the file at `path`, in file order (as `mx.nd.load`).
    ///
    /// A file saved without names (`mx.nd.save` of a list) gives the names "0", "1", … in order.
    public static func load(_ path: String) throws(ParamsFileError) -> [(String, NDArray)] {
        let bytes: [UInt8]
        do { bytes = try AtomicFile.read(path) } catch { throw .io(error) }
        return try decode(bytes, path: path)
    }

    /// Reads a checkpoint's weights and splits them by key prefix, as MXNet's `load_checkpoint`:
    /// `arg:<name>` goes to `args` and `aux:<name>` to `aux`, with the prefix removed.
    ///
    /// A key without one of those prefixes (including the "0", "1", … of an unnamed list) or a name
    /// that appears twice is an `invalidEntry` error naming the key.
    public static func loadCheckpointParams(_ path: String) throws(ParamsFileError)
        -> (args: [String: NDArray], aux: [String: NDArray])
    {
        try splitCheckpointParams(try load(path), path: path)
    }

    /// `loadCheckpointParams` of a file's bytes received rather than read (a worker resuming from
    /// the params the scheduler sent); `path` names the file in errors.
    public static func decodeCheckpointParams(_ bytes: [UInt8], path: String) throws(ParamsFileError)
        -> (args: [String: NDArray], aux: [String: NDArray])
    {
        try splitCheckpointParams(try decode(bytes, path: path), path: path)
    }

    private static func splitCheckpointParams(_ arrays: [(String, NDArray)], path: String) throws(ParamsFileError)
        -> (args: [String: NDArray], aux: [String: NDArray])
    {
        var args: [String: NDArray] = [:]
        var aux: [String: NDArray] = [:]
        for (key, array) in arrays {
            if key.hasPrefix("arg:") {
                let name = String(key.dropFirst(4))
                guard args.updateValue(array, forKey: name) == nil else {
                    throw .invalidEntry(path: path, name: key, reason: "the key appears twice")
                }
            } else if key.hasPrefix("aux:") {
                let name = String(key.dropFirst(4))
                guard aux.updateValue(array, forKey: name) == nil else {
                    throw .invalidEntry(path: path, name: key, reason: "the key appears twice")
                }
            } else {
                throw .invalidEntry(
                    path: path, name: key,
                    reason: "a checkpoint key must start with 'arg:' or 'aux:' (MXNet's load_checkpoint)")
            }
        }
        return (args, aux)
    }

    /// Writes checkpoint weights as MXNet's `save_checkpoint` does: every `args` entry as
    /// `arg:<name>`, then every `aux` entry as `aux:<name>`, each group sorted by name, atomically.
    public static func saveCheckpointParams(
        args: [String: NDArray], aux: [String: NDArray], to path: String
    ) throws(ParamsFileError) {
        var arrays: [(String, NDArray)] = []
        arrays.reserveCapacity(args.count + aux.count)
        for name in args.keys.sorted() { if let a = args[name] { arrays.append(("arg:" + name, a)) } }
        for name in aux.keys.sorted() { if let a = aux[name] { arrays.append(("aux:" + name, a)) } }
        try save(arrays, to: path)
    }
}
