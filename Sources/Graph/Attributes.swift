/// Parsing of MXNet's string attributes (`"(5, 5)"`, `"True"`, `"128"`) into typed values.
public struct AttributeReader {
    /// The operator the attributes belong to, for error messages.
    public let op: String
    /// The raw attributes.
    public let raw: [String: String]

    /// A reader over `raw` for operator `op`.
    public init(op: String, _ raw: [String: String]) {
        self.op = op
        self.raw = raw
    }

    private func fail(_ name: String, _ value: String, _ reason: String) -> GraphError {
        .badAttribute(op: op, name: name, value: value, reason: reason)
    }

    /// A required integer.
    public func int(_ name: String) throws -> Int {
        guard let v = raw[name] else { throw fail(name, "", "is required") }
        guard let i = Int(v.trimmingSpaces) else { throw fail(name, v, "is not an integer") }
        return i
    }

    /// An optional integer with a default.
    public func int(_ name: String, default d: Int) throws -> Int { raw[name] == nil ? d : try int(name) }

    /// An optional float with a default.
    public func float(_ name: String, default d: Float) throws -> Float {
        guard let v = raw[name] else { return d }
        guard let f = Float(v.trimmingSpaces) else { throw fail(name, v, "is not a number") }
        return f
    }

    /// An optional boolean with a default; accepts True/False/true/false/1/0.
    public func bool(_ name: String, default d: Bool) throws -> Bool {
        guard let v = raw[name] else { return d }
        switch v.trimmingSpaces.lowercased() {
        case "true", "1": return true
        case "false", "0": return false
        default: throw fail(name, v, "is not a boolean (True or False)")
        }
    }

    /// An optional string with a default.
    public func string(_ name: String, default d: String) -> String { raw[name] ?? d }

    /// An optional string that must be one of `allowed`.
    public func choice(_ name: String, _ allowed: [String], default d: String) throws -> String {
        let v = raw[name] ?? d
        guard allowed.contains(v) else { throw fail(name, v, "must be one of \(allowed.joined(separator: ", "))") }
        return v
    }

    /// A tuple such as `"(5, 5)"` or `"[2,2]"` or `"5"`; nil when absent.
    public func tuple(_ name: String) throws -> [Int]? {
        guard let v = raw[name] else { return nil }
        let inner = v.trimmingSpaces.trimmingCharacters(in: "()[]")
        if inner.trimmingSpaces.isEmpty { return [] }
        var out: [Int] = []
        for part in inner.split(separator: ",") {
            let p = String(part).trimmingSpaces
            if p.isEmpty { continue }
            guard let i = Int(p) else { throw fail(name, v, "is not a tuple of integers") }
            out.append(i)
        }
        return out
    }

    /// Formats a tuple the way MXNet writes it: `"(5, 5)"`.
    public static func format(_ t: [Int]) -> String { "(" + t.map(String.init).joined(separator: ", ") + ")" }

    /// Formats a boolean the way MXNet writes it: `"True"`/`"False"`.
    public static func format(_ b: Bool) -> String { b ? "True" : "False" }
}

extension String {
    /// The string without leading and trailing spaces, tabs and newlines.
    var trimmingSpaces: String { trimmingCharacters(in: " \t\n\r") }

    /// The string without leading and trailing characters from `set`.
    func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s = s.dropFirst() }
        while let l = s.last, chars.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
