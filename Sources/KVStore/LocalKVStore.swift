import SwiftPSOptimizer
import SwiftPSTensor

/// MXNet's `local` kvstore in one process: holds a copy of each key, sums what is pushed, and runs
/// the optimizer on it when one is installed ("update on kvstore").
///
/// Every operation completes before it returns, so `wait` has nothing to wait for.
public final class LocalKVStore: KVStore {
    public var type: KVStoreType { .local }
    public var rank: Int { 0 }
    public var numWorkers: Int { 1 }
    public var updatesOnStore: Bool { optimizer != nil }

    private var store: [String: NDArray] = [:]
    private var states: [String: OptimizerState] = [:]
    private var optimizer: (any Optimizer)?
    private var config: OptimizerConfig?
    /// Keys in order of first initialization (MXNet maps string keys to integers this way).
    public private(set) var keys: [String] = []

    /// An empty local store.
    public init() {}

    public func initialize(_ keys: [String], values: [NDArray]) throws {
        guard keys.count == values.count else {
            throw KVStoreError.badKey("initialize: \(keys.count) keys but \(values.count) values")
        }
        for (key, value) in zip(keys, values) {
            if let old = store[key] {
                guard old.count == value.count else {
                    throw KVStoreError.badKey(
                        "key '\(key)' was initialized with shape \(old.shape), now \(value.shape)")
                }
                try old.copy(from: value)
            } else {
                store[key] = value.copy()
                self.keys.append(key)
            }
        }
    }

    private func stored(_ key: String) throws -> NDArray {
        guard let s = store[key] else { throw KVStoreError.unknownKey(key) }
        return s
    }

    public func push(_ key: String, _ value: NDArray, priority: Int = 0) throws {
        let s = try stored(key)
        guard value.count == s.count else {
            throw KVStoreError.badKey("push to '\(key)': shape \(value.shape) but the key holds \(s.shape)")
        }
        if let optimizer {
            let state = try states[key] ?? optimizer.createState(name: key, count: s.count)
            states[key] = state
            try optimizer.update(name: key, weight: s, grad: value, state: state)
        } else {
            try s.copy(from: value)
        }
    }

    public func pull(_ key: String, into out: NDArray, priority: Int = 0) throws {
        let s = try stored(key)
        guard out.count == s.count else {
            throw KVStoreError.badKey("pull of '\(key)': shape \(out.shape) but the key holds \(s.shape)")
        }
        try out.copy(from: s)
    }

    public func pushPull(_ key: String, _ value: NDArray, into out: NDArray, priority: Int = 0) throws {
        try push(key, value, priority: priority)
        try pull(key, into: out, priority: priority)
    }

    public func wait(_ key: String) throws {}
    public func waitAll() throws {}
    public func barrier() throws {}

    /// Installs `config`'s optimizer with empty state, as MXNet's `set_optimizer` (and the servers'
    /// SET_OPTIMIZER) do: momentum or moments of the previous one do not carry over.
    public func setOptimizer(_ config: OptimizerConfig) throws {
        optimizer = try makeOptimizer(config)
        self.config = config
        states.removeAll()
    }

    /// The optimizer state of every key, by name (empty before any update).
    public func optimizerStates() -> [NamedOptimizerState] {
        keys.compactMap { key in
            states[key].map { NamedOptimizerState(name: key, state: $0) }
        }
    }

    /// Writes the optimizer states (and config) in SwiftPS's optimizer-state format, atomically.
    public func saveOptimizerStates(to path: String) throws {
        try AtomicFile.write(encodedOptimizerStates(), to: path)
    }

    /// The optimizer-state file `saveOptimizerStates` writes, as bytes.
    public func encodedOptimizerStates() throws -> [UInt8] {
        try OptimizerStateFile.encode(config: config, states: optimizerStates())
    }

    /// Reads optimizer states written by `saveOptimizerStates` (or merged from server shards).
    /// Returns the keys whose state does not suit the optimizer set (written by an optimizer of
    /// another name, or with another number of arrays): they start fresh, as a server's do. (RMSProp
    /// must not take SGD's signed momentum for its mean square.)
    ///
    /// Throws `OptimizerError.io` or `OptimizerError.badStateFile`, both naming `path`, for a file
    /// that cannot be read or is damaged, and `KVStoreError.badKey` for a state of the wrong size.
    @discardableResult
    public func loadOptimizerStates(from path: String) throws -> [String] {
        let (config, named) = try OptimizerStateFile.load(from: path)
        return try install(named, writtenBy: config, path: path)
    }

    /// Takes the states in `bytes`, an optimizer-state file read from (or written as) `path`, which
    /// errors name, as `loadOptimizerStates(from:)` does.
    @discardableResult
    public func loadOptimizerStates(_ bytes: [UInt8], path: String) throws -> [String] {
        let (config, named) = try OptimizerStateFile.decode(bytes, path: path)
        return try install(named, writtenBy: config, path: path)
    }

    private func install(_ named: [NamedOptimizerState], writtenBy writer: OptimizerConfig?, path: String) throws
        -> [String]
    {
        var unsuited: [String] = []
        let otherOptimizer = optimizer.map { writer != nil && writer?.name != $0.config.name } ?? false
        for n in named {
            guard let s = store[n.name] else { continue }
            guard n.state.count == s.count else {
                throw KVStoreError.badKey(
                    "optimizer state for '\(n.name)' in \(path) has \(n.state.count) elements, the key \(s.count)")
            }
            if let optimizer, otherOptimizer || n.state.arrays.count != optimizer.stateArrayCount {
                unsuited.append(n.name)
                continue
            }
            states[n.name] = n.state
        }
        return unsuited
    }
}
