import Testing

@testable import SwiftPSModule
@testable import SwiftPSTensor

/// 10 samples; sample i has data row [i, 10 + i] and label i.
private func tenSamples() -> (NDArray, NDArray) {
    let data = NDArray((0..<10).flatMap { [Float($0), Float(10 + $0)] }, shape: [10, 2])
    let label = NDArray((0..<10).map { Float($0) })
    return (data, label)
}

/// The labels (= sample ids) and pads of every batch of one epoch; checks data rows match labels.
private func epoch(_ iter: DataIter) throws -> [([Int], Int)] {
    var out: [([Int], Int)] = []
    while let batch = try iter.next() {
        let ids = batch.label[0].toArray().map { Int($0) }
        let rows = batch.data[0].toArray()
        #expect(rows == ids.flatMap { [Float($0), Float(10 + $0)] }, "data rows follow the labels")
        if let index = batch.index { #expect(index == ids) }
        out.append((ids, batch.pad))
        if out.count > 100 { break }
    }
    return out
}

private func ids(_ e: [([Int], Int)]) -> [[Int]] { e.map(\.0) }

@Suite struct NDArrayIterTests {
    /// A batch size this machine cannot hold is an error naming the iterator, the array and the
    /// size, from each iterator that allocates batches (it used to abort in the allocator; a batch
    /// size near Int.max also overflowed counting the batches).
    @Test func aBatchTooLargeForMemoryIsAnError() throws {
        let (data, label) = tenSamples()
        let physical = MachineMemory.limit.bytes
        let tooLarge = Int(physical / 8) + 1  // two floats per sample
        for batchSize in [tooLarge, Int.max] {
            do {
                _ = try NDArrayIter(data: data, label: label, batchSize: batchSize)
                Issue.record("batch size \(batchSize) was accepted")
            } catch {
                guard case .invalidArgument(let text) = error else {
                    Issue.record("expected invalidArgument, got \(error)")
                    continue
                }
                #expect(text.hasPrefix("NDArrayIter: a batch of \(batchSize) samples of 'data'"), "\(text)")
                #expect(text.hasSuffix("lower the batch size"), "\(text)")
            }
        }
        // PrefetchingIter allocates its buffers through the same check; a batch that fits passes it.
        let iter = try NDArrayIter(data: data, label: label, batchSize: 4)
        #expect(throws: Never.self) { _ = try PrefetchingIter(iter, depth: 2) }
    }

    @Test func padFillsTheLastBatchFromTheStart() throws {
        let (data, label) = tenSamples()
        let iter = try NDArrayIter(data: data, label: label, batchSize: 4)
        #expect(iter.provideData == [DataDesc(name: "data", shape: [4, 2])])
        #expect(iter.provideLabel == [DataDesc(name: "softmax_label", shape: [4])])
        let e = try epoch(iter)
        #expect(ids(e) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1]])
        #expect(e.map(\.1) == [0, 0, 2])
        #expect(try iter.next() == nil, "the epoch stays over until reset")
        iter.reset()
        #expect(ids(try epoch(iter)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1]])
    }

    @Test func discardDropsTheIncompleteBatch() throws {
        let (data, label) = tenSamples()
        let iter = try NDArrayIter(data: data, label: label, batchSize: 4, lastBatchHandle: .discard)
        let e = try epoch(iter)
        #expect(ids(e) == [[0, 1, 2, 3], [4, 5, 6, 7]])
        #expect(e.map(\.1) == [0, 0])
    }

    @Test func rollOverCarriesLeftoversIntoTheNextEpoch() throws {
        let (data, label) = tenSamples()
        let iter = try NDArrayIter(data: data, label: label, batchSize: 4, lastBatchHandle: .rollOver)
        #expect(ids(try epoch(iter)) == [[0, 1, 2, 3], [4, 5, 6, 7]])
        iter.reset()
        let second = try epoch(iter)
        #expect(ids(second) == [[8, 9, 0, 1], [2, 3, 4, 5], [6, 7, 8, 9]])
        #expect(second.map(\.1) == [0, 0, 0])
        iter.reset()
        #expect(ids(try epoch(iter)) == [[0, 1, 2, 3], [4, 5, 6, 7]])
        // A reset in the middle of an epoch carries nothing; nor does one after the last full batch
        // before next() said the epoch was over (MXNet's cursor has not passed the end then).
        iter.reset()
        _ = try iter.next()
        iter.reset()
        #expect(ids(try epoch(iter)) == [[0, 1, 2, 3], [4, 5, 6, 7]])
        iter.reset()
        for _ in 0..<2 { _ = try iter.next() }
        iter.reset()
        #expect(ids(try epoch(iter)) == [[0, 1, 2, 3], [4, 5, 6, 7]])
        // Fewer samples than a batch: resets before any next() carry nothing; after one, all of them.
        let three = try NDArrayIter(
            data: data.slice(0..<3), label: label.slice(0..<3), batchSize: 4, lastBatchHandle: .rollOver)
        three.reset()
        three.reset()
        #expect(try three.next() == nil)
        three.reset()
        #expect(ids(try epoch(three)) == [[0, 1, 2, 0]])
    }

    @Test func namesAndSeveralInputsAreConfigurable() throws {
        let (data, label) = tenSamples()
        let iter = try NDArrayIter(
            data: [("x", data), ("y", NDArray(shape: [10, 3, 2]))], label: [("target", label)], batchSize: 5)
        #expect(iter.provideData == [DataDesc(name: "x", shape: [5, 2]), DataDesc(name: "y", shape: [5, 3, 2])])
        #expect(iter.provideLabel == [DataDesc(name: "target", shape: [5])])
        #expect(throws: DataIterError.self) {
            try NDArrayIter(data: data, label: NDArray(shape: [9]), batchSize: 2)
        }
        #expect(throws: DataIterError.self) { try NDArrayIter(data: data, batchSize: 0) }
    }

    @Test func batchesAreReused() throws {
        let (data, label) = tenSamples()
        let iter = try NDArrayIter(data: data, label: label, batchSize: 4)
        let first = try #require(try iter.next())
        let firstArray = first.data[0]
        let second = try #require(try iter.next())
        #expect(first === second)
        #expect(second.data[0] === firstArray)
    }

    @Test func shuffleIsAReproduciblePermutationFreshEachEpoch() throws {
        let (data, label) = tenSamples()
        let a = try NDArrayIter(data: data, label: label, batchSize: 5, shuffle: true, seed: 7)
        let b = try NDArrayIter(data: data, label: label, batchSize: 5, shuffle: true, seed: 7)
        let c = try NDArrayIter(data: data, label: label, batchSize: 5, shuffle: true, seed: 8)
        let first = ids(try epoch(a)).flatMap { $0 }
        #expect(first.sorted() == Array(0..<10))
        #expect(first != Array(0..<10))
        #expect(ids(try epoch(b)).flatMap { $0 } == first, "same seed, same order")
        #expect(ids(try epoch(c)).flatMap { $0 } != first, "another seed, another order")
        a.reset()
        let second = ids(try epoch(a)).flatMap { $0 }
        #expect(second.sorted() == Array(0..<10))
        #expect(second != first, "each reset draws a fresh permutation")
    }
}
