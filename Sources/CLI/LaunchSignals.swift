import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// SIGINT, SIGTERM and SIGHUP to the launcher, as a stream: the launcher stops the job instead of dying and
/// leaving its processes behind. SIGPIPE is ignored so a dead ssh's stdin cannot kill the launcher.
/// (Processes it starts get default signal handling back: swift-subprocess resets it.)
final class LaunchSignals: @unchecked Sendable {
    /// The signals received, in order.
    let received: AsyncStream<Int32>
    private let sources: [any DispatchSourceSignal]

    /// Starts catching the signals; keep the value alive for as long as they should be caught.
    init() {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        received = stream
        signal(SIGPIPE, SIG_IGN)
        sources = [SIGINT, SIGTERM, SIGHUP].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
    }

    deinit {
        for source in sources { source.cancel() }
    }

    /// The launcher's exit status after `signal`: 128 + its number (130 for Ctrl-C, 143 for SIGTERM).
    static func exitStatus(for signal: Int32) -> Int32 { 128 + signal }
}
