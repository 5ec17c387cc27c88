import SwiftPSTensor

/// An epoch-end callback for `fit`'s `epochEndCallbacks` that stops training once it has diverged:
/// when any parameter (argument or auxiliary state) holds a NaN or an infinity after an epoch, it
/// throws `ModuleError.diverged` naming those parameters. MXNet and PyTorch train on with NaN weights
/// to the last epoch (every later step stays NaN: `w - lr * NaN` is NaN); this ends the run at the
/// first epoch end instead. Put it before checkpoint callbacks, so no checkpoint of the diverged
/// weights is written and `--resume` finds the last good one.
public func stopOnNonFiniteParams() -> EpochEndCallback {
    { epoch, _, args, aux in
        let bad = nonFiniteParams(args) + nonFiniteParams(aux)
        if !bad.isEmpty { throw ModuleError.diverged(epoch: epoch, names: bad) }
    }
}

/// The names of the arrays in `params` that hold a NaN or an infinity, sorted.
func nonFiniteParams(_ params: [String: NDArray]) -> [String] {
    params.filter { _, array in array.withUnsafeBufferPointer { !$0.allSatisfy(\.isFinite) } }.keys.sorted()
}
