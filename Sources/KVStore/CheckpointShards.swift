import Foundation
import SwiftPSOptimizer
import SwiftPSTensor

/// The servers' shards of a distributed checkpoint, joined into whole parameters: what a server
/// restores its slices from at `LOAD_CHECKPOINT`, whatever the number of servers that wrote them
/// (slices are matched by parameter name and element offset, never by server or key number).
public struct CheckpointShards: Sendable {
    /// The whole weights of every parameter, flattened.
    public let weights: [String: NDArray]
    /// The whole optimizer state of every parameter that had been updated.
    public let states: [String: NamedOptimizerState]
    /// The optimizer configuration the states were written with.
    public let optimizer: OptimizerConfig?

    /// What a missing shard file's error says of where it comes from.
    private static func writtenHint(_ file: CheckpointManifest.File, layout: CheckpointLayout) -> String {
        let writer = file.server.map { "from server \($0)'s answer to CHECKPOINT" } ?? "from a server's shard"
        return "the scheduler writes it \(writer); listed in \(layout.manifestPath)"
    }

    /// Throws naming `path` unless it holds a file of the size `file` lists (its content is not read).
    private static func checkOnDisk(_ file: CheckpointManifest.File, path: String, layout: CheckpointLayout)
        throws(CheckpointError)
    {
        guard let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int else {
            throw .missing(path: path, hint: writtenHint(file, layout: layout))
        }
        guard size == file.bytes else {
            throw .corrupt(path: path, reason: "\(size) bytes, the manifest says \(file.bytes)")
        }
    }

    /// Joins the given server shards; throws `inconsistent` if slices overlap or leave gaps.
    public init(weightSlices: [WeightSlice], stateSlices: [NamedOptimizerState], optimizer: OptimizerConfig?)
        throws(CheckpointError)
    {
        weights = try ServerShardFile.merge(weightSlices)
        do {
            states = Dictionary(
                uniqueKeysWithValues: try OptimizerStateFile.merge(slices: stateSlices).map { ($0.name, $0) })
        } catch {
            throw .inconsistent("optimizer state: \(error)")
        }
        for (name, state) in states where weights[name]?.count != state.totalCount {
            throw .inconsistent(
                "'\(name)' has \(state.totalCount) elements of optimizer state but \(weights[name]?.count ?? 0) weights"
            )
        }
        self.optimizer = optimizer
    }

    /// A checkpoint without server shards (one process's, or one whose workers ran the optimizer),
    /// from its `prefix-%04d.params` (the `arg:` arrays) and its optimizer-state file, if it has
    /// one, as whole parameters: what the servers restore from when they run the optimizer of a job
    /// resumed from it. The paths name the files in errors.
    public static func whole(params: [UInt8], paramsPath: String, states: [UInt8]?, statesPath: String)
        throws(CheckpointError) -> CheckpointShards
    {
        let args: [String: NDArray]
        do {
            args = try ParamsFile.decodeCheckpointParams(params, path: paramsPath).args
        } catch {
            throw .corrupt(path: paramsPath, reason: "\(error)")
        }
        var weights: [WeightSlice] = []
        for (name, array) in args {
            guard let flat = try? array.reshaped([array.count]) else {
                throw .corrupt(path: paramsPath, reason: "'arg:\(name)' cannot be flattened")
            }
            weights.append(WeightSlice(name: name, offset: 0, totalCount: array.count, values: flat))
        }
        guard let states else { return try CheckpointShards(weightSlices: weights, stateSlices: [], optimizer: nil) }
        do {
            let (config, named) = try OptimizerStateFile.decode(states, path: statesPath)
            return try CheckpointShards(weightSlices: weights, stateSlices: named, optimizer: config)
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw .corrupt(path: statesPath, reason: "\(error)")
        }
    }

    /// The whole optimizer state as an optimizer-state file (what one process writes), for a
    /// worker that runs the optimizer of a job resumed from server shards.
    public func statesFile() throws -> [UInt8] {
        try OptimizerStateFile.encode(config: optimizer, states: states.keys.sorted().compactMap { states[$0] })
    }

    /// Reads every server file `manifest` lists for `layout` (checked against the manifest's sizes
    /// and SHA-256) and joins them. Throws naming the file that is missing or damaged.
    public static func load(_ layout: CheckpointLayout, manifest: CheckpointManifest, weightsOnly: Bool = false)
        throws(CheckpointError) -> CheckpointShards
    {
        try join(layout, manifest: manifest, weightsOnly: weightsOnly) { file, path throws(CheckpointError) in
            let bytes = try CheckpointManifest.readFile(path, hint: writtenHint(file, layout: layout))
            try file.check(bytes, path: path)
            return bytes
        }
    }

