import SwiftPSGraph
import SwiftPSModule
import SwiftPSOptimizer
import SwiftPSTensor
import Testing

@Suite struct RNNTrainingTests {
    /// A toy memory task: the label of a sequence of 5 numbers is the sign of its first, and the
    /// classifier reads only the LSTM's last step, so the state must carry it through.
    static func signOfFirst(_ n: Int, seed: UInt64) -> (NDArray, NDArray) {
        var rng = RandomGenerator(seed: seed)
        let x = NDArray(shape: [n, 5, 1])
        rng.fillUniform(x, low: -1, high: 1)
        let y = NDArray(shape: [n])
        for i in 0..<n { y[flat: i] = x[flat: i * 5] > 0 ? 1 : 0 }
        return (x, y)
    }

    /// Batch-major data through a fused LSTM (TNC) to a classifier of its last step.
    static func net() throws -> Symbol {
        let tnc = try Symbol.transpose(Symbol.variable("data"), axes: [1, 0, 2], name: "tnc")
        let lstm = try Symbol.rnn(tnc, stateSize: 8, numLayers: 1, mode: .lstm, name: "lstm")
        let ntc = try Symbol.transpose(lstm, axes: [1, 0, 2], name: "ntc")
        let last = try Symbol.flatten(try Symbol.sliceAxis(ntc, axis: 1, begin: 4, end: 5, name: "last"))
        let fc = try Symbol.fullyConnected(last, numHidden: 2, name: "fc")
        return try Symbol.softmaxOutput(fc, name: "softmax")
    }

    /// Module's default initialization of a fused RNN (its vector gate by gate through the global
    /// initializer, forget biases 1, states zero, as `FusedRNN`) and the operator's gradients train
    /// together: the cross-entropy falls to less than half.
    @Test func aTinyLSTMLearnsThroughModuleFit() throws {
        let (x, y) = Self.signOfFirst(256, seed: 3)
        let train = try NDArrayIter(data: x, label: y, batchSize: 32)
        let module = try Module(symbol: try Self.net(), fixedParamNames: ["lstm_state", "lstm_state_cell"], seed: 1)
        try module.bind(dataShapes: train.provideData, labelShapes: train.provideLabel)
        try module.initParams(initializer: Xavier())
        let params = try module.getParams().args
        #expect(params["lstm_state"]!.toArray().allSatisfy { $0 == 0 })
        // Forget-gate biases (input and recurrent side) are 1, the other biases 0: b_x then b_h.
        let vector = params["lstm_parameters"]!.toArray()
        let biases = Array(vector[(vector.count - 64)...])
        #expect(biases == (0..<64).map { ($0 % 32) / 8 == 1 ? 1 : 0 })
        let before = try module.score(train, CrossEntropy())[0].value
        try module.fit(
            train, optimizer: OptimizerConfig(name: "adam", learningRate: 0.02), initializer: Xavier(), numEpoch: 15)
        let after = try module.score(train, CrossEntropy())[0].value
        #expect(after < 0.25 && after < before / 2, "cross-entropy \(before) → \(after)")
    }

    /// The `__init__` `mx.rnn.FusedRNNCell(4, num_layers=2, mode="lstm", bidirectional=True)` writes
    /// on its parameters (printed by MXNet 1.9.1), with the global initializer (`init` null) or its own.
    @Test func readsTheFusedRNNAttributeMXNetWrites() throws {
        let spec =
            #"["fusedrnn", {"init": null, "num_hidden": 4, "num_layers": 2, "mode": "lstm", "bidirectional": true, "#
            + #""forget_bias": 1.0}]"#
        let fused = try #require(try Initializers.create(attribute: spec) as? FusedRNN)
        #expect(fused.inner == nil && fused.forgetBias == 1)
        #expect(
            fused.rnn.stateSize == 4 && fused.rnn.numLayers == 2 && fused.rnn.mode == .lstm && fused.rnn.bidirectional)
        let array = NDArray(shape: [fused.rnn.parameterCount(inputSize: 6)])
        var rng = RandomGenerator(seed: 1)
        try fused.with(global: Zero()).initWeight(name: "f_parameters", array: array, rng: &rng)
        // Only the forget biases: input and recurrent side, 2 layers, 2 directions, 4 units.
        #expect(array.sum() == 2 * 2 * 2 * 4)
        let own = spec.replacingOccurrences(of: "null", with: #""[\"constant\", {\"value\": 0.5}]""#)
        let constant = try #require(try Initializers.create(attribute: own) as? FusedRNN)
        #expect(constant.inner is Constant)
        #expect(throws: InitializerError.self) {
            try fused.initWeight(name: "f_parameters", array: NDArray(shape: [7]), rng: &rng)
        }
    }
}
