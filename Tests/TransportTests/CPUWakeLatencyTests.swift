import Foundation
import Testing

@testable import SwiftPSTransport

/// `SWIFTPS_CPU_DMA_LATENCY`: parsed strictly, written to the device as the kernel's PM QoS
/// interface reads it (a native 32-bit integer), and a failure says why instead of stopping the
/// process. A regular file stands in for /dev/cpu_dma_latency.
@Suite struct CPUWakeLatencyTests {
    @Test func theVariableIsAWholeNumberOfMicroseconds() {
        let v = CPUWakeLatency.variable
        #expect(CPUWakeLatency.requested(environment: [:]) == .success(nil))
        #expect(CPUWakeLatency.requested(environment: [v: " "]) == .success(nil))
        #expect(CPUWakeLatency.requested(environment: [v: "0"]) == .success(0))
        #expect(CPUWakeLatency.requested(environment: [v: " 20 "]) == .success(20))
        for bad in ["-1", "abc", "1.5", "2147483648"] {
            guard case .failure(let error) = CPUWakeLatency.requested(environment: [v: bad]) else {
                Issue.record("'\(bad)' was accepted")
                continue
            }
            #expect(error.message.contains("'\(bad)' is not a whole number of microseconds"))
        }
    }

    @Test func theRequestIsWrittenAndHeldOrTheFailureSaysWhy() throws {
        let v = CPUWakeLatency.variable
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-qos-\(UUID())").path
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        defer { try? FileManager.default.removeItem(atPath: path) }

        #expect(CPUWakeLatency.hold(environment: [:], device: path) == .notRequested)
        #expect(CPUWakeLatency.hold(environment: [v: "7"], device: path) == .held(microseconds: 7))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data([7, 0, 0, 0]))

        guard case .failed(let reason) = CPUWakeLatency.hold(environment: [v: "0"], device: path + "-missing") else {
            Issue.record("a device that cannot be opened was reported as held")
            return
        }
        #expect(reason.contains("cannot open \(path)-missing (No such file or directory); it needs root"))
        guard case .failed(let ignored) = CPUWakeLatency.hold(environment: [v: "x"], device: path) else {
            Issue.record("a bad value was reported as held")
            return
        }
        #expect(ignored.hasSuffix(": ignored"))
    }
}
