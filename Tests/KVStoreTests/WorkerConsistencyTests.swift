import Foundation
import SwiftPSKVStore
import SwiftPSOptimizer
import SwiftPSTensor
import Testing

/// Workers that do not train what worker 0 set up fail at once on the servers' checks, naming what
/// differs (MXNet checks neither the keys nor the optimizer).
@Suite(.serialized) struct WorkerConsistencyTests {
    @Test func aParameterOfAnotherShapeIsNamedWithBothShapes() throws {
        let cluster = try KVCluster(workers: 2, servers: 1)
        defer { cluster.stop() }
        let results = cluster.onWorkers { rank, store in
            let weight = NDArray(shape: rank == 0 ? [2, 3] : [3, 2])
            try store.initialize(["fc_weight", "fc_bias"], values: [weight, NDArray(shape: [4])])
        }
        #expect(results[0] == nil)
        let text = results[1] ?? ""
        #expect(
            text.contains("worker 1's key 0 is 'fc_weight' of shape (3, 2), worker 0's is 'fc_weight' of shape (2, 3)"))
        #expect(text.contains("every worker must train the same network"), "\(text)")
    }

    @Test func aWorkerWithMoreParametersIsNamed() throws {
        let cluster = try KVCluster(workers: 2, servers: 1)
        defer { cluster.stop() }
        let results = cluster.onWorkers { rank, store in
            let names = rank == 0 ? ["fc_weight"] : ["fc_weight", "fc_bias"]
            try store.initialize(names, values: names.map { _ in NDArray(shape: [4]) })
        }
        #expect(results[0] == nil)
        #expect(results[1]?.contains("worker 1 has 2 parameters to train, worker 0 has 1") == true, "\(results)")
    }

    @Test func anotherOptimizerIsNamedFieldByField() throws {
        let cluster = try KVCluster(workers: 2, servers: 1)
        defer { cluster.stop() }
        let results = cluster.onWorkers { rank, store in
            try store.initialize(["fc_weight"], values: [NDArray(shape: [4])])
            try store.setOptimizer(
                OptimizerConfig(name: "sgd", learningRate: rank == 0 ? 0.1 : 0.2, rescaleGrad: rank == 0 ? 0.5 : 0.25))
        }
        #expect(results[0] == nil)
        let text = results[1] ?? ""
        #expect(
            text.contains(
                "worker 1's optimizer differs from worker 0's: learningRate 0.2 on worker 1, 0.1 on worker 0; rescaleGrad 0.25 on worker 1, 0.5 on worker 0"
            ), "\(text)")
        #expect(text.contains("the same --batch-size"), "\(text)")
    }
}
