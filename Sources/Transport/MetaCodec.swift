import Foundation
import PSWire

/// A decoded meta frame: the message without its data frames, plus what the meta says about them.
public struct DecodedMeta: Sendable {
    /// The message (with `data` empty).
    public var message: Message
    /// The declared element type of each data frame (ps-lite's `data_type`).
    public var dataTypes: [WireDataType]
    /// The declared total bytes of the data frames (ps-lite's `data_size`).
    public var dataSize: Int64
}

/// Encodes and decodes the meta frame with libprotobuf-c (`Sources/PSWire/proto/meta.proto`), the
/// counterpart of ps-lite's `Van::PackMeta` / `UnpackMeta`. Decoding never crashes: bad bytes,
/// another schema version, or unknown enum values give a `WireError`.
public enum MetaCodec {
    /// The wire schema version this build writes and accepts.
    public static let version: Int32 = 1

    /// The protobuf bytes of `message`'s meta (everything except `recver` and the data frames'
    /// contents; their types and total size are included).
    public static func encode(_ message: Message) -> [UInt8] {
        let arena = CArena()
        defer { arena.release() }
        let meta = arena.make(Swiftps__Meta.self)
        swiftps__meta__init(meta)
        meta.pointee.head = message.head
        meta.pointee.body = arena.binary(message.body)
        meta.pointee.request = message.request ? 1 : 0
        meta.pointee.push = message.push ? 1 : 0
        meta.pointee.pull = message.pull ? 1 : 0
        meta.pointee.simple_app = message.simpleApp ? 1 : 0
        meta.pointee.app_id = message.appID
        meta.pointee.customer_id = message.customerID
        meta.pointee.timestamp = message.timestamp
        meta.pointee.priority = message.priority
        meta.pointee.version = version
        meta.pointee.sender = message.sender
        meta.pointee.error = arena.string(message.error)
        meta.pointee.data_size = Int64(message.dataByteCount)
        meta.pointee.seq = message.seq
        meta.pointee.tag = arena.binary(message.tag)
        let types = message.dataTypes
        if !types.isEmpty {
            let buffer = arena.array(Swiftps__DataType.self, count: types.count)
            for (i, type) in types.enumerated() { buffer[i] = Swiftps__DataType(rawValue: UInt32(type.rawValue)) }
            meta.pointee.n_data_type = types.count
            meta.pointee.data_type = buffer
        }
        if message.isControl { meta.pointee.control = encodeControl(message.control, arena: arena) }
        let size = swiftps__meta__get_packed_size(meta)
        return [UInt8](unsafeUninitializedCapacity: max(size, 1)) { buffer, initialized in
            initialized = size > 0 ? swiftps__meta__pack(meta, buffer.baseAddress) : 0
        }
    }

    /// The most heap decoding a meta of `byteCount` bytes may take. A real meta takes about twice
    /// its size (its strings and node entries); a forged one of repeated empty entries could take a
    /// hundred times, which is refused instead.
    public static func decodeBudget(byteCount: Int) -> Int { 8 * byteCount + (1 << 20) }

    /// Decodes a meta frame of at most `limit` bytes, within `decodeBudget` of memory.
    public static func decode(_ bytes: UnsafeRawBufferPointer, limit: Int = TransportLimits().maxMetaBytes)
        throws(WireError) -> DecodedMeta
    {
        guard bytes.count <= limit else { throw .metaTooLarge(byteCount: bytes.count, limit: limit) }
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
            let meta = swiftps_meta_unpack_bounded(bytes.count, base, decodeBudget(byteCount: bytes.count))
        else { throw .undecodable(byteCount: bytes.count) }
        defer { swiftps_meta_free_bounded(meta) }
        let m = meta.pointee
        guard m.version == version else { throw .unsupportedVersion(found: m.version, expected: version) }
        var message = Message(
            head: m.head, body: bytesOf(m.body), request: m.request != 0, push: m.push != 0, pull: m.pull != 0,
            simpleApp: m.simple_app != 0, appID: m.app_id, customerID: m.customer_id, timestamp: m.timestamp,
            priority: m.priority, sender: m.sender, error: stringOf(m.error))
        message.seq = m.seq
        message.tag = bytesOf(m.tag)
        if let control = m.control { message.control = try decodeControl(control.pointee) }
        var types: [WireDataType] = []
        types.reserveCapacity(m.n_data_type)
        for i in 0..<m.n_data_type {
            let raw = Int32(bitPattern: m.data_type[i].rawValue)
            guard let type = WireDataType(rawValue: raw) else { throw .unknownDataType(raw) }
            types.append(type)
        }
        return DecodedMeta(message: message, dataTypes: types, dataSize: m.data_size)
    }

    /// Decodes a meta frame held in an array.
    public static func decode(_ bytes: [UInt8]) throws(WireError) -> DecodedMeta {
        do {
            return try bytes.withUnsafeBytes { raw in try decode(raw) }
        } catch let error as WireError {
            throw error
        } catch {
            throw .undecodable(byteCount: bytes.count)
        }
    }

