import Foundation
import SwiftPSCluster
import SwiftPSTransport
import Synchronization

extension DistKVStore {
    /// Resumes the servers from checkpoint `epoch` under `prefix` (its manifest must exist): rank 0
    /// sends LOAD_CHECKPOINT to every server at once and waits for all to acknowledge, before the keys
    /// are initialized. Each server then takes its slices' weights **and** optimizer state (momentum,
    /// Adam moments, update counts) from the checkpoint as the keys are initialized, re-sliced by
    /// parameter name and offset whatever the number of servers that wrote it.
    ///
    /// Each server reads the checkpoint's files from the scheduler before it answers: its own shard
    /// when the job has as many servers as wrote the checkpoint, else every shard (or the params
    /// and states files). The wait for it is this store's deadline plus
    /// `CheckpointTransfer.allowance` for `checkpointBytes`, at most what one server reads; rank
    /// 0's wait for the keys' initialization is as long (a server whose own shard lacks a slice
    /// reads every shard then). Every rank must call it: the others wait for rank 0 in
    /// `initialize`'s barrier, whose deadline it lengthens by as much.
    ///
    /// Throws `KVStoreError.remote` naming the server and the file it could not read (the lowest
    /// server's, when several fail).
    public func loadCheckpoint(prefix: String, epoch: Int, checkpointBytes: Int = 0) throws {
        let allowance = self.timeout + CheckpointTransfer.allowance(bytes: checkpointBytes)
        locked { restoreAllowance = allowance }
        guard rank == 0 else { return }
        let body = try JSONEncoder().encode(CheckpointCommand(prefix: prefix, epoch: epoch))
        let command = Message(body: [UInt8](body), control: Control(cmd: .loadCheckpoint))
        let office = postOffice
        let failures = Mutex([Int: String]())
        DispatchQueue.concurrentPerform(iterations: office.numServers) { server in
            do {
                _ = try office.request(command, to: NodeID.server(server), timeout: allowance)
            } catch {
                failures.withLock { $0[server] = "\(error)" }
            }
        }
        if let (server, error) = failures.withLock({ $0.min { $0.key < $1.key } }) {
            throw KVStoreError.remote("server \(server) cannot restore checkpoint \(epoch): \(error)")
        }
    }
}
