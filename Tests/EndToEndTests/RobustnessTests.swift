import CZmq
import Foundation
import SwiftPSTransport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Hostile traffic against a real dist_sync job (release binary): while 2 workers train against 1
/// server, a test-side ZeroMQ DEALER and raw TCP sockets send garbage to the server's and the
/// scheduler's ports. The job must finish normally and the nodes must log what they dropped.
@Suite(
    .serialized,
    .enabled(
        if: SwiftPSBinary.path != nil,
        "no release swiftps binary: set SWIFTPS_BIN or build one (swift build -c release); scripts/test does both"))
struct RobustnessTests {
    @Test func garbageOnTheServerAndSchedulerPortsDoesNotStopTraining() throws {
        try ProcessCluster.with(workers: 2, servers: 1) { cluster in
            let job = ["--kv-store", "dist_sync", "--num-epochs", "2", "--network", "mlp"]
            try cluster.startJob(job + ["--no-progress", "--disp-batches", "50"])
            let serverPort = try #require(
                cluster.joinedPort(of: "server0", timeout: 60), "the server never joined: \(cluster.allLogs())")
            let targets = [cluster.schedulerPort, serverPort]
            let attacker = try HostileClient()
            defer { attacker.close() }

            // Attack while the workers train (bounded: at most 400 rounds).
            var rounds = 0
            while rounds < 400, ["worker0", "worker1"].contains(where: { cluster.isRunning($0) }) {
                for port in targets { try attacker.attack(port: port, round: rounds) }
                rounds += 1
                usleep(20_000)
            }
            let statuses = cluster.waitAll(timeout: 300)
            #expect(rounds >= 3, "the job ended before the attack really started (\(rounds) rounds)")
            #expect(
                statuses.values.allSatisfy { $0 == 0 }, "not every process exited 0: \(statuses)\n\(cluster.allLogs())")
            for name in ["worker0", "worker1"] {
                let line = cluster.log(name).split(separator: "\n").first { $0.contains("final validation accuracy") }
                let accuracy = line.flatMap { $0.split(separator: " ").compactMap { Double($0) }.first }
                #expect((accuracy ?? 0) > 0.8, "\(name): final accuracy \(String(describing: accuracy))")
            }
            for name in ["scheduler", "server0"] {
                #expect(
                    cluster.log(name).contains("dropped"),
                    "\(name) does not log the messages it dropped:\n\(cluster.log(name).suffix(3000))")
            }
            print("robustness: \(rounds) rounds of garbage against ports \(targets)")
        }
    }

    /// An outsider that learned the protocol connects to worker 0's port under worker 1's routing
    /// identity (`ps11`, which worker 0 never uses itself) and sends well-formed TERMINATE and
    /// NODE_FAILED messages as worker 1. Without a secret nothing can tell them from worker 1's, and the
    /// job dies (the case that shows the test can fail); with one, they carry no valid tag, worker 0
    /// drops them, and the job trains to the end.
    @Test(arguments: [true, false]) func forgedControlMessagesNeedTheSecret(withSecret: Bool) throws {
        try ProcessCluster.with(workers: 2, servers: 1) { cluster in
            let env =
                withSecret ? ["SWIFTPS_SECRET_FILE": try cluster.secretFile("job.secret", secret: "job secret")] : [:]
            try cluster.startJob(
                ["--kv-store", "dist_sync", "--num-epochs", "2", "--network", "mlp", "--no-progress"], extra: env)
            let port = try #require(
                cluster.joinedPort(of: "worker0", timeout: 60), "worker 0 never joined: \(cluster.allLogs())")
            let attacker = try HostileClient()
            defer { attacker.close() }
            var rounds = 0
            while rounds < 50, cluster.isRunning("worker0") {
                try attacker.impersonate(nodeID: 11, port: port)
                rounds += 1
                usleep(50_000)
            }
            let statuses = cluster.waitAll(timeout: 300)
            if withSecret {
                #expect(rounds >= 3, "the job ended before the attack really started (\(rounds) rounds)")
                #expect(
                    statuses.values.allSatisfy { $0 == 0 },
                    "not every process exited 0: \(statuses)\n\(cluster.allLogs())")
                #expect(
                    cluster.log("worker0").contains("claiming to be from worker"),
                    "worker 0 does not log the forged messages it dropped:\n\(cluster.log("worker0").suffix(3000))")
            } else {
                #expect(
                    statuses["worker0"] != 0, "a forged TERMINATE without a secret should end worker 0: \(statuses)")
                #expect(cluster.log("worker0").contains("forged by the robustness test"))
            }
            #expect(cluster.survivors().isEmpty, "processes left behind: \(cluster.survivors())")
        }
    }
}

