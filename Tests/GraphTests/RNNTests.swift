import SwiftPSGraph
import SwiftPSTensor
import Testing

@Suite struct RNNTests {
    /// The fixture of `mode` over T = 2, N = 1, input 2, H = 2, one bidirectional layer with state
    /// outputs, filled as the MXNet 1.9.1 script in `forwardMatchesMXNet` fills it.
    func tiny(_ mode: RNN.Mode) throws -> OpFixture {
        let op = RNN(stateSize: 2, numLayers: 1, mode: mode, bidirectional: true, stateOutputs: true)
        let count = op.parameterCount(inputSize: 2)
        var given: [Int: NDArray] = [
            0: NDArray((0..<4).map { 0.3 * Float($0 % 5) - 0.6 }, shape: [2, 1, 2]),
            1: NDArray((0..<count).map { 0.1 * Float(($0 * 7) % 11) - 0.5 }, shape: [count]),
            2: NDArray((0..<4).map { 0.1 * Float($0 + 1) }, shape: [2, 1, 2]),
        ]
        if mode == .lstm { given[3] = NDArray((0..<4).map { -0.2 * Float($0 + 1) }, shape: [2, 1, 2]) }
        return try OpFixture(op, shapes: op.listArguments().map { _ in nil }, given: given)
    }

    /// Outputs printed by MXNet 1.9.1 for `tiny(mode)`:
    /// `mx.sym.RNN(data, state_size=2, num_layers=1, bidirectional=True, mode=…, state_outputs=True)`
    /// with data[i] = 0.3·(i % 5) − 0.6, parameters[i] = 0.1·((7i) % 11) − 0.5, state[i] = 0.1·(i+1),
    /// state_cell[i] = −0.2·(i+1).
    @Test(
        arguments: [
            (
                RNN.Mode.lstm, 96,
                [
                    [-0.062635, -0.046997, 0.046845, -0.389402, -0.097374, -0.065044, -0.169484, -0.324228],
                    [-0.097374, -0.065044, 0.046845, -0.389402], [-0.177764, -0.169588, 0.066744, -1.04263],
                ]
            ),
            (
                .gru, 72,
                [
                    [0.077445, 0.383119, 0.375884, -0.077723, 0.027379, 0.273854, 0.217662, 0.110865],
                    [0.027379, 0.273854, 0.375884, -0.077723],
                ]
            ),
            (
                .rnnTanh, 24,
                [
                    [-0.109558, 0.01, -0.103303, 0.253615, -0.248634, 0.105779, -0.129273, 0.139092],
                    [-0.248634, 0.105779, -0.103303, 0.253615],
                ]
            ),
            (.rnnRelu, 24, [[0, 0.01, 0, 0.324, 0, 0.15, 0, 0.14], [0, 0.15, 0, 0.324]]),
        ] as [(RNN.Mode, Int, [[Float]])])
    func forwardMatchesMXNet(mode: RNN.Mode, count: Int, expected: [[Float]]) throws {
        let f = try tiny(mode)
        #expect(f.inputShapes[1] == [count])
        let outputs = try f.forward(isTrain: false)
        #expect(outputs.count == expected.count)
        for (output, values) in zip(outputs, expected) { expectClose(output.toArray(), values, tol: 2e-6) }
    }

    /// MXNet 1.9.1's parameter counts (`infer_shape`): 2-layer bidirectional lstm over 6 inputs
    /// with H = 4 holds 832, a 2-layer gru 264, a 2-layer rnn_tanh 88.
    @Test func parameterCountsAreMXNets() {
        #expect(RNN(stateSize: 4, numLayers: 2, mode: .lstm, bidirectional: true).parameterCount(inputSize: 6) == 832)
        #expect(RNN(stateSize: 4, numLayers: 2, mode: .gru).parameterCount(inputSize: 6) == 264)
        #expect(RNN(stateSize: 4, numLayers: 2, mode: .rnnTanh).parameterCount(inputSize: 6) == 88)
    }

    @Test(arguments: RNN.Mode.allCases)
    func gradientsOfTwoBidirectionalLayers(mode: RNN.Mode) throws {
        let op = RNN(stateSize: 3, numLayers: 2, mode: mode, bidirectional: true, stateOutputs: true)
        // rnn_relu: seed 7 puts one pre-activation within a step of relu's kink at 0, which every input
        // upstream of it then crosses; another seed and a smaller step keep clear of kinks.
        let f = try OpFixture(
            op, shapes: [[4, 2, 3]] + op.listArguments().dropFirst().map { _ in nil }, seed: mode == .rnnRelu ? 12 : 7)
        try GradientCheck.check(f, step: mode == .rnnRelu ? 1e-3 : 1e-2)
        try GradientCheck.checkAccumulation(f)
    }

