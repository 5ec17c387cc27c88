import ArgumentParser
import SwiftPS

/// `swiftps`: one executable for every role of a SwiftPS job.
@main
struct SwiftPSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftps",
        abstract: "Distributed data-parallel training on a parameter server (MXNet 1.x's Module + dist_sync).",
        version: swiftPSVersion,
        subcommands: [Train.self, Launch.self, Scheduler.self, Server.self, Score.self, Predict.self, Bench.self]
    )
}
