import SwiftPSTensor

/// The optimizer state of one parameter, or of one slice of it, keyed by the parameter's name.
///
/// MXNet 1.x saves the `Updater`'s states as a pickle keyed by integer index and cannot save them
/// at all from servers (`kvstore.save_optimizer_states` asserts in dist mode). SwiftPS keys them by
/// name and records where a slice sits in the whole parameter, so the slices written by several
/// servers can be joined (`OptimizerStateFile.merge`) and cut again for another number of servers
/// (`OptimizerStateFile.slice`).
public struct NamedOptimizerState: Sendable {
    /// The parameter's name, for example `fc1_weight`.
    public var name: String
    /// Where this slice starts in the whole parameter (0 for a whole parameter).
    public var offset: Int
    /// The element count of the whole parameter.
    public var totalCount: Int
    /// The state of elements `offset ..< offset + state.count`.
    public var state: OptimizerState

    /// The state of a slice; throws `OptimizerError.badState` if the slice does not fit in the whole.
    public init(name: String, state: OptimizerState, offset: Int, totalCount: Int) throws(OptimizerError) {
        guard offset >= 0, totalCount >= 0, offset <= totalCount, state.count <= totalCount - offset else {
            throw .badState(
                "'\(name)': a slice of \(state.count) elements at offset \(offset) does not fit in \(totalCount)")
        }
        self.name = name
        self.offset = offset
        self.totalCount = totalCount
        self.state = state
    }

    /// The state of a whole parameter (offset 0, `totalCount == state.count`).
    public init(name: String, state: OptimizerState) {
        self.name = name
        self.offset = 0
        self.totalCount = state.count
        self.state = state
    }

    /// The elements this slice covers in the whole parameter.
    public var range: Range<Int> { offset..<(offset + state.count) }
}