    @Test func gradientsOfOneUnidirectionalLSTMWithoutStateOutputs() throws {
        let op = RNN(stateSize: 4, numLayers: 1, mode: .lstm)
        let f = try OpFixture(op, shapes: [[3, 2, 2], nil, nil, nil], seed: 3)
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    /// Dropout between layers: only in training, the same mask for forward and backward (the
    /// gradient check's fresh instances share the seed), and none after the last layer.
    @Test func dropoutBetweenLayersInTrainingOnly() throws {
        let op = RNN(stateSize: 3, numLayers: 2, mode: .gru, p: 0.5)
        let f = try OpFixture(op, shapes: [[4, 2, 3], nil, nil], seed: 5)
        let inference = try f.forward(isTrain: false)[0].toArray()
        let training = try f.forward(isTrain: true)[0].toArray()
        #expect(inference != training)
        #expect(try f.forward(isTrain: true)[0].toArray() == training, "one seed, one mask")
        try GradientCheck.check(f)
        let single = try OpFixture(RNN(stateSize: 3, numLayers: 1, mode: .gru, p: 0.5), shapes: [[4, 2, 3], nil, nil])
        #expect(try single.forward(isTrain: true)[0].toArray() == (try single.forward(isTrain: false)[0].toArray()))
    }

    @Test func shapesFollowTheData() throws {
        let op = RNN(stateSize: 4, numLayers: 2, mode: .lstm, bidirectional: true, stateOutputs: true)
        let s = try op.inferShape([[5, 3, 6], nil, nil, nil])
        #expect(s.inputs == [[5, 3, 6], [832], [4, 3, 4], [4, 3, 4]])
        #expect(s.outputs == [[5, 3, 8], [4, 3, 4], [4, 3, 4]])
        #expect(op.listOutputs() == ["output", "state_output", "statecell_output"])
        #expect(RNN(stateSize: 2, numLayers: 1, mode: .gru).listOutputs() == ["output"])
        #expect(RNN(stateSize: 2, numLayers: 1, mode: .gru).listArguments() == ["data", "parameters", "state"])
        #expect(throws: GraphError.self) { try op.inferShape([[5, 3], nil, nil, nil]) }
        #expect(throws: GraphError.self) { try op.inferShape([[5, 3, 6], [7], nil, nil]) }
        #expect(throws: GraphError.self) { try op.inferShape([[5, 3, 6], nil, [2, 3, 4], nil]) }
    }

    @Test func attributesAsMXNetWritesThem() throws {
        let json: [String: String] = [
            "bidirectional": "True", "mode": "lstm", "num_layers": "2", "state_outputs": "True", "state_size": "4",
            "p": "0.0", "projection_size": "None", "lstm_state_clip_min": "None", "lstm_state_clip_max": "None",
            "lstm_state_clip_nan": "False", "use_sequence_length": "False",
        ]
        let op = try RNN(attributes: json)
        #expect(op.stateSize == 4 && op.numLayers == 2 && op.bidirectional && op.mode == .lstm && op.stateOutputs)
        let again = try RNN(attributes: op.attributes)
        #expect(again.attributes == op.attributes)
        let symbol = try Symbol.rnn(
            Symbol.variable("data"), stateSize: 4, numLayers: 2, mode: .gru, bidirectional: true, stateOutputs: true,
            name: "gru")
        #expect(symbol.listArguments() == ["data", "gru_parameters", "gru_state"])
        #expect(symbol.listOutputs() == ["gru_output", "gru_state_output"])
        let loaded = try Symbol.fromJSON(symbol.toJSON())
        #expect(loaded.listArguments() == symbol.listArguments())
    }

    @Test func refusesWhatItDoesNotImplement() {
        let base = ["state_size": "4", "num_layers": "1", "mode": "lstm"]
        func with(_ extra: [String: String]) -> [String: String] { base.merging(extra) { $1 } }
        expectBadAttribute("mode") { _ = try RNN(attributes: ["state_size": "4", "num_layers": "1"]) }
        expectBadAttribute("mode") { _ = try RNN(attributes: with(["mode": "foo"])) }
        expectBadAttribute("state_size") { _ = try RNN(attributes: with(["state_size": "0"])) }
        expectBadAttribute("num_layers") { _ = try RNN(attributes: with(["num_layers": "0"])) }
        expectBadAttribute("p") { _ = try RNN(attributes: with(["p": "1.5"])) }
        expectBadAttribute("projection_size") { _ = try RNN(attributes: with(["projection_size": "2"])) }
        expectBadAttribute("lstm_state_clip_min") { _ = try RNN(attributes: with(["lstm_state_clip_min": "-1"])) }
        expectBadAttribute("use_sequence_length") { _ = try RNN(attributes: with(["use_sequence_length": "True"])) }
    }
}
