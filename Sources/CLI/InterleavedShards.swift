import SwiftPS

/// A test aid for the dist_sync equivalence check (`swiftps train --interleave-shards K`): one
/// process sees, at step t, exactly the samples that K workers see together at their step t.
///
/// Worker r of K trains on the contiguous part r of the data (MXNet's `num_parts`/`part_index`), so
/// its step t uses that part's batch t. This iterator holds K part iterators with batch B/K each and
/// stacks their batch t (part 0's rows first) into one batch of B. `dist_sync` with K workers at
/// batch B/K must then end with the same weights as this process at batch B (up to the order of
/// float sums).
final class InterleavedShards: DataIter {
    private let parts: [any DataIter]
    private let batch: DataBatch
    let batchSize: Int
    let provideData: [DataDesc]
    let provideLabel: [DataDesc]

    /// Stacks the batches of `parts`, which must all have the same shapes.
    init(parts: [any DataIter]) throws {
        guard let first = parts.first else { throw ModuleError.badInput("--interleave-shards needs at least 1 part") }
        self.parts = parts
        batchSize = first.batchSize * parts.count
        func scaled(_ descs: [DataDesc]) -> [DataDesc] {
            descs.map { DataDesc(name: $0.name, shape: [$0.shape[0] * parts.count] + $0.shape.dropFirst()) }
        }
        provideData = scaled(first.provideData)
        provideLabel = scaled(first.provideLabel)
        batch = DataBatch(
            data: provideData.map { NDArray(shape: $0.shape) }, label: provideLabel.map { NDArray(shape: $0.shape) })
    }

    func reset() {
        for part in parts { part.reset() }
    }

    func next() throws -> DataBatch? {
        var pad = 0
        for (i, part) in parts.enumerated() {
            guard let piece = try part.next() else { return nil }
            pad += piece.pad
            try place(piece.data, into: batch.data, part: i)
            try place(piece.label, into: batch.label, part: i)
        }
        batch.pad = pad
        return batch
    }

    private func place(_ pieces: [NDArray], into targets: [NDArray], part: Int) throws {
        for (piece, target) in zip(pieces, targets) {
            guard piece.count * parts.count == target.count else {
                throw ModuleError.badInput("interleaved parts have different shapes: \(piece.shape) vs \(target.shape)")
            }
            (target.data + part * piece.count).update(from: piece.data, count: piece.count)
        }
    }
}
