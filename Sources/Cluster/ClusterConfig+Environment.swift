import Foundation
import Logging
import SwiftPSTransport

extension ClusterConfig {
    /// Reads MXNet's launch variables plus SwiftPS's overrides, so `tools/launch.py` habits carry over:
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `DMLC_ROLE` | `scheduler`, `server` or `worker` (required) |
    /// | `DMLC_PS_ROOT_URI`, `DMLC_PS_ROOT_PORT` | the scheduler's address and port (required; names are resolved) |
    /// | `DMLC_NUM_WORKER`, `DMLC_NUM_SERVER` | cluster size (required) |
    /// | `DMLC_NODE_HOST` | the address to advertise (wins over `DMLC_INTERFACE`) |
    /// | `DMLC_RANK` | the rank this node asks for (honoured when every node of its role gives one) |
    /// | `DMLC_INTERFACE` | the interface whose IPv4 address is advertised |
    /// | `SWIFTPS_BIND` | the address to bind (default `0.0.0.0`) |
    /// | `SWIFTPS_PORT_RANGE` | `9200-9299` (or one port) for workers' and servers' sockets |
    /// | `SWIFTPS_SECRET_FILE` | a file holding the shared secret (HMAC-SHA256 on rendezvous) |
    /// | `SWIFTPS_HEARTBEAT_INTERVAL` | seconds between heartbeats, default 1, 0 = off |
    /// | `SWIFTPS_HEARTBEAT_TIMEOUT` | seconds of silence before a node is declared dead, default 10 |
    /// | `SWIFTPS_RENDEZVOUS_TIMEOUT` | seconds to wait for every node to register, default 60 |
    /// | `SWIFTPS_BARRIER_TIMEOUT` | default barrier deadline in seconds, default 300 |
    /// | `SWIFTPS_REQUEST_TIMEOUT` | default request deadline in seconds, default 120 |
    /// | `SWIFTPS_CPU_BIND` | `none` (default) or `cores`: workers and servers sharing a host divide its CPUs |
    ///
    /// Errors name the variable and its value.
    public static func fromEnvironment(_ env: [String: String]) throws(ClusterError) -> ClusterConfig {
        guard let roleText = env["DMLC_ROLE"], let role = NodeRole(name: roleText) else {
            throw .invalidConfiguration(
                variable: "DMLC_ROLE", value: env["DMLC_ROLE"] ?? "", reason: "must be scheduler, server or worker")
        }
        guard let host = env["DMLC_PS_ROOT_URI"], !host.isEmpty else {
            throw .invalidConfiguration(
                variable: "DMLC_PS_ROOT_URI", value: env["DMLC_PS_ROOT_URI"] ?? "",
                reason: "set it to the scheduler's address")
        }
        var config = ClusterConfig(
            role: role, schedulerHost: host, schedulerPort: try integer("DMLC_PS_ROOT_PORT", env, range: 1...65535),
            numWorkers: try integer("DMLC_NUM_WORKER", env, range: 1...100_000),
            numServers: try integer("DMLC_NUM_SERVER", env, range: 0...100_000))
        if let value = env["DMLC_NODE_HOST"], !value.isEmpty { config.advertisedHost = value }
        if let value = env["DMLC_RANK"], let rank = Int(value), rank >= 0 { config.rankHint = rank }
        if let value = env["DMLC_INTERFACE"], !value.isEmpty { config.interface = value }
        if let value = env["SWIFTPS_BIND"], !value.isEmpty { config.bindHost = value }
        if let value = env["SWIFTPS_PORT_RANGE"] { config.portRange = try portRange(value) }
        if let path = env["SWIFTPS_SECRET_FILE"], !path.isEmpty { config.secret = try readSecret(file: path) }
        config.jobID = env["SWIFTPS_JOB_ID"] ?? ""
        config.encrypt = ["1", "true", "yes", "on"].contains(env["SWIFTPS_ENCRYPT"]?.lowercased() ?? "")
        config.heartbeatInterval = try seconds("SWIFTPS_HEARTBEAT_INTERVAL", env, default: 1, allowZero: true)
        config.heartbeatTimeout = try seconds("SWIFTPS_HEARTBEAT_TIMEOUT", env, default: 10)
        config.rendezvousTimeout = try seconds("SWIFTPS_RENDEZVOUS_TIMEOUT", env, default: 60)
        config.barrierTimeout = try seconds("SWIFTPS_BARRIER_TIMEOUT", env, default: 300)
        config.requestTimeout = try seconds("SWIFTPS_REQUEST_TIMEOUT", env, default: 120)
        config.cpuBind = try cpuBind(env)
        try config.validate()
        return config
    }

    /// `SWIFTPS_CPU_BIND` in `env`: true for `cores`, false for `none`, empty or unset.
    public static func cpuBind(_ env: [String: String]) throws(ClusterError) -> Bool {
        guard let text = env["SWIFTPS_CPU_BIND"] else { return false }
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "none", "": return false
        case "cores": return true
        default:
            throw .invalidConfiguration(
                variable: "SWIFTPS_CPU_BIND", value: text,
                reason:
                    "must be none (the kernel places the processes) or cores (the job's processes on a host divide its CPUs)"
            )
        }
    }

    /// Reads a shared secret from `file`: its bytes, without trailing whitespace. Refuses an empty file
    /// and warns (through `logger`) when others may read it.
    public static func readSecret(file path: String, logger: Logger? = nil) throws(ClusterError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .secretFile(path: path, reason: "it does not exist or is not readable")
        }
        var bytes = [UInt8](data)
        while let last = bytes.last, last == 0x0A || last == 0x0D || last == 0x20 || last == 0x09 { bytes.removeLast() }
        guard !bytes.isEmpty else { throw .secretFile(path: path, reason: "it is empty") }
        if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let mode = attributes[.posixPermissions] as? Int, mode & 0o077 != 0
        {
            logger?.warning(
                "secret file \(path) is readable by other users (mode \(String(mode, radix: 8))): chmod 600 it")
        }
        return bytes
    }

    private static func integer(
        _ name: String, _ env: [String: String], range: ClosedRange<Int>
    ) throws(ClusterError) -> Int {
        guard let text = env[name] else {
            throw .invalidConfiguration(variable: name, value: "", reason: "is required")
        }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
            throw .invalidConfiguration(
                variable: name, value: text, reason: "must be an integer in \(range.lowerBound)-\(range.upperBound)")
        }
        return value
    }

    private static func seconds(
        _ name: String, _ env: [String: String], default value: Double, allowZero: Bool = false
    ) throws(ClusterError) -> Double {
        guard let text = env[name] else { return value }
        guard let parsed = Double(text.trimmingCharacters(in: .whitespaces)), parsed.isFinite,
            allowZero ? parsed >= 0 : parsed > 0
        else {
            throw .invalidConfiguration(
                variable: name, value: text,
                reason: allowZero ? "must be a number of seconds >= 0" : "must be a positive number of seconds")
        }
        return parsed
    }

    private static func portRange(_ text: String) throws(ClusterError) -> ClosedRange<Int> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        let bounds: (Int?, Int?) =
            parts.count == 1 ? (parts[0], parts[0]) : parts.count == 2 ? (parts[0], parts[1]) : (nil, nil)
        guard let low = bounds.0, let high = bounds.1, 1 <= low, low <= high, high <= 65535 else {
            throw .invalidConfiguration(
                variable: "SWIFTPS_PORT_RANGE", value: text,
                reason: "expected LOW-HIGH within 1-65535, for example 9200-9299")
        }
        return low...high
    }
}
