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
}
