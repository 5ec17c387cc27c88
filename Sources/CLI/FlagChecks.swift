import ArgumentParser
import Foundation
import SwiftPS

/// Checks of flag values made in `validate()`, before a command does any work: each failure is a
/// `ValidationError` naming the flag, the value given and what it must be, which ArgumentParser
/// prints with the command's usage line and exit status 64 (EX_USAGE), as for a flag it cannot parse.
///
/// Numeric flags are declared with `parsing: .unconditional` so that a negative value reaches these
/// checks ("--batch-size -5: must be at least 1") instead of being read as another flag
/// ("Missing value for '--batch-size'").
enum FlagCheck {
    /// Throws unless `value` (when given) is at least `minimum`.
    static func atLeast(_ minimum: Int, _ flag: String, _ value: Int?) throws {
        guard let value, value < minimum else { return }
        throw ValidationError("\(flag) \(value): must be at least \(minimum)")
    }

    /// Throws unless `value` (when given) is a compute thread count, 1 to `BLAS.maxThreads`; without
    /// it, unless `SWIFTPS_BLAS_THREADS` (when set) is one.
    static func threads(_ flag: String, _ value: Int?) throws {
        let range = 1...BLAS.maxThreads
        if let value {
            guard !range.contains(value) else { return }
            throw ValidationError("\(flag) \(value): must be from 1 to \(BLAS.maxThreads)")
        }
        if let text = ProcessInfoLite.environment[BLAS.threadsVariable], !range.contains(Int(text) ?? 0) {
            throw ValidationError(
                "\(BLAS.threadsVariable)='\(text)': give a whole number of threads from 1 to \(BLAS.maxThreads)")
        }
    }

    /// Throws unless `value` (when given) is finite and `ok`; `must` says what it must be.
    static func number<T: BinaryFloatingPoint>(_ flag: String, _ value: T?, must: String, _ ok: (T) -> Bool) throws {
        guard let value, !(value.isFinite && ok(value)) else { return }
        throw ValidationError("\(flag) \(value): must be \(must)")
    }

    /// Throws `ValidationError("\(flag) '\(value)': \(error)")` when `body` throws: for values a
    /// library function parses (an initializer spec, metric names).
    static func parsing<T>(_ flag: String, _ value: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw ValidationError("\(flag) '\(value)': \(error)") }
    }

    /// The comma-separated positive integers of `text` (`--floats 1024,1048576`); throws naming the
    /// first entry that is not one.
    static func positiveList(_ flag: String, _ text: String) throws -> [Int] {
        let values = try text.split(separator: ",", omittingEmptySubsequences: false).map { entry in
            guard let value = Int(entry.trimmingCharacters(in: .whitespaces)), value > 0 else {
                throw ValidationError("\(flag) '\(text)': '\(entry)' is not a positive whole number")
            }
            return value
        }
        guard !values.isEmpty else { throw ValidationError("\(flag) '\(text)': give at least one number") }
        return values
    }
}
