import SwiftPSGraph
import SwiftPSTensor

/// An executor of one binding, for one set of input shapes (`Module.reshape`).
struct ShapedExecutor {
    /// The input shapes it was made for, by name: the cache's key.
    var shapes: [String: [Int]]
    var executor: Executor
    var dataShapes: [DataDesc]
    var labelShapes: [DataDesc]
}

/// Other input shapes on the same parameters: MXNet's `Module.reshape`, which `forward` calls when a
/// batch's data arrives in another shape (a last batch of another size, one sample to predict).
extension Module {
    /// How many executors of other shapes a binding keeps (the least recently used go first).
    static let shapedExecutorLimit = 4

    /// Runs the module on inputs of other shapes from now on (MXNet's `Module.reshape`): an executor
    /// for `dataShapes` (and `labelShapes`; left out, labels take the shape their loss infers) on the
    /// very parameter and gradient arrays of the bound one, so weights, gradients still to be
    /// pushed, the kvstore's requests in flight and modules bound on this one's memory carry on
    /// untouched. The executors of the last few shapes are kept, so alternating between two batch
    /// sizes allocates nothing after the first switch. What `initOptimizer` derived from the batch
    /// size (the gradient's `rescaleGrad`) stays as it was, as in MXNet.
    ///
    /// Throws `ModuleError.wrongState` before `bind`, and `ModuleError.badInput` naming the shapes when
    /// the network cannot take them (a parameter's shape would change).
    public func reshape(dataShapes: [DataDesc], labelShapes: [DataDesc]? = nil) throws {
        guard binded, let current = executor else { throw ModuleError.wrongState(call: "reshape", needs: "bind") }
        try checkDataNames(dataShapes)
        let labels = labelShapes ?? []
        let shapes = Self.shapeKey(dataShapes + labels)
        let currentShapes = Self.shapeKey(self.dataShapes + self.labelShapes)
        if shapes == currentShapes {
            self.dataShapes = dataShapes
            self.labelShapes = labels
            return
        }
        // The bound executor joins the kept ones the first time the module leaves its shapes.
        if !shapedExecutors.contains(where: { $0.shapes == currentShapes }) {
            shapedExecutors.append(
                ShapedExecutor(
                    shapes: currentShapes, executor: current, dataShapes: self.dataShapes,
                    labelShapes: self.labelShapes))
        }
        let chosen: ShapedExecutor
        if let index = shapedExecutors.firstIndex(where: { $0.shapes == shapes }) {
            chosen = shapedExecutors.remove(at: index)
        } else {
            let made: Executor
            do {
                made = try makeExecutor(shapes: shapes, sharingWith: current)
            } catch {
                throw ModuleError.badInput(
                    "cannot run inputs \(dataShapes + labels) on this module, bound for \(self.dataShapes + self.labelShapes): \(error)"
                )
            }
            chosen = ShapedExecutor(shapes: shapes, executor: made, dataShapes: dataShapes, labelShapes: labels)
        }
        shapedExecutors.append(chosen)
        if shapedExecutors.count > Self.shapedExecutorLimit { shapedExecutors.removeFirst() }
        if let monitor { chosen.executor.setMonitorCallback(monitor.observe) }
        executor = chosen.executor
        self.dataShapes = dataShapes
        self.labelShapes = labels
    }

    /// An executor for `shapes` on `current`'s parameters, gradients and auxiliary states, with its
    /// gradient requests, its random stream restarted where `startEpoch` last put the module's.
    private func makeExecutor(shapes: [String: [Int]], sharingWith current: Executor) throws -> Executor {
        let fresh = try sym.simpleBind(shapes: shapes, gradReqs: current.gradReqs, seed: seed)
        var args = fresh.argDict
        var grads = fresh.gradDict
        var aux = fresh.auxDict
        for name in paramNames {
            args[name] = current.argDict[name]
            if let gradient = current.gradDict[name] { grads[name] = gradient }
        }
        for name in auxNames { aux[name] = current.auxDict[name] }
        let made = try sym.bind(args: args, argGrads: grads, gradReqs: current.gradReqs, aux: aux, seed: seed)
        if let epochSeed { made.reseed(epochSeed) }
        return made
    }

    /// The shapes of `descriptions` by name.
    static func shapeKey(_ descriptions: [DataDesc]) -> [String: [Int]] {
        Dictionary(descriptions.map { ($0.name, $0.shape) }, uniquingKeysWith: { first, _ in first })
    }

    /// Throws unless `dataShapes` names exactly the module's data inputs (MXNet's message).
    func checkDataNames(_ dataShapes: [DataDesc]) throws {
        let given = dataShapes.map(\.name)
        guard given.sorted() == dataNames.sorted() else {
            throw ModuleError.badInput(
                "Data provided by data_shapes don't match names specified by data_names (\(given) vs. \(dataNames))")
        }
    }

    /// The shapes `forward` must reshape to for `batch`, whose data arrays are named `dataOrder` and
    /// labels `labelOrder`, or nil when the bound executor takes it: every data array has its bound
    /// shape, or at least its element count and rows (`[4, 1, 2]` for `[4, 2]`).
    func shapesToRun(_ batch: DataBatch, dataOrder: [String], labelOrder: [String]) -> (
        data: [DataDesc], labels: [DataDesc]?
    )? {
        // Every step comes here: a look-up in the few bound descriptions, nothing allocated.
        let fits = zip(dataOrder, batch.data).allSatisfy { name, array in
            dataShapes.first { $0.name == name }.map { Self.takes(bound: $0.shape, array.shape) } ?? true
        }
        if fits { return nil }
        let data = zip(dataOrder, batch.data).map { DataDesc(name: $0, shape: $1.shape) }
        let labels = zip(labelOrder, batch.label).map { DataDesc(name: $0, shape: $1.shape) }
        return (data, labels.isEmpty ? nil : labels)
    }
}
