import Foundation

/// Where the slices of one key live on the servers: MXNet's `KVStoreDist::EncodeDefaultKey`.
///
/// An array with fewer elements than the big-array bound goes whole to server
/// `key * 9973 % numServers`; a larger one is split over all servers, part `i` holding
/// `round(n / S * (i + 1)) - round(n / S * i)` elements. SwiftPS keys each slice on its server by
/// the integer key itself (MXNet adds the server's key-range start; with one key per message the
/// two are equivalent).
public struct KVPlacement: Sendable, Equatable {
    /// One contiguous piece of a key on one server.
    public struct Slice: Sendable, Equatable {
        /// The server's rank.
        public var server: Int
        /// The first element of the piece within the key's array.
        public var offset: Int
        /// The number of elements.
        public var count: Int

        /// Creates a slice description.
        public init(server: Int, offset: Int, count: Int) {
            self.server = server
            self.offset = offset
            self.count = count
        }
    }

    /// The non-empty pieces, in server-rank order; their counts add up to the array's size.
    public let slices: [Slice]

    /// MXNet's default big-array bound, `MXNET_KVSTORE_BIGARRAY_BOUND` = 1,000,000 elements.
    public static let defaultBigArrayBound = 1_000_000

    /// The placement of integer key `key` holding `count` elements over `numServers` servers.
    public init(key: Int, count: Int, numServers: Int, bigArrayBound: Int) {
        precondition(numServers > 0 && count >= 0 && key >= 0, "KVPlacement: invalid arguments")
        if count < bigArrayBound {
            slices = [Slice(server: key * 9973 % numServers, offset: 0, count: count)]
            return
        }
        var parts: [Slice] = []
        let perServer = Double(count) / Double(numServers)
        for server in 0..<numServers {
            let begin = Int((perServer * Double(server)).rounded())
            let end = server == numServers - 1 ? count : Int((perServer * Double(server + 1)).rounded())
            if end > begin { parts.append(Slice(server: server, offset: begin, count: end - begin)) }
        }
        slices = parts
    }

    /// The bound from the environment: `SWIFTPS_BIGARRAY_BOUND`, else MXNet's
    /// `MXNET_KVSTORE_BIGARRAY_BOUND`, else 1,000,000. Throws for a value that is not a positive integer.
    public static func bigArrayBound(environment: [String: String]) throws(KVStoreError) -> Int {
        for name in ["SWIFTPS_BIGARRAY_BOUND", "MXNET_KVSTORE_BIGARRAY_BOUND"] {
            guard let text = environment[name] else { continue }
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)), value > 0 else {
                throw .badConfiguration("invalid \(name)='\(text)': must be a positive number of elements")
            }
            return value
        }
        return defaultBigArrayBound
    }
}
