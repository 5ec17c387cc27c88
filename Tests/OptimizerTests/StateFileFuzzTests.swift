import PSTestSupport
import SwiftPSTensor
import Testing

@testable import SwiftPSOptimizer

/// Seeded mutation fuzzing of `OptimizerStateFile.decode` (and of `merge`/`slice` on what it
/// returns): every mutant decodes or throws `OptimizerError.badState`, never traps.
@Suite struct StateFileFuzzTests {
    /// A file with a configuration and two slices of one parameter (2 arrays of 3 and 2 values).
    static func valid() throws -> [UInt8] {
        let a = try OptimizerState(
            count: 3, arrays: [NDArray([1, 2, 3]), NDArray([4, 5, 6])], numUpdate: 7)
        let b = try OptimizerState(count: 2, arrays: [NDArray([7, 8]), NDArray([9, 10])], numUpdate: 7)
        return try OptimizerStateFile.encode(
            config: OptimizerConfig(name: "adam", learningRate: 0.01),
            states: [
                try NamedOptimizerState(name: "w", state: a, offset: 0, totalCount: 5),
                try NamedOptimizerState(name: "w", state: b, offset: 3, totalCount: 5),
            ])
    }

    @Test func stateFileMutantsDecodeOrThrow() throws {
        let valid = try Self.valid()
        let configEnd = 16 + Int(valid[12]) + Int(valid[13]) << 8
        // The header and the records (everything but the configuration's JSON text) get every
        // field overwrite; the JSON gets flips and random bytes.
        var mutants = Mutations.standard(valid, header: 16, random: 2500, seed: 0x5EED_0201)
        mutants += Mutations.bitFlips(valid, offsets: configEnd..<valid.count)
        mutants += Mutations.fieldOverwrites(valid, offsets: configEnd..<valid.count)
        var decoded = 0
        for (index, bytes) in mutants.enumerated() {
            do {
                let (_, states) = try OptimizerStateFile.decode(bytes)
                decoded += 1
                // What decodes must also merge and slice without trapping.
                for whole in (try? OptimizerStateFile.merge(slices: states)) ?? [] {
                    _ = try? OptimizerStateFile.slice(whole, range: 0..<min(whole.totalCount, 2))
                }
            } catch {
                guard case .badState(let reason) = error else {
                    Issue.record("case \(index): \(error) is not badState")
                    continue
                }
                #expect(!reason.isEmpty)
            }
        }
        #expect(decoded > 0 && decoded < mutants.count)
    }
}
