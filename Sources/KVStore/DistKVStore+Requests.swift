import Foundation
import SwiftPSCluster
import SwiftPSTensor
import SwiftPSTransport

/// The kinds of request a worker sends for one key.
enum KVRequestKind {
    case initialize, push, pull, pushPull, check

    var pushes: Bool { self == .initialize || self == .push || self == .pushPull }
    var pulls: Bool { self == .pull || self == .pushPull }
}

/// One request in flight to one server: what to do with its answer.
struct PendingRequest {
    var key: Int
    /// The key on the wire: `key` itself, or for part `p > 0` of a sliced key `key + p << partShift`.
    var wireKey: Int
    var server: Int32
    /// Where pulled values go (the whole array; the slice starts at `offset`).
    var out: NDArray?
    var offset: Int
    var count: Int
    var kind: KVRequestKind
    /// When it was sent (`MonotonicClock`), for the timeline.
    var sent: Double
}

extension DistKVStore {
    /// Sends the request for every slice of `key`. Operations on one key are ordered: earlier requests
    /// of the key are waited for first (MXNet's engine dependency on the key's buffer).
    func send(key: Int, kind: KVRequestKind, value: NDArray?, out: NDArray?, priority: Int) throws {
        try wait(keys: [key])
        let (slices, name, total, shape, keys, compression) = locked {
            (placements[key].slices, keyNames[key], keyCount(key), keyShapes[key], keyNames.count, self.compression)
        }
        let compressed = compression.isActive && kind != .initialize && kind.pushes
        let half = compressed && compression.kind == .fp16
        var messages: [(message: Message, server: Int32, slice: KVPlacement.Slice, wireKey: Int)] = []
        for (slice, wireKey) in Self.parts(of: slices, key: key) {
            let head: KVHead =
                kind == .initialize
                ? .initialize : kind == .check ? .check : half ? .half : compressed ? .compressed : .data
            var message = Message(
                head: head.rawValue, request: true, push: kind.pushes, pull: kind.pulls,
                timestamp: postOffice.nextTimestamp(), priority: Int32(clamping: priority))
            var values: Payload?
            if let value, half {
                let (halves, infinite) = Payload.halves(from: value.data + slice.offset, count: slice.count)
                // An infinite value would make the servers' sum, and then the weights, infinite or NaN.
                guard infinite == 0 else {
                    throw KVStoreError.badConfiguration(
                        "fp16 compression cannot carry the gradient of '\(name)': \(infinite) of its values are beyond half precision's range (65504) or infinite; lower the learning rate or the batch size (pushes are sums over the batch), or use --gc-type none"
                    )
                }
                values = halves
            } else if let value {
                values =
                    compressed
                    ? compress(value, key: key, slice: slice, threshold: compression.threshold)
                    : Payload.floats(noCopy: value, offset: slice.offset, count: slice.count)
            }
            message.data = KVFrames.encode(key: wireKey, values: values, count: slice.count)
            if head == .compressed { message.body = KVFrames.thresholdBody(compression.threshold) }
            if head == .initialize || head == .check {
                let info = KVSliceInfo(name: name, totalCount: total, offset: slice.offset, shape: shape, keys: keys)
                message.body = try [UInt8](JSONEncoder().encode(info))
            }
            messages.append((message, NodeID.server(slice.server), slice, wireKey))
        }
        let sent = MonotonicClock.now()
        locked {
            for (message, server, slice, wireKey) in messages {
                inFlight[message.timestamp] = PendingRequest(
                    key: key, wireKey: wireKey, server: server, out: kind.pulls ? out : nil, offset: slice.offset,
                    count: slice.count, kind: kind, sent: sent)
                inFlightPerKey[key, default: 0] += 1
            }
        }
        for (i, (message, server, _, _)) in messages.enumerated() {
            do {
                try postOffice.send(message, to: server)
            } catch {
                abandon(messages[i...].map(\.message.timestamp))
                throw KVStoreError.remote("cannot send \(kind) of '\(name)' to \(describe(server)): \(error)")
            }
        }
    }

