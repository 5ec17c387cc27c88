import Foundation
import Testing

@testable import SwiftPSGraph
@testable import SwiftPSKVStore
@testable import SwiftPSModule
@testable import SwiftPSOptimizer
@testable import SwiftPSTensor

/// Two Gaussian blobs in 2-D, class 0 around (-1,-1) and class 1 around (1,1).
func blobs(_ n: Int, seed: UInt64) -> (NDArray, NDArray) {
    var rng = RandomGenerator(seed: seed)
    let x = NDArray(shape: [n, 2])
    let y = NDArray(shape: [n])
    for i in 0..<n {
        let c = Float(i % 2)
        y[flat: i] = c
        x[flat: 2 * i] = (c * 2 - 1) + rng.normal(std: 0.5)
        x[flat: 2 * i + 1] = (c * 2 - 1) + rng.normal(std: 0.5)
    }
    return (x, y)
}

/// data → FC(hidden) → relu → [Dropout(0.5)] → FC(2) → SoftmaxOutput.
func smallNet(hidden: Int = 8, dropout: Bool = false) throws -> Symbol {
    let data = Symbol.variable("data")
    let fc1 = try Symbol.fullyConnected(data, numHidden: hidden, name: "fc1")
    let relu = try Symbol.activation(fc1, actType: "relu", name: "relu1")
    let act = dropout ? try Symbol.dropout(relu, p: 0.5, name: "drop1") : relu
    let fc2 = try Symbol.fullyConnected(act, numHidden: 2, name: "fc2")
    return try Symbol.softmaxOutput(fc2, name: "softmax")
}

