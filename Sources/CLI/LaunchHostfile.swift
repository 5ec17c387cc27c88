import Foundation

/// One line of a hostfile: `[user@]host[:port] [slots=N]`.
struct LaunchHost: Equatable, Sendable {
    /// What `ssh` is given: `host` or `user@host`.
    var destination: String
    /// The address other nodes reach this host at (the destination without `user@`).
    var address: String
    /// How many consecutive processes this host takes before the next host's turn.
    var slots: Int
    /// The port of this host's ssh server (`host:port`, as dmlc's ssh launcher reads it); nil: ssh's own.
    var sshPort: Int? = nil

    /// The host as the plan and messages show it: the address, with a non-default ssh port.
    var label: String { sshPort.map { "\(address) (ssh port \($0))" } ?? address }
}

/// Errors in the launcher's inputs; each says what to change.
struct LaunchError: Error, CustomStringConvertible {
    /// The one-line message shown to the user.
    var description: String

    init(_ description: String) { self.description = description }
}

/// Parses hostfiles in the style of MXNet's `-H hosts`: one host a line, `#` comments, blank lines ignored,
/// an optional `:port` suffix for the host's ssh server (dmlc's `ip:port`) and an optional `slots=N` second
/// word (MPI's and Horovod's hostfiles).
enum LaunchHostfile {
    /// Parses the text of a hostfile; `name` is used in error messages.
    static func parse(_ text: String, name: String) throws -> [LaunchHost] {
        var hosts: [LaunchHost] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            guard let first = words.first else { continue }
            var destination = first
            var slots = 1
            var port: Int?
            if let colon = first.lastIndex(of: ":") {
                destination = String(first[..<colon])
                guard let value = Int(first[first.index(after: colon)...]), (1...65535).contains(value) else {
                    throw LaunchError(
                        "\(name):\(index + 1): '\(first)' must be host or host:port (the ssh port, 1-65535, as in MXNet's hostfiles); give slots as 'host slots=N'"
                    )
                }
                port = value
            }
            for word in words.dropFirst() {
                guard word.hasPrefix("slots="), let value = Int(word.dropFirst(6)), value > 0 else {
                    throw LaunchError(
                        "\(name):\(index + 1): unexpected '\(word)': write host, host:port, and slots=N after a space")
                }
                slots = value
            }
            let address = destination.split(separator: "@", maxSplits: 1).last.map(String.init) ?? destination
            guard !address.isEmpty else { throw LaunchError("\(name):\(index + 1): empty host name") }
            hosts.append(LaunchHost(destination: destination, address: address, slots: slots, sshPort: port))
        }
        guard !hosts.isEmpty else { throw LaunchError("\(name) lists no hosts: write one host a line") }
        return hosts
    }

    /// The host of each of `count` processes: every host takes `slots` consecutive processes, then the next host
    /// (with one slot each this is dmlc's round robin), wrapping around when all slots are used.
    static func assign(_ count: Int, over hosts: [LaunchHost]) -> [LaunchHost] {
        let sequence = hosts.flatMap { Array(repeating: $0, count: $0.slots) }
        return (0..<count).map { sequence[$0 % sequence.count] }
    }
}

/// Parsers for the small textual flag values of `swiftps launch`.
enum LaunchParse {
    /// `K=V` (or MXNet's `K:V`) into a pair; the key must be a shell variable name.
    static func assignment(_ text: String, flag: String) throws -> (key: String, value: String) {
        // Whichever comes first: a key holds neither, a value may hold both (`MXNET_X:a=b`, `P=/a:/b`).
        let separator = text.firstIndex { $0 == "=" || $0 == ":" }
        guard let separator else { throw LaunchError("\(flag) '\(text)' must be KEY=VALUE") }
        let key = String(text[..<separator])
        guard isVariableName(key) else {
            throw LaunchError("\(flag) '\(text)': '\(key)' is not a variable name (letters, digits, _)")
        }
        return (key, String(text[text.index(after: separator)...]))
    }

    /// Whether `name` is a valid environment variable name for a POSIX shell.
    static func isVariableName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy {
            $0 == "_" || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
        }
    }

    /// `A-B` (or one port) into a closed range within 1-65535.
    static func portRange(_ text: String) throws -> ClosedRange<Int> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
        let bounds = parts.count == 1 ? (parts[0], parts[0]) : parts.count == 2 ? (parts[0], parts[1]) : (nil, nil)
        guard let low = bounds.0, let high = bounds.1, 1 <= low, low <= high, high <= 65535 else {
            throw LaunchError("--port-range '\(text)' must be LOW-HIGH within 1-65535, for example 9100-9199")
        }
        return low...high
    }

    /// Quotes `text` for a POSIX shell: single quotes, with embedded single quotes escaped.
    static func shellQuote(_ text: String) -> String {
        if !text.isEmpty,
            text.unicodeScalars.allSatisfy({
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
                    || "@%_-+=:,./".unicodeScalars.contains($0)
            })
        {
            return text
        }
        return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
