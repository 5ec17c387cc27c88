import SwiftPSTensor

extension OptimizerStateFile {
    /// Joins the slices of each parameter into whole-parameter states.
    ///
    /// Parameter servers each hold a slice of a big parameter; their snapshots are merged here so
    /// the state can be cut again for another number of servers (`slice`). Slices are grouped by name
    /// (the result keeps the order in which names first appear) and ordered by offset. Throws
    /// `OptimizerError.badState` naming the parameter if its slices overlap, leave a gap (including
    /// at either end), disagree on the whole parameter's size, the update count or the number of
    /// state arrays. The result always holds fresh copies of the data.
    public static func merge(slices: [NamedOptimizerState]) throws(OptimizerError) -> [NamedOptimizerState] {
        var order: [String] = []
        var groups: [String: [NamedOptimizerState]] = [:]
        for s in slices {
            if groups[s.name] == nil { order.append(s.name) }
            groups[s.name, default: []].append(s)
        }
        var out: [NamedOptimizerState] = []
        for name in order {
            let parts = (groups[name] ?? []).sorted { $0.offset < $1.offset }
            out.append(try join(name: name, parts))
        }
        return out
    }

    private static func join(name: String, _ parts: [NamedOptimizerState]) throws(OptimizerError) -> NamedOptimizerState
    {
        guard let first = parts.first else { throw .badState("'\(name)': no slices to merge") }
        let total = first.totalCount
        let arrayCount = first.state.arrays.count
        let numUpdate = first.state.numUpdate
        var next = 0
        for p in parts {
            guard p.totalCount == total else {
                throw .badState("'\(name)': slices disagree on the parameter size (\(total) and \(p.totalCount))")
            }
            guard p.state.arrays.count == arrayCount else {
                throw .badState(
                    "'\(name)': slices disagree on the number of state arrays (\(arrayCount) and \(p.state.arrays.count))"
                )
            }
            guard p.state.numUpdate == numUpdate else {
                throw .badState(
                    "'\(name)': slices disagree on the update count (\(numUpdate) and \(p.state.numUpdate))")
            }
            if p.offset < next {
                throw .badState("'\(name)': slices overlap at elements \(p.offset)..<\(next)")
            }
            if p.offset > next {
                throw .badState("'\(name)': no slice covers elements \(next)..<\(p.offset)")
            }
            next = p.offset + p.state.count
        }
        guard next == total else {
            throw .badState("'\(name)': no slice covers elements \(next)..<\(total)")
        }
        let arrays = (0..<arrayCount).map { _ in NDArray(shape: [total]) }
        for p in parts {
            for (dst, src) in zip(arrays, p.state.arrays) where src.count > 0 {
                withExtendedLifetime((dst, src)) { (dst.data + p.offset).update(from: src.data, count: src.count) }
            }
        }
        return NamedOptimizerState(
            name: name, state: OptimizerState(unchecked: total, arrays: arrays, numUpdate: numUpdate))
    }

    /// Cuts the state of elements `range` (in whole-parameter coordinates) out of `whole`.
    ///
    /// `whole` may itself be a slice; `range` must lie inside it. This is how a server restores its
    /// part of a parameter's state after the number of servers changed. The result holds copies.
    /// Throws `OptimizerError.badState` naming the parameter if `range` does not fit.
    public static func slice(_ whole: NamedOptimizerState, range: Range<Int>) throws(OptimizerError)
        -> NamedOptimizerState
    {
        let have = whole.range
        guard range.lowerBound >= have.lowerBound, range.upperBound <= have.upperBound else {
            throw .badState("'\(whole.name)': cannot cut elements \(range) from a state holding \(have)")
        }
        let start = range.lowerBound - whole.offset
        let arrays = whole.state.arrays.map { src in
            let dst = NDArray(shape: [range.count])
            if range.count > 0 {
                withExtendedLifetime(src) { dst.data.update(from: src.data + start, count: range.count) }
            }
            return dst
        }
        let state = OptimizerState(unchecked: range.count, arrays: arrays, numUpdate: whole.state.numUpdate)
        return try NamedOptimizerState(
            name: whole.name, state: state, offset: range.lowerBound, totalCount: whole.totalCount)
    }
}
