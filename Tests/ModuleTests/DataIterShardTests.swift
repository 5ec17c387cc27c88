import Testing

@testable import SwiftPSModule
@testable import SwiftPSTensor

@Suite struct DataShardTests {
    @Test func partsAreContiguousDisjointAndCover() throws {
        // MXNet style: part i of 3 over 10 samples is [i*10/3, (i+1)*10/3).
        let ranges = try (0..<3).map { try DataShard(numParts: 3, partIndex: $0).range(totalSamples: 10) }
        #expect(ranges == [0..<3, 3..<6, 6..<10])
        #expect(throws: DataIterError.self) { try DataShard(numParts: 3, partIndex: 3) }
        #expect(throws: DataIterError.self) { try DataShard(numParts: 0, partIndex: 0) }

        let data = NDArray((0..<10).map { Float($0) }, shape: [10, 1])
        var seen: [Int] = []
        for part in 0..<3 {
            let iter = try NDArrayIter(
                data: data, label: NDArray((0..<10).map { Float($0) }), batchSize: 1, shuffle: true, seed: 1,
                numParts: 3, partIndex: part)
            var mine: [Int] = []
            // The smaller parts pad to the largest one's batch count: padding is not their data.
            while let batch = try iter.next() { mine += (batch.index ?? []).dropLast(batch.pad) }
            #expect(mine.sorted() == Array(ranges[part]))
            seen += mine
        }
        #expect(seen.sorted() == Array(0..<10))
    }

    @Test func batchesPerEpochPadsByWrappingTheShard() throws {
        let data = NDArray((0..<10).map { Float($0) }, shape: [10, 1])
        // Part 0 of 3 holds samples 0, 1, 2; three batches of 2 wrap around it twice.
        let iter = try NDArrayIter(data: data, batchSize: 2, numParts: 3, partIndex: 0, batchesPerEpoch: 3)
        var batches: [[Int]] = []
        var pads: [Int] = []
        while let batch = try iter.next() {
            batches.append(batch.index ?? [])
            pads.append(batch.pad)
            #expect(batch.data[0].toArray() == (batch.index ?? []).map { Float($0) })
        }
        #expect(batches == [[0, 1], [2, 0], [1, 2]])
        #expect(pads == [0, 1, 2])
    }

    @Test func batchesPerEpochStopsEarly() throws {
        let data = NDArray((0..<10).map { Float($0) }, shape: [10, 1])
        // Part 2 of 3 holds samples 6…9: two batches of 2 would fit, one is asked for.
        let iter = try NDArrayIter(data: data, batchSize: 2, numParts: 3, partIndex: 2, batchesPerEpoch: 1)
        #expect(try iter.next()?.index == [6, 7])
        #expect(try iter.next() == nil)
        iter.reset()
        #expect(iter.batchesInEpoch == 1)
        #expect(try iter.next()?.index == [6, 7])
    }

    @Test func uniformBatchCountFitsTheLargestPart() {
        // 10 samples over 3 parts: parts of 3, 3, 4; batch 2 → the largest needs 2 batches.
        #expect(DataShard.uniformBatchesPerEpoch(totalSamples: 10, numParts: 3, batchSize: 2) == 2)
        // 60000 over 4 at batch 128: 15000 per part → ceil(15000/128) = 118.
        #expect(DataShard.uniformBatchesPerEpoch(totalSamples: 60000, numParts: 4, batchSize: 128) == 118)
        #expect(DataShard.uniformBatchesPerEpoch(totalSamples: 0, numParts: 4, batchSize: 128) == 0)
    }

    /// Untold, the parts of a data set run the same number of batches (workers in dist_sync must):
    /// 10 samples over 3 parts of 3, 3 and 4 at batch 3 used to give 1, 1 and 2 batches under `pad`
    /// (and 11, parts of 3, 4 and 4, at batch 2 gave 1, 2 and 2 under `discard`). One part, and `roll_over`, keep their own.
    @Test func partsRunTheSameBatchCountUntold() throws {
        func counts(_ n: Int, batch: Int, parts: Int, _ handle: LastBatchHandle) throws -> [Int] {
            let data = NDArray((0..<n).map { Float($0) }, shape: [n, 1])
            return try (0..<parts).map { part in
                let iter = try NDArrayIter(
                    data: data, batchSize: batch, lastBatchHandle: handle, numParts: parts, partIndex: part)
                var count = 0
                while try iter.next() != nil { count += 1 }
                return count
            }
        }
        #expect(try counts(10, batch: 3, parts: 3, .pad) == [2, 2, 2])
        #expect(try counts(11, batch: 2, parts: 3, .discard) == [1, 1, 1])
        #expect(try counts(10, batch: 3, parts: 1, .pad) == [4])
        #expect(try counts(10, batch: 3, parts: 1, .discard) == [3])
        #expect(try counts(11, batch: 2, parts: 3, .rollOver) == [1, 2, 2])
        // The smaller parts' extra batch wraps around them and counts as padding.
        let data = NDArray((0..<10).map { Float($0) }, shape: [10, 1])
        let small = try NDArrayIter(data: data, batchSize: 3, numParts: 3, partIndex: 0)
        #expect(try small.next()?.pad == 0)
        #expect(try small.next()?.pad == 3)
        // Fewer samples than parts: a part with none cannot pad, and says so.
        #expect(
            throws: DataIterError.invalidArgument("part 0 of 3 holds none of the 2 samples: use at most 2 parts")
        ) {
            try NDArrayIter(data: NDArray(shape: [2, 1]), batchSize: 1, numParts: 3, partIndex: 0)
        }
    }

    @Test func emptyShardWithBatchesPerEpochIsAnError() {
        let data = NDArray(shape: [2, 1])
        #expect(throws: DataIterError.self) {
            try NDArrayIter(data: data, batchSize: 1, numParts: 3, partIndex: 0, batchesPerEpoch: 1)
        }
    }
}
