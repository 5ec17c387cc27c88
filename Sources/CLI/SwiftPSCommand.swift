import ArgumentParser
import SwiftPS

/// `swiftps`: one executable for every role of a SwiftPS job.
@main
struct SwiftPSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftps",
        abstract: "Distributed data-parallel training on a parameter server (MXNet 1.x's Module + dist_sync).",
        version: "\(swiftPSVersion) (wire protocol \(NodeInfo.wireProtocol))",
        subcommands: [Train.self, Launch.self, Scheduler.self, Server.self, Score.self, Predict.self, Bench.self]
    )

    /// ArgumentParser's entry point, after telling malloc to keep freed memory for reuse
    /// (`FreedMemory`): large message buffers then cost no page faults after the first round; and,
    /// when `SWIFTPS_CPU_DMA_LATENCY` asks for it, keeping idle CPUs quick to wake (`CPUWakeLatency`).
    static func main() async {
        FreedMemory.keepFreedMemory()
        if case .failed(let reason) = CPUWakeLatency.hold() { printError("swiftps: \(reason)") }
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
