import Foundation
import SwiftPSGraph
import SwiftPSKVStore
import SwiftPSModule
import SwiftPSTensor
import Testing

/// Weights still in flight when a module's arrays are read another way than through its own next
/// `forward`: by a module bound on its parameters, or across a rebind. The answers to the worker are
/// held back (a network delay) so that reading too early is certain to see the old weights.
@Suite(.serialized) struct InFlightWeightTests {
    typealias Helpers = WorkerUpdateTests

    static func dataShapes() -> [DataDesc] { [DataDesc(name: "data", shape: [Helpers.batch, 4])] }

    /// Runs `body` on the one worker of a 1-worker, 1-server cluster with its store and a switch that
    /// holds the answers to the worker back (by 0.3 s) or lets them through.
    static func onOneWorker(_ body: @escaping @Sendable (DistKVStore, (Bool) -> Void) throws -> Void) throws {
        let cluster = try KVCluster(workers: 1, servers: 1)
        defer { cluster.stop() }
        let address = cluster.workerOffices[0].myNode.address
        let errors = cluster.onWorkers { _, store in
            try body(store) { hold in cluster.network.setDelay(hold ? 0.3 : 0, to: address) }
        }
        #expect(errors.allSatisfy { $0 == nil }, "\(errors)")
    }

    /// The weights the servers hold (update on the kvstore): what the module must see.
    static func serverWeights(_ module: Module, _ store: DistKVStore) throws -> [String: [Float]] {
        var weights: [String: [Float]] = [:]
        for name in try module.getParams().args.keys {
            let array = NDArray(shape: try #require(module.executor?.argDict[name]).shape)
            try store.pull(name, into: array)
            try store.wait(name)
            weights[name] = array.toArray()
        }
        return weights
    }

    /// A module bound with `sharedModule:` reads the first one's weights: its forward waits for the
    /// updates in flight (MXNet's engine orders it after them), in both places the optimizer runs.
    @Test(arguments: [true, false]) func aModuleBoundOnAnothersParametersWaitsForItsUpdates(onKVStore: Bool) throws {
        try Self.onOneWorker { store, holdAnswers in
            let trainer = try Helpers.module(updateOnKVStore: onKVStore, seed: 7)
            try trainer.initOptimizer(kvstore: store, optimizer: Helpers.optimizer)
            let reader = try Module(symbol: try Helpers.net(), seed: 7)
            try reader.bind(dataShapes: Self.dataShapes(), forTraining: false, sharedModule: trainer)
            let batch = Helpers.batch(rank: 0, step: 0)
            try trainer.forward(batch, isTrain: true)
            try trainer.backward()
            holdAnswers(true)
            try trainer.update()
            try reader.forward(DataBatch(data: batch.data, label: []), isTrain: false)
            let seen = try reader.getOutputs()[0].toArray()
            holdAnswers(false)
            try trainer.forward(batch, isTrain: false)
            #expect(try trainer.getOutputs()[0].toArray() == seen, "the reader saw the weights before the update")
        }
    }

    /// A rebind (`forceRebind`) right after `update()` keeps the updated weights: the answers land
    /// before the parameters are copied into the new executor.
    @Test func aRebindKeepsTheWeightsInFlight() throws {
        try Self.onOneWorker { store, holdAnswers in
            let module = try Helpers.module(updateOnKVStore: true, seed: 7)
            try module.initOptimizer(kvstore: store, optimizer: Helpers.optimizer)
            holdAnswers(true)
            try module.forwardBackwardUpdate(Helpers.batch(rank: 0, step: 0))
            try module.bind(
                dataShapes: Self.dataShapes(),
                labelShapes: [DataDesc(name: "softmax_label", shape: [Helpers.batch])], forceRebind: true)
            holdAnswers(false)
            let kept = try module.getParams().args.mapValues { $0.toArray() }
            #expect(
                kept == (try Self.serverWeights(module, store)), "the rebind copied the weights from before the update")
        }
    }
}
