import SwiftPSGraph
import SwiftPSTensor
import Testing

/// dot, batch_dot, linalg_gemm2 and GroupNorm: MXNet 1.9.1's numbers for x = 0, 0.1, 0.2, … of the shapes given,
/// and gradients against finite differences with gradReq write and add.
@Suite struct LinalgOperatorTests {
    /// 0, 0.1, … of `shape`, as the MXNet probes used.
    static func ramp(_ shape: [Int]) -> NDArray {
        NDArray((0..<shape.reduce(1, *)).map { Float($0) / 10 }, shape: shape)
    }

    static func forward(_ op: any Operator, _ lhs: [Int], _ rhs: [Int]) throws -> NDArray {
        let f = try OpFixture(op, shapes: [nil, nil], given: [0: ramp(lhs), 1: ramp(rhs)])
        return try f.forward()[0]
    }

    @Test func dotAsMXNet() throws {
        // MXNet 1.9.1 printed each of these.
        let vectors = try Self.forward(Dot(), [3], [3])
        #expect(vectors.shape == [1])
        expectClose(vectors.toArray(), [0.05], "vector · vector")
        let nd = try Self.forward(Dot(), [2, 3, 2], [2, 3])
        #expect(nd.shape == [2, 3, 3])
        expectClose(
            nd.toArray(),
            [
                0.03, 0.04, 0.05, 0.09, 0.14, 0.19, 0.15, 0.24, 0.33, 0.21, 0.34, 0.47, 0.27, 0.44, 0.61, 0.33, 0.54,
                0.75,
            ],
            "(2, 3, 2) · (2, 3)")
        // transpose_a sums over lhs's first axis: (2, 3, 2)ᵀ · (2, 3) → (3, 2, 3).
        let ta = try Self.forward(Dot(transposeA: true), [2, 3, 2], [2, 3])
        #expect(ta.shape == [3, 2, 3])
        expectClose(
            ta.toArray(),
            [
                0.18, 0.24, 0.30, 0.21, 0.29, 0.37, 0.24, 0.34, 0.44, 0.27, 0.39, 0.51, 0.30, 0.44, 0.58, 0.33, 0.49,
                0.65,
            ],
            "transpose_a")
        // transpose_b sums over rhs's last axis: (2, 3) · (2, 2, 3)ᵀ → (2, 2, 2).
        let tb = try Self.forward(Dot(transposeB: true), [2, 3], [2, 2, 3])
        #expect(tb.shape == [2, 2, 2])
        expectClose(tb.toArray(), [0.05, 0.14, 0.23, 0.32, 0.14, 0.5, 0.86, 1.22], "transpose_b")
        expectClose(try Self.forward(Dot(transposeB: true), [3], [2, 3]).toArray(), [0.05, 0.14], "vector · matrixᵀ")
    }

    @Test func dotShapes() throws {
        func out(_ op: Dot, _ l: [Int], _ r: [Int]) throws -> [Int] { try op.inferShape([l, r]).outputs[0] }
        // MXNet 1.9.1's inferred shapes.
        #expect(try out(Dot(), [2, 3, 4], [4, 5, 6]) == [2, 3, 5, 6])
        #expect(try out(Dot(transposeA: true), [4, 3, 2], [4, 5, 6]) == [3, 2, 5, 6])
        #expect(try out(Dot(transposeB: true), [2, 3, 4], [6, 5, 4]) == [2, 3, 6, 5])
        #expect(try out(Dot(transposeA: true, transposeB: true), [4, 2, 3], [5, 6, 4]) == [2, 3, 5, 6])
        #expect(try out(Dot(), [3], [3, 4]) == [4])
        #expect(try out(Dot(transposeA: true), [2, 3], [2]) == [3])
        #expect(try out(Dot(), [2, 3, 4], [4]) == [2, 3])
        #expect(try out(Dot(transposeA: true), [2], [2, 3, 4]) == [3, 4])
        // MXNet: "dot shape error", "Cannot transpose vectors".
        expectShapeError { _ = try out(Dot(), [2, 3], [4, 3]) }
        expectShapeError { _ = try out(Dot(transposeA: true), [2, 3, 4], [4, 5]) }
        expectShapeError { _ = try out(Dot(transposeA: true), [3], [3]) }
        expectShapeError { _ = try out(Dot(), [3], [4]) }
        expectShapeError { _ = try Dot().inferShape([[3], nil]) }
    }