    /// The 2-bit codes of part `slice` of `key`'s `value`, through that range of the key's residual
    /// (made at its first compressed push). Only the thread pushing the key touches its residual:
    /// requests of one key are sent one after another.
    private func compress(_ value: NDArray, key: Int, slice: KVPlacement.Slice, threshold: Float) -> Payload {
        let residual = locked {
            if let existing = residuals[key] { return existing }
            let made = NDArray(shape: [keyCount(key)])
            if let saved = restoredResiduals.removeValue(forKey: keyNames[key]) {
                if saved.count == made.count {
                    made.data.update(from: saved.data, count: made.count)
                } else {
                    logger.warning(
                        "the saved compression residual of '\(keyNames[key])' has \(saved.count) values, the key \(made.count): it starts at zero"
                    )
                }
            }
            residuals[key] = made
            return made
        }
        return Payload(count: GradientCompression.wordCount(slice.count), of: UInt32.self) { words in
            guard let words = words.baseAddress else { return }
            GradientCompression.quantize(
                value.data + slice.offset, residual: residual.data + slice.offset, count: slice.count,
                threshold: threshold,
                into: words)
        }
    }

    /// Elements per message at most (4 MB of floats): a server's slice larger than this travels as
    /// several messages, each stored by the server as a slice of its own. ZeroMQ moves 1-16 MB messages
    /// 2-5x faster than 64 MB ones (anchors.md), and the parts pipeline: the server merges and answers
    /// the first while the next arrive.
    static let maxPartElements = 1 << 20
    /// Part `p > 0` of key `k` travels as key `k + p << partShift` (keys stay below 2^20).
    static let partShift = 20

    /// The slices of `key` cut into parts of at most `maxPartElements`, each with its wire key.
    static func parts(of slices: [KVPlacement.Slice], key: Int) -> [(KVPlacement.Slice, Int)] {
        var parts: [(KVPlacement.Slice, Int)] = []
        for slice in slices {
            var offset = 0
            var part = 0
            repeat {
                let count = min(maxPartElements, slice.count - offset)
                parts.append(
                    (
                        KVPlacement.Slice(server: slice.server, offset: slice.offset + offset, count: count),
                        key + part << partShift
                    ))
                offset += count
                part += 1
            } while offset < slice.count
        }
        return parts
    }

    /// Forgets requests that will never be answered (a failed send or an expired wait).
    private func abandon(_ timestamps: [Int64]) {
        locked {
            for ts in timestamps {
                guard let request = inFlight.removeValue(forKey: ts) else { continue }
                inFlightPerKey[request.key, default: 1] -= 1
            }
            condition.broadcast()
        }
    }

    /// Applies one server answer, on the transport's receive thread (quick and never blocking): pulled
    /// values are copied from the received frame into `out`; errors are kept for the next `wait` on
    /// the key. Also answers the scheduler's CHECKPOINT_READ from `checkpointOutbox` (a copy of up to
    /// one chunk; only at a checkpoint, while this worker waits for its epoch end).
    func handleResponse(_ message: Message) {
        if message.request, message.control.cmd == .checkpointRead {
            let response =
                message.sender == NodeID.scheduler
                ? checkpointOutbox.answer(message)
                : Message(
                    control: Control(cmd: .checkpointRead), error: "CHECKPOINT_READ is only accepted from the scheduler"
                )
            do {
                try postOffice.respond(to: message, with: response)
            } catch {
                logger.error("worker \(rank) cannot answer the scheduler's CHECKPOINT_READ: \(error)")
            }
            return
        }
        guard !message.request, !message.isControl else {
            logger.warning("worker \(rank) ignored an unexpected \(message.debugDescription)")
            return
        }
        guard let request = locked({ inFlight[message.timestamp] }) else {
            logger.debug("worker \(rank) ignored a late or unknown answer \(message.debugDescription)")
            return
        }
        var failure: String?
        if !message.error.isEmpty {
            failure = "\(describe(request.server)) answered: \(message.error)"
        } else if let out = request.out {
            failure = copyAnswer(message, into: out, request: request)
        }
        let answered = MonotonicClock.now()
        locked {
            guard inFlight.removeValue(forKey: message.timestamp) != nil else { return }
            inFlightPerKey[request.key, default: 1] -= 1
            if let failure { failures[request.key] = failure }
            // Recorded before the waiters wake: one that returns from `wait` finds the request there.
            if let recorder {
                let name = keyNames[request.key]
                recorder.span(
                    "\(request.kind) \(name)", category: "kvstore", track: Timeline.keyTrackBase + request.key,
                    start: request.sent, end: answered,
                    detail: "server \(NodeID.rank(of: request.server)), \(request.count) values"
                        + (failure.map { ", failed: \($0)" } ?? ""),
                    trackName: "key \(name)")
            }
            condition.broadcast()
        }
    }

