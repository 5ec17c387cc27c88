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
/// without the tag, each data frame's length and bytes; a frame over 4 KB by its own GMAC instead),
/// each GMAC under its own 96-bit nonce (sender id, recipient id, the sender's counter towards that
/// recipient, part). GMAC runs on the CPU's carry-less multiplication and was the fastest of the
/// three MACs measured when choosing (HMAC-SHA256 and ChaCha20-Poly1305 were several times slower),
/// and large frames are hashed where they lie, so tags add little to a round.
///
/// Each sender id belongs to one process per job and its counters never repeat, so no nonce is used
/// twice under a key (GCM's one hard rule). Receivers keep a window of the counters seen from each
/// sender and refuse a repeat, so a captured message cannot be replayed. Counting per recipient keeps
/// each receiver's sequence dense, so the window only has to absorb threads racing to one peer.
///
/// Traffic is authenticated, and encrypted only when the job asks (`encrypts`, the scheduler's
/// `SWIFTPS_ENCRYPT`): then each data frame travels as its AES-256-GCM ciphertext and tag.
public final class MessageAuthenticator: Sendable {
    /// Bytes in a session nonce.
    public static let sessionNonceCount = 16

    /// The session key (immutable, so sharing it between threads is safe).
    private nonisolated(unsafe) let key: SymmetricKey
    /// The last counter used towards each recipient.
    private let counters = Mutex<[Int32: UInt64]>([:])
    /// Whether data frames are encrypted too (the job's `SWIFTPS_ENCRYPT`, from the signed table).
    public let encrypts: Bool

