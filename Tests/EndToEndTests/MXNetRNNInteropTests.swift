import Foundation
import SwiftPSGraph
import SwiftPSModule
import Testing

@testable import SwiftPSTensor

/// Interoperability of the fused `RNN` operator and `SequenceMask`, `SequenceLast` and
/// `SequenceReverse` with the real MXNet 1.9.1: a checkpoint MXNet writes of a network of LSTM and
/// GRU layers (2 layers, bidirectional, with state outputs), an rnn_tanh, an rnn_relu and the
/// sequence operators (lengths 1 to 4 of 5 steps, time first and batch first) predicts the same here, and the gradients of every flat parameter vector, every
/// initial state, and the data are MXNet's. This is what checks that SwiftPS lays out the
/// `parameters` vector as MXNet does. Skipped when MXNet could not be installed.
@Suite(
    .serialized, .enabled(if: MXNetPython.path != nil, "MXNet 1.9.1 is not installed (.build-mxnet; see scripts/test)"),
    .enabled(if: CLIRunner.available, "needs the release swiftps binary (scripts/test builds it)"))
struct MXNetRNNInteropTests {
    /// MXNet's side: the data comes batch-major (N, T, C) and is transposed to the RNN's TNC; every
    /// output, the final states included, reaches the prediction (N, features), so every state's
    /// gradient is exercised.
    static let script = """
        import sys, numpy as np, mxnet as mx
        prefix, inp, out, grads = sys.argv[1:5]
        x = np.load(inp).astype(np.float32)
        data = mx.sym.Variable("data")
        tnc = mx.sym.transpose(data, axes=(1, 0, 2), name="tnc")
        lstm = mx.sym.RNN(tnc, state_size=4, num_layers=2, bidirectional=True, mode="lstm",
                          state_outputs=True, name="lstm")
        gru = mx.sym.RNN(lstm[0], state_size=3, num_layers=2, bidirectional=True, mode="gru",
                         state_outputs=True, name="gru")
        tanh = mx.sym.RNN(tnc, state_size=2, num_layers=1, bidirectional=True, mode="rnn_tanh", name="tanh")
        relu = mx.sym.RNN(tnc, state_size=3, num_layers=2, mode="rnn_relu", state_outputs=True, name="relu")
        def batch_major(s, name):
            return mx.sym.Flatten(mx.sym.transpose(s, axes=(1, 0, 2), name=name + "_nt"), name=name + "_flat")
        parts = [batch_major(s, n) for s, n in [(gru[0], "gru_out"), (lstm[1], "lstm_h"), (lstm[2], "lstm_c"),
                 (gru[1], "gru_h"), (tanh, "tanh_out"), (relu[0], "relu_out"), (relu[1], "relu_h")]]
        length = mx.sym.Variable("len")
        parts += [batch_major(mx.sym.SequenceMask(lstm[0], length, use_sequence_length=True, value=0.3,
                                                  name="mask"), "mask"),
                  mx.sym.SequenceLast(gru[0], length, use_sequence_length=True, name="last"),
                  batch_major(mx.sym.SequenceReverse(tnc, length, use_sequence_length=True, name="rev"), "rev"),
                  mx.sym.SequenceLast(data, axis=1, name="last1"),
                  mx.sym.Flatten(mx.sym.SequenceMask(data, length, use_sequence_length=True, axis=1, name="mask1"))]
        sym = mx.sym.Concat(*parts, dim=1, name="out")
        ranges = {k: (-1, 1) for k in sym.list_arguments() if k != "data"}
        ranges["len"] = (1.2, 4.8)
        data_grad = True
        \(MXNetInteropTests.savingCheckpointPredictionsAndGradients)
        """

    @Test func mxnetsFusedRNNsPredictAndDifferentiateTheSameHere() throws {
        var rng = RandomGenerator(seed: 11)
        let input = NDArray(shape: [4, 5, 3])
        rng.fillUniform(input, low: -1.5, high: 1.5)
        // One batch of the 4 sequences, as MXNet's: the initial states have the batch size. MXNet
        // 1.9.1's sequence operators never write the lengths' gradient (it keeps whatever the array
        // held, here uninitialized memory, even with grad_req write); SwiftPS writes 0.
        let (exec, _) = try MXNetInteropTests().expectNetAsMXNet(
            "rnn", script: Self.script, input: input, batchSize: 4, withData: true, unwritten: ["len"])
        let expectedNames: Set<String> = [
            "data", "lstm_parameters", "lstm_state", "lstm_state_cell", "gru_parameters", "gru_state",
            "tanh_parameters", "tanh_state", "relu_parameters", "relu_state", "len",
        ]
        #expect(Set(exec.argDict.keys) == expectedNames)
    }
}
