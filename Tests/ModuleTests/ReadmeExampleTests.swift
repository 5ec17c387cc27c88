import Foundation
import Testing

@testable import SwiftPS

/// The library example of README.md, kept here so that it always compiles; the test runs it on the
/// first 512 training images for one epoch (the README's version trains 10 epochs on all of them).
@Suite struct ReadmeExampleTests {
    func readmeExample(numEpoch: Int, batches: Int?, prefix: String) throws -> NDArray {
        let net = try Models.mlp()  // or Symbol.fromJSON / your own Symbol graph
        let train = try FashionMNIST.train(batchSize: 128, flat: true, batchesPerEpoch: batches)
        let test = try FashionMNIST.test(batchSize: 128, flat: true, batchesPerEpoch: batches)
        let module = try Module(symbol: net)
        try module.fit(
            train, evalData: test, evalMetric: Accuracy(),
            batchEndCallbacks: [try Speedometer(batchSize: 128, frequent: 100).callback],
            optimizer: OptimizerConfig(name: "sgd", learningRate: 0.1, wd: 1e-4, momentum: 0.9),
            initializer: Xavier(), numEpoch: numEpoch)
        try module.saveCheckpoint(prefix: prefix, epoch: numEpoch, saveOptimizerStates: true)
        let probabilities = try module.predict(test)[0][0]  // padding trimmed
        return probabilities
    }

    @Test(.enabled(if: FashionMNISTAvailable.value, "needs the dataset-fashion-mnist package (scripts/setup)"))
    func theReadmeExampleRuns() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let probabilities = try readmeExample(numEpoch: 1, batches: 4, prefix: dir.path + "/mlp")
        #expect(probabilities.shape == [512, 10])
        #expect(try ParamsFile.load(dir.path + "/mlp-0001.params").count == 6)
    }
}

enum FashionMNISTAvailable {
    static let value = (try? AtomicFile.read(FashionMNIST.defaultDirectory + "/t10k-labels-idx1-ubyte.gz")) != nil
}

/// A fresh temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-readme-\(UUID())").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

@Suite struct SampleCountTests {
    @Test(.enabled(if: FashionMNISTAvailable.value, "needs the dataset-fashion-mnist package (scripts/setup)"))
    func theTrainingSetSizeComesFromTheHeader() throws {
        #expect(try FashionMNIST.trainSampleCount() == 60_000)
        #expect(throws: DataIterError.self) { try FashionMNIST.trainSampleCount(dataDir: "/nonexistent") }
    }
}
