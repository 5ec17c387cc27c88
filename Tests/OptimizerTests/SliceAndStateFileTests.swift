import SwiftPSOptimizer
import SwiftPSTensor
import Testing

@Suite struct SliceAndStateFileTests {
    static let configs: [OptimizerConfig] = [
        OptimizerConfig(name: "sgd", learningRate: 0.1, wd: 0.01, clipGradient: 1, momentum: 0.9),
        OptimizerConfig(name: "sgd", learningRate: 0.1, wd: 0.01),
        OptimizerConfig(name: "nag", learningRate: 0.05, wd: 0.02, rescaleGrad: 0.5, momentum: 0.8),
        OptimizerConfig(
            name: "adam", learningRate: 0.01, wd: 0.001, clipGradient: 1.5,
            lrScheduler: .cosine(maxUpdate: 10, warmupSteps: 1)),
        OptimizerConfig(name: "adagrad", learningRate: 0.1, wd: 0.01),
        OptimizerConfig(name: "rmsprop", learningRate: 0.01, centered: true, clipWeights: 1.8),
        OptimizerConfig(name: "rmsprop", learningRate: 0.01, wd: 0.01),
    ]

    @Test(arguments: configs)
    func updatingTwoHalvesEqualsUpdatingTheWhole(_ config: OptimizerConfig) throws {
        let opt = try makeOptimizer(config)
        let n = 10
        let start = pseudoRandom(n, seed: 7)
        let whole = NDArray(start)
        let halves = NDArray(start)
        let wholeState = try opt.createState(name: "fc_weight", count: n)
        let left = try opt.createState(name: "fc_weight", count: 4)
        let right = try opt.createState(name: "fc_weight", count: 6)
        for step in 0..<3 {
            let g = NDArray(pseudoRandom(n, seed: UInt64(100 + step)))
            try opt.update(name: "fc_weight", weight: whole, grad: g, state: wholeState)
            try opt.update(name: "fc_weight", weight: halves.slice(0..<4), grad: g.slice(0..<4), state: left)
            try opt.update(name: "fc_weight", weight: halves.slice(4..<10), grad: g.slice(4..<10), state: right)
        }
        #expect(bits(whole) == bits(halves))
        #expect(whole.toArray() != start)
        for (i, a) in wholeState.arrays.enumerated() {
            #expect(bits(a.slice(0..<4)) == bits(left.arrays[i]))
            #expect(bits(a.slice(4..<10)) == bits(right.arrays[i]))
        }
    }

    /// Three Adam steps on a weight of `n` elements, whole and as servers [0, 4) and [4, n).
    func adamStates(n: Int) throws -> (whole: OptimizerState, parts: [NamedOptimizerState]) {
        let opt = try makeOptimizer(OptimizerConfig(name: "adam", learningRate: 0.01))
        let w = NDArray(pseudoRandom(n, seed: 1))
        let w2 = w.copy()
        let whole = try opt.createState(name: "fc1_weight", count: n)
        let a = try opt.createState(name: "fc1_weight", count: 4)
        let b = try opt.createState(name: "fc1_weight", count: n - 4)
        for step in 0..<3 {
            let g = NDArray(pseudoRandom(n, seed: UInt64(10 + step)))
            try opt.update(name: "fc1_weight", weight: w, grad: g, state: whole)
            try opt.update(name: "fc1_weight", weight: w2.slice(0..<4), grad: g.slice(0..<4), state: a)
            try opt.update(name: "fc1_weight", weight: w2.slice(4..<n), grad: g.slice(4..<n), state: b)
        }
        return (
            whole,
            [
                try NamedOptimizerState(name: "fc1_weight", state: a, offset: 0, totalCount: n),
                try NamedOptimizerState(name: "fc1_weight", state: b, offset: 4, totalCount: n),
            ]
        )
    }

    @Test func stateFileRoundTrip() throws {
        let config = OptimizerConfig(
            name: "adam", learningRate: 0.01, lrScheduler: .factor(step: 3, factor: 0.9), wdMult: ["fc1_bias": 0])
        let (whole, _) = try adamStates(n: 7)
        let bias = try OptimizerState(count: 2, arrays: [NDArray([1, 2]), NDArray([3, 4])], numUpdate: 3)
        let bytes = try OptimizerStateFile.encode(
            config: config,
            states: [
                NamedOptimizerState(name: "fc1_weight", state: whole),
                NamedOptimizerState(name: "fc1_bias", state: bias),
            ])
        #expect(Array(bytes.prefix(8)) == Array("SPSOPT01".utf8))
        let (decodedConfig, states) = try OptimizerStateFile.decode(bytes)
        #expect(decodedConfig == config)
        #expect(states.map(\.name) == ["fc1_weight", "fc1_bias"])
        #expect(states[0].state.numUpdate == 3)
        #expect(states[0].offset == 0 && states[0].totalCount == 7)
        #expect(states[0].state.arrays.map(bits) == whole.arrays.map(bits))
        #expect(states[1].state.arrays.map { $0.toArray() } == [[1, 2], [3, 4]])
        // no configuration
        let (none, _) = try OptimizerStateFile.decode(try OptimizerStateFile.encode(states: []))
        #expect(none == nil)
    }

