import Foundation
import SwiftPSTensor

extension Symbol {
    /// Binds the symbol to the caller's arrays, MXNet's `Symbol.bind(ctx, args, args_grad, grad_req,
    /// aux_states)` with dictionaries.
    ///
    /// - Parameters:
    ///   - args: an array for every name of `listArguments()`; other names are ignored.
    ///   - argGrads: gradient arrays, same shapes as the arguments; arguments without one take no
    ///     gradient.
    ///   - gradReqs: the request per argument; the default is `.write` where `argGrads` has an
    ///     array and `.null` elsewhere. Arguments that only feed label slots never get a gradient.
    ///   - aux: an array for every name of `listAuxiliaryStates()`.
    ///   - seed: the seed operators draw randomness from (Dropout); each node gets its own stream.
    /// - Throws: `GraphError.bindError` for missing or misshapen arrays, `GraphError.shapeError` when
    ///   the shapes do not fit the graph.
    public func bind(
        args: [String: NDArray], argGrads: [String: NDArray] = [:], gradReqs: [String: GradReq] = [:],
        aux: [String: NDArray] = [:], seed: UInt64 = 0
    ) throws -> Executor {
        let argNames = listArguments()
        let auxNames = listAuxiliaryStates()
        var variables: [String: NDArray] = [:]
        for (names, given, kind) in [(argNames, args, "argument"), (auxNames, aux, "auxiliary state")] {
            for name in names {
                guard let array = given[name] else { throw GraphError.bindError("no array for \(kind) '\(name)'") }
                variables[name] = array
            }
        }
        let shapes = try inferGraphShapes(variables.mapValues(\.shape))
        for (name, array) in variables where shapes.variables[name] != array.shape {
            throw GraphError.bindError(
                "'\(name)' has shape \(array.shape) but the graph needs \(shapes.variables[name] ?? [])")
        }
        var reqs: [String: GradReq] = [:]
        var grads: [String: NDArray] = [:]
        var gradArrays: [NDArray?] = []
        for name in argNames {
            let req = gradReqs[name] ?? (argGrads[name] == nil ? .null : .write)
            reqs[name] = req
            guard req != .null else {
                gradArrays.append(nil)
                continue
            }
            guard let g = argGrads[name] else {
                throw GraphError.bindError("'\(name)' has gradient request \(req.rawValue) but no gradient array")
            }
            guard g.shape == variables[name]!.shape else {
                throw GraphError.bindError(
                    "gradient of '\(name)' has shape \(g.shape) but the argument has \(variables[name]!.shape)")
            }
            grads[name] = g
            gradArrays.append(g)
        }
        let plan = try ExecutionPlan(
            symbol: self, variables: variables, grads: grads, reqs: reqs, shapes: shapes, seed: seed)
        return Executor(
            symbol: self, argArrays: argNames.map { variables[$0]! }, gradArrays: gradArrays,
            auxArrays: auxNames.map { variables[$0]! }, gradReqs: reqs, plan: plan)
    }

    /// Binds with arrays in `listArguments()` and `listAuxiliaryStates()` order (MXNet's `bind` with
    /// lists); `argGrads` is empty (no gradients) or has one entry per argument, nil for none.
    public func bind(
        args: [NDArray], argGrads: [NDArray?] = [], gradReqs: [String: GradReq] = [:], aux: [NDArray] = [],
        seed: UInt64 = 0
    ) throws -> Executor {
        let argNames = listArguments()
        let auxNames = listAuxiliaryStates()
        guard args.count == argNames.count else {
            throw GraphError.bindError("\(args.count) argument arrays for \(argNames.count) arguments: \(argNames)")
        }
        guard argGrads.isEmpty || argGrads.count == argNames.count else {
            throw GraphError.bindError("\(argGrads.count) gradient arrays for \(argNames.count) arguments")
        }
        guard aux.count == auxNames.count else {
            throw GraphError.bindError("\(aux.count) auxiliary arrays for \(auxNames.count) states: \(auxNames)")
        }
        var grads: [String: NDArray] = [:]
        for (name, g) in zip(argNames, argGrads) { if let g { grads[name] = g } }
        return try bind(
            args: Dictionary(zip(argNames, args), uniquingKeysWith: { a, _ in a }), argGrads: grads,
            gradReqs: gradReqs, aux: Dictionary(zip(auxNames, aux), uniquingKeysWith: { a, _ in a }), seed: seed)
    }

