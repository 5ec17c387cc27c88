import Foundation
import SwiftPSTensor
import Testing

/// How many compute threads `swiftps train` takes when it trains alone, as it logs them.
@Suite(.serialized) struct ComputeThreadsCLITests {
    /// A few batches of the mlp, alone; returns the thread count the run logged.
    func loggedThreads(_ extra: [String] = [], env: [String: String] = [:], wrapper: [String] = []) throws -> Int? {
        let result = try CLIRunner.run(
            ["train", "--network", "mlp", "--num-epochs", "1", "--num-batches", "3", "--no-progress"] + extra,
            timeout: 120, env: env, wrapper: wrapper)
        #expect(result.status == 0, "train failed: \(result.stderr)")
        guard let range = result.stderr.range(of: #"worker 0 of 1, (\d+) compute thread"#, options: .regularExpression)
        else {
            Issue.record("no thread count in: \(result.stderr.suffix(2000))")
            return nil
        }
        return Int(result.stderr[range].split(separator: " ")[4])
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
        #expect(try loggedThreads(env: ["SWIFTPS_BLAS_THREADS": "3"]) == 3)
        #expect(try loggedThreads(["--blas-threads", "2"], env: ["SWIFTPS_BLAS_THREADS": "3"]) == 2)
    }
}
