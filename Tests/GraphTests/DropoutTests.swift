import SwiftPSGraph
import SwiftPSTensor
import Testing

@Suite struct DropoutTests {
    @Test func trainingScalesKeptValuesByHand() throws {
        let x = NDArray(shape: [100, 100], repeating: 1)
        let f = try OpFixture(Dropout(p: 0.75), shapes: [nil], given: [0: x], seed: 3)
        f.heads[0].fill(1)
        let y = try f.forward(isTrain: true)[0].toArray()
        // Kept values are scaled by 1/(1 − 0.75) = 4, the rest are 0; about a quarter is kept.
        #expect(y.allSatisfy { $0 == 0 || $0 == 4 })
        let kept = Float(y.filter { $0 == 4 }.count) / Float(y.count)
        #expect(abs(kept - 0.25) < 0.02, "kept fraction \(kept)")
        // The gradient uses the same mask: dy·4 where kept.
        let dx = try f.gradients()[0]!.toArray()
        #expect(dx == y)
    }

    @Test func inferenceIsIdentity() throws {
        let f = try OpFixture(Dropout(p: 0.5), shapes: [[4, 5]])
        #expect(try f.forward(isTrain: false)[0].toArray() == f.inputs[0].toArray())
        f.heads[0].fill(2)
        #expect(try f.gradients(isTrain: false)[0]!.toArray() == Array(repeating: 2, count: 20))
    }

    @Test func pZeroAndOneAndAlways() throws {
        let zero = try OpFixture(Dropout(p: 0), shapes: [[3, 3]])
        #expect(try zero.forward(isTrain: true)[0].toArray() == zero.inputs[0].toArray())
        let one = try OpFixture(Dropout(p: 1), shapes: [[3, 3]])
        #expect(try one.forward(isTrain: true)[0].toArray().allSatisfy { $0 == 0 })
        let always = try OpFixture(try Dropout(attributes: ["p": "0.5", "mode": "always"]), shapes: [[10, 10]])
        #expect(try always.forward(isTrain: false)[0].toArray().contains(0))
    }

    @Test func reproducibleFromTheSeed() throws {
        func run(seed: UInt64) throws -> [[Float]] {
            let f = try OpFixture(Dropout(p: 0.5), shapes: [[8, 8]], seed: 1)
            let inst = try f.op.makeInstance(OpCreationContext(inputShapes: f.inputShapes, seed: seed))
            var outs: [[Float]] = []
            for _ in 0..<2 {
                inst.forward(f.binding(), isTrain: true)
                outs.append(f.outputs[0].toArray())
            }
            return outs
        }
        let a = try run(seed: 11)
        #expect(a == (try run(seed: 11)))
        #expect(a[0] != a[1], "each step draws a new mask")
        #expect(a != (try run(seed: 12)))
    }

    @Test func gradient() throws {
        let f = try OpFixture(Dropout(p: 0.4), shapes: [[3, 5]], seed: 9)
        try GradientCheck.check(f)
        try GradientCheck.checkAccumulation(f)
    }

    @Test func attributes() throws {
        let d = try Dropout(attributes: [:])
        #expect(d.p == 0.5 && !d.always)
        expectBadAttribute("p") { _ = try Dropout(attributes: ["p": "1.5"]) }
        expectBadAttribute("p") { _ = try Dropout(attributes: ["p": "half"]) }
        expectBadAttribute("mode") { _ = try Dropout(attributes: ["mode": "sometimes"]) }
        expectBadAttribute("axes") { _ = try Dropout(attributes: ["axes": "(1,)"]) }
        #expect(try Dropout().inferShape([[2, 3]]).outputs == [[2, 3]])
    }
}
