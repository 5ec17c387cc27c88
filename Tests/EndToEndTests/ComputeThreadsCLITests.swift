import Foundation
import SwiftPSTensor
import Testing

/// How many compute threads `swiftps train` takes when it trains alone, as it logs them.
@Suite(.serialized) struct ComputeThreadsCLITests {
    /// A few batches of the mlp, alone; returns the thread count the run logged.
    func loggedThreads(_ extra: [String] = [], env: [String: String] = [:], wrapper: [String] = []) throws -> Int? {
        try run(extra, env: env, wrapper: wrapper).threads
    }

    func run(_ extra: [String] = [], env: [String: String] = [:], wrapper: [String] = []) throws -> (
        threads: Int?, log: String
    ) {
        let result = try CLIRunner.run(
            ["train", "--network", "mlp", "--num-epochs", "1", "--num-batches", "3", "--no-progress"] + extra,
            timeout: 120, env: env, wrapper: wrapper)
        #expect(result.status == 0, "train failed: \(result.stderr)")
        guard let range = result.stderr.range(of: #"worker 0 of 1, (\d+) compute thread"#, options: .regularExpression)
        else {
            Issue.record("no thread count in: \(result.stderr.suffix(2000))")
            return (nil, result.stderr)
        }
        return (Int(result.stderr[range].split(separator: " ")[4]), result.stderr)
    }

    /// Unset, the count is every CPU the process may use; `taskset` lowers it; the variable and the flag
    /// (the flag first) set it.
    @Test(.enabled(if: CLIRunner.available, "needs the release swiftps binary (scripts/test builds it)"))
    func aProcessAloneTakesTheCPUsItMayUse() throws {
        let unset = ["env", "-u", "SWIFTPS_BLAS_THREADS", "-u", "OPENBLAS_NUM_THREADS"]
        #expect(try loggedThreads(wrapper: unset) == CPUBudget.current)
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/taskset") {
            #expect(try loggedThreads(wrapper: unset + ["/usr/bin/taskset", "-c", "0"]) == 1)
        }
        let three = try run(env: ["SWIFTPS_BLAS_THREADS": "3"])
        #expect(three.threads == 3)
        // More threads than CPUs spin against each other: the run says so.
        #expect(three.log.contains("run slower") == (CPUBudget.current < 3), "\(three.log.suffix(2000))")
        #expect(!(try run(["--blas-threads", "1"]).log.contains("run slower")))
        #expect(try loggedThreads(["--blas-threads", "2"], env: ["SWIFTPS_BLAS_THREADS": "3"]) == 2)
    }
}
