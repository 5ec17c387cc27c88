import Foundation
import Logging
import SwiftPS

#if canImport(Glibc)
    import Glibc
#endif

/// Writes a line to standard error; with `endingLine` false, `message` as it is (a progress bar's
/// line ending in a carriage return, redrawn in place).
func printError(_ message: String, endingLine: Bool = true) {
    var text = message
    if endingLine && !text.hasSuffix("\n") { text += "\n" }
    FileHandle.standardError.write(Data(text.utf8))
}

/// Sets up swift-log once per process: standard error, level from `SWIFTPS_LOG_LEVEL`
/// (trace, debug, info, notice, warning, error, critical; default info).
enum LogSetup {
    static let once: Void = {
        var level = Logger.Level.info
        if let text = ProcessInfoLite.environment["SWIFTPS_LOG_LEVEL"] {
            if let given = Logger.Level(rawValue: text.lowercased()) {
                level = given
            } else {
                printError(
                    "swiftps: SWIFTPS_LOG_LEVEL='\(text)' is not a level (\(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))): logging at info"
                )
            }
        }
        let chosen = level
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = chosen
            return handler
        }
    }()

    /// A logger with the given label, after bootstrapping.
    static func logger(_ label: String) -> Logger {
        _ = once
        return Logger(label: label)
    }
}