    private func copyAnswer(_ message: Message, into out: NDArray, request: PendingRequest) -> String? {
        do {
            let frames = try KVFrames.decode(message, needsValues: true)
            guard frames.key == request.wireKey, frames.count == request.count, frames.values != nil else {
                return
                    "\(describe(request.server)) answered key \(frames.key) with \(frames.count) values, expected key \(request.wireKey) with \(request.count)"
            }
            // Float32 values, or half precision widened (the answer to an fp16 pushpull).
            try frames.write(into: out.data + request.offset, accumulate: false)
            return nil
        } catch {
            return "\(describe(request.server)) sent a bad answer: \(error)"
        }
    }

    /// Blocks until every request of `key` is answered (MXNet's `WaitToRead` on the output), or throws
    /// `KVStoreError.timeout` naming the servers that did not answer within `timeout`, or the error a
    /// server answered with, or the cluster's failure.
    public func wait(_ key: String) throws {
        guard let index = intKey(key) else { throw KVStoreError.unknownKey(key) }
        try wait(keys: [index])
    }

    /// Blocks until every request in flight is answered (MXNet's `WaitForAll`), with the same deadline
    /// and failures as `wait(_:)`.
    public func waitAll() throws {
        try wait(keys: nil)
    }

    /// Waits for the requests of `keys` (nil: all keys), `extra` seconds longer than the store's
    /// deadline.
    func wait(keys: [Int]?, extra: Double = 0) throws {
        func busy() -> Bool {
            guard let keys else { return !inFlight.isEmpty }
            return keys.contains { inFlightPerKey[$0, default: 0] > 0 }
        }
        func failed() -> (Int, String)? {
            // The first key's failure, so that one error among several reads the same on every run.
            failures.filter { keys?.contains($0.key) ?? true }.min { $0.key < $1.key }.map { ($0.key, $0.value) }
        }
        let clock = postOffice.clock
        condition.lock()
        let start = busy() ? MonotonicClock.now() : nil
        let answered = clock.wait(on: condition, until: clock.now() + timeout + extra) {
            !busy() || failed() != nil || postOffice.terminationError != nil
        }
        if let start { waited += MonotonicClock.now() - start }
        if let (key, message) = failed() {
            failures.removeValue(forKey: key)
            condition.unlock()
            throw KVStoreError.remote("request for '\(keyNames[key])' failed: \(message)")
        }
        if let error = postOffice.terminationError {
            condition.unlock()
            throw KVStoreError.remote("the cluster failed while waiting for the servers: \(error)")
        }
        guard !answered else {
            condition.unlock()
            return
        }
        let late = inFlight.filter { keys?.contains($0.value.key) ?? true }
        let servers = Set(late.values.map(\.server)).sorted()
        let names = Set(late.values.map { keyNames[$0.key] }).sorted()
        condition.unlock()
        abandon(Array(late.keys))
        // In dist_sync a server answers a push only once every worker has pushed: a worker that is
        // stuck also ends here, when its stall was not reported first (see the server's log).
        let sync =
            type == .distSync
            ? "; in dist_sync the server answers once every worker has pushed, so a stuck or slower worker also ends here (the server's log names it)"
            : ""
        throw KVStoreError.timeout(
            "worker \(rank): no answer within \(timeout + extra) s from \(servers.map(describe).joined(separator: ", ")) "
                + "for \(names.joined(separator: ", ")): is the server alive and reachable? (SWIFTPS_REQUEST_TIMEOUT)\(sync)"
        )
    }

    func describe(_ server: Int32) -> String { postOffice.description(of: server) }
}
