import Crypto
import Foundation
import SwiftPSTransport
import Synchronization

/// Authenticates every message after rendezvous when the cluster has a secret. Rendezvous itself is
/// signed by `Authenticator`; without this, a process that never joined could still send a well-formed
/// PUSH, BARRIER or TERMINATE to any node's port once the job runs, claiming a member's id.
///
/// The scheduler draws a random session nonce for the job and sends it in the signed node table. Each
/// node derives the session key from it and the secret (HKDF-SHA256), so tags from another job never
/// verify. A message's tag is AES-256-GMAC (AES-GCM with an empty plaintext) over (recipient, meta
/// without the tag, each data frame's length and its own GMAC), each GMAC under its own 96-bit nonce
/// (sender id, sender's message counter, part). GMAC runs on carry-less multiplication: about 25 GB/s
/// on this project's machines, six times ChaCha20-Poly1305's tag and ten times HMAC-SHA256, and frames
/// are hashed where they lie, so tags add little to a round.
///
/// Each sender id belongs to one process per job and its counter never repeats, so no nonce is used
/// twice under a key (GCM's one hard rule). Receivers keep a window of the counters seen from each
/// sender and refuse a repeat, so a captured message cannot be replayed.
///
/// Traffic is authenticated, not encrypted: anyone on the path can read the weights.
final class MessageAuthenticator: Sendable {
    /// Bytes in a session nonce.
    static let sessionNonceCount = 16

    /// The session key's bytes (`SymmetricKey` is not `Sendable`).
    private let keyBytes: [UInt8]
    private let counter = Atomic<UInt64>(0)

    /// Derives the job's message key from the cluster secret and the scheduler's session nonce.
    init(secret: [UInt8], session: [UInt8]) {
        let key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: secret), salt: session,
            info: Array("swiftps-v1 message tags".utf8), outputByteCount: 32)
        keyBytes = key.withUnsafeBytes { Array($0) }
    }

    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    /// Whether `message` travels without a tag: ADD_NODE (signed by `Authenticator` instead) and what the
    /// scheduler tells a node that has no session key yet (its refusal, or a TERMINATE in rendezvous).
    static func isExempt(_ message: Message, receiverInRendezvous: Bool) -> Bool {
        message.control.cmd == .addNode || (receiverInRendezvous && message.control.cmd == .terminate)
    }

    /// Gives `message` (its `sender` already set) the next counter value and its tag for `recipient`.
    func seal(_ message: inout Message, to recipient: Int32) {
        precondition(message.data.count <= Self.maxFrames, "a tagged message has at most 255 data frames")
        message.seq = counter.add(1, ordering: .relaxed).newValue
        precondition(message.seq <= Self.maxCounter, "the message counter ran out (2^56 messages)")
        message.tag = []
        message.tag = gmac(headerBytes(of: message, to: recipient), message, part: 0)
    }

    /// Whether `message`'s tag proves that a holder of this job's key sent it to `recipient`, unchanged.
    func verify(_ message: Message, recipient: Int32) -> Bool {
        guard message.tag.count == 16, message.seq > 0, message.seq <= Self.maxCounter,
            message.data.count <= Self.maxFrames
        else { return false }
        var untagged = message
        untagged.tag = []
        return constantTimeEqual(gmac(headerBytes(of: untagged, to: recipient), message, part: 0), message.tag)
    }

    /// Data frames a tagged message can have (the nonce's last byte numbers them from 1).
    static let maxFrames = 255
    /// The largest counter (the nonce holds 56 bits of it).
    static let maxCounter: UInt64 = (1 << 56) - 1

    /// The GMAC of `bytes` under nonce (sender id, counter, part), big-endian in 4 + 7 + 1 bytes: part 0
    /// is the header, part i the i-th data frame, so no two computations share a nonce.
    private func gmac(_ bytes: some DataProtocol, _ message: Message, part: UInt8) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: 12)
        withUnsafeBytes(of: UInt32(bitPattern: message.sender).bigEndian) { nonce.replaceSubrange(0..<4, with: $0) }
        withUnsafeBytes(of: (message.seq << 8 | UInt64(part)).bigEndian) { nonce.replaceSubrange(4..<12, with: $0) }
        // Cannot throw: the key is 256 bits and the nonce 96.
        let box = try! AES.GCM.seal([UInt8](), using: key, nonce: AES.GCM.Nonce(data: nonce), authenticating: bytes)
        return Array(box.tag)
    }

    /// What the tag covers: domain, recipient, the meta frame as sent (minus the tag), then each data
    /// frame's length and GMAC (computed in place, so a 64 MB frame is never copied).
    private func headerBytes(of message: Message, to recipient: Int32) -> [UInt8] {
        let meta = MetaCodec.encode(message)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32 + meta.count + 24 * message.data.count)
        bytes.append(contentsOf: "swiftps-v1|msg|".utf8)
        Self.appendInteger(UInt32(bitPattern: recipient), to: &bytes)
        Self.appendInteger(UInt64(meta.count), to: &bytes)
        bytes.append(contentsOf: meta)
        for (i, frame) in message.data.enumerated() {
            Self.appendInteger(UInt64(frame.byteCount), to: &bytes)
            bytes.append(contentsOf: frame.withUnsafeBytes { gmac($0, message, part: UInt8(i + 1)) })
        }
        return bytes
    }

    private static func appendInteger<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    private func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// The counters already seen from one sender, IPsec's anti-replay window: anything at or below the
/// highest counter minus `width` is refused, and so is anything within the window seen before. Threads
/// of one sender can reorder its messages slightly; the window tolerates that.
struct ReplayWindow: Sendable {
    /// Counters tracked below the highest one seen.
    static let width: UInt64 = 4096

    private var highest: UInt64 = 0
    private var seen = [UInt64](repeating: 0, count: Int(width / 64))

    /// Records `seq` and returns true if it was never seen and is not too old.
    mutating func accept(_ seq: UInt64) -> Bool {
        guard seq > 0 else { return false }
        if seq > highest {
            let shift = seq - highest
            if shift >= Self.width {
                for i in seen.indices { seen[i] = 0 }
            } else {
                for old in (highest + 1)..<seq { clear(old) }  // slots reused by the new counters
            }
            highest = seq
            set(seq)
            return true
        }
        guard highest - seq < Self.width, !isSet(seq) else { return false }
        set(seq)
        return true
    }

    private func slot(_ seq: UInt64) -> (Int, UInt64) {
        let bit = seq % Self.width
        return (Int(bit / 64), UInt64(1) << (bit % 64))
    }

    private func isSet(_ seq: UInt64) -> Bool {
        let (word, mask) = slot(seq)
        return seen[word] & mask != 0
    }

    private mutating func set(_ seq: UInt64) {
        let (word, mask) = slot(seq)
        seen[word] |= mask
    }

    private mutating func clear(_ seq: UInt64) {
        let (word, mask) = slot(seq)
        seen[word] &= ~mask
    }
}
