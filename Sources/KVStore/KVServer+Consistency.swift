import Foundation
import SwiftPSCluster
import SwiftPSOptimizer
import SwiftPSTransport

/// The checks that every worker trains what worker 0 set up (MXNet checks neither): the same
/// parameters, key by key (`KVHead.check`), and the same optimizer run in the same place (SET_OPTIMIZER
/// with a checking `OptimizerUse`).
/// Each answers an error naming what differs, on both sides.
extension KVServer {
    /// A worker's description of a key it initialized, against worker 0's.
    func checkSlice(_ message: Message, _ frames: KVFrames) throws {
        let theirs: KVSliceInfo
        do {
            theirs = try JSONDecoder().decode(KVSliceInfo.self, from: Data(message.body))
        } catch {
            throw KVStoreError.remote("check of key \(frames.key) has no valid slice description: \(error)")
        }
        let worker = "worker \(NodeID.rank(of: message.sender))"
        let fix = "every worker must train the same network (--network) on data of the same shape"
        guard let slice = slices[frames.key] else {
            throw KVStoreError.remote(
                "\(worker)'s key \(frames.key) is \(theirs.described), but worker 0 initialized no key \(frames.key) on server \(postOffice.rank): \(fix)"
            )
        }
        let ours = KVSliceInfo(name: slice.name, totalCount: slice.totalCount, offset: slice.offset, shape: slice.shape)
        let sameShape = ours.shape == nil || theirs.shape == nil || ours.shape == theirs.shape
        guard ours.name == theirs.name, ours.totalCount == theirs.totalCount, ours.offset == theirs.offset, sameShape
        else {
            // The same parameter cut elsewhere: the workers split keys at different bounds.
            if ours.name == theirs.name && ours.totalCount == theirs.totalCount && ours.offset != theirs.offset {
                throw KVStoreError.remote(
                    "\(worker)'s key \(frames.key) is \(theirs.described) as worker 0's, but worker 0's slice here starts at element \(ours.offset) and \(worker)'s at \(theirs.offset): the workers split keys at different bounds; give every worker the same SWIFTPS_BIGARRAY_BOUND"
                )
            }
            throw KVStoreError.remote(
                "\(worker)'s key \(frames.key) is \(theirs.described), worker 0's is \(ours.described): \(fix)")
        }
        if let keys = theirs.keys, initializedKeys > 0, keys != initializedKeys {
            throw KVStoreError.remote(
                "\(worker) has \(keys) parameters to train, worker 0 has \(initializedKeys): \(fix)")
        }
        answer(message)
    }

    /// Another worker's optimizer configuration, and where it runs it (`workersUpdate`: on the
    /// workers, MXNet's `update_on_kvstore=False`), against worker 0's.
    func checkOptimizer(_ theirs: OptimizerConfig, workersUpdate: Bool, from sender: Int32) throws {
        let worker = "worker \(NodeID.rank(of: sender))"
        guard let ours = optimizer?.config ?? workersOptimizer else {
            throw KVStoreError.remote("worker 0 has not set the optimizer on server \(postOffice.rank) yet")
        }
        let ourUse = workersOptimizer != nil
        guard workersUpdate == ourUse else {
            func place(_ onWorkers: Bool) -> String { onWorkers ? "on the workers" : "on the servers" }
            throw KVStoreError.remote(
                "\(worker) runs the optimizer \(place(workersUpdate)), worker 0 \(place(ourUse)): set MXNET_UPDATE_ON_KVSTORE (Module.updateOnKVStore) the same on every worker"
            )
        }
        guard theirs != ours else { return }
        let differences = Self.differences(theirs, ours, worker: worker)
        let batch =
            theirs.rescaleGrad != ours.rescaleGrad
            ? "rescaleGrad is 1 / (batch size × workers) in dist_sync: every worker must use the same --batch-size; "
            : ""
        throw KVStoreError.remote(
            "\(worker)'s optimizer differs from worker 0's: \(differences.joined(separator: "; ")): \(batch)every worker must be given the same optimizer flags (--optimizer, --lr, --mom, --wd, --lr-step-epochs, ...)"
        )
    }

    /// The fields in which `theirs` (from `worker`) differs from worker 0's `ours`, one phrase each:
    /// `learningRate 0.05 on worker 1, 0.1 on worker 0`.
    static func differences(_ theirs: OptimizerConfig, _ ours: OptimizerConfig, worker: String) -> [String] {
        func text(_ value: Any) -> String {
            // Flags parsed as Float (--lr 0.05) print as such, not as 0.05000000074505806.
            if let number = value as? Double {
                return Double(Float(number)) == number ? "\(Float(number))" : "\(number)"
            }
            let mirror = Mirror(reflecting: value)
            if mirror.displayStyle == .optional { return mirror.children.first.map { text($0.value) } ?? "none" }
            return "\(value)"
        }
        return zip(Mirror(reflecting: theirs).children, Mirror(reflecting: ours).children).compactMap { x, y in
            let (p, q) = (text(x.value), text(y.value))
            return p == q ? nil : "\(x.label ?? "?") \(p) on \(worker), \(q) on worker 0"
        }
    }
}
