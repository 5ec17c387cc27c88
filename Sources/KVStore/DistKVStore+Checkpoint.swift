import Foundation
import SwiftPSCluster
import SwiftPSTransport

extension DistKVStore {
    /// Resumes the servers from checkpoint `epoch` under `prefix` (its manifest must exist): rank 0
    /// sends LOAD_CHECKPOINT to every server and waits for each to acknowledge, before the keys are
    /// initialized. Each server then takes its slices' weights **and** optimizer state (momentum,
    /// Adam moments, update counts) from the checkpoint as the keys are initialized, re-sliced by
    /// parameter name and offset whatever the number of servers that wrote it. Other ranks do nothing.
    ///
    /// Each server reads the checkpoint's files from the scheduler before it answers: the wait for
    /// it is this store's deadline plus `CheckpointTransfer.allowance` for `checkpointBytes`, about
    /// what one server reads (every shard file, or the params and states files).
    ///
    /// Throws `KVStoreError.remote` naming the server and the file it could not read.
    public func loadCheckpoint(prefix: String, epoch: Int, checkpointBytes: Int = 0) throws {
        guard rank == 0 else { return }
        let timeout = self.timeout + CheckpointTransfer.allowance(bytes: checkpointBytes)
        let body = try JSONEncoder().encode(CheckpointCommand(prefix: prefix, epoch: epoch))
        let command = Message(body: [UInt8](body), control: Control(cmd: .loadCheckpoint))
        for server in 0..<postOffice.numServers {
            do {
                _ = try postOffice.request(command, to: NodeID.server(server), timeout: timeout)
            } catch let error as ClusterError {
                throw KVStoreError.remote("server \(server) cannot restore checkpoint \(epoch): \(error)")
            }
        }
    }
}
