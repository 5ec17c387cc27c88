import Foundation
import SwiftPSKVStore
import SwiftPSOptimizer
import SwiftPSTensor
import Testing

/// fp16 gradient compression through an in-process cluster: pushes and the answers to pushpulls
/// travel in half precision, the servers sum and update in float32, and plain pulls return float32.
/// Expected values go through Swift's own `Float16`, not the code under test.
@Suite(.serialized) struct HalfCompressionTests {
    /// `value` rounded to half precision and back.
    static func rounded(_ value: Float) -> Float { Float(Float16(value)) }

    static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    /// Without an optimizer the store becomes the float32 sum of the two rounded pushes; the pushpull
    /// answers it rounded, a plain pull exactly.
    @Test func pushesAndAnswersAreHalfPrecisionAndPullsAreExact() throws {
        let grads: [[Float]] = [[0.1, 1000.3, -3e-6, 0.3333, 60_000], [0.2, 0.1, 1e-8, 0.3333, 0]]
        let sum = (0..<5).map { Self.rounded(grads[0][$0]) + Self.rounded(grads[1][$0]) }
        let cluster = try KVCluster(workers: 2, servers: 1)
        defer { cluster.stop() }
        let results = cluster.onWorkers { rank, store in
            try store.setGradientCompression(GradientCompression(kind: "fp16"))
            try store.initialize(["w"], values: [NDArray(shape: [5])])
            let out = NDArray(shape: [5])
            try store.pushPull("w", NDArray(grads[rank]), into: out, priority: 0)
            try store.wait("w")
            #expect(Self.bits(out.toArray()) == Self.bits(sum.map(Self.rounded)), "pushpull answer \(out.toArray())")
            #expect(out.toArray()[4] == 60_000, "60000 is a half-precision value (a multiple of 32, the spacing there)")
            let exact = NDArray(shape: [5])
            try store.pull("w", into: exact, priority: 0)
            try store.wait("w")
            #expect(Self.bits(exact.toArray()) == Self.bits(sum), "plain pull \(exact.toArray())")
            #expect(exact.toArray()[1] != out.toArray()[1], "1000.4 is not a half-precision value")
        }
        #expect(results == [nil, nil])
        #expect(cluster.shutdown().allSatisfy { $0 == nil })
    }

    /// A gradient beyond half precision's range is refused at the push, naming the key (the servers'
    /// sum would turn infinite); weights beyond it are answered in float32, exactly.
    @Test func valuesBeyondHalfPrecisionAreRefusedOrSentInFloat32() throws {
        let cluster = try KVCluster(workers: 2, servers: 1)
        defer { cluster.stop() }
        let results = cluster.onWorkers { _, store in
            try store.setGradientCompression(GradientCompression(kind: "fp16"))
            try store.initialize(["w"], values: [NDArray([1e5, 1.1])])
            try store.setOptimizer(OptimizerConfig(name: "sgd", learningRate: 0, wd: 0, rescaleGrad: 1))
            let out = NDArray(shape: [2])
            do {
                try store.pushPull("w", NDArray([7e4, 0]), into: out, priority: 0)
                Issue.record("a gradient of 7e4 was pushed in half precision")
            } catch {
                #expect("\(error)".contains("cannot carry the gradient of 'w': 1 of its values"), "\(error)")
            }
            try store.pushPull("w", NDArray([1, 1]), into: out, priority: 0)
            try store.wait("w")
            #expect(out.toArray() == [1e5, 1.1], "answered in float32: \(out.toArray())")
        }
        #expect(results == [nil, nil])
        #expect(cluster.shutdown().allSatisfy { $0 == nil })
    }

    /// A key split over two servers: each part travels in half precision and the optimizer runs on
    /// the float32 sum; the weights stay float32 on the servers.
    @Test func splitKeysUpdateInFloat32() throws {
        let grads: [[Float]] = [[0.3, -0.7, 1.1, 0.01, 2.5, -4], [0.3, 0.2, -0.6, 0.02, 0.5, 1]]
        let start: [Float] = [10, 10.1, 10.2, 10.3, 10.4, 10.5]
        let weights = (0..<6).map { start[$0] - 0.5 * (Self.rounded(grads[0][$0]) + Self.rounded(grads[1][$0])) }
        let cluster = try KVCluster(workers: 2, servers: 2, bigArrayBound: 4)
        defer { cluster.stop() }
        let results = cluster.onWorkers { rank, store in
            try store.setGradientCompression(GradientCompression(kind: "fp16"))
            try store.initialize(["w"], values: [NDArray(start)])
            try store.setOptimizer(OptimizerConfig(name: "sgd", learningRate: 0.5, wd: 0, rescaleGrad: 1))
            #expect(store.placement(of: "w")?.slices.count == 2)
            let out = NDArray(shape: [6])
            try store.pushPull("w", NDArray(grads[rank]), into: out, priority: 0)
            try store.wait("w")
            #expect(Self.bits(out.toArray()) == Self.bits(weights.map(Self.rounded)), "\(out.toArray())")
            try store.pull("w", into: out, priority: 0)
            try store.wait("w")
            #expect(Self.bits(out.toArray()) == Self.bits(weights), "\(out.toArray())")
        }
        #expect(results == [nil, nil])
        #expect(cluster.shutdown().allSatisfy { $0 == nil })
    }
}