    /// Joins the server files `manifest` lists from `contents` (their bytes by file name, as the
    /// scheduler sent them), each checked against the manifest's size and SHA-256, exactly as
    /// `load` checks files on disk. Throws naming the file that is absent or differs.
    ///
    /// With `weightsOnly` (the scheduler assembling `prefix-%04d.params`, which needs no optimizer
    /// state) `contents` need only hold the weight shards: the state shards are not read, only
    /// checked to be on disk with the listed size, and the result has no states.
    public static func decode(
        _ layout: CheckpointLayout, manifest: CheckpointManifest, contents: [String: [UInt8]], source: String,
        weightsOnly: Bool = false
    ) throws(CheckpointError) -> CheckpointShards {
        try join(layout, manifest: manifest, weightsOnly: weightsOnly) { file, path throws(CheckpointError) in
            guard let bytes = contents[file.name] else {
                throw .missing(path: path, hint: "\(source) did not send it")
            }
            try file.check(bytes, path: path, source: source)
            return bytes
        }
    }

    /// Joins the server files `manifest` lists as `fetch` gives them (verified: a server reading
    /// them from the scheduler checks each as it arrives), one at a time, so only one file's bytes
    /// are held at once beside what is decoded.
    public static func fetch(
        _ layout: CheckpointLayout, manifest: CheckpointManifest,
        fetch: (CheckpointManifest.File, String) throws(CheckpointError) -> [UInt8]
    ) throws(CheckpointError) -> CheckpointShards {
        try join(layout, manifest: manifest, read: fetch)
    }

    /// The server files `manifest` lists (weights, then states), with their paths in `layout`.
    /// Throws `corrupt` when it does not list one of each per server.
    public static func serverFiles(_ layout: CheckpointLayout, manifest: CheckpointManifest) throws(CheckpointError)
        -> [CheckpointManifest.File]
    {
        let weightFiles = manifest.files(role: "server-params")
        let stateFiles = manifest.files(role: "server-states")
        guard manifest.numServers > 0, weightFiles.count == manifest.numServers,
            stateFiles.count == manifest.numServers
        else {
            throw .corrupt(
                path: layout.manifestPath,
                reason:
                    "it lists \(weightFiles.count) weight and \(stateFiles.count) state shards for \(manifest.numServers) servers"
            )
        }
        return weightFiles + stateFiles
    }

    /// The one code path of `load` and `decode`: `read` gives a listed file's verified bytes.
    private static func join(
        _ layout: CheckpointLayout, manifest: CheckpointManifest, weightsOnly: Bool = false,
        read: (CheckpointManifest.File, String) throws(CheckpointError) -> [UInt8]
    ) throws(CheckpointError) -> CheckpointShards {
        var slices = ShardSlices()
        for file in try serverFiles(layout, manifest: manifest) {
            let path = manifest.path(of: file, in: layout)
            if weightsOnly && file.role != "server-params" {
                try checkOnDisk(file, path: path, layout: layout)
                continue
            }
            try slices.add(file, bytes: try read(file, path), path: path)
        }
        return try CheckpointShards(
            weightSlices: slices.weights, stateSlices: slices.states, optimizer: slices.optimizer ?? manifest.optimizer)
    }

    /// The slices of server files, decoded but not joined.
    struct ShardSlices {
        var weights: [WeightSlice] = []
        var states: [NamedOptimizerState] = []
        var optimizer: OptimizerConfig?

        /// Decodes `bytes`, server file `file` (read from `path`), into its slices.
        mutating func add(_ file: CheckpointManifest.File, bytes: [UInt8], path: String) throws(CheckpointError) {
            if file.role == "server-params" {
                weights += try ServerShardFile.decode(bytes, path: path)
                return
            }
            do {
                let (config, slices) = try OptimizerStateFile.decode(bytes, path: path)
                optimizer = optimizer ?? config
                states += slices
            } catch {
                // `.corrupt` names the file itself: keep only what is wrong inside it.
                guard case .badStateFile(_, let reason) = error else { throw .corrupt(path: path, reason: "\(error)") }
                throw .corrupt(path: path, reason: "bad optimizer state: \(reason)")
            }
        }
    }

