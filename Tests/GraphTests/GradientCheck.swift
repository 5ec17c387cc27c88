import SwiftPSGraph
import SwiftPSTensor
import Testing

/// How `OpFixture` fills the inputs it is not given.
enum InputFill {
    /// Uniform in [-1, 1).
    case uniform
    /// Uniform in ±[away, 1): keeps values off a kink at 0 (relu, leaky, elu) by more than the
    /// finite-difference step.
    case awayFromZero(Float)
    /// A shuffled grid `k · spacing` centred on 0: every value differs from every other by at least
    /// `spacing`, so a max never changes under a small step (max pooling).
    case distinct(spacing: Float)
}

/// One operator bound to random inputs, for gradient checks and hand-worked tests.
///
/// Shapes come from the operator's own `inferShape`; inputs not given are drawn from a
/// `RandomGenerator`; auxiliary states start as MXNet's initializers leave them (moving means 0,
/// moving variances 1) unless given.
final class OpFixture {
    let op: any Operator
    let inputShapes: [[Int]]
    let outputShapes: [[Int]]
    let inputs: [NDArray]
    let outputs: [NDArray]
    let aux: [NDArray]
    /// Random head gradients, one per output (the projection of the outputs used as the loss).
    let heads: [NDArray]
    let seed: UInt64

    init(
        _ op: any Operator, shapes: [[Int]?], given: [Int: NDArray] = [:], aux givenAux: [NDArray]? = nil,
        fill: InputFill = .uniform, seed: UInt64 = 42
    ) throws {
        self.op = op
        self.seed = seed
        var known = shapes
        for (i, a) in given { known[i] = a.shape }
        let s = try op.inferShape(known)
        inputShapes = s.inputs
        outputShapes = s.outputs
        var rng = RandomGenerator(seed: seed)
        inputs = s.inputs.enumerated().map { i, shape in
            if let g = given[i] { return g }
            let a = NDArray(shape: shape)
            OpFixture.fill(a, fill, &rng)
            return a
        }
        outputs = s.outputs.map { NDArray(shape: $0) }
        if let givenAux {
            aux = givenAux
        } else {
            let names = op.listAuxiliaryStates()
            aux = zip(names, s.aux).map { name, shape in
                NDArray(shape: shape, repeating: name.hasSuffix("var") ? 1 : 0)
            }
        }
        heads = s.outputs.map { shape in
            let h = NDArray(shape: shape)
            rng.fillUniform(h, low: -1, high: 1)
            return h
        }
    }

    static func fill(_ a: NDArray, _ fill: InputFill, _ rng: inout RandomGenerator) {
        switch fill {
        case .uniform: rng.fillUniform(a, low: -1, high: 1)
        case .awayFromZero(let away):
            for i in 0..<a.count {
                let m = rng.uniform(away, 1)
                a.data[i] = rng.nextUnit() < 0.5 ? -m : m
            }
        case .distinct(let spacing):
            let perm = rng.permutation(a.count)
            for i in 0..<a.count { a.data[i] = (Float(perm[i]) - Float(a.count) / 2) * spacing }
        }
    }

    /// Fresh gradient arrays for the inputs that can have one (labels get none).
    func makeGrads(_ req: GradReq = .write, initial: Float = 0) -> ([NDArray?], [GradReq]) {
        var grads: [NDArray?] = []
        var reqs: [GradReq] = []
        for (i, shape) in inputShapes.enumerated() {
            if op.labelInputs.contains(i) || req == .null {
                grads.append(nil)
                reqs.append(.null)
            } else {
                grads.append(NDArray(shape: shape, repeating: initial))
                reqs.append(req)
            }
        }
        return (grads, reqs)
    }

    func binding(grads: [NDArray?] = [], reqs: [GradReq] = []) -> OpBinding {
        OpBinding(inputs: inputs, outputs: outputs, aux: aux, inputGrads: grads, gradReqs: reqs, outputGrads: heads)
    }

    /// A new instance, seeded like every other made by this fixture (so Dropout draws the same mask).
    func instance() throws -> any OperatorInstance {
        try op.makeInstance(OpCreationContext(inputShapes: inputShapes, seed: seed))
    }

    /// Runs forward on a fresh instance.
    @discardableResult
    func forward(isTrain: Bool = true) throws -> [NDArray] {
        try instance().forward(binding(), isTrain: isTrain)
        return outputs
    }

    /// Forward then backward with `.write` gradients; returns the gradients (nil for labels).
    func gradients(isTrain: Bool = true) throws -> [NDArray?] {
        let (grads, reqs) = makeGrads()
        let inst = try instance()
        let b = binding(grads: grads, reqs: reqs)
        inst.forward(b, isTrain: isTrain)
        inst.backward(b)
        return grads
    }
}

/// The scalar a gradient check differentiates.
enum CheckLoss {
    /// `Σ head · output` with the fixture's random heads: its gradient with respect to the outputs
    /// is the head gradient the operator receives.
    case projection
    /// A loss layer's own loss, computed in Double from the outputs and inputs.
    case custom((_ outputs: [NDArray], _ inputs: [NDArray]) -> Double)
}