    @Test func dotAttributes() throws {
        #expect(try Dot(attributes: ["transpose_a": "True", "forward_stype": "default"]).transposeA)
        #expect(try !Dot(attributes: ["forward_stype": "None"]).transposeB)
        expectBadAttribute("forward_stype") { _ = try Dot(attributes: ["forward_stype": "csr"]) }
        expectBadAttribute("forward_stype") { _ = try BatchDot(attributes: ["forward_stype": "row_sparse"]) }
        expectBadAttribute("transpose_a") { _ = try Dot(attributes: ["transpose_a": "maybe"]) }
        expectBadAttribute("transpose_b") { _ = try BatchDot(attributes: ["transpose_b": "2"]) }
    }

    @Test func batchDotAsMXNet() throws {
        // MXNet 1.9.1 printed these.
        let ta = try Self.forward(BatchDot(transposeA: true), [2, 3, 2], [2, 3, 2])
        #expect(ta.shape == [2, 2, 2])
        expectClose(ta.toArray(), [0.2, 0.26, 0.26, 0.35, 2.0, 2.24, 2.24, 2.51], "transpose_a")
        let tb = try Self.forward(BatchDot(transposeB: true), [2, 1, 2, 3], [2, 1, 2, 3])
        #expect(tb.shape == [2, 1, 2, 2])
        expectClose(tb.toArray(), [0.05, 0.14, 0.14, 0.5, 1.49, 2.12, 2.12, 3.02], "4-D transpose_b")
        func out(_ op: BatchDot, _ l: [Int], _ r: [Int]) throws -> [Int] { try op.inferShape([l, r]).outputs[0] }
        #expect(try out(BatchDot(), [7, 2, 3, 4], [7, 2, 4, 5]) == [7, 2, 3, 5])
        #expect(try out(BatchDot(transposeB: true), [2, 3, 4], [2, 5, 4]) == [2, 3, 5])
        // MXNet refuses these: N-D × N-D with N ≥ 3 only, equal batch axes, matching inner sizes.
        expectShapeError { _ = try out(BatchDot(), [2, 3], [3, 4]) }
        expectShapeError { _ = try out(BatchDot(), [2, 3, 4], [2, 3, 4, 5]) }
        expectShapeError { _ = try out(BatchDot(), [2, 3, 4], [3, 4, 5]) }
        expectShapeError { _ = try out(BatchDot(), [2, 3, 4], [2, 5, 5]) }
    }

    static let transposes: [(Bool, Bool)] = [(false, false), (true, false), (false, true), (true, true)]

    @Test(arguments: transposes)
    func dotGradient(transposeA: Bool, transposeB: Bool) throws {
        let op = Dot(transposeA: transposeA, transposeB: transposeB)
        let lhs = transposeA ? [4, 2, 3] : [2, 3, 4]
        let rhs = transposeB ? [3, 2, 4] : [4, 3, 2]
        let matrices = [transposeA ? [4, 2] : [2, 4], transposeB ? [3, 4] : [4, 3]]
        for shapes in [[lhs, rhs], matrices] {
            let f = try OpFixture(op, shapes: shapes)
            try GradientCheck.check(f)
            try GradientCheck.checkAccumulation(f)
        }
        if !transposeA && !transposeB {
            let f = try OpFixture(op, shapes: [[5], [5]])
            try GradientCheck.check(f)
            try GradientCheck.checkAccumulation(f)
        }
    }