@Suite struct ModuleStateTests {
    @Test func callsInTheWrongStateThrowTheTypedError() throws {
        let module = try Module(symbol: try smallNet())
        let (x, y) = blobs(8, seed: 1)
        let batch = DataBatch(data: [x], label: [y])
        #expect(throws: ModuleError.wrongState(call: "forward", needs: "bind")) {
            try module.forward(batch, isTrain: true)
        }
        #expect(throws: ModuleError.wrongState(call: "initParams", needs: "bind")) {
            try module.initParams()
        }
        try module.bind(
            dataShapes: [DataDesc(name: "data", shape: [8, 2])],
            labelShapes: [
                DataDesc(name: "softmax_label", shape: [8])
            ])
        #expect(throws: ModuleError.wrongState(call: "forward", needs: "initParams")) {
            try module.forward(batch, isTrain: true)
        }
        try module.initParams(initializer: Xavier())
        try module.forwardBackward(batch)
        #expect(throws: ModuleError.wrongState(call: "update", needs: "initOptimizer")) { try module.update() }
        #expect(throws: ModuleError.wrongState(call: "getInputGrads", needs: "bind(inputsNeedGrad: true)")) {
            try module.getInputGrads()
        }
    }

    @Test func unknownDataNameSuggestsCandidates() throws {
        do {
            _ = try Module(symbol: try smallNet(), dataNames: ["image"])
            Issue.record("expected an error")
        } catch let error as ModuleError {
            let text = error.description
            #expect(text.contains("'image'"))
            #expect(text.contains("Did you mean one of:\n\tdata\n\tsoftmax_label"))
            #expect(!text.contains("fc1_weight"), "parameters are not suggested, as in MXNet")
        }
    }

    @Test func initParamsRejectsMissingAndExtraNames() throws {
        let module = try Module(symbol: try smallNet())
        try module.bind(dataShapes: [DataDesc(name: "data", shape: [4, 2])])
        let partial = ["fc1_weight": NDArray(shape: [8, 2], repeating: 0.5)]
        #expect(throws: ModuleError.missingParameter("fc1_bias")) {
            try module.initParams(initializer: nil, argParams: partial)
        }
        try module.initParams(initializer: Zero(), argParams: partial, allowMissing: true)
        let (args, _) = try module.getParams()
        #expect(args["fc1_weight"]!.toArray() == [Float](repeating: 0.5, count: 16))
        #expect(args["fc2_weight"]!.toArray() == [Float](repeating: 0, count: 16))
        args["fc1_weight"]![flat: 0] = 99
        #expect(try module.getParams().args["fc1_weight"]![flat: 0] == 0.5, "getParams returns copies")
    }

    /// MXNet's `set_params`: names the module lacks are ignored, unless `allowMissing` (which copies
    /// what is given and keeps the rest as it is) refuses them without `allowExtra`; a shape that
    /// differs is refused even when the element count matches.
    @Test func setParamsFollowsMXNetForMissingExtraAndMisshapenNames() throws {
        let module = try Module(symbol: try smallNet())
        try module.bind(dataShapes: [DataDesc(name: "data", shape: [4, 2])])
        try module.initParams(initializer: Constant(value: 0.25))
        var given = try module.getParams().args
        for (name, array) in given { given[name] = NDArray(shape: array.shape, repeating: 1) }
        given["fc9_weight"] = NDArray(shape: [1])
        try module.setParams(given, [:])
        #expect(try module.getParams().args["fc2_bias"]!.toArray() == [1, 1], "extra names are ignored")

        let partial = ["fc1_weight": NDArray(shape: [8, 2], repeating: 3), "fc9_weight": NDArray(shape: [1])]
        #expect(
            throws: ModuleError.unknownNames(
                kind: "arg_params", names: ["fc9_weight"],
                candidates: ["fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"])
        ) { try module.setParams(partial, [:], allowMissing: true) }
        #expect(throws: ModuleError.missingParameter("fc1_bias")) { try module.setParams(partial, [:]) }
        try module.setParams(partial, [:], allowMissing: true, allowExtra: true)
        let args = try module.getParams().args
        #expect(args["fc1_weight"]!.toArray() == [Float](repeating: 3, count: 16))
        #expect(args["fc2_weight"]!.toArray() == [Float](repeating: 1, count: 16), "missing ones keep their values")

        let transposed = given.merging(["fc1_weight": NDArray(shape: [2, 8], repeating: 5)]) { $1 }
        #expect(
            throws: ModuleError.badInput("parameter fc1_weight has shape [2, 8] but the module expects [8, 2]")
        ) { try module.setParams(transposed, [:]) }
    }

    /// A batch's inputs are matched by name in the order the iterator lists them (MXNet loads a batch
    /// in its `data_shapes` order), not by their position in the module's `dataNames`: an iterator
    /// listing `b` before `a` must not swap two inputs of the same shape.
    @Test func inputsListedInAnotherOrderAreMatchedByName() throws {
        let net = try Symbol.concat([Symbol.variable("a"), Symbol.variable("b")], dim: 1, name: "joined")
        let module = try Module(symbol: net, dataNames: ["a", "b"], labelNames: [])
        let a = NDArray(shape: [2, 1], repeating: 1)
        let b = NDArray(shape: [2, 1], repeating: 2)
        let data = try NDArrayIter(data: [("b", b), ("a", a)], batchSize: 2)
        try module.bind(dataShapes: data.provideData, forTraining: false)
        try module.initParams()
        let out = try #require(try module.predict(data).first?.first)
        #expect(out.toArray() == [1, 2, 1, 2], "a, then b, whatever order the iterator lists them in")

        let described = DataBatch(
            data: [a, b], label: [],
            providedData: [DataDesc(name: "a", shape: [2, 1]), DataDesc(name: "b", shape: [2, 1])])
        try module.forward(described, isTrain: false)
        #expect(try module.getOutputs()[0].toArray() == [1, 2, 1, 2], "a batch's own descriptions come first")
        let wrong = DataBatch(
            data: [a, b], label: [],
            providedData: [DataDesc(name: "a", shape: [2, 1]), DataDesc(name: "c", shape: [2, 1])])
        #expect(throws: ModuleError.self) { try module.forward(wrong, isTrain: false) }
    }

    /// A label the iterator names otherwise than the module (its default `softmax_label` for a
    /// regression's `lro_label`, which `bind` only warns about) still goes to the module's label, by
    /// position, rather than being dropped.
    @Test func aLabelNamedOtherwiseGoesToTheModulesLabel() throws {
        let net = try Symbol.linearRegressionOutput(
            try Symbol.fullyConnected(Symbol.variable("data"), numHidden: 1, name: "fc"), name: "lro")
        let module = try Module(symbol: net, labelNames: ["lro_label"])
        let x = NDArray(shape: [4, 2], repeating: 1)
        let y = NDArray([1, 2, 3, 4], shape: [4, 1])
        let data = try NDArrayIter(data: [("data", x)], label: [("softmax_label", y)], batchSize: 4)
        try module.bind(dataShapes: data.provideData, labelShapes: data.provideLabel)
        try module.initParams(initializer: Xavier())
        try module.forward(try #require(try data.next()), isTrain: true)
        #expect(module.executor?.argDict["lro_label"]?.toArray() == [1, 2, 3, 4])
    }

    /// MXNet's feature extraction: a module on an inner layer (`internals`) loads the whole network's
    /// parameters file, taking the arrays it has names for.
    @Test func aModuleCutAtAnInnerLayerLoadsTheWholeNetworksParams() throws {
        let whole = try Module(symbol: try smallNet())
        try whole.bind(dataShapes: [DataDesc(name: "data", shape: [4, 2])])
        try whole.initParams(initializer: Xavier())
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-cut-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("whole.params").path
        try whole.saveParams(path)

        let cut = try #require(try smallNet().internals.output(named: "relu1_output"))
        let features = try Module(symbol: cut, labelNames: [])
        try features.bind(dataShapes: [DataDesc(name: "data", shape: [4, 2])], forTraining: false)
        try features.loadParams(path)
        let args = try features.getParams().args
        #expect(Set(args.keys) == ["fc1_weight", "fc1_bias"])
        #expect(args["fc1_weight"]!.toArray() == (try whole.getParams().args["fc1_weight"]!.toArray()))
    }
}

@Suite struct ModuleTrainingTests {
    /// MXNet's `for epoch in range(begin_epoch, num_epoch)`: a begin past the end trains nothing
    /// (it trapped on an invalid range before), and the weights are the initial ones.
    @Test func fitWithBeginEpochPastNumEpochTrainsNothing() throws {
        let (x, y) = blobs(64, seed: 2)
        let train = try NDArrayIter(data: x, label: y, batchSize: 16)
        let module = try Module(symbol: try smallNet(), seed: 5)
        var epochs: [Int] = []
        try module.fit(
            train, epochEndCallbacks: [{ epoch, _, _, _ in epochs.append(epoch) }], initializer: Constant(value: 0.25),
            beginEpoch: 3, numEpoch: 2)
        #expect(epochs.isEmpty)
        let weight = try #require(try module.getParams().args["fc1_weight"])
        #expect(weight.toArray() == [Float](repeating: 0.25, count: 16))
    }

