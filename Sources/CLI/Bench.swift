import ArgumentParser
import Foundation
import SwiftPS

/// `swiftps bench`: benchmarks that print JSON.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks that print machine-readable JSON.",
        subcommands: [BenchGemm.self, BenchLayers.self, BenchTrain.self, BenchKVStore.self, BenchTags.self])
}

/// Runs `body` `repeats` times after `warmup` runs and returns the median and best seconds per run.
func measure(warmup: Int = 3, repeats: Int, _ body: () throws -> Void) rethrows -> (median: Double, best: Double) {
    for _ in 0..<warmup { try body() }
    var times: [Double] = []
    times.reserveCapacity(repeats)
    for _ in 0..<repeats {
        let t0 = MonotonicClock.now()
        try body()
        times.append(MonotonicClock.now() - t0)
    }
    times.sort()
    return (median(times), times[0])
}

/// The median of `sorted` (ascending): the mean of the two middle values when their number is even,
/// so that neither the faster nor the slower of them is picked; NaN when empty.
func median(_ sorted: [Double]) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// A small JSON writer for benchmark output (keys in insertion order).
struct JSONObject {
    private var fields: [(String, String)] = []

    init() {}

    /// An object of metric (name, value) pairs.
    init(pairs: [(name: String, value: Double)]) {
        for p in pairs { set(p.name, p.value) }
    }

    mutating func set(_ key: String, _ value: Double) { fields.append((key, jsonNumber(value))) }
    mutating func set(_ key: String, _ value: Int) { fields.append((key, String(value))) }
    mutating func set(_ key: String, _ value: Bool) { fields.append((key, value ? "true" : "false")) }
    mutating func set(_ key: String, _ value: String) { fields.append((key, jsonString(value))) }
    mutating func set(_ key: String, _ value: JSONObject) { fields.append((key, value.text)) }
    mutating func set(_ key: String, _ value: [JSONObject]) {
        fields.append((key, "[" + value.map(\.text).joined(separator: ", ") + "]"))
    }

    var text: String { "{" + fields.map { "\(jsonString($0.0)): \($0.1)" }.joined(separator: ", ") + "}" }
}

func jsonNumber(_ v: Double) -> String {
    guard v.isFinite else { return "null" }
    // Large rates read better rounded; anything else keeps every digit (shortest exact form).
    return abs(v) >= 1000 ? String(format: "%.1f", v) : "\(v)"
}
