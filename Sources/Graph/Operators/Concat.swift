import SwiftPSTensor

/// MXNet's `Concat`: joins `num_args` arrays along axis `dim` (default 1; negative counts from the
/// end). Arguments are named `arg0`, `arg1`, …; all other axes must agree.
public struct Concat: Operator {
    public static let typeName = "Concat"
    public static let attributeNames: [String] = ["num_args", "dim"]
    /// How many arrays are joined.
    public let numArgs: Int
    /// The axis they are joined along, as given (may be negative).
    public let dim: Int
    /// The most inputs one Concat takes: a symbol file's `num_args` above it is an error.
    public static let maxArgs = 65_536

    public init(attributes: [String: String]) throws {
        let r = AttributeReader(op: Self.typeName, attributes)
        numArgs = try r.int("num_args")
        dim = try r.int("dim", default: 1)
        guard numArgs >= 1 else { throw r.bad("num_args", "\(numArgs)", "must be at least 1") }
        // Each argument is named and listed: a symbol file's num_args must not size that list unchecked.
        guard numArgs <= Self.maxArgs else {
            throw r.bad("num_args", "\(numArgs)", "must be at most \(Self.maxArgs) (SwiftPS's limit)")
        }
    }

    /// A Concat of `numArgs` arrays along `dim`.
    public init(numArgs: Int, dim: Int = 1) {
        self.numArgs = numArgs
        self.dim = dim
    }

    public var attributes: [String: String] { ["num_args": String(numArgs), "dim": String(dim)] }

    public func listArguments() -> [String] { (0..<numArgs).map { "arg\($0)" } }

    func axis(_ ndim: Int) throws -> Int {
        let a = dim < 0 ? dim + ndim : dim
        guard a >= 0, a < ndim else {
            throw GraphError.shapeError("Concat dim \(dim) is out of range for \(ndim)-D inputs")
        }
        return a
    }

    public func inferShape(_ s: [[Int]?]) throws -> (inputs: [[Int]], outputs: [[Int]], aux: [[Int]]) {
        guard s.count == numArgs else {
            throw GraphError.shapeError("Concat has num_args=\(numArgs) but \(s.count) inputs")
        }
        var shapes: [[Int]] = []
        for (i, shape) in s.enumerated() {
            guard let shape else {
                throw GraphError.shapeError("Concat needs the shape of every input; arg\(i) is unknown")
            }
            shapes.append(shape)
        }
        let first = shapes[0]
        let a = try axis(first.count)
        var out = first
        for (i, shape) in shapes.enumerated().dropFirst() {
            var other = shape
            guard other.count == first.count else {
                throw GraphError.shapeError("Concat arg\(i) has shape \(shape), arg0 has \(first): ranks differ")
            }
            other[a] = first[a]
            guard other == first else {
                throw GraphError.shapeError("Concat arg\(i) shape \(shape) differs from arg0 \(first) off axis \(a)")
            }
            let (sum, overflow) = out[a].addingReportingOverflow(shape[a])
            guard !overflow else {
                throw GraphError.shapeError(
                    "Concat of \(shapes) along axis \(a) has more elements than memory can hold")
            }
            out[a] = sum
        }
        return (shapes, [out], [])
    }

    public func makeInstance(_ context: OpCreationContext) throws -> any OperatorInstance {
        let shapes = context.inputShapes
        return Instance(layout: AxisBlocks(parts: shapes, axis: try axis(shapes[0].count)))
    }

    final class Instance: OperatorInstance {
        let layout: AxisBlocks
        init(layout: AxisBlocks) { self.layout = layout }

        func forward(_ b: OpBinding, isTrain: Bool) {
            for i in b.inputs.indices { layout.put(i, b.inputs[i].data, into: b.outputs[0].data, accumulate: false) }
        }

        func backward(_ b: OpBinding) {
            for i in b.inputs.indices {
                b.withGrad(i) { dx, accumulate in
                    layout.take(i, from: b.outputGrads[0].data, into: dx.data, accumulate: accumulate)
                }
            }
        }
    }
}

/// Where parts joined along one axis lie in the whole (Concat's inputs in its output, SliceChannel's
/// outputs in its input): for each index of the axes before it, part `i` is a contiguous block of
/// `blocks[i]` elements at `starts[i]` within a run of `total`.
struct AxisBlocks {
    /// The product of the axes before the joining axis.
    let outer: Int
    let blocks: [Int]
    let starts: [Int]
    let total: Int

    /// The layout of parts of `parts` shapes (equal off `axis`) joined along `axis`.
    init(parts: [[Int]], axis: Int) {
        outer = parts[0][..<axis].reduce(1, *)
        blocks = parts.map { $0[axis...].reduce(1, *) }
        var starts: [Int] = []
        var start = 0
        for block in blocks {
            starts.append(start)
            start += block
        }
        self.starts = starts
        total = start
    }

    /// Copies (or adds) part `i` into its place in `whole`.
    func put(_ i: Int, _ part: UnsafePointer<Float>, into whole: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let block = blocks[i]
        for o in 0..<outer {
            let dst = whole + o * total + starts[i]
            if accumulate {
                Kernels.addInPlace(block, part + o * block, dst)
            } else {
                dst.update(from: part + o * block, count: block)
            }
        }
    }

    /// Copies (or adds) part `i`'s place in `whole` into `part`.
    func take(_ i: Int, from whole: UnsafePointer<Float>, into part: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let block = blocks[i]
        for o in 0..<outer {
            let src = whole + o * total + starts[i]
            if accumulate {
                Kernels.addInPlace(block, src, part + o * block)
            } else {
                (part + o * block).update(from: src, count: block)
            }
        }
    }
}
