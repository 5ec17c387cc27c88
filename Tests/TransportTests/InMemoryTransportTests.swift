import Foundation
import PSTestSupport
import Testing

@testable import SwiftPSTransport

@Suite struct InMemoryTransportTests {
    @Test func deliversInOrderWithSenderAndRecver() throws {
        let network = InMemoryNetwork()
        let inbox = Inbox<Message>()
        let a = network.makeTransport()
        let b = network.makeTransport()
        defer {
            a.stop()
            b.stop()
        }
        _ = try a.start(bind: BindOptions()) { _ in }
        let port = try b.start(bind: BindOptions()) { inbox.put($0) }
        a.setLocalID(8)
        b.setLocalID(9)
        try a.connect(to: 9, host: "127.0.0.1", port: port)
        let payload = Payload(copying: [Float(3), 4])
        for i in 0..<20 { try a.send(Message(head: Int32(i), timestamp: Int64(i), data: [payload]), to: 9) }
        let got = inbox.wait(count: 20)
        #expect(got.map(\.head) == Array(0..<20))
        #expect(got.allSatisfy { $0.sender == 8 && $0.recver == 9 })
        #expect(try got[0].data[0].toArray(of: Float.self) == [3, 4])
    }

    @Test func messagesWaitForTheAddressToBeBound() throws {
        let network = InMemoryNetwork()
        let inbox = Inbox<Message>()
        let a = network.makeTransport()
        let b = network.makeTransport()
        defer {
            a.stop()
            b.stop()
        }
        _ = try a.start(bind: BindOptions()) { _ in }
        try a.connect(to: 1, host: "127.0.0.1", port: 30_001)
        try a.send(Message(head: 1), to: 1)
        _ = try b.start(bind: BindOptions(port: 30_001)) { inbox.put($0) }
        #expect(inbox.wait(count: 1).first?.head == 1)
    }

    @Test func delayAndIsolationFollowTheManualClock() throws {
        let clock = ManualClock()
        let network = InMemoryNetwork(clock: clock)
        let inbox = Inbox<Message>()
        let a = network.makeTransport()
        let b = network.makeTransport()
        defer {
            a.stop()
            b.stop()
        }
        _ = try a.start(bind: BindOptions()) { _ in }
        let port = try b.start(bind: BindOptions()) { inbox.put($0) }
        try a.connect(to: 2, host: "127.0.0.1", port: port)
        network.setDelay(5, to: b.boundAddress)
        try a.send(Message(head: 1), to: 2)
        #expect(inbox.wait(count: 1, timeout: 0.2).isEmpty, "a delayed message must wait for the clock")
        clock.advance(by: 5)
        #expect(inbox.wait(count: 1).first?.head == 1)
        network.setDelay(0, to: b.boundAddress)
        network.isolate(a.boundAddress)
        try a.send(Message(head: 2), to: 2)
        network.reconnect(a.boundAddress)
        try a.send(Message(head: 3), to: 2)
        #expect(inbox.wait(count: 2).map(\.head) == [1, 3], "messages from an isolated node are lost")
    }
}
