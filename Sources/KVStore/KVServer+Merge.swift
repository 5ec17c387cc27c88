import Foundation
import SwiftPSCluster
import SwiftPSOptimizer
import SwiftPSTensor
import SwiftPSTransport

/// One server's slice of one key: MXNet's `store_[key]` plus its `update_buf_[key]` and the
/// optimizer state, keyed by parameter name and offset.
final class ServerSlice {
    let key: Int
    let name: String
    let offset: Int
    let totalCount: Int
    /// The parameter's shape, as worker 0 gave it (nil if it did not).
    let shape: [Int]?
    /// The stored weights of the slice.
    let weight: NDArray
    /// The sum of the round's pushes (MXNet's `merged`), reused every round.
    let merged: NDArray
    /// The optimizer state of this slice, made at its first update.
    var state: OptimizerState?
    /// dist_sync: this round's push requests, by worker rank, with their frames as decoded on arrival
    /// (kept until the sum).
    var pushes: [Int: (message: Message, frames: KVFrames)] = [:]
    /// Requests from workers that already pushed in the open round: handled when the round ends.
    var deferred: [Message] = []
    /// When (on the cluster's clock) the open round's first push arrived.
    var roundStarted = 0.0
    /// Whether the open round's stall has been logged.
    var stallLogged = false
    /// Whether weights too large for an fp16 answer have been logged.
    var halfOverflowLogged = false
    /// For the timeline (`MonotonicClock`): when the open round's first and last pushes arrived, and
    /// from which worker the last.
    var firstPush = 0.0
    var lastPush = 0.0
    var lastPusher = 0

    /// The slice's track in a timeline, and its name.
    var track: Int { Timeline.keyTrackBase + key }
    var trackName: String { offset == 0 ? "key \(name)" : "key \(name) from \(offset)" }

    init(key: Int, info: KVSliceInfo, count: Int) {
        self.key = key
        name = info.name
        offset = info.offset
        totalCount = info.totalCount
        shape = info.shape
        weight = NDArray(shape: [count])
        merged = NDArray(shape: [count])
    }
}

extension KVServer {
    /// KV traffic (MXNet's `DataHandleDefault`), with `condition` held.
    func handleData(_ message: Message) throws {
        guard NodeID.role(of: message.sender) == .worker, message.sender >= NodeID.worker(0) else {
            throw KVStoreError.remote("KV requests are only accepted from workers")
        }
        guard let head = KVHead(rawValue: message.head) else {
            throw KVStoreError.remote("unknown KV request type \(message.head)")
        }
        guard (head != .compressed && head != .half) || message.push else {
            throw KVStoreError.remote("a compressed request must be a push")
        }
        let frames = try KVFrames.decode(message, needsValues: message.push)
        if head == .initialize {
            try initialize(message, frames)
            return
        }
        if head == .check {
            try checkSlice(message, frames)
            return
        }
        restoring = nil
        guard let slice = slices[frames.key] else {
            throw KVStoreError.remote(
                "key \(frames.key) is not initialized on server \(postOffice.rank): worker 0 must initialize it first")
        }
        if message.push {
            guard frames.count == slice.weight.count else {
                throw KVStoreError.remote(
                    "push of \(frames.count) values to '\(slice.name)' (offset \(slice.offset)), whose slice here holds \(slice.weight.count)"
                )
            }
        }
        if syncMode {
            try handleSync(message, frames, slice)
        } else {
            try handleAsync(message, frames, slice)
        }
    }

    /// The first push of a key sets the slice (MXNet: `store_[key]` is empty); a later one overwrites it.
    private func initialize(_ message: Message, _ frames: KVFrames) throws {
        let info: KVSliceInfo
        do {
            info = try JSONDecoder().decode(KVSliceInfo.self, from: Data(message.body))
        } catch {
            throw KVStoreError.remote("initializing push of key \(frames.key) has no valid slice description: \(error)")
        }
        // `frames.count <= totalCount - offset`, not `offset + count <= totalCount`: a description with
        // an offset near Int.max must not overflow.
        guard info.offset >= 0, info.offset <= info.totalCount, frames.count <= info.totalCount - info.offset else {
            throw KVStoreError.remote(
                "slice [\(info.offset), +\(frames.count)) of '\(info.name)' lies outside its \(info.totalCount) elements"
            )
        }
        guard message.push else {
            throw KVStoreError.remote("initializing request of key \(frames.key) is not a push: it carries no values")
        }
        if let existing = slices[frames.key] {
            guard existing.weight.count == frames.count, existing.name == info.name else {
                throw KVStoreError.remote(
                    "key \(frames.key) is '\(existing.name)' with \(existing.weight.count) elements here, not '\(info.name)' with \(frames.count)"
                )
            }
        }
        // A new slice is stored only once it holds its values: a request that fails here leaves no key.
        let slice = slices[frames.key] ?? ServerSlice(key: frames.key, info: info, count: frames.count)
        try frames.write(into: slice.weight, accumulate: false)
        try restore(slice)
        slices[frames.key] = slice
        initializedKeys = max(initializedKeys, info.keys ?? 0)
        answer(message)
    }

