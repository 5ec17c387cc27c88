import Foundation
import Logging
import SwiftPSTransport
import Testing

@testable import SwiftPSCluster

@Suite struct ClusterConfigTests {
    let base = [
        "DMLC_ROLE": "worker", "DMLC_PS_ROOT_URI": "10.0.0.1", "DMLC_PS_ROOT_PORT": "9100",
        "DMLC_NUM_WORKER": "2", "DMLC_NUM_SERVER": "1",
    ]

    @Test func readsMXNetVariablesAndDefaults() throws {
        let config = try ClusterConfig.fromEnvironment(base)
        #expect(config.role == .worker && config.schedulerHost == "10.0.0.1" && config.schedulerPort == 9100)
        #expect(config.numWorkers == 2 && config.numServers == 1)
        #expect(config.rendezvousTimeout == 60 && config.barrierTimeout == 300)
        #expect(config.heartbeatInterval == 1 && config.heartbeatTimeout == 10)
        #expect(config.bindHost == "0.0.0.0" && config.secret == nil && config.portRange == nil)
        #expect(!config.cpuBind, "the kernel places the processes unless told otherwise")
    }

    @Test func readsSwiftPSOverrides() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("swiftps-secret-\(UUID())")
        try Data("hunter2\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        var env = base
        env["DMLC_NODE_HOST"] = "10.0.0.9"
        env["SWIFTPS_SECRET_FILE"] = file.path
        env["SWIFTPS_HEARTBEAT_INTERVAL"] = "0.5"
        env["SWIFTPS_HEARTBEAT_TIMEOUT"] = "5"
        env["SWIFTPS_RENDEZVOUS_TIMEOUT"] = "30"
        env["SWIFTPS_PORT_RANGE"] = "9200-9299"
        env["SWIFTPS_BIND"] = "10.0.0.9"
        env["SWIFTPS_JOB_ID"] = "3f2a9c0d1e4b5a67"
        env["SWIFTPS_ENCRYPT"] = "1"
        env["SWIFTPS_CPU_BIND"] = "Cores"
        let config = try ClusterConfig.fromEnvironment(env)
        #expect(config.cpuBind)
        env["SWIFTPS_CPU_BIND"] = " none"
        #expect(try !ClusterConfig.fromEnvironment(env).cpuBind)
        #expect(config.jobID == "3f2a9c0d1e4b5a67" && config.encrypt)
        #expect(config.advertisedHost == "10.0.0.9")
        #expect(config.secret == Array("hunter2".utf8))
        #expect(config.heartbeatInterval == 0.5 && config.heartbeatTimeout == 5 && config.rendezvousTimeout == 30)
        #expect(config.portRange == 9200...9299)
        #expect(config.bindHost == "10.0.0.9")
    }

    /// Seconds in messages: whole numbers bare, measured ones at most two decimals (a heartbeat
    /// message once said "silent for 3.0001757059944794 s").
    @Test func secondsInMessagesAreShort() {
        #expect(formatSeconds(60) == "60")
        #expect(formatSeconds(0.5) == "0.5")
        #expect(formatSeconds(3.0001757059944794) == "3")
        #expect(formatSeconds(3.695875575998798) == "3.7")
        #expect(formatSeconds(16.25) == "16.25")
        #expect(formatSeconds(.infinity) == "inf")
        #expect(formatSeconds(0.004213) == "0.0042")
        #expect(formatSeconds(-0.0005) == "-0.0005")
        #expect(formatSeconds(0) == "0")
        #expect(formatSeconds(0.0099) == "0.0099")
    }

    @Test func errorsNameTheVariableAndValue() {
        func error(_ change: [String: String?]) -> ClusterError? {
            var env = base
            for (key, value) in change { env[key] = value }
            do {
                _ = try ClusterConfig.fromEnvironment(env)
                return nil
            } catch {
                return error
            }
        }
        #expect(error(["DMLC_ROLE": nil])?.description.contains("DMLC_ROLE") == true)
        #expect(error(["DMLC_ROLE": "boss"])?.description.contains("'boss'") == true)
        #expect(error(["DMLC_PS_ROOT_PORT": "http"])?.description.contains("DMLC_PS_ROOT_PORT='http'") == true)
        #expect(error(["DMLC_NUM_WORKER": "0"])?.description.contains("DMLC_NUM_WORKER") == true)
        #expect(
            error(["SWIFTPS_PORT_RANGE": "9300-9200"])?.description.contains("SWIFTPS_PORT_RANGE='9300-9200'") == true)
        #expect(error(["SWIFTPS_HEARTBEAT_TIMEOUT": "-1"])?.description.contains("SWIFTPS_HEARTBEAT_TIMEOUT") == true)
        #expect(error(["SWIFTPS_HEARTBEAT_INTERVAL": "20"])?.description.contains("SWIFTPS_HEARTBEAT_INTERVAL") == true)
        #expect(
            error(["SWIFTPS_SECRET_FILE": "/nonexistent/secret"])?.description.contains("/nonexistent/secret") == true)
        let bind = error(["SWIFTPS_CPU_BIND": "core"])?.description ?? ""
        #expect(bind.contains("SWIFTPS_CPU_BIND='core'") && bind.contains("cores") && bind.contains("none"), "\(bind)")
        #expect(
            error(["SWIFTPS_ENCRYPT": "1"])?.description.contains("SWIFTPS_SECRET_FILE") == true,
            "encryption without a secret to key it from")
    }

    @Test func advertisedHostFollowsPsLitesOrder() throws {
        let logger = Logger(label: "test")
        var config = try ClusterConfig.fromEnvironment(base)
        config.interface = "lo"
        #expect(try AdvertisedHost.choose(for: config, logger: logger) == "127.0.0.1")
        config.advertisedHost = "192.0.2.7"
        #expect(try AdvertisedHost.choose(for: config, logger: logger) == "192.0.2.7")
        config.advertisedHost = nil
        config.interface = "no-such-nic0"
        #expect(throws: ClusterError.self) { try AdvertisedHost.choose(for: config, logger: logger) }
        config.interface = nil
        let chosen = try AdvertisedHost.choose(for: config, logger: logger)
        #expect(!chosen.isEmpty)
    }
}