    @Test(arguments: transposes)
    func batchDotGradient(transposeA: Bool, transposeB: Bool) throws {
        let op = BatchDot(transposeA: transposeA, transposeB: transposeB)
        let lhs = transposeA ? [2, 3, 4, 2] : [2, 3, 2, 4]
        let rhs = transposeB ? [2, 3, 5, 4] : [2, 3, 4, 5]
        let f = try OpFixture(op, shapes: [lhs, rhs])
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    /// Many small products spread over the compute threads give what one thread gives.
    @Test func batchDotOverThreads() throws {
        let f = try OpFixture(BatchDot(), shapes: [[64, 3, 4], [64, 4, 2]])
        let one = try ComputeThreads.withThreads(1) { try f.gradients() }
        let y1 = f.outputs[0].toArray()
        let four = try ComputeThreads.withThreads(4) { try f.gradients() }
        #expect(f.outputs[0].toArray() == y1)
        for (a, b) in zip(one, four) { #expect(a?.toArray() == b?.toArray()) }
    }

    @Test func linalgGemm2AsMXNet() throws {
        // MXNet 1.9.1 printed these: rows along axis 0, B transposed, alpha 2; and the default axis.
        let rows = try Self.forward(LinalgGemm2(transposeB: true, alpha: 2, axis: 0), [2, 3, 2], [4, 3, 2])
        #expect(rows.shape == [2, 3, 4])
        expectClose(
            rows.toArray(),
            [
                0.02, 0.14, 0.26, 0.38, 0.26, 0.86, 1.46, 2.06, 0.82, 1.9, 2.98, 4.06, 0.14, 1.7, 3.26, 4.82, 0.86,
                2.9, 4.94, 6.98, 1.9, 4.42, 6.94, 9.46,
            ], "axis 0")
        let last = try Self.forward(LinalgGemm2(transposeA: true, alpha: -0.5), [2, 3, 2], [2, 3, 2])
        expectClose(last.toArray(), [-0.1, -0.13, -0.13, -0.175, -1.0, -1.12, -1.12, -1.255], "transpose_a")
        func out(_ op: LinalgGemm2, _ a: [Int], _ b: [Int]) throws -> [Int] { try op.inferShape([a, b]).outputs[0] }
        #expect(try out(LinalgGemm2(), [2, 3], [3, 4]) == [2, 4])
        #expect(try out(LinalgGemm2(axis: -3), [7, 2, 5, 3], [7, 3, 5, 4]) == [7, 2, 5, 4])
        #expect(try out(LinalgGemm2(axis: 1), [7, 2, 5, 3], [7, 3, 5, 4]) == [7, 2, 5, 4])
        // MXNet refuses these: a row axis that is the last or out of range, batch axes that differ,
        // inner sizes that differ.
        expectShapeError { _ = try out(LinalgGemm2(axis: 2), [2, 5, 3], [3, 5, 4]) }
        expectShapeError { _ = try out(LinalgGemm2(axis: -1), [2, 5, 3], [3, 5, 4]) }
        expectShapeError { _ = try out(LinalgGemm2(axis: -4), [2, 5, 3], [3, 5, 4]) }
        expectShapeError { _ = try out(LinalgGemm2(), [5, 2, 3], [6, 3, 4]) }
        expectShapeError { _ = try out(LinalgGemm2(), [2, 3], [2, 4]) }
        expectShapeError { _ = try out(LinalgGemm2(), [3], [3]) }
        expectShapeError { _ = try out(LinalgGemm2(), [2, 3, 4], [3, 4]) }
        expectBadAttribute("alpha") { _ = try LinalgGemm2(attributes: ["alpha": "x"]) }
        expectBadAttribute("axis") { _ = try LinalgGemm2(attributes: ["axis": "1.5"]) }
        #expect(try OperatorRegistry.make("linalg_gemm2", attributes: ["alpha": "2.0"]).attributes["alpha"] == "2")
    }

    @Test(arguments: [(false, false, -2), (true, false, 0), (false, true, 1), (true, true, -3)])
    func linalgGemm2Gradient(transposeA: Bool, transposeB: Bool, axis: Int) throws {
        let op = LinalgGemm2(transposeA: transposeA, transposeB: transposeB, alpha: 1.5, axis: axis)
        // Rows along `axis` of 4-axis arrays; (m, k) = (2, 3) and (k, n) = (3, 4) before transposes.
        func shape(_ rows: Int, _ columns: Int, _ transposed: Bool) -> [Int] {
            var s = [2, 2, 2, 0]
            s[axis < 0 ? axis + 4 : axis] = transposed ? columns : rows
            s[3] = transposed ? rows : columns
            return s
        }
        let f = try OpFixture(op, shapes: [shape(2, 3, transposeA), shape(3, 4, transposeB)])
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    @Test func groupNormAsMXNet() throws {
        let op = GroupNorm(numGroups: 2, eps: 1e-3, outputMeanVar: true)
        #expect(op.listOutputs() == ["output", "mean", "std"])
        let f = try OpFixture(
            op, shapes: [nil, nil, nil], given: [0: Self.ramp([2, 4, 3]), 1: NDArray([1, 2]), 2: NDArray([0, 1])])
        #expect(f.inputShapes == [[2, 4, 3], [2], [2]])
        #expect(f.outputShapes == [[2, 4, 3], [2, 2], [2, 2]])
        let out = try f.forward()
        // MXNet 1.9.1 printed these (gamma and beta have one value per group).
        let image: [Float] = [
            -1.4393829, -0.8636298, -0.28787658, 0.28787667, 0.8636298, 1.4393829, -1.8787653, -0.72725928,
            0.42424738, 1.5757533, 2.7272601, 3.8787665,
        ]
        expectClose(out[0].toArray(), image + image, tol: 2e-5, "output")
        expectClose(out[1].toArray(), [0.25, 0.85, 1.45, 2.05], "mean")
        expectClose(out[2].toArray(), [Float](repeating: 0.17368554, count: 4), "std")
        #expect(GroupNorm(numGroups: 1).listOutputs() == ["output"])
        #expect(try GroupNorm(numGroups: 3).inferShape([[2, 6, 2, 2, 2], nil, nil]).inputs[1] == [3])
        // MXNet refuses these: data of fewer than 3 axes, channels not divisible by the groups.
        expectShapeError { _ = try GroupNorm(numGroups: 2).inferShape([[2, 4], nil, nil]) }
        expectShapeError { _ = try GroupNorm(numGroups: 4).inferShape([[2, 6, 3], nil, nil]) }
        expectShapeError { _ = try GroupNorm(numGroups: 2).inferShape([[2, 4, 3], [4], nil]) }
        expectBadAttribute("num_groups") { _ = try GroupNorm(attributes: ["num_groups": "0"]) }
        expectBadAttribute("eps") { _ = try GroupNorm(attributes: ["eps": "-1"]) }
    }

    @Test(arguments: [1, 2, 4])
    func groupNormGradient(groups: Int) throws {
        let f = try OpFixture(GroupNorm(numGroups: groups, eps: 1e-3), shapes: [[2, 4, 2, 3], nil, nil])
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    /// The nodes MXNet 1.9.1 wrote for `batch_dot(dot(GroupNorm(data), w, transpose_b), …)`: they
    /// load, infer MXNet's shape, and what SwiftPS writes loads back as the same network.
    @Test func symbolJSONRoundTrip() throws {
        let json = """
            {"nodes": [
              {"op": "null", "name": "data", "inputs": []},
              {"op": "null", "name": "gn_gamma", "attrs": {"eps": "0.001", "num_groups": "2"}, "inputs": []},
              {"op": "null", "name": "gn_beta", "attrs": {"eps": "0.001", "num_groups": "2"}, "inputs": []},
              {"op": "GroupNorm", "name": "gn", "attrs": {"eps": "0.001", "num_groups": "2"},
               "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]},
              {"op": "null", "name": "w", "inputs": []},
              {"op": "dot", "name": "d", "attrs": {"transpose_b": "True"}, "inputs": [[3, 0, 0], [4, 0, 0]]},
              {"op": "batch_dot", "name": "bd", "attrs": {"forward_stype": "default", "transpose_a": "True"},
               "inputs": [[5, 0, 0], [5, 0, 0]]}
            ], "arg_nodes": [0, 1, 2, 4], "heads": [[6, 0, 0]]}
            """
        let mxnet = try Symbol.fromJSON(json)
        let shapes = ["data": [2, 4, 3], "w": [5, 3]]
        #expect(try mxnet.inferShape(shapes).outputs == [[2, 5, 5]])
        #expect(mxnet.listArguments() == ["data", "gn_gamma", "gn_beta", "w"])
        let loaded = try Symbol.fromJSON(mxnet.toJSON())
        try expectSameSymbol(mxnet, loaded, shapes: shapes)
        #expect(loaded.toJSON() == mxnet.toJSON())

        // The builders make the same network.
        let gn = try Symbol.groupNorm(.variable("data"), numGroups: 2, eps: 1e-3, name: "gn")
        let d = try Symbol.dot(gn, .variable("w"), transposeB: true, name: "d")
        let built = try Symbol.batchDot(d, d, transposeA: true, name: "bd")
        #expect(built.listArguments() == mxnet.listArguments())
        #expect(try built.inferShape(shapes).args == mxnet.inferShape(shapes).args)
        #expect(try built.inferShape(shapes).outputs == [[2, 5, 5]])
    }
}
