import CZmq
import Foundation
import SwiftPS

/// A raw ZeroMQ request/reply round trip between two threads, each with its own context (so its own
/// I/O thread, as two processes have): the floor a pushPull round is compared with, measured in the
/// same run, since on a shared or virtual machine the floor itself moves from run to run
/// (anchors.md's 0.09 ms was measured on another day).
enum ZMQPingPong {
    /// The round-trip times, in seconds, of `rounds` requests of `bytes` bytes answered with as many,
    /// over `endpoint` (`ipc://PATH` or `tcp://127.0.0.1:PORT`), after `warmup` untimed ones. Every
    /// wait has a 5 s deadline.
    static func measure(endpoint: String, bytes: Int, rounds: Int, warmup: Int = 100) throws -> [Double] {
        let total = rounds + warmup
        // The replier is used and closed by its own thread only (a ZeroMQ socket belongs to one thread);
        // it stops after `total` rounds, or after 5 s without a request.
        let replier = try PingSocket(type: ZMQ_REP, endpoint: endpoint, bind: true)
        let finished = DispatchSemaphore(value: 0)
        let echo = Thread {
            var buffer = [UInt8](repeating: 0, count: bytes)
            for _ in 0..<total {
                guard let n = replier.receive(into: &buffer), replier.send(buffer, count: n) else { break }
            }
            replier.close()
            finished.signal()
        }
        echo.start()
        defer { _ = finished.wait(timeout: .now() + 6) }
        let requester = try PingSocket(type: ZMQ_REQ, endpoint: endpoint, bind: false)
        defer { requester.close() }
        var buffer = [UInt8](repeating: 1, count: bytes)
        var times: [Double] = []
        times.reserveCapacity(rounds)
        for round in 0..<total {
            let start = MonotonicClock.now()
            guard requester.send(buffer, count: bytes), requester.receive(into: &buffer) == bytes else {
                throw BenchError.badResult("the raw ZeroMQ ping-pong over \(endpoint) got no answer within 5 s")
            }
            if round >= warmup { times.append(MonotonicClock.now() - start) }
        }
        return times
    }
}

/// One socket of the ping-pong, in its own context, with 5 s send and receive deadlines.
private final class PingSocket: @unchecked Sendable {
    private let context: UnsafeMutableRawPointer
    private let socket: UnsafeMutableRawPointer

    init(type: Int32, endpoint: String, bind: Bool) throws {
        guard let context = zmq_ctx_new() else { throw BenchError.childFailed("zmq_ctx_new failed") }
        guard let socket = zmq_socket(context, type) else {
            zmq_ctx_term(context)
            throw BenchError.childFailed("zmq_socket failed")
        }
        self.context = context
        self.socket = socket
        for option in [ZMQ_RCVTIMEO, ZMQ_SNDTIMEO] {
            var ms: Int32 = 5000
            zmq_setsockopt(socket, option, &ms, MemoryLayout<Int32>.size)
        }
        var linger: Int32 = 0
        zmq_setsockopt(socket, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
        guard (bind ? zmq_bind(socket, endpoint) : zmq_connect(socket, endpoint)) == 0 else {
            let reason = String(cString: zmq_strerror(zmq_errno()))
            close()
            throw BenchError.childFailed("cannot \(bind ? "bind" : "connect") \(endpoint): \(reason)")
        }
    }

    /// Sends the first `count` bytes of `buffer`; false on failure or after 5 s.
    func send(_ buffer: [UInt8], count: Int) -> Bool {
        buffer.withUnsafeBytes { zmq_send(socket, $0.baseAddress, count, 0) } == count
    }

    /// Receives one message into `buffer`; its length, or nil on failure or after 5 s.
    func receive(into buffer: inout [UInt8]) -> Int? {
        let n = buffer.withUnsafeMutableBytes { zmq_recv(socket, $0.baseAddress, $0.count, 0) }
        return n >= 0 ? Int(n) : nil
    }

    private var closed = false

    func close() {
        guard !closed else { return }
        closed = true
        zmq_close(socket)
        zmq_ctx_term(context)
    }
}
