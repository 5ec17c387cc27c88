import Foundation
import SwiftPSTransport
import Synchronization
import Testing

/// Finding a port for a scheduler to bind.
struct PortProbeTests {
    /// A port below the ephemeral range is free and outside it, so no socket bound to port 0 takes it
    /// before it is bound; a port held by a listener is never offered.
    @Test func aPortBelowTheEphemeralRangeIsFreeAndOutsideIt() throws {
        let ephemeral = PortProbe.ephemeralRange()
        #expect(ephemeral.lowerBound >= 1 && ephemeral.upperBound <= 65535)
        let port = try #require(PortProbe.freePortBelowEphemeralRange())
        // Where the ephemeral range leaves no room below it, the probe falls back to an ephemeral port.
        if ephemeral.lowerBound > 10_001 {
            #expect(port >= 10_000 && port < ephemeral.lowerBound, "\(port) within \(ephemeral)")
        }
        #expect(PortProbe.firstFreePort(in: port...port, host: "127.0.0.1") == port)
        // A range of one port that a listener holds has no free port; a wider one skips it.
        let van = ZMQVan()
        defer { van.stop() }
        #expect(try van.start(bind: BindOptions(host: "127.0.0.1", port: port)) { _ in } == port)
        #expect(PortProbe.freePort(in: port...port, host: "127.0.0.1") == nil)
        let other = try #require(PortProbe.freePort(in: port...(port + 20), host: "127.0.0.1"))
        #expect(other != port && (port...(port + 20)).contains(other))
    }

    /// Two nodes binding one given port at the same moment: exactly one gets it, and the other, after
    /// its retries, is refused. (The kernel race in which both were refused, one try each, struck a
    /// few times in a thousand here, so these rounds rarely meet it; they check that the retries
    /// never let both through nor keep both out.)
    @Test func twoBindsOfOnePortAtOnceLeaveOneWinner() throws {
        for _ in 0..<15 {
            let port = try #require(PortProbe.freePortBelowEphemeralRange())
            let vans = [ZMQVan(), ZMQVan()]
            defer { for van in vans { van.stop() } }
            let results = Mutex([Bool]())
            DispatchQueue.concurrentPerform(iterations: 2) { i in
                let won = (try? vans[i].start(bind: BindOptions(host: "0.0.0.0", port: port)) { _ in }) == port
                results.withLock { $0.append(won) }
            }
            #expect(results.withLock { $0.filter { $0 }.count } == 1, "port \(port): \(results.withLock { $0 })")
        }
    }
}
