import SwiftPSTensor

/// MXNet's `Flatten` (also spelt `flatten`): (N, d1, d2, …) → (N, d1·d2·…); the values are copied
/// unchanged and the gradient is copied back.
public struct Flatten: PlainUnaryOperator {
    public static let typeName = "Flatten"

    /// A Flatten.
    public init() {}

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard let data = s.first ?? nil, !data.isEmpty else {
            throw GraphError.shapeError("Flatten needs a data shape with at least one axis")
        }
        return ([data], [[data[0], data.dropFirst().reduce(1, *)]], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        CopyInstance(count: NDArray.elementCount(context.inputShapes[0]))
    }
}

/// The instance of the operators that only change the shape (Flatten, Reshape, `_copy`): forward
/// copies the values, backward copies (or adds) the gradient; for BlockGrad (`passesGradient`
/// false) the input's gradient is zero.
final class CopyInstance: OperatorInstance {
    let count: Int
    let passesGradient: Bool
    init(count: Int, passesGradient: Bool = true) {
        self.count = count
        self.passesGradient = passesGradient
    }

    /// Copies input 0 to output 0 (nothing when they share memory).
    static func copy(_ b: OpBinding, _ count: Int) {
        let x = b.inputs[0].data
        let y = b.outputs[0].data
        if x != y { y.update(from: x, count: count) }
    }

    func forward(_ b: OpBinding, isTrain: Bool) { Self.copy(b, count) }

    func backward(_ b: OpBinding) {
        let dy = b.outputGrads[0].data
        b.withGrad(0) { dx, acc in
            if !passesGradient {
                if !acc { dx.fill(0) }
            } else if acc {
                Kernels.addInPlace(count, dy, dx.data)
            } else if dx.data != dy {
                dx.data.update(from: dy, count: count)
            }
        }
    }
}