    /// A learning rate far too large overflows the weights in the first epoch: `fit` with
    /// `stopOnNonFiniteParams` first stops at that epoch's end, naming every parameter, and the
    /// checkpoint callback after it never sees the diverged weights. A sane rate trains to the end.
    @Test func stopOnNonFiniteParamsEndsADivergedFitBeforeItsCheckpoint() throws {
        let (x, y) = blobs(64, seed: 2)
        var checkpointed: [Int] = []
        let checkpoint: EpochEndCallback = { epoch, _, _, _ in checkpointed.append(epoch) }
        let diverging = try Module(symbol: try smallNet(), seed: 5)
        #expect(throws: ModuleError.diverged(epoch: 0, names: ["fc1_bias", "fc1_weight", "fc2_bias", "fc2_weight"])) {
            try diverging.fit(
                try NDArrayIter(data: x, label: y, batchSize: 16),
                epochEndCallbacks: [stopOnNonFiniteParams(), checkpoint],
                optimizer: OptimizerConfig(name: "sgd", learningRate: 1e38), initializer: Xavier(), numEpoch: 3)
        }
        #expect(checkpointed.isEmpty)

        let sane = try Module(symbol: try smallNet(), seed: 5)
        try sane.fit(
            try NDArrayIter(data: x, label: y, batchSize: 16),
            epochEndCallbacks: [stopOnNonFiniteParams(), checkpoint],
            optimizer: OptimizerConfig(name: "sgd", learningRate: 0.1), initializer: Xavier(), numEpoch: 3)
        #expect(checkpointed == [0, 1, 2])
    }

    /// MXNet's `mx.callback.do_checkpoint(prefix, period)` in `fit`: every `period` epochs the symbol
    /// and the weights, numbered from 1, which `Module.load` reads back.
    @Test func doCheckpointWithAPrefixWritesLoadableCheckpoints() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-docheckpoint-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (x, y) = blobs(64, seed: 2)
        let module = try Module(symbol: try smallNet(), seed: 5)
        try module.fit(
            try NDArrayIter(data: x, label: y, batchSize: 16),
            epochEndCallbacks: [doCheckpoint(prefix: dir + "/blobs", period: 2)], initializer: Xavier(), numEpoch: 4)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == [
                "blobs-0002.params", "blobs-0004.params", "blobs-symbol.json",
            ])
        // As MXNet's: a loaded module's parameters are set at bind, with no initParams call.
        let loaded = try Module.load(prefix: dir + "/blobs", epoch: 4)
        try loaded.bind(dataShapes: [DataDesc(name: "data", shape: [16, 2])], forTraining: false)
        #expect(loaded.paramsInitialized)
        let trained = try module.getParams().args
        let restored = try loaded.getParams().args
        #expect(!trained.isEmpty && Set(restored.keys) == Set(trained.keys))
        for (name, value) in restored {
            #expect(value.toArray() == trained[name]?.toArray(), "\(name) differs from the trained weights")
        }
    }

    /// A damaged optimizer-state file: the error names it.
    @Test func corruptOptimizerStatesNameTheFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-\(UUID()).states").path
        try Data("junk\n".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            try LocalKVStore().loadOptimizerStates(from: path)
            Issue.record("a damaged state file must not load")
        } catch let error as OptimizerError {
            #expect("\(error)".contains(path), "\(error)")
        }
    }

    @Test func fitLearnsTwoBlobsAndScoreAgrees() throws {
        let (x, y) = blobs(256, seed: 2)
        let train = try NDArrayIter(data: x, label: y, batchSize: 32, shuffle: true, seed: 3)
        let (vx, vy) = blobs(100, seed: 4)
        let val = try NDArrayIter(data: vx, label: vy, batchSize: 32)
        let module = try Module(symbol: try smallNet(), seed: 5)
        let metric = Accuracy()
        try module.fit(
            train, evalData: val, evalMetric: metric,
            optimizer: OptimizerConfig(name: "sgd", learningRate: 0.5, momentum: 0.9),
            initializer: Xavier(), numEpoch: 5)
        let result = try module.score(val, Accuracy())
        #expect(result[0].value > 0.95)
        // 100 samples in batches of 32: the last batch has 28 padding rows that score leaves out.
        let probs = try module.predict(val)[0][0]
        #expect(probs.shape == [100, 2])
        var correct = 0
        for i in 0..<100 where (probs[i, 1] > probs[i, 0] ? 1 : 0) == Int(vy[flat: i]) { correct += 1 }
        #expect(abs(Double(correct) / 100 - result[0].value) < 1e-9, "predict and score agree sample by sample")
    }

    @Test func predictTrimsPaddingAndMergesBatches() throws {
        let module = try Module(symbol: try smallNet(), seed: 1)
        let (x, _) = blobs(10, seed: 6)
        let iter = try NDArrayIter(data: x, batchSize: 4)
        try module.bind(dataShapes: iter.provideData, forTraining: false)
        try module.initParams(initializer: Xavier())
        let merged = try module.predict(iter)
        #expect(merged.count == 1 && merged[0].count == 1)
        #expect(merged[0][0].shape == [10, 2])
        let perBatch = try module.predict(iter, mergeBatches: false)
        #expect(perBatch.map { $0[0].shape[0] } == [4, 4, 2])
        // Row 9 equals a one-sample forward of sample 9, computed by hand from the parameters.
        let (args, _) = try module.getParams()
        var hidden = [Float](repeating: 0, count: 8)
        for h in 0..<8 {
            var v = args["fc1_bias"]![flat: h]
            for j in 0..<2 { v += args["fc1_weight"]![h, j] * x[9, j] }
            hidden[h] = max(v, 0)
        }
        var logits = [Float](repeating: 0, count: 2)
        for k in 0..<2 {
            logits[k] = args["fc2_bias"]![flat: k]
            for h in 0..<8 { logits[k] += args["fc2_weight"]![k, h] * hidden[h] }
        }
        let m = max(logits[0], logits[1])
        let e = logits.map { expf($0 - m) }
        #expect(abs(merged[0][0][9, 1] - e[1] / (e[0] + e[1])) < 1e-5)
    }

    /// With Dropout too: `fit` restarts the masks' stream every epoch from the seed and the epoch, so the
    /// resumed run draws the masks the continuous one drew (it drew different ones before).
    @Test(arguments: [false, true])
    func checkpointRoundTripPredictsBitIdenticallyAndResumesExactly(dropout: Bool) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-ckpt-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prefix = dir + "/net"
        let (x, y) = blobs(64, seed: 7)
        let config = OptimizerConfig(name: "sgd", learningRate: 0.1, momentum: 0.9)
        func iter() throws -> NDArrayIter { try NDArrayIter(data: x, label: y, batchSize: 16, shuffle: true, seed: 8) }

        // Continuous: 4 epochs.
        let continuous = try Module(symbol: try smallNet(dropout: dropout), seed: 9)
        try continuous.fit(try iter(), optimizer: config, initializer: Xavier(), numEpoch: 4)

        // Interrupted: 2 epochs, checkpoint with optimizer state, then resume for 2 more.
        let first = try Module(symbol: try smallNet(dropout: dropout), seed: 9)
        let it = try iter()
        try first.fit(it, optimizer: config, initializer: Xavier(), numEpoch: 2)
        try first.saveCheckpoint(prefix: prefix, epoch: 2, saveOptimizerStates: true)
        #expect(FileManager.default.fileExists(atPath: prefix + "-symbol.json"))
        #expect(FileManager.default.fileExists(atPath: prefix + "-0002.params"))
        #expect(FileManager.default.fileExists(atPath: prefix + "-0002.states"))

        let resumed = try Module.load(prefix: prefix, epoch: 2, loadOptimizerStates: true, seed: 9)
        let it2 = try iter()
        it2.reset()
        it2.reset()  // replay the two epochs' shuffles: the data order continues exactly
        try resumed.fit(it2, optimizer: config, initializer: Xavier(), beginEpoch: 2, numEpoch: 4)
        let a = try continuous.getParams().args
        let b = try resumed.getParams().args
        for (name, value) in a { #expect(value.toArray() == b[name]!.toArray(), "\(name) differs after resume") }

        // A loaded checkpoint predicts bit-identically.
        try resumed.saveCheckpoint(prefix: prefix, epoch: 4)
        let loaded = try Module.load(prefix: prefix, epoch: 4)
        let eval = try NDArrayIter(data: x, batchSize: 16)
        try loaded.bind(dataShapes: eval.provideData, forTraining: false)
        try loaded.initParams()
        try resumed.bind(dataShapes: eval.provideData, forTraining: false, forceRebind: true)
        #expect(try loaded.predict(eval)[0][0].toArray() == resumed.predict(eval)[0][0].toArray())
    }

    /// A batch of another shape with the bound element count is refused, not read as other rows.
    @Test func aBatchOfAnotherShapeIsRefusedNotMisread() throws {
        let module = try Module(symbol: try smallNet(), seed: 1)
        try module.bind(dataShapes: [DataDesc(name: "data", shape: [4, 2])], forTraining: false)
        try module.initParams(initializer: Xavier())
        try module.forward(DataBatch(data: [NDArray(shape: [4, 2], repeating: 1)], label: []))
        #expect(throws: ModuleError.self) {
            try module.forward(DataBatch(data: [NDArray(shape: [2, 4], repeating: 1)], label: []))
        }
        #expect(throws: ModuleError.self) {
            try module.forward(DataBatch(data: [NDArray(shape: [8], repeating: 1)], label: []))
        }
        // Rows kept whole (4 rows of 1x2) are the same input.
        try module.forward(DataBatch(data: [NDArray(shape: [4, 1, 2], repeating: 1)], label: []))
    }

    /// A batch of another size runs on an executor of its shapes over the same parameters (MXNet's
    /// automatic `reshape` in `forward`): one sample predicts what it predicts within a full batch, a
    /// smaller batch trains the very weights the bound shape then uses, and going back reuses the
    /// bound executor instead of allocating again.
    @Test func anotherBatchSizeReshapesOnTheSameParameters() throws {
        let module = try Module(symbol: try smallNet(), seed: 3)
        #expect(throws: ModuleError.wrongState(call: "reshape", needs: "bind")) {
            try module.reshape(dataShapes: [DataDesc(name: "data", shape: [1, 2])])
        }
        let (x, y) = blobs(4, seed: 4)
        try module.bind(
            dataShapes: [DataDesc(name: "data", shape: [4, 2])],
            labelShapes: [DataDesc(name: "softmax_label", shape: [4])])
        try module.initParams(initializer: Xavier())
        try module.initOptimizer(optimizer: OptimizerConfig(name: "sgd", learningRate: 0.5))
        let bound = try #require(module.executor)
        try module.forward(DataBatch(data: [x], label: [y]), isTrain: false)
        let whole = try module.getOutputs()[0].toArray()

        // One sample, no label: outputs of one row, equal to that row's in the full batch.
        try module.forward(DataBatch(data: [x.slice(2..<3)], label: []), isTrain: false)
        #expect(module.dataShapes == [DataDesc(name: "data", shape: [1, 2])])
        let one = try module.getOutputs()[0]
        #expect(one.shape == [1, 2])
        #expect(zip(one.toArray(), whole[4..<6]).allSatisfy { abs($0 - $1) < 1e-6 }, "\(one.toArray()) vs \(whole)")
        #expect(module.executor !== bound)

        // Three samples train the shared weights; the bound shape then sees them, on its own executor.
        let before = try module.getParams().args["fc1_weight"]!.toArray()
        try module.forwardBackward(DataBatch(data: [x.slice(0..<3)], label: [y.slice(0..<3)]))
        try module.update()
        let after = try module.getParams().args["fc1_weight"]!.toArray()
        #expect(after != before, "the smaller batch did not train the weights")
        try module.forward(DataBatch(data: [x], label: [y]), isTrain: false)
        #expect(module.executor === bound, "the bound executor is used again")
        #expect(bound.argDict["fc1_weight"]!.toArray() == after)
        #expect(try module.getOutputs()[0].toArray() != whole)

        // Shapes the parameters cannot take are refused, naming them; the module keeps its shapes.
        let wide = DataBatch(data: [NDArray(shape: [4, 3], repeating: 1)], label: [])
        let error = #expect(throws: ModuleError.self) { try module.forward(wide) }
        #expect("\(String(describing: error))".contains("[4, 3]"), "\(String(describing: error))")
        #expect(module.executor === bound && module.dataShapes == [DataDesc(name: "data", shape: [4, 2])])

        // Many sizes: the last few executors are kept, and every size still computes.
        for rows in 1...4 {
            try module.forward(DataBatch(data: [x.slice(0..<rows)], label: []), isTrain: false)
            #expect(try module.getOutputs()[0].shape == [rows, 2])
        }
        #expect(module.shapedExecutors.count <= Module.shapedExecutorLimit)
    }

    /// A network ending in MakeLoss trains on its own output, without labels, as MXNet users write
    /// their losses: each epoch lowers the `loss` metric (the output's mean) that fit reports.
    @Test func aMakeLossNetworkTrainsDownItsLoss() throws {
        let fc = try Symbol.fullyConnected(Symbol.variable("data"), numHidden: 1, name: "fc")
        let net = try Symbol.makeLoss(try Symbol.clip(fc, low: -5, high: 5), normalization: "batch")
        let module = try Module(symbol: net, labelNames: [], seed: 2)
        let (x, _) = blobs(32, seed: 3)
        var losses: [Double] = []
        let loss = try Metrics.create("loss")
        try module.fit(
            try NDArrayIter(data: x, batchSize: 8), evalMetric: loss,
            epochEndCallbacks: [{ _, _, _, _ in losses.append(loss.get()[0].value) }],
            optimizer: OptimizerConfig(name: "sgd", learningRate: 0.1), initializer: Xavier(), numEpoch: 4)
        #expect(losses.count == 4)
        #expect(zip(losses, losses.dropFirst()).allSatisfy { $1 < $0 }, "\(losses)")
    }

    /// A sharded part padded to the others' batch count ends in a batch of padding only: score leaves
    /// it out, so a per-batch metric (F1's macro average) is that of the part's own samples.
    @Test func aBatchOfPaddingOnlyIsNotScored() throws {
        let module = try Module(symbol: try smallNet(), seed: 4)
        let (x, y) = blobs(5, seed: 5)
        try module.bind(dataShapes: [DataDesc(name: "data", shape: [2, 2])], forTraining: false)
        try module.initParams(initializer: Xavier())
        // 5 samples in 2 parts (2 and 3) at batch 2: part 0 runs 2 batches, the second all padding.
        let part = try NDArrayIter(data: x, label: y, batchSize: 2, numParts: 2, partIndex: 0)
        #expect(part.batchesInEpoch == 2)
        let alone = try NDArrayIter(data: x.slice(0..<2), label: y.slice(0..<2), batchSize: 2)
        let partF1 = try module.score(part, try Metrics.create("f1"))
        let aloneF1 = try module.score(alone, try Metrics.create("f1"))
        #expect(partF1.map(\.value) == aloneF1.map(\.value), "\(partF1) vs \(aloneF1)")
    }

    /// A network whose output is no loss cannot be trained without head gradients: fit used to
    /// train on the sum of the outputs (MXNet refuses that backward); with outGrads it runs.
    @Test func anOutputThatIsNoLossNeedsItsGradient() throws {
        let fc = try Symbol.fullyConnected(Symbol.variable("data"), numHidden: 2, name: "fc")
        #expect(fc.outputsNeedingHeadGradient == ["fc_output"])
        #expect(try smallNet().outputsNeedingHeadGradient.isEmpty)
        let readsHead = try Symbol.operation(
            "SoftmaxOutput", name: "sm", arguments: [fc], attributes: ["out_grad": "True"])
        #expect(readsHead.outputsNeedingHeadGradient == ["sm_output"])
        #expect(try Symbol.blockGrad(fc).outputsNeedingHeadGradient.isEmpty)
        let module = try Module(symbol: fc, labelNames: [], seed: 1)
        let (x, _) = blobs(8, seed: 1)
        let error = #expect(throws: ModuleError.self) {
            try module.fit(try NDArrayIter(data: x, batchSize: 4), initializer: Xavier(), numEpoch: 1)
        }
        #expect(
            "\(String(describing: error))".contains("output fc_output is not a loss"), "\(String(describing: error))")
        try module.forward(DataBatch(data: [x.slice(0..<4)], label: []), isTrain: true)
        try module.backward(outGrads: [NDArray(shape: [4, 2], repeating: 1)])
        #expect(try module.getParams().args["fc_bias"] != nil)
    }

    /// `sharedModule` must be a bound Module with its parameters set (MXNet asserts it): an unbound
    /// one used to be skipped while the new module claimed initialized parameters. Rebinding on the
    /// shared memory keeps the shared values instead of writing this module's old ones into them.
    @Test func aSharedModuleMustHoldWeightsAndKeepsThem() throws {
        let data = [DataDesc(name: "data", shape: [4, 2])]
        let owner = try Module(symbol: try smallNet(), seed: 1)
        let reader = try Module(symbol: try smallNet(), seed: 2)
        #expect(throws: ModuleError.self) { try reader.bind(dataShapes: data, forTraining: false, sharedModule: owner) }
        #expect(!reader.paramsInitialized && !reader.binded)
        try owner.bind(dataShapes: data, forTraining: false)
        try owner.initParams(initializer: Xavier())
        try reader.bind(dataShapes: data, forTraining: false)
        try reader.initParams(initializer: Constant(value: 0.5))
        let trained = try owner.getParams().args
        try reader.bind(dataShapes: data, forTraining: false, forceRebind: true, sharedModule: owner)
        for (name, value) in try reader.getParams().args {
            #expect(value.toArray() == trained[name]?.toArray(), "\(name) is not the shared module's")
        }
        for (name, value) in try owner.getParams().args {
            #expect(value.toArray() == trained[name]?.toArray(), "the rebind wrote over the owner's \(name)")
        }
    }

    /// Bound for inference without label shapes, a regression module's 10-wide label takes the shape
    /// its loss infers from the data (it was given a batch-sized vector, which the loss refused).
    @Test func aLabelLeftOutAtBindTakesTheShapeItsLossInfers() throws {
        let fc = try Symbol.fullyConnected(Symbol.variable("data"), numHidden: 10, name: "fc")
        let net = try Symbol.linearRegressionOutput(fc, label: Symbol.variable("lro_label"), name: "lro")
        let module = try Module(symbol: net, labelNames: ["lro_label"], seed: 1)
        try module.bind(dataShapes: [DataDesc(name: "data", shape: [4, 3])], forTraining: false)
        try module.initParams(initializer: Xavier())
        let eval = try NDArrayIter(data: NDArray(shape: [8, 3], repeating: 1), batchSize: 4)
        #expect(try module.predict(eval)[0][0].shape == [8, 10])
    }

    @Test func sequentialModuleMatchesOneModule() throws {
        // fc1+relu in one module, fc2+softmax in a second; one SGD step must equal the single module's.
        let data = Symbol.variable("data")
        let fc1 = try Symbol.fullyConnected(data, numHidden: 8, name: "fc1")
        let head = try Symbol.activation(fc1, actType: "relu", name: "relu1")
        let tailData = Symbol.variable("data")
        let fc2 = try Symbol.fullyConnected(tailData, numHidden: 2, name: "fc2")
        let tail = try Symbol.softmaxOutput(fc2, name: "softmax")
        let seq = SequentialModule()
        seq.add(try Module(symbol: head, labelNames: []))
        seq.add(try Module(symbol: tail), takeLabels: true)
        let single = try Module(symbol: try smallNet())

        let (x, y) = blobs(16, seed: 10)
        let batch = DataBatch(data: [x], label: [y])
        let shapes = [DataDesc(name: "data", shape: [16, 2])]
        let labels = [DataDesc(name: "softmax_label", shape: [16])]
        try single.bind(dataShapes: shapes, labelShapes: labels)
        try single.initParams(initializer: Xavier())
        // Biases away from zero, and weight decay: only MXNet's per-module multipliers leave the
        // first module's fc1_bias undecayed, as the single module leaves it.
        var (initial, _) = try single.getParams()
        initial["fc1_bias"] = NDArray(shape: [8], repeating: 0.5)
        try single.initParams(initializer: nil, argParams: initial, forceInit: true)
        try seq.bind(dataShapes: shapes, labelShapes: labels)
        try seq.initParams(initializer: nil, argParams: initial)
        var config = OptimizerConfig(name: "sgd", learningRate: 0.1)
        config.wd = 0.1
        try single.initOptimizer(kvstore: nil, optimizer: config, forceInit: false)
        try seq.initOptimizer(kvstore: nil, optimizer: config, forceInit: false)
        for m in [single, seq] as [any BaseModule] {
            try m.forwardBackward(batch)
            try m.update()
        }
        let a = try single.getParams().args
        let b = try seq.getParams().args
        #expect(Set(a.keys) == Set(b.keys))
        for (name, value) in a { #expect(value.maxAbsDifference(b[name]!) < 1e-6, "\(name)") }
        #expect(a["fc1_weight"]!.maxAbsDifference(initial["fc1_weight"]!) > 0, "the first module was trained")
        // A batch of another size passes through the chain, each module reshaping in turn.
        let three = DataBatch(data: [x.slice(0..<3)], label: [y.slice(0..<3)])
        for m in [single, seq] as [any BaseModule] { try m.forward(three, isTrain: false) }
        let outputs = (try single.getOutputs()[0], try seq.getOutputs()[0])
        #expect(outputs.0.shape == [3, 2] && outputs.0.maxAbsDifference(outputs.1) < 1e-6)
    }

    /// MXNet injects `rescale_grad` = 1 / batch only into optimizer parameters that lack it: an
    /// explicit 1 (a loss that already averages over the batch) must stay 1, and survive the trip
    /// to the servers as given.
    @Test func anExplicitRescaleGradOfOneIsKept() throws {
        for (given, expected) in [(nil, 1.0 / 16), (1.0, 1.0), (0.5, 0.5)] as [(Double?, Double)] {
            let module = try Module(symbol: try smallNet())
            try module.bind(
                dataShapes: [DataDesc(name: "data", shape: [16, 2])],
                labelShapes: [DataDesc(name: "softmax_label", shape: [16])])
            try module.initParams(initializer: Xavier())
            try module.initOptimizer(optimizer: OptimizerConfig(name: "sgd", learningRate: 0.1, rescaleGrad: given))
            #expect(
                module.optimizerConfig?.rescaleGrad == expected, "rescaleGrad given as \(String(describing: given))")
        }
        #expect(
            OptimizerConfig(name: "sgd", rescaleGrad: 1) == OptimizerConfig(name: "sgd"),
            "where a value came from is no difference")
        #expect(OptimizerConfig(name: "sgd", wdMult: ["w": 0]) != OptimizerConfig(name: "sgd"))
        let explicit = OptimizerConfig(name: "sgd", rescaleGrad: 1)
        let decoded = try JSONDecoder().decode(OptimizerConfig.self, from: try JSONEncoder().encode(explicit))
        #expect(decoded.rescaleGradIsGiven && decoded == explicit)
        let plain = try JSONDecoder().decode(
            OptimizerConfig.self, from: try JSONEncoder().encode(OptimizerConfig(name: "sgd")))
        #expect(!plain.rescaleGradIsGiven && plain.rescaleGrad == 1)
    }

    /// A prelu's gamma, made when composing, starts at 0.25 whatever the global initializer (MXNet
    /// puts `__init__` Constant 0.25 on it), and trains.
    @Test func preluGammaStartsAtAQuarterAndTrains() throws {
        let fc = try Symbol.fullyConnected(.variable("data"), numHidden: 4, name: "fc1")
        let act = try Symbol.leakyReLU(fc, actType: "prelu", name: "act")
        let net = try Symbol.softmaxOutput(try Symbol.fullyConnected(act, numHidden: 2, name: "fc2"), name: "softmax")
        let module = try Module(symbol: try Symbol.fromJSON(net.toJSON()))
        try module.bind(
            dataShapes: [DataDesc(name: "data", shape: [16, 2])],
            labelShapes: [DataDesc(name: "softmax_label", shape: [16])])
        try module.initParams(initializer: Xavier())
        #expect(try module.getParams().args["act_gamma"]?.toArray() == [0.25, 0.25, 0.25, 0.25])
        try module.initOptimizer(optimizer: OptimizerConfig(name: "sgd", learningRate: 0.5))
        let (x, y) = blobs(16, seed: 4)
        try module.forwardBackward(DataBatch(data: [x], label: [y]))
        try module.update()
        #expect(try module.getParams().args["act_gamma"]?.toArray() != [0.25, 0.25, 0.25, 0.25])
    }

    /// GroupNorm's parameters, made when composing, start as MXNet's by their names: `gamma` ones,
    /// `beta` zeros, one per group.
    @Test func groupNormParametersStartAsMXNets() throws {
        let gn = try Symbol.groupNorm(.variable("data"), numGroups: 2, name: "gn")
        let module = try Module(symbol: gn, labelNames: [])
        try module.bind(dataShapes: [DataDesc(name: "data", shape: [1, 4, 3])], forTraining: false)
        try module.initParams(initializer: Xavier())
        let args = try module.getParams().args
        #expect(args["gn_gamma"]?.toArray() == [1, 1])
        #expect(args["gn_beta"]?.toArray() == [0, 0])
    }

    /// A bilinear UpSampling made by composing initializes its weight as MXNet's (`__init__`
    /// bilinear): a constant image stays constant away from the border, at twice the size.
    @Test func bilinearUpSamplingInitializesAsMXNet() throws {
        let up = try Symbol.bilinearUpSampling(.variable("data"), scale: 2, channels: 3, name: "up")
        let module = try Module(symbol: up, labelNames: [])
        try module.bind(dataShapes: [DataDesc(name: "data", shape: [1, 3, 4, 4])], forTraining: false)
        try module.initParams(initializer: Xavier())
        try module.forward(DataBatch(data: [NDArray(shape: [1, 3, 4, 4], repeating: 2)], label: []), isTrain: false)
        let y = try module.getOutputs()[0]
        #expect(y.shape == [1, 3, 8, 8])
        for c in 0..<3 {
            for i in 1..<7 {
                for j in 1..<7 { #expect(abs(y.data[(c * 8 + i) * 8 + j] - 2) < 1e-5, "(\(c), \(i), \(j))") }
            }
        }
    }

    /// MXNet's `Variable(name, init=…, lr_mult=…, wd_mult=…)`: the variable's own initializer wins
    /// over the global one, `lr_mult` 0 freezes it, `wd_mult` overrides the bias rule, explicit
    /// multipliers in the optimizer config win over the symbol's; and they survive symbol JSON.
    @Test func variableAttributesSetInitializationAndMultipliers() throws {
        let weight = Symbol.variable(
            "fc1_weight",
            attributes: [
                "__init__": #"["constant", {"value": 0.5}]"#, "__lr_mult__": "0", "__wd_mult__": "0.5",
            ])
        let bias = Symbol.variable("fc2_bias", attributes: ["__wd_mult__": "2"])
        let fc1 = try Symbol.operation(
            "FullyConnected", name: "fc1", inputs: [("data", Symbol.variable("data")), ("weight", weight)],
            attributes: ["num_hidden": "8"])
        let fc2 = try Symbol.operation(
            "FullyConnected", name: "fc2",
            inputs: [("data", try Symbol.activation(fc1, actType: "relu")), ("bias", bias)],
            attributes: ["num_hidden": "2"])
        let net = try Symbol.fromJSON(try Symbol.softmaxOutput(fc2, name: "softmax").toJSON())
        let (x, y) = blobs(16, seed: 3)
        let module = try Module(symbol: net)
        try module.bind(
            dataShapes: [DataDesc(name: "data", shape: [16, 2])],
            labelShapes: [DataDesc(name: "softmax_label", shape: [16])])
        try module.initParams(initializer: Xavier())
        let initial = try module.getParams().args
        #expect(initial["fc1_weight"]!.toArray() == [Float](repeating: 0.5, count: 16), "the variable's own init")
        try module.initOptimizer(
            optimizer: OptimizerConfig(name: "sgd", learningRate: 0.5, wd: 0.1, wdMult: ["fc1_weight": 0.25]))
        let config = try #require(module.optimizerConfig)
        #expect(config.lrMult["fc1_weight"] == 0 && config.wdMult["fc1_weight"] == 0.25)
        #expect(config.wdMult["fc2_bias"] == 2 && config.wdMult["fc1_bias"] == 0)
        try module.forwardBackward(DataBatch(data: [x], label: [y]))
        try module.update()
        let after = try module.getParams().args
        #expect(after["fc1_weight"]!.toArray() == initial["fc1_weight"]!.toArray(), "lr_mult 0 freezes it")
        #expect(after["fc2_weight"]!.maxAbsDifference(initial["fc2_weight"]!) > 0)

        // An initializer SwiftPS lacks is an error only when the variable must be drawn.
        let orthogonal = Symbol.variable("fc1_weight", attributes: ["__init__": #"["fusedrnn", {}]"#])
        let cut = try Module(
            symbol: try Symbol.operation(
                "FullyConnected", name: "fc1", inputs: [("data", Symbol.variable("data")), ("weight", orthogonal)],
                attributes: ["num_hidden": "8"]),
            labelNames: [])
        try cut.bind(dataShapes: [DataDesc(name: "data", shape: [16, 2])], forTraining: false)
        #expect(throws: ModuleError.self) { try cut.initParams(initializer: Xavier()) }
        try cut.setParams(initial.filter { $0.key.hasPrefix("fc1") }, [:])
        #expect(try cut.getParams().args["fc1_weight"]?.toArray() == initial["fc1_weight"]?.toArray())

        let bad = Symbol.variable("fc1_weight", attributes: ["__lr_mult__": "fast"])
        let badNet = try Symbol.operation(
            "FullyConnected", name: "fc1", inputs: [("data", Symbol.variable("data")), ("weight", bad)],
            attributes: ["num_hidden": "2"])
        #expect(throws: ModuleError.badInput("variable fc1_weight: __lr_mult__ 'fast' is not a number of 0 or more")) {
            try Module(symbol: badNet, labelNames: [])
        }
    }

    /// As MXNet asserts: two modules of a chain with one parameter name would train two arrays
    /// and save one.
    @Test func sequentialModuleRefusesDuplicatedParameterNames() throws {
        let first = try Symbol.fullyConnected(Symbol.variable("data"), numHidden: 2, name: "fc")
        let second = try Symbol.softmaxOutput(
            try Symbol.fullyConnected(Symbol.variable("data"), numHidden: 2, name: "fc"), name: "softmax")
        let seq = SequentialModule()
        seq.add(try Module(symbol: first, labelNames: []))
        seq.add(try Module(symbol: second), takeLabels: true)
        try seq.bind(
            dataShapes: [DataDesc(name: "data", shape: [4, 2])],
            labelShapes: [DataDesc(name: "softmax_label", shape: [4])])
        #expect(
            throws: ModuleError.badInput(
                "Duplicated parameter names: fc_bias of module 1 (Module) is already used by module 0 (Module)")
        ) { try seq.initParams(initializer: Xavier()) }
    }
}

