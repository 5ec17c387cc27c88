import SwiftPSGraph
import SwiftPSTensor
import Testing

/// `Cast` (float32 only) and nearest `UpSampling`: values by hand, gradients against finite
/// differences, and what each refuses.
@Suite struct CastUpSamplingTests {
    @Test func castToFloat32IsTheIdentity() throws {
        let op = try OperatorRegistry.make("cast", attributes: ["dtype": "float32"])
        #expect(type(of: op).typeName == "Cast" && op.attributes == ["dtype": "float32"])
        let f = try OpFixture(op, shapes: [[2, 3]])
        #expect(try f.forward()[0].toArray() == f.inputs[0].toArray())
        #expect(try f.gradients()[0]?.toArray() == f.heads[0].toArray())
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    @Test func castRefusesOtherTypes() throws {
        for dtype in ["float16", "float64", "int32", "uint8", "bool", "bfloat16"] {
            do {
                _ = try Cast(attributes: ["dtype": dtype])
                Issue.record("Cast to \(dtype) was accepted")
            } catch GraphError.badAttribute(_, let name, _, let reason) {
                #expect(name == "dtype" && reason.contains("float32"), "\(reason)")
            }
        }
        expectBadAttribute("dtype") { _ = try Cast(attributes: [:]) }
        expectBadAttribute("dtype") { _ = try Cast(attributes: ["dtype": "foo"]) }
        expectBadAttribute("type") {
            _ = try OperatorRegistry.make("Cast", attributes: ["dtype": "float32", "type": "x"])
        }
    }

    /// MXNet 1.9.1's figures: `UpSampling(arange(6) as (1, 1, 2, 3), scale=2)` and, for the head
    /// gradient `arange(24)`, the input gradient (each 2 × 2 block's sum).
    @Test func upSamplingAsMXNet() throws {
        let f = try OpFixture(
            UpSampling(scale: 2), shapes: [nil], given: [0: NDArray((0..<6).map(Float.init), shape: [1, 1, 2, 3])])
        let y = try f.forward()[0]
        #expect(y.shape == [1, 1, 4, 6])
        let rows: [[Float]] = [[0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 2, 2], [3, 3, 4, 4, 5, 5], [3, 3, 4, 4, 5, 5]]
        #expect(y.toArray() == rows.flatMap { $0 })
        for j in 0..<24 { f.heads[0].data[j] = Float(j) }
        #expect(try f.gradients()[0]?.toArray() == [14, 22, 30, 62, 70, 78])
    }

    @Test(arguments: [(1, [1, 2, 2, 3]), (2, [2, 3, 2, 2]), (3, [1, 2, 3, 1])])
    func upSamplingGradients(scale: Int, shape: [Int]) throws {
        let f = try OpFixture(UpSampling(scale: scale), shapes: [shape])
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    @Test func upSamplingAttributesAndShapes() throws {
        let full = ["scale": "2", "sample_type": "nearest", "num_args": "1"]
        let op = try UpSampling(
            attributes: full.merging(["num_filter": "0", "multi_input_mode": "sum", "workspace": "512"]) { $1 })
        #expect(op.attributes == full && op.listArguments() == ["arg0"])
        #expect(try op.inferShape([[2, 3, 4, 5]]).outputs == [[2, 3, 8, 10]])
        expectBadAttribute("num_args") { _ = try UpSampling(attributes: full.merging(["num_args": "2"]) { $1 }) }
        expectBadAttribute("num_args") { _ = try UpSampling(attributes: full.filter { $0.key != "num_args" }) }
        expectBadAttribute("sample_type") { _ = try UpSampling(attributes: full.filter { $0.key != "sample_type" }) }
        expectBadAttribute("sample_type") {
            _ = try UpSampling(attributes: full.merging(["sample_type": "cubic"]) { $1 })
        }
        expectBadAttribute("scale") { _ = try UpSampling(attributes: full.merging(["scale": "0"]) { $1 }) }
        expectBadAttribute("scale") { _ = try UpSampling(attributes: full.filter { $0.key != "scale" }) }
        expectBadAttribute("multi_input_mode") {
            _ = try UpSampling(attributes: full.merging(["multi_input_mode": "max"]) { $1 })
        }
        expectShapeError { _ = try op.inferShape([[2, 3, 4]]) }
        expectShapeError { _ = try UpSampling(scale: 1 << 20).inferShape([[1, 1, 1 << 50, 1]]) }
    }
}