    /// dist_async: every push is applied at once (with the optimizer, or replacing the value without
    /// one) and answered; pulls are answered from the store.
    private func handleAsync(_ message: Message, _ frames: KVFrames, _ slice: ServerSlice) throws {
        if message.push {
            let start = MonotonicClock.now()
            if optimizer != nil {
                try frames.write(into: slice.merged, accumulate: false)
                try update(slice)
            } else {
                try frames.write(into: slice.weight, accumulate: false)
            }
            recorder?.span(
                "apply \(slice.name)", category: "server", track: slice.track, start: start, end: MonotonicClock.now(),
                detail: "worker \(NodeID.rank(of: message.sender))'s push", trackName: slice.trackName)
        }
        answerWithStore(message, slice)
    }

    /// dist_sync: a push joins the key's round; the last worker's push completes it. A plain pull is
    /// answered from the store at once, except that a request from a worker that already pushed in
    /// the open round waits for the round's end (read-your-writes; MXNet's worker orders this itself).
    private func handleSync(_ message: Message, _ frames: KVFrames, _ slice: ServerSlice) throws {
        let rank = NodeID.rank(of: message.sender)
        if slice.pushes[rank] != nil {
            slice.deferred.append(message)
            return
        }
        guard message.push else {
            answerWithStore(message, slice)
            return
        }
        let now = MonotonicClock.now()
        if slice.pushes.isEmpty {
            slice.roundStarted = postOffice.clock.now()
            slice.stallLogged = false
            slice.firstPush = now
        }
        slice.lastPush = now
        slice.lastPusher = rank
        slice.pushes[rank] = (message, frames)
        if slice.pushes.count == postOffice.numWorkers { completeRound(slice) }
    }

    /// Logs the dist_sync rounds open longer than `stallWarning`, once each, and abandons those open
    /// longer than `stallLimit`: their requests are answered with an error naming the workers that
    /// have not pushed. With `condition` held.
    func inspectStalls(now: Double) {
        guard syncMode else { return }
        // Open rounds not yet logged, by the workers they wait for: once one of a group has waited
        // `stallWarning`, the whole group is logged in one warning (rounds opened a moment later by
        // the same stalled worker belong to the same stall).
        var waiting: [String: [ServerSlice]] = [:]
        var oldest: [String: Double] = [:]
        for slice in slices.values.sorted(by: { $0.key < $1.key }) where !slice.pushes.isEmpty {
            let waited = now - slice.roundStarted
            let missing = missingWorkers(slice, now: now)
            if waited >= stallLimit {
                abandonRound(
                    slice,
                    reason:
                        "'\(slice.name)' waited \(seconds(waited)) s on server \(postOffice.rank) for the push of \(missing): the job's heartbeats find dead workers, so a live one that does not push is stuck, out of batches, or busy with something the others do not wait for (scoring a validation set on some workers only, say); the step is abandoned (SWIFTPS_REQUEST_TIMEOUT sets how long a step may wait)"
                )
            } else if !slice.stallLogged {
                waiting[missing, default: []].append(slice)
                oldest[missing] = max(oldest[missing] ?? 0, waited)
            }
        }
        for (missing, group) in waiting.sorted(by: { $0.key < $1.key }) where oldest[missing] ?? 0 >= stallWarning {
            for slice in group { slice.stallLogged = true }
            let names = group.map { "'\($0.name)'" }.joined(separator: ", ")
            logger.warning(
                "server \(postOffice.rank) has waited \(seconds(oldest[missing] ?? 0)) s for \(missing) to push \(names): every dist_sync worker waits for it (a stalled or slower worker; the step fails after \(seconds(stallLimit)) s)"
            )
        }
    }

    private func seconds(_ value: Double) -> String { String(format: "%.1f", value) }

    /// The workers that have not pushed in `slice`'s open round, described with their addresses and
    /// when this server last received anything from them.
    private func missingWorkers(_ slice: ServerSlice, now: Double) -> String {
        let ranks = (0..<postOffice.numWorkers).filter { slice.pushes[$0] == nil }
        return ranks.map { rank in
            let id = NodeID.worker(rank)
            let name = postOffice.description(of: id)
            guard let heard = postOffice.lastHeard(from: id) else { return name }
            return "\(name) (last heard \(seconds(now - heard)) s ago)"
        }
        .joined(separator: ", ")
    }

    /// Answers every request of `slice`'s open round, deferred ones included, with `reason`, and
    /// closes the round.
    private func abandonRound(_ slice: ServerSlice, reason: String) {
        let requests = (0..<postOffice.numWorkers).compactMap { slice.pushes[$0]?.message } + slice.deferred
        slice.pushes.removeAll()
        slice.deferred.removeAll()
        for request in requests { answer(request, error: reason) }
    }

