import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A resolved numeric address, ready for a ZeroMQ endpoint.
public struct ResolvedAddress: Sendable, Equatable {
    /// The numeric address (`10.0.0.5` or `fe80::1`).
    public var ip: String
    /// Whether it is IPv6 (ZeroMQ then needs `ZMQ_IPV6` and brackets).
    public var isIPv6: Bool

    /// `tcp://ip:port`, bracketing IPv6 addresses.
    public func endpoint(port: Int) -> String {
        isIPv6 ? "tcp://[\(ip)]:\(port)" : "tcp://\(ip):\(port)"
    }
}

/// Resolves host names with `getaddrinfo` before ZeroMQ sees them: ZeroMQ's `connect` wants numeric
/// addresses, and ps-lite users who passed a host name in `DMLC_PS_ROOT_URI` got hangs (mxnet#12062).
public enum HostResolver {
    /// The first IPv4 address of `host` (or its first IPv6 address when it has no IPv4 one).
    public static func resolve(_ host: String) throws(TransportError) -> ResolvedAddress {
        if host.isEmpty { throw .cannotResolve(host: host, reason: "the host name is empty") }
        if let v4 = lookup(host, family: AF_INET) { return ResolvedAddress(ip: v4, isIPv6: false) }
        if let v6 = lookup(host, family: AF_INET6) { return ResolvedAddress(ip: v6, isIPv6: true) }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, nil, &hints, &result)
        if let result { freeaddrinfo(result) }
        let reason = rc == 0 ? "no IPv4 or IPv6 address" : String(cString: gai_strerror(rc))
        throw .cannotResolve(host: host, reason: reason)
    }

    /// Whether `host` is a numeric IPv4 or IPv6 address, which `resolve` turns into itself without
    /// asking DNS.
    public static func isNumeric(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    private static func lookup(_ host: String, family: Int32) -> String? {
        var hints = addrinfo()
        hints.ai_family = family
        #if canImport(Glibc)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
            hints.ai_socktype = SOCK_STREAM
        #endif
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result, let address = first.pointee.ai_addr
        else { return nil }
        defer { freeaddrinfo(first) }
        return numericHost(address, length: first.pointee.ai_addrlen)
    }

    /// The numeric form (`10.0.0.5`, `fe80::1`) of a socket address.
    static func numericHost(_ address: UnsafePointer<sockaddr>, length: socklen_t) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(address, length, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 else {
            return nil
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
