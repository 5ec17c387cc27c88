import ArgumentParser
import SwiftPS

/// `swiftps bench tags`: what a message tag costs (a cluster with a secret), per message, for push-shaped
/// messages (keys, values, lengths) of several sizes: sealing on the sender, checking on the receiver.
struct BenchTags: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tags",
        abstract: "Time to seal and to verify one tagged KV message, by value size, as JSON.",
        discussion: """
            Sealing includes encoding the meta frame (which an untagged send also does); verifying is \
            what a receiver adds to a message it has already decoded. A pushPull round of 2 workers and \
            1 server seals and verifies 4 messages.
            """)

    @Option(help: "Comma-separated value sizes in float32 elements (4 KB, 4 MB, 64 MB by default).")
    var floats: String = "1024,1048576,16777216"

    @Option(
        parsing: .unconditional,
        help: "Timed repetitions per size (fewer for messages over 4 KB, and never fewer than 10).")
    var repeats: Int = 20000

    @Flag(help: "Also encrypt the data frames (what SWIFTPS_ENCRYPT=1 does).")
    var encrypt = false

    func validate() throws {
        _ = try FlagCheck.positiveList("--floats", floats)
        guard repeats > 0 else { throw ValidationError("--repeats must be positive") }
    }

    /// `--floats` (checked by `validate`).
    var sizes: [Int] { (try? FlagCheck.positiveList("--floats", floats)) ?? [] }

    func run() throws {
        let auth = MessageAuthenticator(
            secret: Array("bench tags".utf8),
            session: [UInt8](repeating: 7, count: MessageAuthenticator.sessionNonceCount), encrypts: encrypt)
        var results: [JSONObject] = []
        for floats in sizes {
            let values = Payload(count: floats, of: Float.self) { $0.initialize(repeating: 0.5) }
            let plain = Message(
                request: true, push: true, pull: true, appID: 0, customerID: 0, timestamp: 1, sender: 9,
                data: [Payload(copying: [UInt64(3)]), values, Payload(copying: [Int32(floats)])])
            let bytes = plain.dataByteCount
            let reps = max(10, min(repeats, repeats * 4096 / max(bytes, 1)))
            var message = plain
            var meta: [UInt8] = []
            let seal = measure(repeats: reps) {
                message = plain
                meta = auth.seal(&message, to: 8)
            }
            var received = try MetaCodec.decode(meta).message
            received.data = message.data
            received.receivedMeta = meta
            var verified = true
            let verify = measure(repeats: reps) { verified = auth.open(received, recipient: 8) != nil && verified }
            guard verified else { throw ValidationError("a sealed message did not verify") }
            var out = JSONObject()
            out.set("value_floats", floats)
            out.set("message_bytes", bytes + meta.count)
            out.set("repeats", reps)
            out.set("seal_us", seal.median * 1e6)
            out.set("verify_us", verify.median * 1e6)
            out.set("seal_gb_per_s", Double(bytes) / seal.median / 1e9)
            out.set("verify_gb_per_s", Double(bytes) / verify.median / 1e9)
            results.append(out)
        }
        var out = JSONObject()
        out.set("benchmark", "tags")
        out.set("mac", encrypt ? "AES-256-GCM, data frames encrypted (swift-crypto)" : "AES-256-GMAC (swift-crypto)")
        out.set("messages", results)
        print(out.text)
    }
}
