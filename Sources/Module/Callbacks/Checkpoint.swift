import SwiftPSGraph
import SwiftPSTensor

/// An epoch-end callback that saves a checkpoint every `period` epochs, MXNet 1.x's
/// `mx.callback.do_checkpoint(prefix, period=1)`.
///
/// After epoch `e` (from 0) it calls `save(e + 1)` when `(e + 1) % period == 0`, so files are
/// numbered from 1 (`prefix-0001.params` after the first epoch). A `period` below 1 counts as 1,
/// as in MXNet. The Module provides `save` (it knows the prefix, the symbol and the parameters,
/// and in distributed runs coordinates the checkpoint barrier); errors from `save` propagate to
/// the caller of the returned closure rather than being swallowed.
public func doCheckpoint(period: Int = 1, save: @escaping (_ epochNumber: Int) throws -> Void) -> (_ epoch: Int)
    throws -> Void
{
    let period = max(1, period)
    return { epoch in
        if (epoch + 1) % period == 0 { try save(epoch + 1) }
    }
}

/// An epoch-end callback for `fit`'s `epochEndCallbacks` that writes `prefix-symbol.json` and
/// `prefix-%04d.params` every `period` epochs, MXNet 1.x's `mx.callback.do_checkpoint(prefix,
/// period)` (which calls `mx.model.save_checkpoint`): numbered from 1, each file written atomically,
/// loadable with `Module.load(prefix:epoch:)`, `swiftps score`/`predict` and MXNet. The optimizer
/// state is not saved (as in MXNet): call `Module.saveCheckpoint(prefix:epoch:saveOptimizerStates:)`
/// through `doCheckpoint(period:save:)` for that.
public func doCheckpoint(prefix: String, period: Int = 1) -> EpochEndCallback {
    { epoch, symbol, args, aux in
        try doCheckpoint(period: period) { number in
            try symbol?.save(to: "\(prefix)-symbol.json")
            try ParamsFile.saveCheckpointParams(args: args, aux: aux, to: Module.paramsPath(prefix, number))
        }(epoch)
    }
}
