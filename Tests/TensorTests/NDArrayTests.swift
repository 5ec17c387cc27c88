import Testing

@testable import SwiftPSTensor

@Suite struct NDArrayTests {
    /// Shapes from files and messages: the count, or nil for a negative dimension or an overflow
    /// (a zero dimension makes any other size harmless).
    @Test func checkedElementCountRefusesWhatCannotExist() {
        #expect(NDArray.checkedElementCount([]) == 1)
        #expect(NDArray.checkedElementCount([2, 3, 4]) == 24)
        #expect(NDArray.checkedElementCount([0, Int.max]) == 0)
        #expect(NDArray.checkedElementCount([3, -1]) == nil)
        #expect(NDArray.checkedElementCount([1 << 32, 1 << 32]) == nil)
        #expect(NDArray.checkedElementCount([Int.max, 2]) == nil)
    }

    /// Arrays sized by input: zero-filled when they fit; a typed error naming what needed them and
    /// the hint when the size overflows or is more than the machine's memory (where `NDArray(shape:)`
    /// would trap or the process be killed).
    @Test func checkedShapeAllocatesOrSaysWhyNot() throws {
        let small = try NDArray(checkedShape: [3, 2], for: "a test array", hint: "use less")
        #expect(small.shape == [3, 2] && small.toArray() == [Float](repeating: 0, count: 6))
        #expect(try NDArray(checkedShape: [0, 5], for: "empty", hint: "").count == 0)
        func message(_ shape: [Int]) -> String {
            do {
                _ = try NDArray(checkedShape: shape, for: "a batch of data", hint: "lower the batch size")
                return "allocated"
            } catch {
                guard case .outOfMemory(let text) = error else { return "\(error)" }
                return text
            }
        }
        let (physical, limit) = MachineMemory.limit
        let tooMany = Int(physical / 4) + 1
        #expect(
            message([tooMany])
                == "a batch of data (shape (\(tooMany),)) needs \(MachineMemory.format(MachineMemory.floatBytes(tooMany))), more than \(limit): lower the batch size"
        )
        #expect(message([1 << 40, 1 << 40]).contains("has a negative or overflowing size: lower the batch size"))
        #expect(message([2, -3]).contains("(shape (2, -3)) has a negative or overflowing size"))
        // A count that fits an Int whose bytes do not: saturates and is refused, not wrapped.
        #expect(message([1 << 62]).contains("more than \(limit)"))
    }

    /// What can be touched now: MemAvailable plus SwapFree, in kB; nil without MemAvailable.
    @Test func availableMemoryIsReadFromMeminfo() {
        let text =
            "MemTotal:       24576000 kB\nMemFree:         1000 kB\nMemAvailable:   2000 kB\nSwapFree:   500 kB\n"
        #expect(MachineMemory.available(meminfo: text) == 2500 * 1024)
        #expect(MachineMemory.available(meminfo: "MemAvailable: 7 kB") == 7 * 1024)
        #expect(MachineMemory.available(meminfo: "MemTotal: 7 kB\n") == nil)
        #expect(MachineMemory.availableBytes.map { $0 > 0 && $0 <= MachineMemory.physicalBytes * 4 } ?? true)
        #expect(MachineMemory.shortfall(1024) == nil)
        #expect(
            MachineMemory.shortfall(MachineMemory.limit.bytes + 1)?.contains(
                "more than \(MachineMemory.limit.description)")
                == true)
        #expect(MachineMemory.format(999) == "999 bytes")
        #expect(MachineMemory.format(3_400_000_000_000) == "3.4 TB")
        #expect(MachineMemory.format(25_769_803_776) == "25.8 GB")
        #expect(MachineMemory.times(1 << 40, 1 << 40) == .max && MachineMemory.plus(.max, 1) == .max)
    }

    @Test func shapeAndValues() throws {
        let a = NDArray([1, 2, 3, 4, 5, 6], shape: [2, 3])
        #expect(a.count == 6)
        #expect(a[1, 2] == 6)
        #expect(a.toArray() == [1, 2, 3, 4, 5, 6])
        let r = try a.reshaped([3, -1])
        #expect(r.shape == [3, 2])
        r[flat: 0] = 9
        #expect(a[0, 0] == 9, "reshaped shares storage")
        #expect(throws: TensorError.self) { try a.reshaped([4, 2]) }
        // Overflowing or negative shapes are errors, not traps or arrays of a negative shape.
        #expect(throws: TensorError.self) { try a.reshaped([Int.max, 2]) }
        #expect(throws: TensorError.self) { try a.reshaped([Int.max, 3, -1]) }
        #expect(throws: TensorError.self) { try a.reshaped([-2, -3]) }
        let one = NDArray([5])
        #expect(throws: TensorError.self) { try one.reshapeInPlace([-1, -1]) }
        #expect(one.shape == [1])
    }

    @Test func sliceIsAView() {
        let a = NDArray([1, 2, 3, 4, 5, 6], shape: [3, 2])
        let s = a.slice(1..<3)
        #expect(s.shape == [2, 2])
        #expect(s.toArray() == [3, 4, 5, 6])
        s[flat: 0] = -1
        #expect(a[1, 0] == -1)
        let c = a.copy()
        c[flat: 0] = 100
        #expect(a[flat: 0] == 1)
    }

    @Test func gemmMatchesHandWork() throws {
        // [[1,2],[3,4]] x [[5,6],[7,8]] = [[19,22],[43,50]]
        let a = NDArray([1, 2, 3, 4], shape: [2, 2])
        let b = NDArray([5, 6, 7, 8], shape: [2, 2])
        #expect(try BLAS.matmul(a, b).toArray() == [19, 22, 43, 50])
        // aᵀ b = [[1,3],[2,4]] x b = [[26,30],[38,44]]
        #expect(try BLAS.matmul(a, b, transA: true).toArray() == [26, 30, 38, 44])
        #expect(try BLAS.matmul(a, b, transB: true).toArray() == [17, 23, 39, 53])
        #expect(throws: TensorError.self) { try BLAS.matmul(a, NDArray(shape: [3, 2])) }
    }

    @Test func reductions() {
        let a = NDArray((1...20).map(Float.init), shape: [4, 5])
        #expect(a.sum() == 210)
        #expect(a.mean() == 10.5)
        #expect(a.max() == 20)
        #expect(a.argmaxRows() == [4, 4, 4, 4])
        #expect(abs(a.norm() - Float((1...20).map { $0 * $0 }.reduce(0, +)).squareRoot()) < 1e-4)
    }

    @Test func seededRandomIsReproducible() {
        var g1 = RandomGenerator(seed: 42)
        var g2 = RandomGenerator(seed: 42)
        let a = (0..<100).map { _ in g1.normal() }
        let b = (0..<100).map { _ in g2.normal() }
        #expect(a == b)
        var g3 = RandomGenerator(seed: 7)
        let u = (0..<20_000).map { _ in g3.uniform(-1, 1) }
        #expect(u.allSatisfy { $0 >= -1 && $0 < 1 })
        #expect(abs(u.reduce(0, +) / Float(u.count)) < 0.02)
        let n = (0..<20_000).map { _ in g3.normal(mean: 2, std: 3) }
        let mean = n.reduce(0, +) / Float(n.count)
        let variance = n.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(n.count)
        #expect(abs(mean - 2) < 0.1)
        #expect(abs(variance.squareRoot() - 3) < 0.1)
        let bern = (0..<20_000).map { _ in g3.bernoulli(0.3) }
        #expect(abs(bern.reduce(0, +) / Float(bern.count) - 0.3) < 0.02)
        let p = g3.permutation(50)
        #expect(p.sorted() == Array(0..<50))
    }

    @Test func blasThreadsAreSetFromASetting() {
        #expect(BLAS.configureThreads(1) == 1)
        #expect(BLAS.threads == 1)
        #expect(BLAS.threadCount(setting: 1_000_000, automatic: 2) == BLAS.maxThreads, "lowered, not obeyed")
        #expect(BLAS.threadCount(setting: nil, automatic: 3) == 3)
        #expect(BLAS.threadCount(setting: 0, automatic: 3) == 1)
        #expect(BLAS.threadCount(setting: nil, automatic: 0) == 1)
    }
}

@Suite struct JSONTextTests {
    @Test func quotesWhatJSONRequires() {
        #expect(jsonString("plain") == "\"plain\"")
        #expect(jsonString("a\"b\\c\nd\te\u{01}") == "\"a\\\"b\\\\c\\nd\\te\\u0001\"")
    }
}
