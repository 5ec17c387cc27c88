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

    /// A port free on `host` a moment ago, from a random place below the kernel's ephemeral range
    /// (`ephemeralRange`, from 10000): unlike `ephemeralPort`, no socket bound to port 0 and no
    /// outgoing connection can take it between the probe and the caller's bind. Falls back to
    /// `ephemeralPort` when the ephemeral range leaves no room below it.
    public static func freePortBelowEphemeralRange(host: String = "127.0.0.1") -> Int? {
        let low = ephemeralRange().lowerBound
        guard low > 10_001 else { return ephemeralPort(host: host) }
        return freePort(in: 10_000...(low - 1), host: host) ?? ephemeralPort(host: host)
    }

    /// A port of `range` that a TCP socket can bind on `host` (default all interfaces): the first free
    /// one from a random place in the range, wrapping around. Two callers at once rarely probe the
    /// same port, which between the probe and the bind both would see free.
    public static func freePort(in range: ClosedRange<Int>, host: String? = nil) -> Int? {
        let start = Int.random(in: range)
        return firstFreePort(in: start...range.upperBound, host: host)
            ?? (start > range.lowerBound ? firstFreePort(in: range.lowerBound...(start - 1), host: host) : nil)
    }

    /// The ports the kernel hands out for port 0 and outgoing connections
    /// (`/proc/sys/net/ipv4/ip_local_port_range`; Linux's default 32768-60999 where it cannot be read).
    public static func ephemeralRange() -> ClosedRange<Int> {
        let fallback = 32768...60999
        guard let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
        else { return fallback }
        let bounds = text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        guard bounds.count == 2, bounds[0] >= 1, bounds[0] <= bounds[1] else { return fallback }
        return bounds[0]...bounds[1]
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