extension ProcessCluster {
    /// Whether node `name` is still running.
    func isRunning(_ name: String) -> Bool {
        nodes.first { $0.name == name }?.process.isRunning ?? false
    }
}

/// Sends malformed traffic to a SwiftPS node: ZeroMQ multipart messages that are garbage, truncated,
/// well-formed metas with garbage data, and oversized; and raw TCP bytes that are not ZMTP, or ZMTP
/// cut in the middle of a frame, or a frame header claiming an enormous size.
final class HostileClient {
    private let context: UnsafeMutableRawPointer
    private var rng = SystemRandomNumberGenerator()

    init() throws {
        guard let context = zmq_ctx_new() else { throw ClusterFailure(description: "zmq_ctx_new failed") }
        self.context = context
    }

    /// Closes the context (every socket is closed after each attack; lingering sends end within 1 s).
    func close() { zmq_ctx_term(context) }

    /// One round of every kind of garbage against 127.0.0.1:`port`.
    func attack(port: Int, round: Int) throws {
        try zmqGarbage(port: port, round: round)
        rawTCP(port: port, bytes: randomBytes(4096))
        rawTCP(port: port, bytes: Self.zmtpHandshake + [0x01, 200] + randomBytes(10))
        rawTCP(port: port, bytes: Self.zmtpHandshake + [0x02] + [0x00, 0x00, 0x01, 0, 0, 0, 0, 0] + randomBytes(64))
    }