    /// The weights and optimizer state (nil if the parameter was never updated) of elements
    /// `offset ..< offset + count` of parameter `name`, as copies. Throws `inconsistent` when the
    /// checkpoint lacks the parameter or holds a different size of it.
    public func part(name: String, offset: Int, count: Int, totalCount: Int) throws(CheckpointError)
        -> (weights: NDArray, state: OptimizerState?)
    {
        guard let whole = weights[name] else {
            throw .inconsistent("the checkpoint has no parameter '\(name)' (it has \(weights.keys.sorted()))")
        }
        guard whole.count == totalCount, offset >= 0, offset + count <= totalCount else {
            throw .inconsistent(
                "'\(name)' has \(whole.count) elements in the checkpoint; the job asks for [\(offset), +\(count)) of \(totalCount)"
            )
        }
        let values = whole.slice(offset..<(offset + count)).copy()
        guard let state = states[name] else { return (values, nil) }
        do {
            return (values, try OptimizerStateFile.slice(state, range: offset..<(offset + count)).state)
        } catch {
            throw .inconsistent("optimizer state of '\(name)': \(error)")
        }
    }
}

/// One server's shard of a distributed checkpoint, its slices as that server held them, unjoined:
/// what server K of a job restores from when the job has as many servers as wrote the checkpoint,
/// whose slices are then server K's own (the placement depends only on the parameters, their
/// order, the server count and the big-array bound). Each server reads its own two files instead
/// of every server's. A slice it does not hold exactly (`part` gives nil) means the placement
/// changed; the server then reads every shard (`CheckpointShards`).
public struct CheckpointShard: Sendable {
    /// The server that wrote it.
    public let server: Int
    /// The optimizer configuration the states were written with.
    public let optimizer: OptimizerConfig?
    private let weights: [SliceKey: WeightSlice]
    private let states: [SliceKey: NamedOptimizerState]

    private struct SliceKey: Hashable {
        var name: String
        var offset: Int
    }

    /// Reads server `server`'s weight and state files that `manifest` lists for `layout` as `fetch`
    /// gives them (verified). Throws `corrupt` when the manifest lists no such server's files.
    public static func fetch(
        _ layout: CheckpointLayout, manifest: CheckpointManifest, server: Int,
        fetch: (CheckpointManifest.File, String) throws(CheckpointError) -> [UInt8]
    ) throws(CheckpointError) -> CheckpointShard {
        let files = try CheckpointShards.serverFiles(layout, manifest: manifest).filter { $0.server == server }
        guard files.count == 2 else {
            throw .corrupt(
                path: layout.manifestPath, reason: "it lists \(files.count) files of server \(server), not 2")
        }
        var slices = CheckpointShards.ShardSlices()
        for file in files {
            let path = manifest.path(of: file, in: layout)
            try slices.add(file, bytes: try fetch(file, path), path: path)
        }
        var weights: [SliceKey: WeightSlice] = [:]
        for slice in slices.weights {
            guard weights.updateValue(slice, forKey: SliceKey(name: slice.name, offset: slice.offset)) == nil else {
                throw .inconsistent("server \(server)'s shard holds '\(slice.name)' at offset \(slice.offset) twice")
            }
        }
        var states: [SliceKey: NamedOptimizerState] = [:]
        for state in slices.states {
            let key = SliceKey(name: state.name, offset: state.offset)
            guard let weight = weights[key], weight.values.count == state.state.count,
                weight.totalCount == state.totalCount
            else {
                throw .inconsistent(
                    "server \(server)'s shard has optimizer state of '\(state.name)' at offset \(state.offset) for no slice of its weights"
                )
            }
            states[key] = state
        }
        return CheckpointShard(
            server: server, optimizer: slices.optimizer ?? manifest.optimizer, weights: weights, states: states)
    }

    /// How many parameter slices it holds.
    public var sliceCount: Int { weights.count }

    /// The weights and optimizer state (nil if never updated) of elements `offset ..< offset + count`
    /// of parameter `name`, as copies, when this shard holds exactly that slice; nil otherwise.
    public func part(name: String, offset: Int, count: Int, totalCount: Int) throws(CheckpointError) -> (
        weights: NDArray, state: OptimizerState?
    )? {
        let key = SliceKey(name: name, offset: offset)
        guard let slice = weights[key], slice.values.count == count, slice.totalCount == totalCount else { return nil }
        guard let state = states[key] else { return (slice.values.copy(), nil) }
        do {
            return (slice.values.copy(), try OptimizerStateFile.slice(state, range: state.range).state)
        } catch {
            throw .inconsistent("optimizer state of '\(name)': \(error)")
        }
    }
}
