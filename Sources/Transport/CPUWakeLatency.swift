import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Asks Linux to keep idle CPUs able to run a woken thread within a bound, for as long as this
/// process runs: a PM QoS request on `/dev/cpu_dma_latency` (the knob `tuned`'s latency-performance
/// profile sets). With `0` an idle CPU polls instead of halting.
///
/// Why it matters: a small pushPull is a chain of thread wake-ups (the ZeroMQ I/O threads, the
/// receive threads, the server's dispatch thread), each on whichever CPU is idle. In a virtual
/// machine whose idle vCPUs halt at once (the guest's `haltpoll` with `guest_halt_poll_ns` 0, as
/// here), each wake-up of a halted vCPU goes through the hypervisor; with `0` the 4 KB round of
/// `swiftps bench kvstore` drops from 0.13–0.15 ms to 0.065–0.093 ms on this machine. The price is
/// power: idle CPUs spin while the request is held. It is a machine setting, so any framework on
/// the machine gains from it; SwiftPS only makes it one variable away.
///
/// Opt-in with `SWIFTPS_CPU_DMA_LATENCY=MICROSECONDS` (0 for the full effect); it needs write
/// access to `/dev/cpu_dma_latency` (root). The kernel drops the request when the process exits
/// (its file descriptor closes), so nothing outlives the job.
public enum CPUWakeLatency {
    /// The environment variable that requests it.
    public static let variable = "SWIFTPS_CPU_DMA_LATENCY"
    /// The PM QoS device.
    public static let device = "/dev/cpu_dma_latency"

    /// What `hold(environment:)` did.
    public enum Outcome: Equatable, Sendable {
        /// The variable is not set: nothing was asked.
        case notRequested
        /// The request of this many microseconds is held until the process exits.
        case held(microseconds: Int32)
        /// The variable is set but the request could not be made; the text says why and what to do.
        case failed(String)
    }

    /// The microseconds `environment` asks for: nil when the variable is unset or empty; a
    /// description of the problem for a value that is not a whole number from 0 to 2^31-1.
    public static func requested(environment: [String: String]) -> Result<Int32?, RequestError> {
        guard let text = environment[variable]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else {
            return .success(nil)
        }
        guard let value = Int32(text), value >= 0 else {
            return .failure(
                RequestError("\(variable)='\(text)' is not a whole number of microseconds from 0 to \(Int32.max)"))
        }
        return .success(value)
    }

    /// Makes the request `environment` asks for and holds it until the process exits.
    @discardableResult
    public static func hold(
        environment: [String: String] = ProcessInfo.processInfo.environment, device: String = Self.device
    ) -> Outcome {
        let value: Int32
        switch requested(environment: environment) {
        case .success(nil): return .notRequested
        case .success(let given?): value = given
        case .failure(let error): return .failed("\(error.message): ignored")
        }
        let fd = open(device, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            return .failed("\(variable)=\(value) not applied: cannot open \(device) (\(reason)); it needs root")
        }
        var request = value
        let written = withUnsafeBytes(of: &request) { write(fd, $0.baseAddress, $0.count) }
        guard written == MemoryLayout<Int32>.size else {
            let reason = String(cString: strerror(errno))
            close(fd)
            return .failed("\(variable)=\(value) not applied: writing to \(device) failed (\(reason))")
        }
        // The descriptor stays open on purpose: closing it (at exit) withdraws the request.
        return .held(microseconds: value)
    }

    /// A value of `SWIFTPS_CPU_DMA_LATENCY` that cannot be used.
    public struct RequestError: Error, Equatable, Sendable {
        /// What is wrong with it.
        public let message: String
        init(_ message: String) { self.message = message }
    }
}