    /// Derives the job's message key from the cluster secret and the scheduler's session nonce; with
    /// `encrypts`, data frames are also encrypted.
    public init(secret: [UInt8], session: [UInt8], encrypts: Bool = false) {
        key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: secret), salt: session,
            info: Array("swiftps-v1 message tags".utf8), outputByteCount: 32)
        self.encrypts = encrypts
    }

    /// Whether `message` may travel without a tag: an ADD_NODE request to the scheduler (its sender
    /// has no session key yet), and what the scheduler tells a node still in rendezvous (its table or
    /// refusal, a TERMINATE). These carry the node's request nonce and are signed by `Authenticator`
    /// instead (`PostOffice.isGenuineVerdict`). Nothing else is: an untagged ADD_NODE answer to a
    /// node past rendezvous, or an ADD_NODE request to a node other than the scheduler, is dropped.
    static func isExempt(_ message: Message, receiverInRendezvous: Bool, receiverIsScheduler: Bool) -> Bool {
        switch message.control.cmd {
        case .addNode: message.request ? receiverIsScheduler : receiverInRendezvous
        case .terminate: receiverInRendezvous
        default: false
        }
    }

    /// Gives `message` (its `sender` already set) the next counter value towards `recipient` and its tag,
    /// and returns its meta frame, encoded once: the tag covers the meta as encoded without it, and
    /// the frame is those bytes followed by the tag's field (the schema's last). Only nodes with ids
    /// (1...65535) send and receive tagged messages.
    ///
    /// With `encrypts`, each data frame is first replaced by its AES-256-GCM encryption (under the
    /// frame's own nonce) followed by that encryption's 16-byte tag, and the message's tag covers
    /// those frame tags instead of the frames' bytes; `open` undoes it.
    public func seal(_ message: inout Message, to recipient: Int32) -> [UInt8] {
        precondition(message.data.count <= Self.maxFrames, "a tagged message has at most 255 data frames")
        precondition(Self.ids.contains(message.sender) && Self.ids.contains(recipient), "node ids above 65535")
        message.seq = counters.withLock { counters in
            counters[recipient, default: 0] += 1
            return counters[recipient, default: 0]
        }
        precondition(message.seq <= Self.maxCounter, "the message counter ran out (2^56 messages)")
        message.tag = []
        if encrypts {
            for i in message.data.indices {
                message.data[i] = encrypt(message.data[i], message, to: recipient, part: UInt8(i + 1))
            }
        }
        var meta = MetaCodec.encode(message)
        message.tag = tag(meta: meta[...], message, to: recipient)
        meta.append(contentsOf: Self.tagFieldKey)
        meta.append(contentsOf: message.tag)
        return meta
    }

    /// `message` as its sender built it, when its tag proves that a holder of this job's key sent it to
    /// `recipient` unchanged (with `encrypts`, its data frames decrypted); nil otherwise.
    public func open(_ message: Message, recipient: Int32) -> Message? {
        guard verify(message, recipient: recipient) else { return nil }
        guard encrypts else { return message }
        var opened = message
        for i in message.data.indices {
            guard let plain = decrypt(message.data[i], message, to: recipient, part: UInt8(i + 1)) else { return nil }
            opened.data[i] = plain
        }
        return opened
    }

    /// Whether `message`'s tag proves that a holder of this job's key sent it to `recipient`, unchanged.
    /// The tag is checked over the meta frame as received (`receivedMeta`; for a message that never
    /// crossed a transport, its encoding), which must end with the tag's field. With `encrypts` the tag
    /// covers the frames' GCM tags, not their ciphertext, which only `open` checks: callers use `open`.
    func verify(_ message: Message, recipient: Int32) -> Bool {
        guard message.tag.count == Self.tagByteCount, message.seq > 0, message.seq <= Self.maxCounter,
            message.data.count <= Self.maxFrames, Self.ids.contains(message.sender), Self.ids.contains(recipient)
        else { return false }
        let meta = message.receivedMeta ?? MetaCodec.encode(message)
        let suffixCount = Self.tagFieldKey.count + Self.tagByteCount
        guard meta.count >= suffixCount,
            meta[(meta.count - suffixCount)...].elementsEqual(Self.tagFieldKey + message.tag)
        else { return false }
        let expected = tag(meta: meta[..<(meta.count - suffixCount)], message, to: recipient)
        return Self.constantTimeEqual(expected, message.tag)
    }

    /// Bytes in a tag.
    static let tagByteCount = 16
    /// How the meta's `tag` field (number 24, length-delimited) and its length of 16 are encoded:
    /// protobuf-c writes fields in number order, so this field, the schema's last, ends the frame.
    static let tagFieldKey: [UInt8] = [24 << 3 | 2, 0x01, UInt8(tagByteCount)]
    /// Data frames a tagged message can have (the nonce's last byte numbers them from 1).
    static let maxFrames = 255
    /// The largest counter (the nonce holds 56 bits of it).
    static let maxCounter: UInt64 = (1 << 56) - 1
    /// The node ids the nonce can hold (16 bits each for sender and recipient).
    static let ids: ClosedRange<Int32> = 1...65535

    /// The tag of `message` to `recipient` whose meta, encoded without the tag, is `meta`: a GMAC over
    /// domain, recipient, the meta, then each data frame's length and its bytes, or for a frame over
    /// `inlineFrameBytes` its own GMAC (computed in place, so a 64 MB frame is never copied).
    private func tag(meta: ArraySlice<UInt8>, _ message: Message, to recipient: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(
            32 + meta.count
                + message.data.reduce(0) { total, frame in
                    total + 8 + (frame.byteCount <= Self.inlineFrameBytes ? frame.byteCount : Self.tagByteCount)
                })
        bytes.append(contentsOf: "swiftps-v1|msg|".utf8)
        Self.appendInteger(UInt32(bitPattern: recipient), to: &bytes)
        Self.appendInteger(UInt64(meta.count), to: &bytes)
        bytes.append(contentsOf: meta)
        for (i, frame) in message.data.enumerated() {
            Self.appendInteger(UInt64(frame.byteCount), to: &bytes)
            frame.withUnsafeBytes { frameBytes in
                if encrypts {
                    // The frame's own GCM tag, which authenticates its ciphertext (a frame too short to
                    // hold one contributes nothing here and fails `open`).
                    bytes.append(contentsOf: frameBytes.suffix(Self.tagByteCount))
                } else if frameBytes.count <= Self.inlineFrameBytes {
                    bytes.append(contentsOf: frameBytes)
                } else {
                    bytes.append(contentsOf: gmac(frameBytes, message, to: recipient, part: UInt8(i + 1)))
                }
            }
        }
        return gmac(bytes, message, to: recipient, part: 0)
    }

    /// The GMAC of `bytes` under nonce (sender id, recipient id, counter, part), big-endian in 2 + 2 + 7
    /// + 1 bytes: part 0 is the header, part i the i-th data frame. Counters are kept per recipient, so
    /// no two computations under one key share a nonce.
    private func gmac(_ bytes: some DataProtocol, _ message: Message, to recipient: Int32, part: UInt8) -> [UInt8] {
        // Cannot throw: the key is 256 bits and the nonce 96.
        let box = try! AES.GCM.seal(
            [UInt8](), using: key, nonce: nonce(message, to: recipient, part: part), authenticating: bytes)
        return Array(box.tag)
    }

    /// `frame` encrypted under nonce part `part`: its ciphertext then the 16-byte GCM tag, same type.
    private func encrypt(_ frame: Payload, _ message: Message, to recipient: Int32, part: UInt8) -> Payload {
        let box = frame.withUnsafeBytes { plain in
            // Cannot throw: the key is 256 bits and the nonce 96.
            try! AES.GCM.seal(plain, using: key, nonce: nonce(message, to: recipient, part: part))
        }
        // `combined` is nonce, ciphertext, tag in one buffer: one copy of it, past the nonce, is the frame
        // (`ciphertext` and `tag` would each copy first). A 96-bit nonce always gives `combined`.
        return box.combined!.dropFirst(12).withUnsafeBytes { Payload(copying: $0, dataType: frame.dataType) }
    }

    /// The plaintext of `frame` (ciphertext then tag) encrypted under nonce part `part`, or nil when
    /// its tag does not verify.
    private func decrypt(_ frame: Payload, _ message: Message, to recipient: Int32, part: UInt8) -> Payload? {
        guard frame.byteCount >= Self.tagByteCount else { return nil }
        let plain: Data? = frame.withUnsafeBytes { bytes in
            let split = bytes.count - Self.tagByteCount
            guard
                let box = try? AES.GCM.SealedBox(
                    nonce: nonce(message, to: recipient, part: part),
                    ciphertext: UnsafeRawBufferPointer(rebasing: bytes[..<split]),
                    tag: UnsafeRawBufferPointer(rebasing: bytes[split...]))
            else { return nil }
            return try? AES.GCM.open(box, using: key)
        }
        return plain.map { $0.withUnsafeBytes { Payload(copying: $0, dataType: frame.dataType) } }
    }

    /// The 96-bit nonce of part `part` of `message` to `recipient` (see `gmac`).
    private func nonce(_ message: Message, to recipient: Int32, part: UInt8) -> AES.GCM.Nonce {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(12)
        Self.appendInteger(UInt16(truncatingIfNeeded: message.sender), to: &bytes)
        Self.appendInteger(UInt16(truncatingIfNeeded: recipient), to: &bytes)
        Self.appendInteger(message.seq << 8 | UInt64(part), to: &bytes)
        return try! AES.GCM.Nonce(data: bytes)  // 12 bytes: cannot throw
    }

    /// Frames up to this size (keys, lengths, small values) are covered byte for byte in the header:
    /// copying them costs less than a GMAC call of their own.
    static let inlineFrameBytes = 4096

    private static func appendInteger<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
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
