import SwiftPSTensor

/// Per-parameter initializers chosen by regular expression, MXNet 1.x's
/// `mx.init.Mixed(patterns, initializers)`.
///
/// The first pattern that matches the parameter name wins; as with Python's `re.match`, a pattern
/// matches at the start of the name (use `.*bias` to match anywhere). The chosen initializer then
/// applies its own name-based dispatch. A name no pattern matches throws `noPatternMatches`.
public struct Mixed: Initializer {
    /// The patterns, in priority order.
    public let patterns: [String]
    private let initializers: [any Initializer]

    /// A mixed initializer; throws `invalidPattern` for a pattern that does not compile.
    public init(_ rules: [(pattern: String, initializer: any Initializer)]) throws {
        patterns = rules.map(\.pattern)
        initializers = rules.map(\.initializer)
        for pattern in patterns { _ = try Mixed.compile(pattern) }
    }

    /// The compiled pattern. `Regex` is not `Sendable`, so patterns are stored as text (checked
    /// once in `init`) and compiled when used; initialization runs once per parameter.
    private static func compile(_ pattern: String) throws -> Regex<AnyRegexOutput> {
        do {
            return try Regex(pattern)
        } catch {
            throw InitializerError.invalidPattern(pattern, reason: "\(error)")
        }
    }

    /// The initializer of the first pattern matching `name`, or `noPatternMatches`.
    public func initializer(for name: String) throws -> any Initializer {
        for (pattern, initializer) in zip(patterns, initializers)
        where try Mixed.compile(pattern).prefixMatch(in: name) != nil {
            return initializer
        }
        throw InitializerError.noPatternMatches(name: name, patterns: patterns)
    }

    /// Initializes `array` with the first matching initializer, by that initializer's name rules.
    public func initialize(name: String, array: NDArray, rng: inout RandomGenerator) throws {
        try initializer(for: name).initialize(name: name, array: array, rng: &rng)
    }

    /// Initializes a weight with the first matching initializer's algorithm.
    public func initWeight(name: String, array: NDArray, rng: inout RandomGenerator) throws {
        try initializer(for: name).initWeight(name: name, array: array, rng: &rng)
    }
}
