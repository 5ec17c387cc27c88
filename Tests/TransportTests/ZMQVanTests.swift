import CZmq
import Foundation
import PSTestSupport
import Testing

@testable import SwiftPSTransport

@Suite(.serialized) struct ZMQVanTests {
    /// Runs `body` with two vans on 127.0.0.1 (ids 1 and 9, A connected to B), B's port and the inbox
    /// of B's messages; stops both after.
    private func withPair(_ body: (ZMQVan, ZMQVan, Int, Inbox<Message>) throws -> Void) throws {
        let inbox = Inbox<Message>()
        let a = ZMQVan()
        let b = ZMQVan()
        defer {
            a.stop()
            b.stop()
        }
        _ = try a.start(bind: BindOptions(host: "127.0.0.1")) { _ in }
        let port = try b.start(bind: BindOptions(host: "127.0.0.1")) { inbox.put($0) }
        a.setLocalID(1)
        b.setLocalID(9)
        try a.connect(to: 9, host: "localhost", port: port)
        try body(a, b, port, inbox)
    }

    @Test func multiFrameRoundTripWithZeroCopyPayload() throws {
        try withPair { a, b, _, inbox in
            let released = Flag()
            let count = 1 << 20  // 4 MB of floats
            // The message (and so the payload) lives only inside this closure: afterwards only ZeroMQ holds it.
            let sent = try {
                let big = Payload(
                    count: count, of: Float.self, onRelease: { released.set() },
                    initializer: { buffer in
                        for i in buffer.indices { buffer[i] = Float(i % 1000) }
                    })
                let message = Message(
                    head: 5, body: [1, 2], control: Control(), request: true, push: true, timestamp: 77,
                    data: [Payload(copying: [UInt64(7), 8]), big, Payload(copying: [Int32(2), Int32(count - 2)])])
                return try a.send(message, to: 9)
            }()
            #expect(sent > 4 * count)
            #expect(released.wait(timeout: 10), "ZeroMQ must release the zero-copy buffer once it is sent")
            let received = try #require(inbox.wait(count: 1).first)
            #expect(received.sender == 1)
            #expect(received.recver == 9)
            #expect(received.head == 5 && received.body == [1, 2] && received.timestamp == 77)
            #expect(received.request && received.push && !received.pull)
            #expect(received.dataTypes == [.uint64, .float32, .int32])
            #expect(try received.data[0].toArray(of: UInt64.self) == [7, 8])
            let floats = try received.data[1].toArray(of: Float.self)
            #expect(floats.count == count)
            #expect(floats[999] == 999 && floats[1000] == 0 && floats[count - 1] == Float((count - 1) % 1000))
            #expect(try received.data[2].toArray(of: Int32.self) == [2, Int32(count - 2)])
        }
    }

    /// A message sent on a connection closed at once (a scheduler's one-shot refusal) still arrives
    /// when the close flushes; the connection is gone afterwards.
    @Test func aDisconnectThatFlushesStillDelivers() throws {
        try withPair { a, b, _, inbox in
            try a.send(Message(head: 42, control: Control(), request: true), to: 9)
            a.disconnect(from: 9, flushing: 2)
            #expect(inbox.wait(count: 1, timeout: 10).first?.head == 42)
            #expect(a.endpoint(of: 9) == nil)
            #expect(throws: TransportError.self) { try a.send(Message(head: 43, control: Control()), to: 9) }
        }
    }

    /// A peer whose queue is full (it is not reading; here nobody listens) makes `send` throw naming
    /// it, instead of the message vanishing and its request waiting out a deadline that then blames
    /// the peer for not answering.
    @Test func aFullPeerQueueThrowsNamingThePeer() throws {
        let van = ZMQVan(options: ZMQVan.Options(sendHighWaterMark: 2))
        defer { van.stop() }
        _ = try van.start(bind: BindOptions(host: "127.0.0.1")) { _ in }
        van.setLocalID(9)
        let closed = try #require(PortProbe.freePortBelowEphemeralRange())
        try van.connect(to: 8, host: "127.0.0.1", port: closed)
        var refusal: TransportError?
        for _ in 0..<10 where refusal == nil {
            do {
                try van.send(Message(head: 1, control: Control(), request: true), to: 8)
            } catch let error as TransportError {
                refusal = error
            }
        }
        guard case .sendFailed(let peer, _)? = refusal else {
            Issue.record("expected sendFailed, got \(String(describing: refusal))")
            return
        }
        #expect(peer.contains("server 0 (id 8)") && peer.contains("127.0.0.1:\(closed)"), "\(peer)")
        #expect(van.failedSendCount >= 1)
    }

