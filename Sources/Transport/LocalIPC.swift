import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The same-host shortcut of `ZMQVan`: peers on this host (in this network namespace) talk over
/// ZeroMQ's `ipc://` transport, a Unix domain socket, instead of TCP loopback: `swiftps bench
/// kvstore` moves a 4 MB key at 2.2–2.7 GB/s per worker this way, 1.7–1.8 with `SWIFTPS_IPC=0`.
///
/// Every ROUTER still binds TCP (remote peers, the robustness of the port probe) and also binds
/// `<directory>/<netns>-<ip or any>-<port>.sock`. The name is unique on the host: the network
/// namespace's inode and the TCP address the ROUTER holds (a port bound on every interface excludes
/// any other bind of that port in the namespace). A node uses the ipc endpoint only for a peer whose
/// address is one of this namespace's own and whose socket file accepts a connection; otherwise it
/// uses TCP, so hosts simulated by network namespaces on one machine still talk over their links.
///
/// The directory is private to the user (created with mode 0700; one that is not a directory owned
/// by this user with no group or other access is not used).
public struct LocalIPC: Sendable {
    /// The directory holding the socket files.
    public let directory: String
    let namespace: String
    let localAddresses: Set<String>

    /// The default directory, `SWIFTPS_IPC_DIR` or `$TMPDIR/swiftps-ipc-<uid>`; nil when
    /// `SWIFTPS_IPC` is off (`EnvironmentFlag`).
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment)
        -> String?
    {
        if EnvironmentFlag.isOff("SWIFTPS_IPC", in: environment) { return nil }
        if let directory = environment["SWIFTPS_IPC_DIR"], !directory.isEmpty { return directory }
        let temporary = environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        return "\(temporary)/swiftps-ipc-\(getuid())"
    }

    /// Prepares `directory` (creating it with mode 0700); nil, with the reason logged, when it cannot
    /// be used safely.
    public init?(directory: String, logger: Logger) {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            logger.notice("same-host ipc off: cannot create \(directory): \(String(cString: strerror(errno)))")
            return nil
        }
        var info = stat()
        guard lstat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == getuid(),
            info.st_mode & 0o077 == 0
        else {
            logger.notice(
                "same-host ipc off: \(directory) is not a directory of this user closed to others (mode 0700); using TCP"
            )
            return nil
        }
        self.directory = directory
        var ns = stat()
        namespace = stat("/proc/self/ns/net", &ns) == 0 ? String(ns.st_ino) : "host"
        localAddresses = Self.interfaceAddresses()
        Self.removeStaleSockets(in: directory)
    }

    /// Deletes socket files nobody listens on any more (left by killed processes) that are older than
    /// a minute, so that the directory does not grow without bound. A file deleted by mistake costs
    /// only speed: its peers fall back to TCP.
    static func removeStaleSockets(in directory: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        let cutoff = Date().timeIntervalSince1970 - 60
        for name in names where name.hasSuffix(".sock") {
            let path = "\(directory)/\(name)"
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK, Double(info.st_mtim.tv_sec) < cutoff,
                !accepts(path)
            else { continue }
            unlink(path)
        }
    }

    /// The socket file of a ROUTER bound to `bindIP` (nil: every interface) and `port`, or nil when
    /// the path would not fit a Unix socket address.
    public func path(bindIP: String?, port: Int) -> String? {
        let path = "\(directory)/\(namespace)-\(bindIP ?? "any")-\(port).sock"
        return Self.unixAddress(path) == nil ? nil : path
    }

    /// `ipc://…` for a peer at `ip:port` on this host whose socket file accepts connections, else nil.
    public func endpoint(forPeer ip: String, port: Int) -> String? {
        guard ip.hasPrefix("127.") || localAddresses.contains(ip) else { return nil }
        for candidate in [path(bindIP: ip, port: port), path(bindIP: nil, port: port)] {
            if let candidate, Self.accepts(candidate) { return "ipc://\(candidate)" }
        }
        return nil
    }

    /// Whether a process listens on the Unix socket `path` (a file left by a killed process refuses).
    /// The probe never waits: a listener too busy to take it (its backlog full, say a stopped process)
    /// counts as not listening, and the peer is reached over TCP.
    static func accepts(_ path: String) -> Bool {
        guard var address = unixAddress(path) else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
    }

    /// The socket address of the Unix socket `path`, or nil when the path is too long for one.
    static func unixAddress(_ path: String) -> sockaddr_un? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    /// The numeric addresses of this network namespace's interfaces.
    static func interfaceAddresses() -> Set<String> {
        var addresses: Set<String> = ["::1"]
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return addresses }
        defer { freeifaddrs(first) }
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr else { continue }
            let family = Int32(address.pointee.sa_family)
            guard family == AF_INET || family == AF_INET6 else { continue }
            let length = socklen_t(family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
            if let host = HostResolver.numericHost(address, length: length) { addresses.insert(host) }
        }
        return addresses
    }
}
