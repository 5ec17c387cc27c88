import Foundation

/// The names of the files of one checkpoint (MXNet's layout plus SwiftPS's own files).
///
/// - `prefix-symbol.json`: the network (MXNet's), rewritten with the same content at each checkpoint.
/// - `prefix-%04d.params`: the full weights as `arg:<name>` (and `aux:<name>`) arrays, MXNet's format.
/// - `prefix-%04d.states`: local mode's optimizer state (`SPSOPT01`, whole parameters).
/// - `prefix-%04d.serverK.params`: server K's slices of the weights, in the `.params` format with
///   keys `slice:<offset>:<total>:<name>` (see `ServerShardFile`).
/// - `prefix-%04d.serverK.states`: server K's optimizer state (`SPSOPT01`, slices by name + offset).
/// - `prefix-%04d.workerK.residuals`: with gradient compression, what worker K's pushes had not sent
///   yet, `residual:<name>` arrays in the `.params` format.
/// - `prefix-%04d.manifest.json`: the list of the checkpoint's files with sizes and SHA-256,
///   written last: a checkpoint is complete exactly when its manifest exists and verifies.
public struct CheckpointLayout: Sendable, Equatable {
    /// The model prefix, for example `/data/run/mlp`.
    public let prefix: String
    /// The checkpoint's epoch number (MXNet's: the number of epochs trained, so 1 after the first).
    public let epoch: Int

    /// The files of checkpoint `epoch` under `prefix`.
    public init(prefix: String, epoch: Int) {
        self.prefix = prefix
        self.epoch = epoch
    }

    /// `%04d` of the epoch, as MXNet's `save_checkpoint` names files.
    public var tag: String {
        let digits = String(epoch)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// The directory holding the files ("." for a bare prefix; the prefix itself when it ends in
    /// "/", whose files MXNet names `ck/-0001.params`).
    public var directory: String {
        if prefix.hasSuffix("/") { return prefix.count == 1 ? "/" : String(prefix.dropLast()) }
        let dir = (prefix as NSString).deletingLastPathComponent
        return dir.isEmpty ? "." : dir
    }

    /// What every file name of the checkpoint has before its `-`: the prefix's last component, or
    /// nothing for a prefix ending in "/".
    public var baseName: String { prefix.hasSuffix("/") ? "" : (prefix as NSString).lastPathComponent }

    /// `prefix-symbol.json`.
    public var symbolPath: String { "\(prefix)-symbol.json" }
    /// `prefix-%04d.params`.
    public var paramsPath: String { "\(prefix)-\(tag).params" }
    /// `prefix-%04d.states` (local mode).
    public var localStatesPath: String { "\(prefix)-\(tag).states" }
    /// `prefix-%04d.manifest.json`.
    public var manifestPath: String { "\(prefix)-\(tag).manifest.json" }
    /// `prefix-%04d.serverK.params`.
    public func serverParamsPath(_ server: Int) -> String { "\(prefix)-\(tag).server\(server).params" }
    /// `prefix-%04d.serverK.states`.
    public func serverStatesPath(_ server: Int) -> String { "\(prefix)-\(tag).server\(server).states" }
    /// `prefix-%04d.workerK.residuals`.
    public func workerResidualsPath(_ worker: Int) -> String { "\(prefix)-\(tag).worker\(worker).residuals" }
    /// The arrays worker 0 holds itself (auxiliary states; every weight when the workers run the
    /// optimizer), as it offers them to the scheduler (a `.params` file, never written as such).
    public var workerArraysPath: String { "\(prefix)-\(tag).worker0.arrays" }

    /// The epochs under `prefix` that have a manifest file, newest first (not yet verified).
    public static func epochsWithManifest(prefix: String) -> [Int] {
        epochs(prefix: prefix, withSuffix: ".manifest.json")
    }

    /// The epochs under `prefix` that have a `prefix-%04d.params` file, newest first (what
    /// `--load-epoch` can name, checkpoints of MXNet's included).
    public static func epochsWithParams(prefix: String) -> [Int] {
        epochs(prefix: prefix, withSuffix: ".params")
    }

    /// The epochs `N` for which `prefix-%04d<suffix>` exists, newest first.
    private static func epochs(prefix: String, withSuffix suffix: String) -> [Int] {
        let probe = CheckpointLayout(prefix: prefix, epoch: 0)
        let base = probe.baseName + "-"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: probe.directory)) ?? []
        return names.compactMap { name -> Int? in
            guard name.hasPrefix(base), name.hasSuffix(suffix) else { return nil }
            let middle = name.dropFirst(base.count).dropLast(suffix.count)
            guard middle.count >= 4, middle.allSatisfy(\.isASCII), let epoch = Int(middle), epoch >= 0 else {
                return nil
            }
            return epoch
        }.sorted(by: >)
    }
}
