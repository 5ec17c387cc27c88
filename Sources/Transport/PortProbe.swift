#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Finds TCP ports this host can bind, for launchers, benchmarks and tests that pick ports before
/// starting processes. A probed port can be taken by someone else before it is used (the same race
/// ps-lite's `GetAvailablePort` has); callers that bind right away retry or fail with the port named.
public enum PortProbe {
    /// A port the kernel reports free on `host` (bind to port 0, read it back, close); nil when no
    /// socket can be bound there.
    public static func ephemeralPort(host: String = "127.0.0.1") -> Int? {
        withBoundSocket(host: host, port: 0) { fd in
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let named = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) == 0 }
            }
            return named ? Int(UInt16(bigEndian: address.sin_port)) : nil
        }
    }

    /// The first port of `range` that a TCP socket can bind on `host` (default all interfaces), probed
    /// the way dmlc's tracker does; nil when every port is taken.
    public static func firstFreePort(in range: ClosedRange<Int>, host: String? = nil) -> Int? {
        range.first { withBoundSocket(host: host ?? "0.0.0.0", port: $0) { _ in true } ?? false }
    }

    /// Binds a TCP socket (SO_REUSEADDR) to `host:port`, runs `body` with it and closes it; nil when the
    /// socket cannot be made or bound.
    private static func withBoundSocket<T>(host: String, port: Int, _ body: (Int32) -> T?) -> T? {
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var yes: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return nil }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        return bound ? body(fd) : nil
    }
}