/// Finite-difference gradient checking: compares every analytic input gradient (data, weights,
/// bias, gamma, beta; never labels) with central differences of the loss, in Float.
enum GradientCheck {
    /// Checks `fixture`'s operator; each forward of the numeric pass runs on a fresh instance made
    /// with the same seed. An element passes when `|analytic − numeric| ≤ atol + rtol·max(|a|, |n|)`.
    static func check(
        _ fixture: OpFixture, loss: CheckLoss = .projection, isTrain: Bool = true, step: Float = 1e-2,
        atol: Double = 2e-3, rtol: Double = 2e-2, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let analytic = try fixture.gradients(isTrain: isTrain)
        func evaluate() throws -> Double {
            let outs = try fixture.forward(isTrain: isTrain)
            switch loss {
            case .projection:
                var s = 0.0
                for (o, h) in zip(outs, fixture.heads) {
                    for j in 0..<o.count { s += Double(o.data[j]) * Double(h.data[j]) }
                }
                return s
            case .custom(let f): return f(outs, fixture.inputs)
            }
        }
        var checked = 0
        for (i, grad) in analytic.enumerated() {
            guard let grad else { continue }
            let x = fixture.inputs[i]
            let name = fixture.op.listArguments()[i]
            var worst = 0.0
            var worstAt = -1
            var failures = 0
            for j in 0..<x.count {
                let saved = x.data[j]
                let up = saved + step
                let down = saved - step
                x.data[j] = up
                let lUp = try evaluate()
                x.data[j] = down
                let lDown = try evaluate()
                x.data[j] = saved
                let numeric = (lUp - lDown) / (Double(up) - Double(down))
                let a = Double(grad.data[j])
                let err = abs(a - numeric)
                if err > atol + rtol * max(abs(a), abs(numeric)) {
                    failures += 1
                    if err > worst {
                        worst = err
                        worstAt = j
                    }
                }
                checked += 1
            }
            #expect(
                failures == 0,
                """
                \(type(of: fixture.op).typeName) d\(name): \(failures) of \(x.count) elements off; worst at \(worstAt): \
                analytic \(worstAt >= 0 ? grad.data[worstAt] : 0), error \(worst)
                """, sourceLocation: sourceLocation)
        }
        #expect(checked > 0, "no gradient was checked", sourceLocation: sourceLocation)
    }

    /// Checks `GradReq` handling: with `.add` and gradients pre-filled with `initial`, one forward
    /// and two backwards give `initial + 2·g` where g is the `.write` gradient; with `.null`
    /// nothing is written.
    static func checkAccumulation(
        _ fixture: OpFixture, isTrain: Bool = true, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let written = try fixture.gradients(isTrain: isTrain)
        let initial: Float = 0.75
        let (grads, reqs) = fixture.makeGrads(.add, initial: initial)
        let inst = try fixture.instance()
        let b = fixture.binding(grads: grads, reqs: reqs)
        inst.forward(b, isTrain: isTrain)
        inst.backward(b)
        inst.backward(b)
        var compared = 0
        for (w, g) in zip(written, grads) {
            guard let w, let g else { continue }
            for j in 0..<w.count {
                let expected = initial + 2 * w.data[j]
                #expect(
                    abs(g.data[j] - expected) <= 1e-4 * (1 + abs(expected)),
                    "add: element \(j) is \(g.data[j]), expected \(expected)", sourceLocation: sourceLocation)
                compared += 1
            }
        }
        #expect(compared > 0, sourceLocation: sourceLocation)
        // .null: an array is bound but must stay untouched.
        let untouched = fixture.inputShapes.map { NDArray(shape: $0, repeating: 5) }
        let nullBinding = fixture.binding(grads: untouched, reqs: untouched.map { _ in .null })
        let inst2 = try fixture.instance()
        inst2.forward(nullBinding, isTrain: isTrain)
        inst2.backward(nullBinding)
        for g in untouched {
            #expect(g.toArray().allSatisfy { $0 == 5 }, "null: a gradient was written", sourceLocation: sourceLocation)
        }
    }
}

/// Expects two Float lists to agree within `tol`.
func expectClose(
    _ actual: [Float], _ expected: [Float], tol: Float = 1e-5, _ what: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(
        actual.count == expected.count, "\(what): \(actual.count) values, expected \(expected.count)",
        sourceLocation: sourceLocation)
    for (i, (a, e)) in zip(actual, expected).enumerated() {
        #expect(
            abs(a - e) <= tol * max(1, abs(e)), "\(what)[\(i)] = \(a), expected \(e)", sourceLocation: sourceLocation)
    }
}

/// Expects `body` to throw `GraphError.badAttribute` naming attribute `name`.
func expectBadAttribute(
    _ name: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected a bad attribute '\(name)', got no error", sourceLocation: sourceLocation)
    } catch let GraphError.badAttribute(_, got, _, _) {
        #expect(got == name, "the error names '\(got)', expected '\(name)'", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected a bad attribute '\(name)', got \(error)", sourceLocation: sourceLocation)
    }
}

/// Expects `body` to throw `GraphError.shapeError`.
func expectShapeError(sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected a shape error, got no error", sourceLocation: sourceLocation)
    } catch GraphError.shapeError {
    } catch {
        Issue.record("expected a shape error, got \(error)", sourceLocation: sourceLocation)
    }
}
