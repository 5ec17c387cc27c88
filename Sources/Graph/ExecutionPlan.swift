import SwiftPSTensor

/// The arrays and per-node bindings an `Executor` runs over, worked out once at bind.
struct ExecutionPlan {
    var steps: [Executor.Step] = []
    var backwardSteps: [Int] = []
    var zeroBeforeBackward: [NDArray] = []
    var headGradients: [Executor.HeadGradient?] = []
    var outputs: [NDArray] = []

    /// A value in the graph: a variable (by name, so same-named variables share one array) or one
    /// output of an operator node.
    private enum Key: Hashable {
        case variable(String)
        case output(ObjectIdentifier, Int)

        init(_ e: Symbol.Entry) {
            self = e.node.isVariable ? .variable(e.node.name) : .output(ObjectIdentifier(e.node), e.index)
        }
    }

    /// Plans `symbol` over the given variable arrays.
    ///
    /// - Parameters:
    ///   - variables: every argument and auxiliary array by name; shapes are already checked.
    ///   - grads: gradient arrays by argument name, only for arguments whose request is not null.
    ///   - reqs: the gradient request of each argument.
    ///   - shapes: the graph's inferred shapes.
    init(
        symbol: Symbol, variables: [String: NDArray], grads: [String: NDArray], reqs: [String: GradReq],
        shapes: GraphShapes, seed: UInt64
    ) throws {
        let nodes = symbol.topologicalNodes.filter { !$0.isVariable }
        func gradPositions(_ node: Symbol.Node) -> [Int] {
            let labels = node.op!.labelInputs
            return (0..<node.argumentCount).filter { !labels.contains($0) }
        }

        // Which values carry a gradient: arguments that ask for one, and every output of a node with
        // such a value among its (non-label) arguments.
        var carries = Set<Key>()
        for (name, _) in grads where reqs[name, default: .null] != .null { carries.insert(.variable(name)) }
        var needsBackward = Set<ObjectIdentifier>()
        for node in nodes where gradPositions(node).contains(where: { carries.contains(Key(node.inputs[$0])) }) {
            needsBackward.insert(ObjectIdentifier(node))
            for i in 0..<node.outputCount { carries.insert(.output(ObjectIdentifier(node), i)) }
        }

        // How many gradients flow into each value: one per consuming slot, one per head.
        var contributions: [Key: Int] = [:]
        for node in nodes where needsBackward.contains(ObjectIdentifier(node)) {
            for i in gradPositions(node) where carries.contains(Key(node.inputs[i])) {
                contributions[Key(node.inputs[i]), default: 0] += 1
            }
        }
        for head in symbol.heads where carries.contains(Key(head)) { contributions[Key(head), default: 0] += 1 }

        // Output arrays and gradient buffers.
        var values: [Key: NDArray] = [:]
        var gradients: [Key: NDArray] = [:]
        for (name, array) in variables { values[.variable(name)] = array }
        for (name, g) in grads where carries.contains(.variable(name)) { gradients[.variable(name)] = g }
        try Self.checkFitsInMemory(nodes, shapes: shapes, needsBackward: needsBackward, bound: variables, grads: grads)
        let hint = "lower the batch size"
        for node in nodes {
            let id = ObjectIdentifier(node)
            guard let outShapes = shapes.outputs[id] else {
                throw GraphError.shapeError("no output shapes for node '\(node.name)'")
            }
            for (i, shape) in outShapes.enumerated() {
                let what = "the output of '\(node.name)'"
                values[.output(id, i)] = try Symbol.allocate(shape, for: what, hint: hint)
                if needsBackward.contains(id) {
                    gradients[.output(id, i)] = try Symbol.allocate(shape, for: "the gradient of \(what)", hint: hint)
                }
            }
        }

        // Summed buffers: zeroed before each backward, every contribution added. An argument with
        // GradReq.add is never zeroed (it accumulates across steps), and an argument with
        // GradReq.write that no slot writes is zeroed so that it still holds this step's gradient.
        var accumulate = Set<Key>()
        for (key, gradient) in gradients {
            let count = contributions[key, default: 0]
            var isAdd = false
            if case .variable(let name) = key { isAdd = reqs[name] == .add }
            if isAdd || count > 1 { accumulate.insert(key) }
            if !isAdd && count != 1 { zeroBeforeBackward.append(gradient) }
        }

        for (index, node) in nodes.enumerated() {
            let id = ObjectIdentifier(node)
            let argCount = node.argumentCount
            let inputs = node.inputs.prefix(argCount).map { values[Key($0)]! }
            let aux = node.inputs.dropFirst(argCount).map { values[Key($0)]! }
            let outs = (0..<node.outputCount).map { values[.output(id, $0)]! }
            var inputGrads = [NDArray?](repeating: nil, count: argCount)
            var gradReqs = [GradReq](repeating: .null, count: argCount)
            var outputGrads: [NDArray] = []
            if needsBackward.contains(id) {
                for i in gradPositions(node) {
                    let key = Key(node.inputs[i])
                    guard let g = gradients[key] else { continue }
                    inputGrads[i] = g
                    gradReqs[i] = accumulate.contains(key) ? .add : .write
                }
                outputGrads = (0..<node.outputCount).map { gradients[.output(id, $0)]! }
                backwardSteps.append(index)
            }
            let binding = OpBinding(
                inputs: Array(inputs), outputs: outs, aux: Array(aux), inputGrads: inputGrads, gradReqs: gradReqs,
                outputGrads: outputGrads)
            let context = OpCreationContext(
                inputShapes: inputs.map(\.shape), seed: Self.nodeSeed(seed, index))
            let instance: any OperatorInstance
            do {
                instance = try node.op!.makeInstance(context)
            } catch let error as GraphError {
                throw GraphError.bindError("node '\(node.name)' (\(node.opName)): \(error)")
            }
            steps.append(
                Executor.Step(
                    name: node.name, nodeIndex: index, instance: instance, binding: binding,
                    outputNames: (0..<node.outputCount).map(node.outputName)))
        }
        backwardSteps.reverse()

        for head in symbol.heads {
            let key = Key(head)
            outputs.append(values[key]!)
            headGradients.append(gradients[key].map { .init(buffer: $0, accumulate: accumulate.contains(key)) })
        }
    }

