import Crypto
import SwiftPSTransport

/// HMAC-SHA256 signatures for rendezvous, with the cluster's shared secret. ps-lite has no
/// authentication at all (anyone who reaches the scheduler's port joins the job); SwiftPS signs each
/// ADD_NODE request over (role, host, port, the rank it asks for, shard size, cluster size, wire
/// protocol, job, settings, nonce) and the scheduler's table reply over
/// (the table, the recipient's nonce, the job's session nonce), so a replayed or forged table is refused
/// too, and its refusals and rendezvous TERMINATEs over (code, reason, the recipient's nonce). Messages
/// after rendezvous carry tags keyed from the session (`MessageAuthenticator`).
struct Authenticator: Sendable {
    private let secret: [UInt8]

    init(secret: [UInt8]) { self.secret = secret }

    private var key: SymmetricKey { SymmetricKey(data: secret) }

    /// A fresh random nonce of `count` bytes.
    static func nonce(count: Int = 16) -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    func sign(request node: NodeInfo) -> [UInt8] { mac(Self.requestBytes(node)) }

    func verify(request node: NodeInfo) -> Bool { check(node.auth, over: Self.requestBytes(node)) }

    func sign(table: [NodeInfo], nonce: [UInt8], session: [UInt8], encrypted: Bool) -> [UInt8] {
        mac(Self.tableBytes(table, nonce: nonce, session: session, encrypted: encrypted))
    }

    func verify(table: [NodeInfo], nonce: [UInt8], session: [UInt8], encrypted: Bool, auth: [UInt8]) -> Bool {
        check(auth, over: Self.tableBytes(table, nonce: nonce, session: session, encrypted: encrypted))
    }

    /// What the scheduler tells a node that has no session key yet: a refusal of its ADD_NODE (`code`
    /// is the `RefusalCode`) or a TERMINATE during rendezvous (`code` 0), bound to the node's nonce.
    func sign(verdict code: Int32, reason: String, nonce: [UInt8]) -> [UInt8] {
        mac(Self.verdictBytes(code: code, reason: reason, nonce: nonce))
    }

    func verify(verdict code: Int32, reason: String, nonce: [UInt8], auth: [UInt8]) -> Bool {
        check(auth, over: Self.verdictBytes(code: code, reason: reason, nonce: nonce))
    }

    private func mac(_ bytes: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: bytes, using: key))
    }

    private func check(_ auth: [UInt8], over bytes: [UInt8]) -> Bool {
        guard auth.count == SHA256.byteCount else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(auth, authenticating: bytes, using: key)
    }

    // Every variable-length field below is preceded by its length, so no two different requests,
    // verdicts or tables sign the same bytes (a nonce cannot absorb a setting, say).

    private static func requestBytes(_ node: NodeInfo) -> [UInt8] {
        var text =
            "swiftps-v2|add-node|\(node.role)|\(node.hostname.utf8.count)|\(node.hostname)|\(node.port)|\(node.rank)|\(node.isRecovery)|\(node.shardSize)|\(node.numWorkers)|\(node.numServers)|\(node.protocolVersion)|\(node.job.utf8.count)|\(node.job)|\(node.settings.count)|"
        for (name, value) in node.settings.sorted(by: { $0.key < $1.key }) {
            text += "\(name.utf8.count)|\(name)|\(value.utf8.count)|\(value)|"
        }
        return Array(text.utf8) + Array("\(node.nonce.count)|".utf8) + node.nonce
    }

    private static func verdictBytes(code: Int32, reason: String, nonce: [UInt8]) -> [UInt8] {
        Array("swiftps-v2|verdict|\(code)|\(reason.utf8.count)|\(reason)|\(nonce.count)|".utf8) + nonce
    }

    private static func tableBytes(_ table: [NodeInfo], nonce: [UInt8], session: [UInt8], encrypted: Bool)
        -> [UInt8]
    {
        var text = "swiftps-v2|table|\(encrypted ? "encrypted" : "tagged")|\(table.count)|"
        for node in table {
            text +=
                "\(node.id),\(node.role),\(node.rank),\(node.hostname.utf8.count),\(node.hostname),\(node.port),\(node.shardSize),\(node.protocolVersion);"
        }
        return Array(text.utf8) + Array("|\(nonce.count)|".utf8) + nonce + Array("|\(session.count)|".utf8) + session
    }
}