    @Test func garbageFromARawSocketIsDroppedAndTheVanKeepsWorking() throws {
        try withPair { a, b, port, inbox in
            let context = try #require(zmq_ctx_new())
            defer { zmq_ctx_term(context) }
            let raw = try #require(zmq_socket(context, ZMQ_DEALER))
            var linger: Int32 = 5000  // flush everything before close
            zmq_setsockopt(raw, ZMQ_LINGER, &linger, 4)
            #expect(zmq_connect(raw, "tcp://127.0.0.1:\(port)") == 0)
            func sendFrames(_ frames: [[UInt8]]) {
                for (i, frame) in frames.enumerated() {
                    _ = frame.withUnsafeBytes {
                        zmq_send(raw, $0.baseAddress, $0.count, i + 1 < frames.count ? ZMQ_SNDMORE : 0)
                    }
                }
            }
            let valid = MetaCodec.encode(Message(head: 1, data: [Payload(copying: [Float(1), 2])]))
            var garbage: [[[UInt8]]] = [
                [[0xFF, 0x00, 0x13]],  // undecodable meta
                [Array(valid.prefix(valid.count - 2))],  // truncated meta
                [valid],  // meta declares a data frame that is missing
                [valid, [1, 2, 3]],  // 3 bytes is not two floats
                [valid, [UInt8](repeating: 0, count: 8), [0]],  // one frame too many
                [],
            ]
            for _ in 0..<50 {
                garbage.append(
                    (0..<Int.random(in: 1...4)).map { _ in
                        (0..<Int.random(in: 0...40)).map { _ in UInt8.random(in: 0...255) }
                    })
            }
            for frames in garbage where !frames.isEmpty { sendFrames(frames) }
            sendFrames([valid, [UInt8](repeating: 0, count: 8)])
            zmq_close(raw)
            try a.send(Message(head: 99), to: 9)
            let delivered = inbox.wait(count: 2)
            #expect(delivered.contains { $0.head == 99 }, "the van must keep working after garbage")
            #expect(delivered.contains { $0.head == 1 && $0.data.count == 1 }, "a valid raw message still arrives")
            #expect(b.droppedMessageCount >= 5)
        }
    }

    @Test func rawTCPGarbageDoesNotStopTheVan() throws {
        try withPair { a, b, port, inbox in
            let fd = try rawConnect(port: port)
            let junk = (0..<4096).map { _ in UInt8.random(in: 0...255) }
            _ = junk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
            try a.send(Message(head: 3), to: 9)
            #expect(inbox.wait(count: 1).first?.head == 3)
        }
    }

    /// A plain TCP connection to 127.0.0.1:`port`.
    private func rawConnect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(connected == 0)
        return fd
    }

    /// A peer of the old ZeroMQ protocols (ZMTP 1.0: no versioned greeting, its routing id first) is
    /// hung up on at once, instead of being served: libzmq 4.3 aborts the process when such a peer's
    /// first message reaches a ROUTER that is closing, so a stranger could crash a node at its end.
    @Test func aPeerOfTheOldZeroMQProtocolIsHungUpOn() throws {
        try withPair { a, b, port, inbox in
            let fd = try rawConnect(port: port)
            defer { close(fd) }
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let greeting: [UInt8] = [0x01, 0x00]  // ZMTP 1.0: an empty routing id (length 1, flags 0)
            _ = greeting.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            var buffer = [UInt8](repeating: 0, count: 256)
            var result = 1
            while result > 0 { result = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } }
            #expect(result == 0, "the van kept the connection open (read returned \(result), errno \(errno))")
            try a.send(Message(head: 4), to: 9)
            #expect(inbox.wait(count: 1).first?.head == 4)
        }
    }

    @Test func oversizedMessagesAreRefusedOnSend() throws {
        let van = ZMQVan(options: ZMQVan.Options(limits: TransportLimits(maxMessageBytes: 1024, maxDataFrames: 2)))
        defer { van.stop() }
        let port = try van.start(bind: BindOptions(host: "127.0.0.1")) { _ in }
        try van.connect(to: 1, host: "127.0.0.1", port: port)
        #expect(throws: TransportError.self) {
            try van.send(Message(data: [Payload(copying: [Float](repeating: 0, count: 1000))]), to: 1)
        }
        let three = (0..<3).map { _ in Payload(copying: [Float(0)]) }
        #expect(throws: TransportError.tooManyFrames(count: 3, limit: 2)) { try van.send(Message(data: three), to: 1) }
        #expect(throws: TransportError.unknownPeer(5)) { try van.send(Message(), to: 5) }
    }

    @Test func bindsInsideAPortRangeAndReportsExhaustion() throws {
        let first = ZMQVan()
        defer { first.stop() }
        let base = Int.random(in: 30000...40000)
        let port = try first.start(bind: BindOptions(host: "127.0.0.1", portRange: base...base)) { _ in }
        #expect(port == base)
        let second = ZMQVan()
        defer { second.stop() }
        #expect(throws: TransportError.portRangeExhausted(host: "127.0.0.1", range: base...base)) {
            try second.start(bind: BindOptions(host: "127.0.0.1", portRange: base...base)) { _ in }
        }
    }

    @Test func unresolvableHostsAreTypedErrors() throws {
        let van = ZMQVan()
        defer { van.stop() }
        _ = try van.start(bind: BindOptions(host: "127.0.0.1")) { _ in }
        #expect(throws: TransportError.self) { try van.connect(to: 1, host: "no-such-host.invalid", port: 1) }
        #expect(try HostResolver.resolve("localhost").ip.isEmpty == false)
    }
}