@Suite struct LocalKVStoreTests {
    /// MXNet's `set_optimizer` installs a new updater with empty state: momentum does not carry over,
    /// and a new optimizer kind does not meet the old one's state arrays.
    @Test func setOptimizerStartsWithEmptyState() throws {
        let kv = LocalKVStore()
        try kv.initialize(["w"], values: [NDArray([1, 2, 3])])
        try kv.setOptimizer(OptimizerConfig(name: "sgd", learningRate: 0.1, momentum: 0.9))
        try kv.push("w", NDArray([1, 1, 1]), priority: 0)
        #expect(kv.optimizerStates().count == 1)
        try kv.setOptimizer(OptimizerConfig(name: "adam"))
        #expect(kv.optimizerStates().isEmpty)
        try kv.push("w", NDArray([1, 1, 1]), priority: 0)
        #expect(kv.optimizerStates().first?.state.arrays.count == 2, "Adam's two moments, fresh")
    }

    @Test func pushReplacesWithoutOptimizerAndUpdatesWithOne() throws {
        let kv = LocalKVStore()
        try kv.initialize(["w"], values: [NDArray([1, 2, 3])])
        let out = NDArray(shape: [3])
        try kv.pull("w", into: out, priority: 0)
        #expect(out.toArray() == [1, 2, 3])
        try kv.push("w", NDArray([4, 5, 6]), priority: 0)
        try kv.pull("w", into: out, priority: 0)
        #expect(out.toArray() == [4, 5, 6])
        // SGD lr 0.5: w - 0.5 * g = [4,5,6] - 0.5 * [2,2,2] = [3,4,5].
        try kv.setOptimizer(OptimizerConfig(name: "sgd", learningRate: 0.5))
        try kv.pushPull("w", NDArray([2, 2, 2]), into: out, priority: 0)
        #expect(out.toArray() == [3, 4, 5])
        #expect(throws: KVStoreError.unknownKey("v")) { try kv.pull("v", into: out, priority: 0) }
        #expect(throws: KVStoreError.self) { try kv.push("w", NDArray([1]), priority: 0) }
    }
}
