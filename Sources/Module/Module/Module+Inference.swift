import SwiftPSGraph
import SwiftPSTensor

extension Module {
    /// Loads a checkpoint (`prefix-symbol.json`, `prefix-%04d.params`, written by SwiftPS or by MXNet
    /// 1.x) and binds it for inference on samples of `sampleShape` (without the batch axis).
    ///
    /// The sample shape must fit the network: when it does not, the error names the input shape and
    /// the parameter shape that disagrees. A flat sample of a square number of values (784) is
    /// reshaped to one channel (1, 28, 28) when the network needs an image. Every parameter and aux
    /// state the symbol needs must be in the file; the error names the first one missing.
    /// - Returns: the bound module, and the sample shape it was bound with.
    public static func loadForInference(
        prefix: String, epoch: Int, sampleShape: [Int], batchSize: Int, dataName: String = "data"
    ) throws -> (module: Module, sampleShape: [Int]) {
        let paramsPath = Module.paramsPath(prefix, epoch)
        let symbol = try Symbol.load(from: "\(prefix)-symbol.json")
        let (args, aux) = try ParamsFile.loadCheckpointParams(paramsPath)
        let labels = symbol.listArguments().filter { $0.hasSuffix("_label") }
        let module = try Module(symbol: symbol, dataNames: [dataName], labelNames: labels)

        var candidates = [sampleShape]
        let flat = sampleShape.reduce(1, *)
        let side = Int(Double(flat).squareRoot().rounded())
        if sampleShape.count == 1 && side * side == flat { candidates.append([1, side, side]) }
        if sampleShape.count > 1 { candidates.append([flat]) }
        var firstError: Error?
        for shape in candidates {
            do {
                try checkFits(symbol, args, aux, dataName: dataName, shape: [batchSize] + shape, paramsPath: paramsPath)
                try module.bind(
                    dataShapes: [DataDesc(name: dataName, shape: [batchSize] + shape)], forTraining: false,
                    forceRebind: true)
                try module.initParams(
                    initializer: nil, argParams: args, auxParams: aux, forceInit: true, allowExtra: true)
                return (module, shape)
            } catch let error as ModuleError {
                if case .missingParameter(let name) = error {
                    throw ModuleError.badInput("\(paramsPath) has no parameter '\(name)', which the symbol needs")
                }
                firstError = firstError ?? error
            } catch {
                firstError = firstError ?? error
            }
        }
        throw firstError ?? ModuleError.badInput("cannot bind \(prefix) for input \(sampleShape)")
    }

    /// Throws when the input shape does not fit: either shape inference fails, or a parameter in the
    /// file has another shape than the one the input implies.
    private static func checkFits(
        _ symbol: Symbol, _ args: [String: NDArray], _ aux: [String: NDArray], dataName: String, shape: [Int],
        paramsPath: String
    ) throws {
        let inferred: (args: [[Int]], outputs: [[Int]], aux: [[Int]])
        do {
            inferred = try symbol.inferShape([dataName: shape])
        } catch {
            throw ModuleError.badInput(
                "samples of shape \(Array(shape.dropFirst())) do not fit the network: \(error)")
        }
        for (name, want) in zip(symbol.listArguments(), inferred.args) {
            guard let have = args[name] else {
                if name == dataName || name.hasSuffix("_label") { continue }
                throw ModuleError.missingParameter(name)
            }
            guard have.shape == want else {
                throw ModuleError.badInput(
                    "samples of shape \(Array(shape.dropFirst())) do not fit the network: they need \(name) of "
                        + "shape \(want), but \(paramsPath) holds \(have.shape)")
            }
        }
        for (name, want) in zip(symbol.listAuxiliaryStates(), inferred.aux) {
            guard let have = aux[name] else { throw ModuleError.missingParameter(name) }
            guard have.shape == want else {
                throw ModuleError.badInput(
                    "aux state \(name) in \(paramsPath) is \(have.shape), the network needs \(want)")
            }
        }
    }
}