    @Test func slicesWrittenSeparatelyMergeIntoTheWhole() throws {
        let (whole, parts) = try adamStates(n: 9)
        // each "server" writes its own file; they are read back in reverse order and merged
        let files = try parts.map { try OptimizerStateFile.encode(states: [$0]) }
        let read = try files.reversed().flatMap { try OptimizerStateFile.decode($0).1 }
        let merged = try OptimizerStateFile.merge(slices: read)
        #expect(merged.count == 1)
        #expect(merged[0].name == "fc1_weight" && merged[0].offset == 0 && merged[0].totalCount == 9)
        #expect(merged[0].state.numUpdate == 3)
        #expect(merged[0].state.arrays.map(bits) == whole.arrays.map(bits))
        // re-slice for three servers: [0, 3) [3, 6) [6, 9), and back
        let named = NamedOptimizerState(name: "fc1_weight", state: whole)
        let three = try [0..<3, 3..<6, 6..<9].map { try OptimizerStateFile.slice(named, range: $0) }
        #expect(three[1].offset == 3 && three[1].state.count == 3)
        #expect(bits(three[1].state.arrays[0]) == bits(whole.arrays[0].slice(3..<6)))
        let again = try OptimizerStateFile.merge(slices: three)
        #expect(again[0].state.arrays.map(bits) == whole.arrays.map(bits))
        #expect(throws: OptimizerError.self) { try OptimizerStateFile.slice(three[0], range: 2..<4) }
    }

    @Test func mergeRejectsOverlapsGapsAndDisagreement() throws {
        func part(_ offset: Int, _ count: Int, total: Int = 6, numUpdate: Int = 1) throws -> NamedOptimizerState {
            let s = try OptimizerState(count: count, arrays: [NDArray(shape: [count])], numUpdate: numUpdate)
            return try NamedOptimizerState(name: "w", state: s, offset: offset, totalCount: total)
        }
        func message(_ slices: [NamedOptimizerState]) -> String {
            do {
                _ = try OptimizerStateFile.merge(slices: slices)
                return "merged"
            } catch { return error.description }
        }
        #expect(message([try part(0, 4), try part(3, 3)]).contains("overlap"))
        #expect(message([try part(0, 2), try part(3, 3)]).contains("no slice covers elements 2..<3"))
        #expect(message([try part(0, 3)]).contains("no slice covers elements 3..<6"))
        #expect(message([try part(0, 3), try part(3, 3, numUpdate: 2)]).contains("update count"))
        #expect(message([try part(0, 3), try part(3, 3, total: 7)]).contains("'w'"))
        #expect(throws: OptimizerError.self) { try part(4, 3) }
    }

    @Test func truncatedOrCorruptFilesGiveTypedErrors() throws {
        let s = try OptimizerState(count: 3, arrays: [NDArray([1, 2, 3])], numUpdate: 5)
        let bytes = try OptimizerStateFile.encode(
            config: OptimizerConfig(name: "sgd", momentum: 0.9),
            states: [NamedOptimizerState(name: "fc2_weight", state: s)])
        // every proper prefix is rejected with badState
        for cut in 0..<bytes.count {
            #expect(throws: OptimizerError.self) { try OptimizerStateFile.decode(Array(bytes.prefix(cut))) }
        }
        func message(_ b: [UInt8]) -> String {
            do {
                _ = try OptimizerStateFile.decode(b)
                return "decoded"
            } catch { return error.description }
        }
        // a flipped bit in the float data: the checksum names the parameter
        var flipped = bytes
        flipped[bytes.count - 10] ^= 0x01
        #expect(message(flipped).contains("fc2_weight"))
        #expect(message(flipped).contains("checksum"))
        // truncation inside the record names the parameter too
        #expect(message(Array(bytes.dropLast(9))).contains("fc2_weight"))
        var magic = bytes
        magic[0] = UInt8(ascii: "X")
        #expect(message(magic).contains("magic"))
        #expect(message(bytes + [0]).contains("unexpected bytes"))
        // an absurd element count is reported, not allocated
        let nameEnd = bytes.count - (8 + 4 * 3 + 4 + 8 * 4)
        var huge = bytes
        for i in 0..<8 { huge[nameEnd + i] = 0xFF }
        #expect(message(huge).contains("fc2_weight"))
        do {
            _ = try OptimizerStateFile.decode(flipped)
        } catch {
            guard case .badState = error else {
                Issue.record("expected badState, got \(error)")
                return
            }
        }
    }
}
