import Foundation
import Logging
import PSTestSupport
import Testing

@testable import SwiftPSTransport

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct LocalIPCTests {
    private let logger = Logger(label: "test.ipc")

    /// A fresh private directory for socket files (removed by `cleanUp`).
    private func makeDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ipc-\(UUID().uuidString.prefix(8))")
            .path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        chmod(path, 0o700)
        return path
    }

    private func cleanUp(_ directory: String) { try? FileManager.default.removeItem(atPath: directory) }

    /// Leaves a Unix socket file at `path` that nobody listens on (what a killed process leaves).
    private func makeStaleSocket(at path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = try #require(LocalIPC.unixAddress(path))
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        try #require(rc == 0, "bind(\(path)): \(String(cString: strerror(errno)))")
    }

    private func van(ipc directory: String?) -> ZMQVan { ZMQVan(options: ZMQVan.Options(ipcDirectory: directory)) }

    /// Starts van `a` (id 1) and van `b` (id 9, its messages put in `inbox`) on 127.0.0.1 with the given
    /// ipc directories; returns them and b's port. The caller stops both.
    private func startPair(a aDirectory: String?, b bDirectory: String?, _ inbox: Inbox<Message>) throws -> (
        ZMQVan, ZMQVan, Int
    ) {
        let a = van(ipc: aDirectory)
        let b = van(ipc: bDirectory)
        _ = try a.start(bind: BindOptions(host: "127.0.0.1")) { _ in }
        let port = try b.start(bind: BindOptions(host: "127.0.0.1")) { inbox.put($0) }
        a.setLocalID(1)
        b.setLocalID(9)
        return (a, b, port)
    }

    @Test func peersOnThisHostTalkOverIPCAndLargeMessagesArriveIntact() throws {
        let directory = try makeDirectory()
        defer { cleanUp(directory) }
        let inbox = Inbox<Message>()
        let (a, b, port) = try startPair(a: directory, b: directory, inbox)
        defer {
            a.stop()
            b.stop()
        }
        try a.connect(to: 9, host: "localhost", port: port)
        let endpoint = try #require(a.endpoint(of: 9))
        #expect(endpoint.hasPrefix("ipc://\(directory)/") && endpoint.hasSuffix("-127.0.0.1-\(port).sock"))
        let values = (0..<(1 << 20)).map { Float($0 % 977) }
        try a.send(Message(head: 3, timestamp: 5, data: [Payload(copying: values)]), to: 9)
        let received = try #require(inbox.wait(count: 1).first)
        #expect(received.sender == 1 && received.senderVerified, "the routing identity proves the sender over ipc too")
        #expect(try received.data[0].toArray(of: Float.self) == values)
        b.stop()
        #expect(!FileManager.default.fileExists(atPath: String(endpoint.dropFirst("ipc://".count))))
    }

    @Test func withoutADirectoryOrWithoutAListenerTheVanUsesTCP() throws {
        let directory = try makeDirectory()
        defer { cleanUp(directory) }
        let inbox = Inbox<Message>()
        let (a, b, port) = try startPair(a: directory, b: nil, inbox)  // b binds TCP only
        defer {
            a.stop()
            b.stop()
        }
        // A socket file for b's address that nobody listens on (a killed process's) is not used.
        let ipc = try #require(LocalIPC(directory: directory, logger: logger))
        try makeStaleSocket(at: try #require(ipc.path(bindIP: "127.0.0.1", port: port)))
        try a.connect(to: 9, host: "127.0.0.1", port: port)
        #expect(a.endpoint(of: 9) == "tcp://127.0.0.1:\(port)")
        try a.send(Message(head: 4, timestamp: 6), to: 9)
        #expect(try #require(inbox.wait(count: 1).first).head == 4)
    }

    @Test func onlyThisNamespacesOwnAddressesQualify() throws {
        let directory = try makeDirectory()
        defer { cleanUp(directory) }
        let inbox = Inbox<Message>()
        let b = van(ipc: directory)
        defer { b.stop() }
        let port = try b.start(bind: BindOptions(host: "0.0.0.0")) { inbox.put($0) }
        let ipc = try #require(LocalIPC(directory: directory, logger: logger))
        // Bound on every interface: found under "any" for loopback and for this host's own addresses.
        #expect(
            ipc.endpoint(forPeer: "127.0.0.1", port: port) == "ipc://\(directory)/\(ipc.namespace)-any-\(port).sock")
        for address in ipc.localAddresses where !address.contains(":") {
            #expect(ipc.endpoint(forPeer: address, port: port) != nil, "\(address) is this host's")
        }
        // An address of another host (or of another network namespace on this machine) never is.
        #expect(ipc.endpoint(forPeer: "192.0.2.77", port: port) == nil)
        #expect(ipc.endpoint(forPeer: "127.0.0.1", port: port == 65535 ? 1 : port + 1) == nil)
    }

    @Test func aDirectoryOthersCanWriteIsNotUsed() throws {
        let directory = try makeDirectory()
        defer { cleanUp(directory) }
        chmod(directory, 0o777)
        #expect(LocalIPC(directory: directory, logger: logger) == nil)
        chmod(directory, 0o700)
        #expect(LocalIPC(directory: directory, logger: logger) != nil)
        let file = "\(directory)/plain"
        _ = FileManager.default.createFile(atPath: file, contents: Data())
        #expect(LocalIPC(directory: file, logger: logger) == nil, "a file is not a directory")
        let created = "\(directory)/new"
        #expect(LocalIPC(directory: created, logger: logger) != nil)
        var info = stat()
        #expect(stat(created, &info) == 0 && info.st_mode & 0o777 == 0o700)
    }

    @Test func theEnvironmentChoosesOrDisablesTheDirectory() {
        #expect(LocalIPC.defaultDirectory(environment: ["SWIFTPS_IPC": "0"]) == nil)
        #expect(LocalIPC.defaultDirectory(environment: ["SWIFTPS_IPC": "off", "SWIFTPS_IPC_DIR": "/x"]) == nil)
        #expect(LocalIPC.defaultDirectory(environment: ["SWIFTPS_IPC_DIR": "/run/ps"]) == "/run/ps")
        #expect(LocalIPC.defaultDirectory(environment: ["TMPDIR": "/scratch"]) == "/scratch/swiftps-ipc-\(getuid())")
        #expect(LocalIPC.defaultDirectory(environment: [:]) == "/tmp/swiftps-ipc-\(getuid())")
    }

    @Test func staleSocketFilesOlderThanAMinuteAreRemoved() throws {
        let directory = try makeDirectory()
        defer { cleanUp(directory) }
        let old = "\(directory)/1-127.0.0.1-1000.sock"
        let recent = "\(directory)/1-127.0.0.1-1001.sock"
        try makeStaleSocket(at: old)
        try makeStaleSocket(at: recent)
        let past = Date().addingTimeInterval(-120)
        try FileManager.default.setAttributes([.modificationDate: past], ofItemAtPath: old)
        _ = try #require(LocalIPC(directory: directory, logger: logger))
        #expect(!FileManager.default.fileExists(atPath: old))
        #expect(FileManager.default.fileExists(atPath: recent), "a new file may belong to a process still binding")
    }
}
