import SwiftPSGraph
import SwiftPSTensor
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Pooling sweeps the windows of a row that lie wholly inside the input four at a time, and takes
/// the clipped ones at the ends of a row one by one. Both must give what one window's loop over its
/// cells gives: the reference below, written from MXNet's definition, on inputs wide enough that
/// every row has swept windows, with many ties (small integers), so that the max's first largest
/// cell in row-major order is checked too.
@Suite struct PoolingSweepTests {
    /// One configuration: data shape and Pooling attributes.
    struct Case: CustomStringConvertible, Sendable {
        let data: [Int]
        let attributes: [String: String]
        var description: String { "\(data) \(attributes.sorted { $0.key < $1.key })" }
    }

    static let cases: [Case] = {
        var cases: [Case] = []
        let shapes: [([Int], String, String, String)] = [
            ([2, 3, 9, 23], "(3, 3)", "(2, 2)", "(1, 1)"),  // ResNet's stem pooling
            ([1, 2, 7, 19], "(3, 3)", "(1, 1)", "(1, 1)"),
            ([1, 2, 8, 29], "(2, 5)", "(3, 1)", "(0, 2)"),
            ([2, 3, 30], "(4,)", "(3,)", "(1,)"),
            ([1, 2, 4, 5, 21], "(2, 2, 3)", "(1, 2, 2)", "(1, 0, 1)"),
        ]
        for (data, kernel, stride, pad) in shapes {
            for kind in ["max", "avg", "sum", "lp"] {
                for convention in ["valid", "full"] {
                    var a = ["kernel": kernel, "stride": stride, "pad": pad, "pool_type": kind]
                    a["pooling_convention"] = convention
                    if kind == "lp" { a["p_value"] = "2" }
                    cases.append(Case(data: data, attributes: a))
                    if kind == "avg" {
                        a["count_include_pad"] = "False"
                        cases.append(Case(data: data, attributes: a))
                    }
                }
            }
        }
        return cases
    }()

    /// Integers −2…2: many ties within a window.
    static func input(_ shape: [Int]) -> NDArray {
        var rng = RandomGenerator(seed: 11)
        let x = NDArray(shape: shape)
        for i in 0..<x.count { x.data[i] = Float(Int(rng.uniform(0, 5)) - 2) }
        return x
    }

    /// The output and input gradient for head gradient `dy`, one window at a time.
    static func reference(_ op: Pooling, _ x: NDArray, _ outShape: [Int], _ dy: NDArray) -> ([Float], [Float]) {
        let spatial = x.shape.count - 2
        let inDims = Array(x.shape[2...])
        let outDims = Array(outShape[2...])
        let planes = x.shape[0] * x.shape[1]
        let inVolume = inDims.reduce(1, *)
        let outVolume = outDims.reduce(1, *)
        var y = [Float](repeating: 0, count: planes * outVolume)
        var dx = [Float](repeating: 0, count: x.count)
        for plane in 0..<planes {
            for o in 0..<outVolume {
                // The output's position on each axis, its window's cells inside the input, and the
                // window's size clipped to the padded input.
                var rest = o
                var position = [Int](repeating: 0, count: spatial)
                for a in (0..<spatial).reversed() {
                    position[a] = rest % outDims[a]
                    rest /= outDims[a]
                }
                var ranges: [Range<Int>] = []
                var padded = 1
                for a in 0..<spatial {
                    let start = position[a] * op.stride[a] - op.pad[a]
                    let end = min(start + op.kernel[a], inDims[a] + op.pad[a])
                    padded *= end - start
                    ranges.append(max(start, 0)..<max(max(start, 0), min(end, inDims[a])))
                }
                var cells: [Int] = [0]
                for a in 0..<spatial {
                    cells = cells.flatMap { c in ranges[a].map { c * inDims[a] + $0 } }
                }
                if ranges.contains(where: \.isEmpty) { cells = [] }
                let xs = cells.map { x.data[plane * inVolume + $0] }
                let out = plane * outVolume + o
                let d = dy.data[out]
                switch op.kind {
                case .max:
                    guard var best = xs.indices.first else {
                        y[out] = -Float.greatestFiniteMagnitude
                        continue
                    }
                    for i in xs.indices where xs[i] > xs[best] { best = i }
                    y[out] = xs[best]
                    dx[plane * inVolume + cells[best]] += d
                case .avg, .sum:
                    let count = op.kind == .sum ? 1 : (op.countIncludePad ? padded : cells.count)
                    let divisor = Float(count > 0 ? count : 1)
                    y[out] = xs.reduce(0, +) / divisor
                    for c in cells { dx[plane * inVolume + c] += d / divisor }
                case .lp:
                    let s = xs.reduce(Float(0)) { $0 + $1 * $1 }
                    y[out] = s.squareRoot()
                    for (c, v) in zip(cells, xs) { dx[plane * inVolume + c] += y[out] == 0 ? 0 : d * v / y[out] }
                }
            }
        }
        return (y, dx)
    }

    @Test(arguments: cases)
    func sweptWindowsAreEachWindowsLoop(_ c: Case) throws {
        let op = try Pooling(attributes: c.attributes)
        let x = Self.input(c.data)
        let f = try OpFixture(op, shapes: [nil], given: [0: x])
        let (y, dx) = Self.reference(op, x, f.outputShapes[0], f.heads[0])
        let grads = try f.gradients()
        // The same cells in the same order: the same bits.
        #expect(f.outputs[0].toArray() == y, "\(c)")
        expectClose(grads[0]!.toArray(), dx, "\(c) gradient")
        // Several compute threads split the planes: the same bits again.
        try ComputeThreads.withThreads(2) {
            let twice = try f.gradients()
            #expect(f.outputs[0].toArray() == y, "\(c) on two threads")
            #expect(twice[0]!.toArray() == grads[0]!.toArray(), "\(c) gradient on two threads")
        }
    }
}
