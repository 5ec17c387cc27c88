import Foundation
import PSTestSupport
import SwiftPSTransport
import Testing

@testable import SwiftPSCluster

@Suite struct MessageAuthenticationTests {
    private let secret = Array("cluster secret".utf8)
    private let session = [UInt8](repeating: 7, count: MessageAuthenticator.sessionNonceCount)

    private func push(_ values: [Float], sender: Int32 = 9) -> Message {
        Message(
            head: 1, request: true, push: true, timestamp: 42, sender: sender,
            data: [Payload(copying: [UInt64(3)]), Payload(copying: values)])
    }

    @Test func aTagCoversTheMetaTheDataTheRecipientAndTheSession() {
        let auth = MessageAuthenticator(secret: secret, session: session)
        var message = push([1, 2, 3])
        _ = auth.seal(&message, to: 8)
        #expect(message.seq == 1 && message.tag.count == 16)
        #expect(auth.verify(message, recipient: 8))

        #expect(!auth.verify(message, recipient: 10), "bound to its recipient")
        var tampered = message
        tampered.data[1] = Payload(copying: [Float(1), 2, 4])
        #expect(!auth.verify(tampered, recipient: 8), "a changed value")
        tampered = message
        tampered.timestamp = 43
        #expect(!auth.verify(tampered, recipient: 8), "a changed meta field")
        tampered = message
        tampered.sender = 11
        #expect(!auth.verify(tampered, recipient: 8), "another claimed sender")
        tampered = message
        tampered.seq = 2
        #expect(!auth.verify(tampered, recipient: 8), "another counter")
        tampered = message
        tampered.tag = []
        #expect(!auth.verify(tampered, recipient: 8), "no tag")
        tampered = message
        tampered.data.append(Payload(copying: [Int32(0)]))
        #expect(!auth.verify(tampered, recipient: 8), "an extra frame")

        let otherJob = MessageAuthenticator(secret: secret, session: [UInt8](repeating: 8, count: 16))
        #expect(!otherJob.verify(message, recipient: 8), "a tag from another job's session")
        let otherSecret = MessageAuthenticator(secret: Array("other".utf8), session: session)
        #expect(!otherSecret.verify(message, recipient: 8))

        // A frame over `inlineFrameBytes` is covered by a GMAC of its own.
        var large = push((0..<4000).map(Float.init))
        _ = auth.seal(&large, to: 8)
        #expect(auth.verify(large, recipient: 8))
        var values = (0..<4000).map(Float.init)
        values[3999] = 0
        tampered = large
        tampered.data[1] = Payload(copying: values)
        #expect(!auth.verify(tampered, recipient: 8), "a changed value in a large frame")
        tampered = large
        tampered.data.swapAt(0, 1)
        #expect(!auth.verify(tampered, recipient: 8), "frames in another order")

        var next = push([1, 2, 3])
        _ = auth.seal(&next, to: 8)
        #expect(next.seq == 3 && next.tag != message.tag, "each message gets a fresh counter")
        var elsewhere = push([1, 2, 3])
        _ = auth.seal(&elsewhere, to: 10)
        #expect(elsewhere.seq == 1, "counters run per recipient")
        #expect(elsewhere.tag != message.tag && auth.verify(elsewhere, recipient: 10))
    }

    /// As a transport delivers it: the tag is checked over the meta bytes that arrived, which `seal`
    /// encoded once, with the tag's field last, exactly as `MetaCodec` encodes the sealed message.
    @Test func theTagIsCheckedOverTheMetaAsItArrived() throws {
        let auth = MessageAuthenticator(secret: secret, session: session)
        let control = Message(
            head: 2, body: Array("body".utf8),
            control: Control(
                cmd: .barrier, nodes: [NodeInfo(role: .worker, id: 9, hostname: "h", port: 1, rank: 1)],
                barrierGroup: 7, auth: [1, 2]),
            request: true, timestamp: 5, sender: 9, error: "an error")
        for original in [push([1, 2, 3]), push((0..<4000).map(Float.init)), control] {
            var message = original
            let meta = auth.seal(&message, to: 8)
            #expect(meta == MetaCodec.encode(message), "encoded once, as the codec encodes the sealed message")
            func arrived(_ bytes: [UInt8]) throws -> Message {
                var received = try MetaCodec.decode(bytes).message
                received.data = message.data
                received.receivedMeta = bytes
                return received
            }
            #expect(auth.verify(try arrived(meta), recipient: 8))

            // Another timestamp with this message's tag appended: well-formed, and not what was tagged.
            var other = message
            other.timestamp += 1
            other.tag = []
            let changed = MetaCodec.encode(other) + MessageAuthenticator.tagFieldKey + message.tag
            #expect(!auth.verify(try arrived(changed), recipient: 8), "a changed meta field")
            let tagField = Array(meta.suffix(19))
            let moved = tagField + meta.dropLast(19)
            #expect(try MetaCodec.decode(moved).message.tag == message.tag, "the same fields, in another order")
            #expect(!auth.verify(try arrived(moved), recipient: 8), "the tag's field not last")
            let trailing = meta + [8 << 3, 6]  // field 8 (timestamp) again, after the tag
            #expect(!auth.verify(try arrived(trailing), recipient: 8), "bytes after the tag's field")
        }
    }