    /// Infers every shape from `shapes` and allocates zeroed arguments, gradients and auxiliary
    /// states, MXNet's `simple_bind(ctx, grad_req=…, **shapes)`.
    ///
    /// `gradReq` applies to every argument, as in MXNet, except arguments that only feed label slots
    /// (`softmax_label`), which cannot have a gradient and get none. Pass per-argument requests
    /// with `simpleBind(shapes:gradReqs:seed:)` to exclude data.
    public func simpleBind(shapes: [String: [Int]], gradReq: GradReq = .write, seed: UInt64 = 0) throws -> Executor {
        let labelsOnly = labelOnlyArguments()
        var reqs: [String: GradReq] = [:]
        for name in listArguments() { reqs[name] = labelsOnly.contains(name) ? .null : gradReq }
        return try simpleBind(shapes: shapes, gradReqs: reqs, seed: seed)
    }

    /// `simpleBind` with a request per argument; arguments missing from `gradReqs` take `.null`
    /// (MXNet's `simple_bind` with a `grad_req` dictionary).
    public func simpleBind(shapes: [String: [Int]], gradReqs: [String: GradReq], seed: UInt64 = 0) throws
        -> Executor
    {
        let (argShapes, _, auxShapes) = try inferShape(shapes)
        let argNames = listArguments()
        let auxNames = listAuxiliaryStates()
        try checkFitsInMemory(
            zip(argNames, argShapes).map { name, shape in (name, shape, (gradReqs[name] ?? .null) != .null) }
                + zip(auxNames, auxShapes).map { ($0, $1, false) })
        var args: [String: NDArray] = [:]
        var grads: [String: NDArray] = [:]
        var reqs: [String: GradReq] = [:]
        let hint = "check the network's sizes (num_hidden, num_filter) and the batch size"
        for (name, shape) in zip(argNames, argShapes) {
            args[name] = try Self.allocate(shape, for: "argument '\(name)'", hint: hint)
            let req = gradReqs[name] ?? .null
            reqs[name] = req
            if req != .null { grads[name] = try Self.allocate(shape, for: "the gradient of '\(name)'", hint: hint) }
        }
        var aux: [String: NDArray] = [:]
        for (name, shape) in zip(auxNames, auxShapes) {
            aux[name] = try Self.allocate(shape, for: "auxiliary state '\(name)'", hint: hint)
        }
        return try bind(args: args, argGrads: grads, gradReqs: reqs, aux: aux, seed: seed)
    }

    /// Throws `GraphError.bindError` when `arrays` (name, shape, and whether a gradient array of the
    /// same shape goes with it) need more bytes than this process may use (`MachineMemory.limit`): a network whose
    /// sizes are far too large (a `num_hidden` of 10^12 in a symbol file) is an error naming its
    /// largest array, rather than an allocation failure that kills the process.
    func checkFitsInMemory(_ arrays: [(name: String, shape: [Int], withGradient: Bool)]) throws {
        var footprint = MachineMemory.Footprint()
        for array in arrays { footprint.add(array.name, shape: array.shape, copies: array.withGradient ? 2 : 1) }
        guard footprint.exceedsMemory, let largest = footprint.largest else { return }
        throw GraphError.bindError(
            "the network's parameters, gradients and states alone need \(MachineMemory.format(footprint.total)), more than \(MachineMemory.limit.description); the largest is '\(largest.name)' of shape \(NDArray.shapeDescription(largest.shape)) (\(MachineMemory.format(largest.bytes))): check the network's sizes (num_hidden, num_filter) and the batch size"
        )
    }

    /// A zero-filled array of `shape`, or `GraphError.bindError` naming `what` when this machine
    /// cannot hold it now (`NDArray(checkedShape:for:hint:)`).
    static func allocate(_ shape: [Int], for what: String, hint: String) throws -> NDArray {
        do {
            return try NDArray(checkedShape: shape, for: what, hint: hint)
        } catch {
            throw GraphError.bindError(error.description)
        }
    }

    /// Arguments used only in label slots of loss operators (they never take a gradient).
    func labelOnlyArguments() -> Set<String> {
        var label = Set<String>()
        var other = Set<String>()
        for node in topologicalNodes {
            guard let op = node.op else { continue }
            for (i, entry) in node.inputs.prefix(node.argumentCount).enumerated() where entry.node.isVariable {
                if op.labelInputs.contains(i) {
                    label.insert(entry.node.name)
                } else {
                    other.insert(entry.node.name)
                }
            }
        }
        return label.subtracting(other)
    }
}
