import SwiftPSTensor

/// Samples read whole from one file, for scoring and prediction: an IDX image file (gzipped or
/// not), a CSV file of rows, or a NumPy `.npy` array. The format is recognised from the content,
/// so standard input (`-`) works too.
public enum SampleFile {
    /// Reads the samples of `path` (`-`: standard input). The first axis is the sample axis: IDX
    /// images become (N, 1, rows, cols) scaled to [0,1]; IDX labels (N); CSV rows (N, width);
    /// `.npy` arrays keep their shape, and must have a sample axis (a 0-d array is refused).
    public static func load(_ path: String) throws -> NDArray {
        let bytes = try IdxFile.readAll(path, missingHint: "check the path")
        if NPYFile.looksLikeNPY(bytes) {
            let array = try NPYFile.decode(bytes, path: path)
            guard array.ndim >= 1 else {
                throw DataIterError.badFile(path: path, reason: "it holds a single number (a 0-d array), not samples")
            }
            return array
        }
        // IDX of another element type (0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64).
        if bytes.count >= 4, bytes[0] == 0, bytes[1] == 0, [0x09, 0x0B, 0x0C, 0x0D, 0x0E].contains(bytes[2]),
            (1...4).contains(bytes[3])
        {
            throw DataIterError.badFile(
                path: path,
                reason:
                    "an IDX file of element type 0x\(String(bytes[2], radix: 16, uppercase: true)): only unsigned bytes (0x08, MNIST's) are read; convert it to .npy or CSV"
            )
        }
        if IdxFile.looksLikeIdx(bytes) {
            let rank = Int(bytes[3])
            let idx = try IdxFile.decode(bytes, path: path, expectedRank: rank)
            let out = NDArray(shape: rank == 3 ? [idx.dims[0], 1, idx.dims[1], idx.dims[2]] : idx.dims)
            let divisor: Float = rank == 1 ? 1 : 255  // the same scaling as MNISTIter
            idx.values.withUnsafeBufferPointer { src in
                for i in 0..<out.count { out.data[i] = Float(src[i]) / divisor }
            }
            return out
        }
        let (values, rows) = try CSVIter.parse(bytes: bytes, path: path, width: nil)
        return NDArray(values, shape: [rows, rows == 0 ? 0 : values.count / rows])
    }
}
