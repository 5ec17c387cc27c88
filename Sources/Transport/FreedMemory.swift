import CShims
import Foundation

/// How this process's malloc treats large blocks. glibc maps every block above 32 MB afresh and
/// unmaps it when freed, so each 64 MB message buffer (a pushed gradient, a server's answer to a
/// pull) costs about 16,000 page faults and zeroing on every round: 25 ms of a 55–64 ms 64 MB round
/// on this machine. Keeping freed memory in the heap lets the next round reuse it.
///
/// `swiftps` applies `keepFreedMemory()` at start in every role; a trainer of one's own can call it
/// too. The price is resident memory: what a process freed stays counted until it exits, so its
/// footprint is its peak rather than its current need.
public enum FreedMemory {
    /// The largest block served from the heap, and the freed memory kept there: 1 GiB.
    public static let keptBytes = 1 << 30

    /// Why `keepFreedMemory(environment:)` would leave malloc as it is, or nil when it applies:
    /// `SWIFTPS_MALLOC_TUNING` is `0`/`off`/`false`/`no`, or the user set malloc's own knobs
    /// (`GLIBC_TUNABLES` with a `glibc.malloc.` entry, `MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`).
    public static func reasonToSkip(environment: [String: String]) -> String? {
        if EnvironmentFlag.isOff("SWIFTPS_MALLOC_TUNING", in: environment) {
            let value = environment["SWIFTPS_MALLOC_TUNING"] ?? ""
            return "SWIFTPS_MALLOC_TUNING=\(value.trimmingCharacters(in: .whitespaces).lowercased())"
        }
        if let tunables = environment["GLIBC_TUNABLES"], tunables.contains("glibc.malloc.") {
            return "GLIBC_TUNABLES sets malloc's own tunables"
        }
        for name in ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"] where environment[name] != nil {
            return "\(name) is set"
        }
        return nil
    }

    /// Keeps freed memory up to `keptBytes` in the heap unless `reasonToSkip` says otherwise; returns
    /// whether malloc now does so.
    @discardableResult
    public static func keepFreedMemory(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard reasonToSkip(environment: environment) == nil else { return false }
        return swiftps_keep_freed_memory(keptBytes) == 1
    }
}