    private static func encodeControl(_ control: Control, arena: CArena) -> UnsafeMutablePointer<Swiftps__Control> {
        let c = arena.make(Swiftps__Control.self)
        swiftps__control__init(c)
        c.pointee.cmd = Swiftps__Command(rawValue: UInt32(control.cmd.rawValue))
        c.pointee.barrier_group = control.barrierGroup
        c.pointee.msg_sig = control.msgSig
        c.pointee.epoch = control.epoch
        c.pointee.batches_per_epoch = control.batchesPerEpoch
        c.pointee.auth = arena.binary(control.auth)
        c.pointee.nonce = arena.binary(control.nonce)
        c.pointee.session = arena.binary(control.session)
        c.pointee.encrypted = control.encrypted ? 1 : 0
        if !control.nodes.isEmpty {
            let list = arena.array(UnsafeMutablePointer<Swiftps__Node>?.self, count: control.nodes.count)
            for (i, node) in control.nodes.enumerated() {
                let n = arena.make(Swiftps__Node.self)
                swiftps__node__init(n)
                n.pointee.role = Swiftps__Role(rawValue: UInt32(node.role.rawValue))
                n.pointee.id = node.id
                n.pointee.hostname = arena.string(node.hostname)
                n.pointee.port = node.port
                n.pointee.is_recovery = node.isRecovery ? 1 : 0
                n.pointee.rank = node.rank
                n.pointee.shard_size = node.shardSize
                n.pointee.auth = arena.binary(node.auth)
                n.pointee.nonce = arena.binary(node.nonce)
                n.pointee.job = arena.string(node.job)
                n.pointee.num_workers = node.numWorkers
                n.pointee.num_servers = node.numServers
                n.pointee.protocol = node.protocolVersion
                if !node.settings.isEmpty {
                    let entries = node.settings.sorted { $0.key < $1.key }
                    let texts = arena.array(UnsafeMutablePointer<CChar>?.self, count: entries.count)
                    for (j, entry) in entries.enumerated() { texts[j] = arena.string("\(entry.key)=\(entry.value)") }
                    n.pointee.n_settings = entries.count
                    n.pointee.settings = texts
                }
                list[i] = n
            }
            c.pointee.n_node = control.nodes.count
            c.pointee.node = list
        }
        return c
    }

    private static func decodeControl(_ c: Swiftps__Control) throws(WireError) -> Control {
        let rawCmd = Int32(bitPattern: c.cmd.rawValue)
        guard let cmd = ControlCommand(rawValue: rawCmd) else { throw .unknownCommand(rawCmd) }
        var nodes: [NodeInfo] = []
        for i in 0..<c.n_node {
            guard let n = c.node[i]?.pointee else { continue }
            let rawRole = Int32(bitPattern: n.role.rawValue)
            guard let role = NodeRole(rawValue: rawRole) else { throw .unknownRole(rawRole) }
            var node = NodeInfo(
                role: role, id: n.id, hostname: stringOf(n.hostname), port: n.port, isRecovery: n.is_recovery != 0,
                rank: n.rank, shardSize: n.shard_size, auth: bytesOf(n.auth), nonce: bytesOf(n.nonce),
                job: stringOf(n.job))
            node.numWorkers = n.num_workers
            node.numServers = n.num_servers
            node.protocolVersion = n.protocol
            for j in 0..<n.n_settings {
                let entry = stringOf(n.settings[j])
                guard let equals = entry.firstIndex(of: "=") else { throw .malformedSetting(entry) }
                node.settings[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
            }
            nodes.append(node)
        }
        return Control(
            cmd: cmd, nodes: nodes, barrierGroup: c.barrier_group, msgSig: c.msg_sig, epoch: c.epoch,
            batchesPerEpoch: c.batches_per_epoch, auth: bytesOf(c.auth), nonce: bytesOf(c.nonce),
            session: bytesOf(c.session), encrypted: c.encrypted != 0)
    }

    private static func bytesOf(_ data: ProtobufCBinaryData) -> [UInt8] {
        guard data.len > 0, let p = data.data else { return [] }
        return [UInt8](UnsafeBufferPointer(start: p, count: data.len))
    }

    private static func stringOf(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
        guard let pointer else { return "" }
        return String(cString: pointer)
    }
}

/// Allocations for one `pack` call, all freed together afterwards.
private final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    func make<T>(_ type: T.Type) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: 1)
        allocations.append(UnsafeMutableRawPointer(p))
        return p
    }

    func array<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: count)
        allocations.append(UnsafeMutableRawPointer(p))
        return p
    }

    func binary(_ bytes: [UInt8]) -> ProtobufCBinaryData {
        guard !bytes.isEmpty else { return ProtobufCBinaryData(len: 0, data: nil) }
        let p = array(UInt8.self, count: bytes.count)
        p.initialize(from: bytes, count: bytes.count)
        return ProtobufCBinaryData(len: bytes.count, data: p)
    }

    func string(_ text: String) -> UnsafeMutablePointer<CChar> {
        let utf8 = Array(text.utf8CString)
        let p = array(CChar.self, count: utf8.count)
        p.initialize(from: utf8, count: utf8.count)
        return p
    }

    func release() {
        for p in allocations { p.deallocate() }
        allocations.removeAll()
    }
}
