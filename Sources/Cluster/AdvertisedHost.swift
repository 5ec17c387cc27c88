import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Picks the address a node advertises, as ps-lite's `GetAvailableInterfaceAndIP` does:
/// `DMLC_NODE_HOST`, else the IPv4 address of `DMLC_INTERFACE`, else the first non-loopback IPv4
/// interface, else 127.0.0.1. The choice is logged, since the wrong NIC is a classic ps-lite pain.
public enum AdvertisedHost {
    /// Every interface with an IPv4 address, in `getifaddrs` order: (name, address).
    public static func ipv4Interfaces() -> [(name: String, address: String)] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(first) }
        var result: [(String, String)] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET) else {
                continue
            }
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            let rc = getnameinfo(
                address, socklen_t(MemoryLayout<sockaddr_in>.size), &buffer, socklen_t(buffer.count), nil, 0,
                NI_NUMERICHOST)
            guard rc == 0 else { continue }
            let ip = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            result.append((String(cString: entry.pointee.ifa_name), ip))
        }
        return result
    }

    /// The address to advertise for `config` (the scheduler advertises `schedulerHost`).
    public static func choose(for config: ClusterConfig, logger: Logger) throws(ClusterError) -> String {
        if config.role == .scheduler { return config.schedulerHost }
        if let host = config.advertisedHost {
            logger.info("advertising \(host) (DMLC_NODE_HOST)")
            return host
        }
        let interfaces = ipv4Interfaces()
        if let name = config.interface {
            guard let match = interfaces.first(where: { $0.name == name }) else {
                throw .interfaceNotFound(name: name, available: interfaces.map { "\($0.name) (\($0.address))" })
            }
            logger.info("advertising \(match.address), the address of interface \(name) (DMLC_INTERFACE)")
            return match.address
        }
        if let first = interfaces.first(where: { !$0.address.hasPrefix("127.") }) {
            logger.info(
                "advertising \(first.address), the first non-loopback IPv4 interface (\(first.name)); set DMLC_NODE_HOST or DMLC_INTERFACE to choose another"
            )
            return first.address
        }
        logger.warning(
            "no non-loopback IPv4 interface: advertising 127.0.0.1 (only processes on this host can reach it)")
        return "127.0.0.1"
    }
}