    /// A distinct, reproducible seed for node `index`.
    static func nodeSeed(_ seed: UInt64, _ index: Int) -> UInt64 {
        RandomGenerator.derivedSeed(seed, stream: UInt64(index + 1))
    }

    /// Throws when the bound arrays and the outputs (with their gradients where backward runs) need
    /// more than the machine's memory: a batch far too large is an error naming the largest output,
    /// not an allocation failure that kills the process.
    private static func checkFitsInMemory(
        _ nodes: [Symbol.Node], shapes: GraphShapes, needsBackward: Set<ObjectIdentifier>, bound: [String: NDArray],
        grads: [String: NDArray]
    ) throws {
        var footprint = MachineMemory.Footprint()
        for array in Array(bound.values) + Array(grads.values) { footprint.add(count: array.count) }
        for node in nodes {
            let id = ObjectIdentifier(node)
            for shape in shapes.outputs[id] ?? [] {
                footprint.add(node.name, shape: shape, copies: needsBackward.contains(id) ? 2 : 1)
            }
        }
        guard footprint.exceedsMemory, let largest = footprint.largest else { return }
        throw GraphError.bindError(
            "the network at this batch size needs \(MachineMemory.format(footprint.total)) for its arrays and activations, more than \(MachineMemory.limit.description); the largest is the output of '\(largest.name)' of shape \(NDArray.shapeDescription(largest.shape)) (\(MachineMemory.format(largest.bytes))): lower the batch size or the network's sizes"
        )
    }
}
