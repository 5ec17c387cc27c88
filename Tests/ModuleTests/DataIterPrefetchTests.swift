import Testing

@testable import SwiftPSModule
@testable import SwiftPSTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// 10 samples of 2 values; sample i is [i, -i] with label i.
private func makeIter(batchSize: Int = 3, seed: UInt64 = 3) throws -> NDArrayIter {
    let data = NDArray((0..<10).flatMap { [Float($0), -Float($0)] }, shape: [10, 2])
    let label = NDArray((0..<10).map { Float($0) })
    return try NDArrayIter(data: data, label: label, batchSize: batchSize, shuffle: true, seed: seed)
}

/// Everything observable about one batch, copied out.
private struct Seen: Equatable {
    let data: [Float]
    let label: [Float]
    let pad: Int
    let index: [Int]?

    init(_ b: DataBatch) {
        data = b.data[0].toArray()
        label = b.label[0].toArray()
        pad = b.pad
        index = b.index
    }
}

private func drain(_ iter: DataIter) throws -> [Seen] {
    var out: [Seen] = []
    while let b = try iter.next(), out.count < 100 { out.append(Seen(b)) }
    return out
}

/// Throws on its second batch.
private final class FailingIter: DataIter {
    struct Boom: Error {}
    let batchSize = 1
    let provideData = [DataDesc(name: "data", shape: [1])]
    let provideLabel: [DataDesc] = []
    var calls = 0
    func reset() { calls = 0 }
    func next() throws -> DataBatch? {
        calls += 1
        if calls == 2 { throw Boom() }
        return DataBatch(data: [NDArray([Float(calls)])], label: [])
    }
}

/// Takes `seconds` to make each batch.
private final class SlowIter: DataIter {
    let seconds: Double
    let batchSize = 1
    let provideData = [DataDesc(name: "data", shape: [1])]
    let provideLabel: [DataDesc] = []
    init(seconds: Double) { self.seconds = seconds }
    func reset() {}
    func next() throws -> DataBatch? {
        usleep(UInt32(seconds * 1_000_000))
        return DataBatch(data: [NDArray([1])], label: [])
    }
}

@Suite struct PrefetchingIterTests {
    /// A wrapped iterator slower than the deadline: `next()` throws `timedOut` at the deadline instead
    /// of waiting for it; a deadline that is not a positive, finite number of seconds is refused.
    @Test func aStuckWrappedIteratorTimesOut() throws {
        let prefetched = try PrefetchingIter(SlowIter(seconds: 3), timeout: 0.2)
        let start = MonotonicClock.now()
        #expect(throws: DataIterError.self) { try prefetched.next() }
        #expect(MonotonicClock.now() - start < 2, "next() waited for the slow batch, not the deadline")
        for timeout in [0, -1, Double.infinity, .nan] {
            #expect(throws: DataIterError.self) { try PrefetchingIter(SlowIter(seconds: 0), timeout: timeout) }
        }
        #expect(throws: DataIterError.self) { try PrefetchingIter(SlowIter(seconds: 0), depth: 0) }
    }

    @Test func yieldsTheSameSequenceAsTheWrappedIterator() throws {
        let plain = try makeIter()
        let prefetched = try PrefetchingIter(try makeIter(), depth: 2, timeout: 30)
        #expect(prefetched.provideData == plain.provideData)
        #expect(prefetched.provideLabel == plain.provideLabel)
        for _ in 0..<3 {
            let expected = try drain(plain)
            #expect(expected.count == 4)
            #expect(try drain(prefetched) == expected)
            #expect(try prefetched.next() == nil)
            plain.reset()
            prefetched.reset()
        }
    }

    @Test func theHeldBatchIsNotOverwritten() throws {
        let prefetched = try PrefetchingIter(try makeIter(), timeout: 30)
        let first = try #require(try prefetched.next())
        let snapshot = Seen(first)
        // Let the producer prepare the next batch into its other buffer meanwhile.
        usleep(50_000)
        #expect(Seen(first) == snapshot)
        let second = try #require(try prefetched.next())
        #expect(first !== second)
        let secondSeen = Seen(second)
        #expect(secondSeen != snapshot)
        usleep(50_000)
        // `second` is released by this call (the producer refills its buffer): only its copy is read.
        let third = try #require(try prefetched.next())
        #expect(third === first, "two buffers alternate (depth 1)")
        #expect(secondSeen != Seen(third))
    }

    @Test func resetMidEpochRestartsLikeTheWrappedIterator() throws {
        let plain = try makeIter()
        let prefetched = try PrefetchingIter(try makeIter(), timeout: 30)
        #expect(Seen(try #require(try plain.next())) == Seen(try #require(try prefetched.next())))
        plain.reset()
        prefetched.reset()
        #expect(try drain(prefetched) == (try drain(plain)))
        // Reset again right away, before consuming anything.
        plain.reset()
        prefetched.reset()
        prefetched.reset()
        plain.reset()
        #expect(try drain(prefetched) == (try drain(plain)))
    }

    @Test func errorsOfTheWrappedIteratorAreRethrown() throws {
        let prefetched = try PrefetchingIter(FailingIter(), timeout: 30)
        #expect(try prefetched.next()?.data[0].toArray() == [1])
        #expect(throws: FailingIter.Boom.self) { try prefetched.next() }
        #expect(try prefetched.next() == nil)
        prefetched.reset()
        #expect(try prefetched.next()?.data[0].toArray() == [1])
    }

    @Test func releasingStopsTheThread() throws {
        weak var weakInner: NDArrayIter?
        do {
            let inner = try makeIter()
            weakInner = inner
            let prefetched = try PrefetchingIter(inner, timeout: 30)
            _ = try prefetched.next()
        }
        // The thread releases its closure just after it exits; give it a bounded moment.
        var waited = 0
        while weakInner != nil && waited < 200 {
            usleep(10_000)
            waited += 1
        }
        #expect(weakInner == nil, "the producer thread exited and released the wrapped iterator")
    }
}