    /// A DEALER connected to 127.0.0.1:`port` (with `identity` as its ZeroMQ routing identity, if
    /// given) whose sends and close never wait more than a second. The caller closes it.
    private func dealer(port: Int, identity: [UInt8]? = nil) throws -> UnsafeMutableRawPointer {
        guard let dealer = zmq_socket(context, ZMQ_DEALER) else {
            throw ClusterFailure(description: "zmq_socket(DEALER) failed")
        }
        var linger: Int32 = 1000
        var timeout: Int32 = 1000
        zmq_setsockopt(dealer, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
        zmq_setsockopt(dealer, ZMQ_SNDTIMEO, &timeout, MemoryLayout<Int32>.size)
        if let identity {
            _ = identity.withUnsafeBytes { zmq_setsockopt(dealer, ZMQ_ROUTING_ID, $0.baseAddress, $0.count) }
        }
        guard zmq_connect(dealer, "tcp://127.0.0.1:\(port)") == 0 else {
            let errno = zmq_errno()
            zmq_close(dealer)
            throw ClusterFailure(description: "zmq_connect to port \(port) failed: errno \(errno)")
        }
        return dealer
    }

    private func zmqGarbage(port: Int, round: Int) throws {
        let dealer = try dealer(port: port)
        defer { zmq_close(dealer) }
        // Random bytes as the meta.
        send(dealer, [randomBytes(Int.random(in: 1...512, using: &rng))])
        // A valid meta announcing keys, values and lengths, with only the keys frame: truncated.
        let keys = Payload(copying: [UInt64(0xFFFF_FFFF_0000 + UInt64(round))])
        let values = Payload(copying: [Float](repeating: 1, count: 16))
        let lengths = Payload(copying: [Int32(16)])
        var push = Message(request: true, push: true, pull: true, timestamp: 1 << 50, data: [keys, values, lengths])
        let meta = MetaCodec.encode(push)
        send(dealer, [meta, [UInt8](repeating: 0xAB, count: 8)])
        // A valid meta whose data frames (of the declared sizes) are garbage, from an unknown sender.
        send(dealer, [meta, randomBytes(8), randomBytes(64), randomBytes(4)])
        // The same declaring the cluster's scheduler as its sender but arriving without its identity.
        push.sender = 1
        send(dealer, [MetaCodec.encode(push), randomBytes(8), randomBytes(64), randomBytes(4)])
        // A well-formed TERMINATE and NODE_FAILED claiming to come from the scheduler (id 1) and from
        // worker 0 (id 9), without their identities: accepted, either would end the job.
        for (claimed, command) in [(Int32(1), ControlCommand.terminate), (Int32(9), ControlCommand.nodeFailed)] {
            var forged = Message(control: Control(cmd: command), error: "forged by the robustness test")
            forged.sender = claimed
            send(dealer, [MetaCodec.encode(forged)])
        }
        // Too many frames, and one big garbage frame.
        send(dealer, [meta] + (0..<80).map { _ in randomBytes(4) })
        if round % 20 == 0 { send(dealer, [randomBytes(8 << 20)]) }
    }

    /// Connects to 127.0.0.1:`port` with the routing identity `ps<nodeID>` and sends a TERMINATE and a
    /// NODE_FAILED claiming that node as their sender, as a member would.
    func impersonate(nodeID: Int32, port: Int) throws {
        let dealer = try dealer(port: port, identity: Array("ps\(nodeID)".utf8))
        defer { zmq_close(dealer) }
        for command in [ControlCommand.terminate, .nodeFailed] {
            var forged = Message(control: Control(cmd: command), error: "forged by the robustness test")
            forged.sender = nodeID
            send(dealer, [MetaCodec.encode(forged)])
        }
    }

    private func send(_ socket: UnsafeMutableRawPointer, _ frames: [[UInt8]]) {
        for (i, frame) in frames.enumerated() {
            let flags = i + 1 < frames.count ? ZMQ_SNDMORE : 0
            _ = frame.withUnsafeBytes { zmq_send(socket, $0.baseAddress, $0.count, flags) }
        }
    }

    /// Connects, writes `bytes` and closes, with short socket timeouts so it never blocks for long.
    private func rawTCP(port: Int, bytes: [UInt8]) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { Glibc.close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard withLoopbackAddress(port: port, { connect(fd, $0, $1) == 0 }) else { return }
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    private func randomBytes(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in stride(from: 0, to: count, by: 8) {
                withUnsafeBytes(of: rng.next()) { word in
                    for j in 0..<min(8, count - i) { buffer[i + j] = word[j] }
                }
            }
            initialized = count
        }
    }

    /// A ZMTP 3.0 greeting (NULL mechanism) followed by a READY command for a DEALER socket.
    static let zmtpHandshake: [UInt8] = {
        var greeting: [UInt8] = [0xFF] + [UInt8](repeating: 0, count: 8) + [0x7F, 3, 0]
        greeting += Array("NULL".utf8) + [UInt8](repeating: 0, count: 16) + [0] + [UInt8](repeating: 0, count: 31)
        let property = [UInt8(11)] + Array("Socket-Type".utf8) + [0, 0, 0, 6] + Array("DEALER".utf8)
        let ready = [UInt8(5)] + Array("READY".utf8) + property
        return greeting + [0x04, UInt8(ready.count)] + ready
    }()
}

/// Calls `body` with the IPv4 address 127.0.0.1:`port` as a `sockaddr` and its length (for
/// `connect` and `bind`).
func withLoopbackAddress<T>(port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
}