    /// Sums the round's pushes in worker-rank order (so the result does not depend on arrival order),
    /// updates the slice, answers every push (pushpull: the new weights; push: an empty ack), then
    /// handles the requests deferred during the round. Every pushpull of the round is answered with
    /// the same copy of the new weights (it is only read, by ZeroMQ, until the last one has left).
    private func completeRound(_ slice: ServerSlice) {
        let round = (0..<postOffice.numWorkers).compactMap { slice.pushes[$0] }
        slice.pushes.removeAll()
        var failure: String?
        let updating = MonotonicClock.now()
        do {
            // Without an optimizer the sum is the new value: it goes straight into the weights.
            try sum(round.map(\.frames), into: optimizer == nil ? slice.weight : slice.merged)
            try update(slice)
        } catch {
            failure = "the update of '\(slice.name)' failed: \(error)"
        }
        // Recorded before the answers: a worker that has its answer finds the round in the timeline.
        record(slice, updating: updating, updated: MonotonicClock.now(), answers: round.count)
        var weights = StoreAnswer()
        for (push, _) in round {
            if let failure {
                answer(push, error: failure)
            } else {
                answerWithStore(push, slice, weights: &weights)
            }
        }
        let deferred = slice.deferred
        slice.deferred.removeAll()
        for message in deferred {
            do {
                try handleData(message)
            } catch {
                answer(message, error: "\(error)")
            }
        }
    }

    /// Records a completed round on the timeline: its span from the first push to the end of the
    /// update, with the sum and update nested in it.
    private func record(_ slice: ServerSlice, updating: Double, updated: Double, answers: Int) {
        guard let recorder else { return }
        let waited = Int(((slice.lastPush - slice.firstPush) * 1e6).rounded())
        recorder.span(
            "round \(slice.name)", category: "server", track: slice.track, start: slice.firstPush, end: updated,
            detail:
                "the last push, worker \(slice.lastPusher)'s, came \(waited) µs after the first; \(answers) answers",
            trackName: slice.trackName)
        recorder.span("update \(slice.name)", category: "server", track: slice.track, start: updating, end: updated)
    }

    /// `out` = the sum of the pushes' values (float32, half precision widened, or 2-bit codes
    /// expanded), in their order, from the frames decoded when each push arrived; two float32 pushes
    /// are added in one pass. Every push is checked before `out` is written.
    private func sum(_ frames: [KVFrames], into out: NDArray) throws {
        for push in frames where push.values == nil || push.count != out.count {
            throw KVStoreError.remote("\(push.count) values for a slice of \(out.count)")
        }
        var rest = frames[...]
        if frames.count >= 2, frames[0].threshold == nil, frames[1].threshold == nil, !frames[0].half, !frames[1].half,
            let a = frames[0].values, let b = frames[1].values
        {
            try a.withUnsafeBufferPointer(of: Float.self) { a in
                try b.withUnsafeBufferPointer(of: Float.self) { b in
                    if let a = a.baseAddress, let b = b.baseAddress { Kernels.add(out.count, a, b, out.data) }
                }
            }
            rest = frames.dropFirst(2)
        } else if let first = rest.popFirst() {
            try first.write(into: out, accumulate: false)
        }
        for more in rest { try more.write(into: out, accumulate: true) }
    }

    /// Runs the optimizer on the slice with the gradient in `merged`.
    private func update(_ slice: ServerSlice) throws {
        guard let optimizer else { return }
        let state = try slice.state ?? optimizer.createState(name: slice.name, count: slice.weight.count)
        slice.state = state
        try optimizer.update(name: slice.name, weight: slice.weight, grad: slice.merged, state: state)
    }

    /// Answers a pull or pushpull with a copy of the stored weights, a push with an empty ack.
    private func answerWithStore(_ message: Message, _ slice: ServerSlice) {
        var weights = StoreAnswer()
        answerWithStore(message, slice, weights: &weights)
    }

    /// As above, reusing the copy of the stored weights in `weights` when it has one in the
    /// precision asked (float32, or half for a `KVHead.half` pushpull), and keeping it there.
    private func answerWithStore(_ message: Message, _ slice: ServerSlice, weights: inout StoreAnswer) {
        guard message.pull else {
            answer(message)
            return
        }
        let count = slice.weight.count
        let values: Payload
        if message.head == KVHead.half.rawValue, let half = weights.half ?? halves(of: slice) {
            values = half
            weights.half = half
        } else {
            values = weights.float ?? Payload.floats(copying: slice.weight.data, count: count)
            weights.float = values
        }
        answer(message, key: slice.key, values: values, count: count)
    }
}

extension KVServer {
    /// The slice's weights in half precision, or nil (with a warning, once per slice) when some are
    /// beyond its range: those answers go in float32, which the worker reads as well.
    fileprivate func halves(of slice: ServerSlice) -> Payload? {
        let (payload, infinite) = Payload.halves(from: slice.weight.data, count: slice.weight.count)
        guard infinite > 0 else { return payload }
        if !slice.halfOverflowLogged {
            slice.halfOverflowLogged = true
            logger.warning(
                "server \(postOffice.rank): \(infinite) weights of '\(slice.name)' (offset \(slice.offset)) are beyond half precision's range (65504) or infinite: its fp16 answers go in float32"
            )
        }
        return nil
    }
}

/// The copies of a slice's new weights that answer one round's requests, made at the first request
/// that needs each precision.
struct StoreAnswer {
    var float: Payload?
    var half: Payload?

}
