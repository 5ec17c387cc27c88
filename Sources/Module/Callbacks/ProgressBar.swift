#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Shows how far the current epoch is, MXNet 1.x's `mx.callback.ProgressBar(total, length=80)`.
///
/// Each batch end writes `[====------] 50%` followed by a carriage return, so the bar redraws in
/// place on a terminal: `round(length × nbatch / total)` `=` signs (round half to even, as
/// Python 3), `-` for the rest, and `ceil(100 × nbatch / total)` percent. It is meant for
/// terminals only; check `ProgressBar.isTerminal()` before installing it.
public struct ProgressBar {
    /// The number of batches in an epoch.
    public let total: Int
    /// The number of characters between the brackets.
    public let length: Int
    private let write: (String) -> Void

    /// A progress bar; `write` receives each rendered line (default: standard output, flushed).
    public init(total: Int, length: Int = 80, write: ((String) -> Void)? = nil) throws {
        guard total > 0 else { throw CallbackError.invalidArgument("ProgressBar total must be > 0, got \(total)") }
        guard length > 0 else { throw CallbackError.invalidArgument("ProgressBar length must be > 0, got \(length)") }
        self.total = total
        self.length = length
        self.write = write ?? ProgressBar.writeToStandardOutput
    }

    /// Whether `fileDescriptor` (standard output by default) is a terminal (`isatty`).
    public static func isTerminal(fileDescriptor: Int32 = 1) -> Bool { isatty(fileDescriptor) != 0 }

    /// The line for `count` batches done, ending in a carriage return; `count` is clamped to `0...total`.
    public func render(count: Int) -> String {
        let done = min(max(count, 0), total)
        let fraction = Double(done) / Double(total)
        let filled = Int((Double(length) * fraction).rounded(.toNearestOrEven))
        // MXNet's ceil(100.0 * count / total): multiplying first keeps 7 of 100 at 7% (100 * 0.07 is 7.000…1).
        let percent = Int((100 * Double(done) / Double(total)).rounded(.up))
        return "[" + String(repeating: "=", count: filled) + String(repeating: "-", count: length - filled) + "] "
            + "\(percent)%\r"
    }

    /// This progress bar as a `BatchEndCallback`.
    public var callback: BatchEndCallback { { param in self(param) } }

    /// Draws the bar for `param.nbatch` batches done.
    public func callAsFunction(_ param: BatchEndParam) { write(render(count: param.nbatch)) }

    private static func writeToStandardOutput(_ line: String) {
        print(line, terminator: "")
        fflush(nil)  // all output streams, so the carriage-return line shows at once
    }
}