    /// With encryption the data frames travel as AES-256-GCM ciphertext (plus each frame's tag); `open`
    /// gives back the sender's frames, and refuses any change to a frame, its tag, or their order.
    @Test func encryptedFramesTravelAsCiphertextAndOpenToThePlaintext() throws {
        let auth = MessageAuthenticator(secret: secret, session: session, encrypts: true)
        let values = (0..<3000).map { Float($0) * 0.25 }  // over `inlineFrameBytes`, as large frames are
        let original = push(values)
        var message = original
        let meta = auth.seal(&message, to: 8)
        #expect(message.data.count == 2)
        for (sent, plain) in zip(message.data, original.data) {
            #expect(sent.byteCount == plain.byteCount + 16 && sent.dataType == plain.dataType)
            let sentBytes = sent.withUnsafeBytes { Array($0.prefix(plain.byteCount)) }
            #expect(sentBytes != plain.withUnsafeBytes { Array($0) }, "the frame is not sent in the clear")
        }
        var received = try MetaCodec.decode(meta).message
        received.data = message.data
        received.receivedMeta = meta
        let opened = try #require(auth.open(received, recipient: 8))
        #expect(try opened.data[1].toArray(of: Float.self) == values)
        #expect(try opened.data[0].toArray(of: UInt64.self) == [3])

        func tampered(_ frame: Int, at offset: Int) -> Message {
            var copy = received
            var bytes = copy.data[frame].withUnsafeBytes { Array($0) }
            bytes[offset] ^= 1
            copy.data[frame] = Payload(copying: bytes)
            return copy
        }
        #expect(auth.open(tampered(1, at: 5), recipient: 8) == nil, "a changed ciphertext byte")
        #expect(auth.open(tampered(1, at: received.data[1].byteCount - 1), recipient: 8) == nil, "a changed tag")
        var swapped = received
        swapped.data.swapAt(0, 1)
        #expect(auth.open(swapped, recipient: 8) == nil, "frames in another order")
        #expect(auth.open(received, recipient: 10) == nil, "bound to its recipient")
        let plainAuth = MessageAuthenticator(secret: secret, session: session)
        #expect(
            plainAuth.open(received, recipient: 8) == nil,
            "a node that does not expect encryption refuses the message, never taking ciphertext for data")
    }

    /// The scheduler's SWIFTPS_ENCRYPT holds for the job: nodes that did not ask adopt it from the signed
    /// table, handlers see plaintext; a node that asks for encryption refuses a scheduler without it.
    @Test func theSchedulersEncryptionChoiceHoldsForTheJob() throws {
        let cluster = InMemoryCluster()
        defer { cluster.stopAll() }
        var schedulerConfig = cluster.config(.scheduler, workers: 1, servers: 1, secret: "cluster secret")
        schedulerConfig.encrypt = true
        _ = cluster.add(schedulerConfig)
        let server = cluster.add(cluster.config(.server, workers: 1, servers: 1, secret: "cluster secret"))
        let worker = cluster.add(cluster.config(.worker, workers: 1, servers: 1, secret: "cluster secret"))
        #expect(cluster.startAll().allSatisfy { $0?.succeeded == true })
        #expect(server.locked { server.messageAuth?.encrypts } == true)
        #expect(worker.locked { worker.messageAuth?.encrypts } == true)
        let received = Inbox<[Float]>()
        server.setAppHandler { message in received.put((try? message.data[1].toArray(of: Float.self)) ?? []) }
        try worker.send(push([1, 2, 3]), to: 8)
        #expect(received.wait(count: 1, timeout: 10) == [[1, 2, 3]])

        let plain = InMemoryCluster()
        defer { plain.stopAll() }
        let plainScheduler = plain.add(plain.config(.scheduler, workers: 1, servers: 0, secret: "s"))
        var wantsEncryption = plain.config(.worker, workers: 1, servers: 0, secret: "s")
        wantsEncryption.encrypt = true
        let node = plain.add(wantsEncryption)
        let refused = plain.start(node, against: plainScheduler)
        guard case .authenticationRefused(let text)? = refused?.failure else {
            Issue.record("expected a refusal, got \(String(describing: refused))")
            return
        }
        #expect(text.contains("SWIFTPS_ENCRYPT=1 on the scheduler"), "\(text)")
    }

    /// What may come untagged: a joiner's ADD_NODE to the scheduler, and the scheduler's answers to a
    /// node still in rendezvous. Nothing else, in any phase.
    @Test func onlyRendezvousMessagesMayComeUntagged() {
        func exempt(_ cmd: ControlCommand, request: Bool, rendezvous: Bool, scheduler: Bool) -> Bool {
            MessageAuthenticator.isExempt(
                Message(control: Control(cmd: cmd), request: request), receiverInRendezvous: rendezvous,
                receiverIsScheduler: scheduler)
        }
        #expect(exempt(.addNode, request: true, rendezvous: false, scheduler: true), "a joiner, late or not")
        #expect(exempt(.addNode, request: false, rendezvous: true, scheduler: false), "a table or refusal")
        #expect(exempt(.terminate, request: false, rendezvous: true, scheduler: false))
        #expect(!exempt(.addNode, request: false, rendezvous: false, scheduler: false), "past rendezvous")
        #expect(!exempt(.addNode, request: true, rendezvous: false, scheduler: false), "to a node, not the scheduler")
        #expect(!exempt(.terminate, request: true, rendezvous: false, scheduler: true))
        #expect(!exempt(.heartbeat, request: false, rendezvous: false, scheduler: false))
        #expect(!exempt(.barrier, request: true, rendezvous: true, scheduler: true))
    }

    @Test func theReplayWindowRefusesRepeatsAndTooOldCountersButToleratesReordering() {
        var window = ReplayWindow()
        func accept(_ seq: UInt64) -> Bool { window.accept(seq) }
        #expect(!accept(0))
        #expect(accept(1) && accept(3) && accept(2))
        #expect(!accept(2) && !accept(3) && !accept(1))
        #expect(accept(ReplayWindow.width + 1))
        #expect(!accept(1), "out of the window")
        #expect(accept(4), "still within the window")
        #expect(!accept(4))
        // A jump wider than the window forgets everything below it.
        let far = 10 * ReplayWindow.width
        #expect(accept(far))
        #expect(!accept(ReplayWindow.width + 1))
        #expect(accept(far - 1) && !accept(far - 1) && !accept(far))
        // Slots reused as the window slides do not remember counters from a lap ago.
        for seq in (far + 1)...(far + 2 * ReplayWindow.width) { #expect(accept(seq)) }
    }

    /// A process that reaches a server's port and claims to be worker 9 (the in-memory network takes its
    /// claim as proven, as a forged ZeroMQ routing identity would be) gets nothing through without this
    /// job's tags, and cannot replay a message that got through.
    @Test(arguments: [true, false]) func forgedAndReplayedMessagesAreDropped(withSecret: Bool) throws {
        let cluster = InMemoryCluster()
        defer { cluster.stopAll() }
        let secret = withSecret ? "cluster secret" : nil
        let (scheduler, servers, workers) = cluster.addJob(workers: 1, servers: 1, secret: secret)
        let (server, worker) = (servers[0], workers[0])
        #expect(cluster.startAll().allSatisfy { $0?.succeeded == true })
        let received = Inbox<[Float]>()
        server.setAppHandler { message in received.put((try? message.data[1].toArray(of: Float.self)) ?? []) }

        try worker.send(push([1]), to: 8)
        #expect(received.wait(count: 1, timeout: 10) == [[1]], "a member's message arrives")

        let intruder = cluster.network.makeTransport(host: "127.0.0.2")
        defer { intruder.stop() }
        _ = try intruder.start(bind: BindOptions(host: "127.0.0.2", port: 0)) { _ in }
        intruder.setLocalID(9)
        let address = server.myNode
        try intruder.connect(to: 8, host: address.hostname, port: Int(address.port))
        try intruder.send(push([666]), to: 8)

        // What a process without the secret can still build: a message sealed with a guessed key.
        var guessed = push([667])
        let guessedMeta = MessageAuthenticator(
            secret: Array("guess".utf8), session: scheduler.locked { scheduler.session }
        ).seal(&guessed, to: 8)
        try intruder.send(guessed, to: 8, meta: guessedMeta)

        if withSecret {
            // A message sealed with this job's key (as worker 9 would, with a counter it has not used
            // yet), captured on the way and sent twice.
            let insider = MessageAuthenticator(
                secret: Array("cluster secret".utf8), session: scheduler.locked { scheduler.session })
            var captured = push([2])
            var capturedMeta: [UInt8] = []
            for _ in 0..<10 { capturedMeta = insider.seal(&captured, to: 8) }
            try intruder.send(captured, to: 8, meta: capturedMeta)
            #expect(received.wait(count: 2, timeout: 10).last == [2], "sealed with this job's key: it arrives")
            try intruder.send(captured, to: 8, meta: capturedMeta)
        }

        // An untagged ADD_NODE answer, which once passed in any phase (and kept a dead member looking
        // alive): past rendezvous it needs a tag like anything else.
        try intruder.send(Message(control: Control(cmd: .addNode), request: false), to: 8)
        try worker.send(push([3]), to: 8)
        if withSecret {
            #expect(
                eventually { server.tagDrops.count == 4 }, "the forged, the guessed, the replayed one, the ADD_NODE")
            #expect(received.wait(count: 3, timeout: 10) == [[1], [2], [3]], "members' traffic goes on")
            usleep(100_000)
            #expect(received.wait(count: 3, timeout: 0).count == 3, "nothing forged arrives")
        } else {
            let arrived = received.wait(count: 4, timeout: 10).map { $0.first ?? 0 }.sorted()
            #expect(arrived == [1, 3, 666, 667], "without a secret anyone can speak for a member")
            #expect(server.tagDrops.count == 0)
        }
    }
}
