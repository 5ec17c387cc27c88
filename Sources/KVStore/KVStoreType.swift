/// The kinds of key-value store, by MXNet's type strings.
public enum KVStoreType: String, Sendable, CaseIterable, CustomStringConvertible {
    /// One process; gradients are summed and the optimizer runs locally.
    case local
    /// Synchronous data parallelism over the parameter servers (MXNet's default `dist`).
    case distSync = "dist_sync"
    /// Asynchronous: each push is applied on arrival.
    case distAsync = "dist_async"

    /// Parses MXNet's names: `local`, `device` (treated as local), `dist`, `dist_sync`,
    /// `dist_sync_device`, `dist_async`. As in MXNet, a `dist` type without `_async` is synchronous.
    /// One departure: MXNet's Module divides gradients by the global batch (`rescale_grad` 1/(batch ×
    /// workers)) only when the type says `_sync`, so a plain `dist` job there updates with the sum of
    /// the workers' mean gradients, a learning rate `workers` times larger; here every synchronous
    /// type, `dist` included, averages over the global batch (pass `rescaleGrad` to choose otherwise).
    public init?(parsing name: String) {
        let n = name.lowercased()
        if n.hasPrefix("dist") {
            self = n.contains("_async") ? .distAsync : .distSync
        } else if n == "local" || n == "device" || n.hasPrefix("local_") {
            self = .local
        } else {
            return nil
        }
    }

    /// True for the parameter-server types.
    public var isDistributed: Bool { self != .local }

    public var description: String { rawValue }
}
