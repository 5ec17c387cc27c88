import Foundation
import Logging
import SwiftPS

#if canImport(Glibc)
    import Glibc
#endif

/// Writes a line to standard error.
func printError(_ message: String) {
    var text = message
    if !text.hasSuffix("\n") { text += "\n" }
    FileHandle.standardError.write(Data(text.utf8))
}

/// Sets up swift-log once per process: standard error, level from `SWIFTPS_LOG_LEVEL`
/// (trace, debug, info, notice, warning, error, critical; default info).
enum LogSetup {
    static let once: Void = {
        let level =
            ProcessInfoLite.environment["SWIFTPS_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) }
            ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }()

    /// A logger with the given label, after bootstrapping.
    static func logger(_ label: String) -> Logger {
        _ = once
        return Logger(label: label)
    }
}
