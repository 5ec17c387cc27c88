import Dispatch
import Foundation
import Logging
import SwiftPS
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// SIGTERM, SIGINT and SIGHUP to a scheduler, server or worker: the process leaves the job at once
/// and says why (`PostOffice.abort`), so the other processes exit now naming it instead of when its
/// heartbeats stop; then it exits with 128 + the signal's number (143 for SIGTERM, 130 for Ctrl-C),
/// as a process killed by the signal would. Leaving takes at most `leaveSeconds`.
enum NodeSignals {
    /// The longest a signalled process spends telling the others before it exits.
    static let leaveSeconds = 3.0

    private static let state = Mutex<(sources: [any DispatchSourceSignal], received: Int32?)>(([], nil))

    /// Catches the signals for `office` from now on.
    static func install(_ office: PostOffice, logger: Logger) {
        let sources = [SIGTERM, SIGINT, SIGHUP].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { leave(office, signal: number, logger: logger) }
            source.resume()
            return source
        }
        state.withLock { $0.sources += sources }
    }

    /// Parks the calling thread for good when a signal is being handled: the handler ends the process
    /// with the signal's status, and an error that the leaving caused must not end it first.
    static func parkIfLeaving() {
        guard state.withLock({ $0.received }) != nil else { return }
        while true { sleep(60) }
    }

    private static func leave(_ office: PostOffice, signal number: Int32, logger: Logger) {
        let first = state.withLock { state in
            defer { state.received = state.received ?? number }
            return state.received == nil
        }
        guard first else { return }
        let name = LaunchExit.signalName(number)
        // Everything that takes the post office's lock runs on the leaving thread, within the bound:
        // a process stuck holding that lock must still exit.
        let quiet = Mutex<Bool?>(nil)
        let left = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            // A job that has already ended (a launcher stopping what is left) has said why: stay quiet.
            let ended = office.terminationError != nil
            quiet.withLock { $0 = ended }
            if !ended { logger.error("received \(name): leaving the job") }
            office.abort("received \(name)")
            left.signal()
        }
        _ = left.wait(timeout: .now() + leaveSeconds)
        if quiet.withLock({ $0 }) != true { printError("swiftps: stopped by \(name)") }
        _exit(128 + number)
    }
}
