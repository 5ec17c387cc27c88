#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failed file-system call, naming the call, the path and the system's error text.
///
/// Matches what MXNet's `dmlc::Stream` reports when a checkpoint cannot be written or read
/// (the path and `strerror(errno)`), but as a typed error instead of a fatal log.
public struct AtomicFileError: Error, CustomStringConvertible, Equatable {
    /// The system call that failed (`open`, `write`, `fsync`, `rename`, `read`).
    public let operation: String
    /// The path it was called on.
    public let path: String
    /// The `errno` value it left.
    public let code: Int32

    /// Captures the current `errno` for `operation` on `path`.
    init(_ operation: String, path: String, code: Int32 = errno) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    /// The system's text for `code` (`strerror`).
    public var reason: String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }

    public var description: String { "\(operation) \(path): \(reason) (errno \(code))" }
}

/// Crash-safe whole-file writes and whole-file reads.
///
/// MXNet writes `.params` files in place, so a crash mid-write leaves a truncated checkpoint. Here a
/// write goes to a temporary file in the same directory, which is fsync'd and then renamed over the
/// target; the directory is fsync'd last so the rename itself is durable. Readers see either the old
/// complete file or the new complete file, never a mix.
public enum AtomicFile {
    /// Atomically replaces the file at `path` with `bytes` (temp file, fsync, rename, fsync directory).
    public static func write(_ bytes: [UInt8], to path: String) throws(AtomicFileError) {
        let result: Result<Void, AtomicFileError> = bytes.withUnsafeBytes { raw in
            do throws(AtomicFileError) {
                try write(raw, to: path)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    /// `write`, unless the file at `path` already holds exactly `bytes`: then it is left alone and
    /// this returns false. For a file every checkpoint rewrites (`prefix-symbol.json`, which earlier
    /// checkpoints' manifests hash), so an unchanged one is never replaced.
    @discardableResult
    public static func writeIfChanged(_ bytes: [UInt8], to path: String) throws(AtomicFileError) -> Bool {
        var info = stat()
        if stat(path, &info) == 0, Int(info.st_size) == bytes.count, let existing = try? read(path),
            existing == bytes
        {
            return false
        }
        try write(bytes, to: path)
        return true
    }

    /// Atomically replaces the file at `path` with the bytes in `buffer`.
    public static func write(_ buffer: UnsafeRawBufferPointer, to path: String) throws(AtomicFileError) {
        let writer = try AtomicFileWriter(path: path)
        try writer.append(buffer)
        try writer.commit()
    }

    /// Reads the whole file at `path`.
    public static func read(_ path: String) throws(AtomicFileError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw AtomicFileError("open", path: path) }
        defer { _ = close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw AtomicFileError("fstat", path: path) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(max(Int(info.st_size), 0))
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AtomicFileError("read", path: path)
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }

    /// Creates `path` and any missing parent directories (mode 0755), as `mkdir -p`; an existing
    /// directory is fine. Each new directory's parent is fsync'd, so the directory (and what is later
    /// written into it durably) survives a power loss. The error names the directory that could not be made and the system's
    /// reason ("Read-only file system", "Not a directory", "No space left on device").
    public static func createDirectories(_ path: String) throws(AtomicFileError) {
        var isDirectory = stat()
        if stat(path, &isDirectory) == 0, isDirectory.st_mode & S_IFMT == S_IFDIR { return }
        let parent = directoryName(of: path)
        if parent != path, parent != "." { try createDirectories(parent) }
        let made = mkdir(path, 0o755) == 0
        guard made || errno == EEXIST else { throw AtomicFileError("mkdir", path: path) }
        guard stat(path, &isDirectory) == 0, isDirectory.st_mode & S_IFMT == S_IFDIR else {
            throw AtomicFileError("mkdir", path: path, code: ENOTDIR)
        }
        if made { try syncDirectory(parent) }
    }

    /// The directory part of `path` ("." when it has none).
    static func directoryName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = path[..<slash]
        return dir.isEmpty ? "/" : String(dir)
    }

    /// Creates `<path>.tmp.<pid>.<random>` exclusively and opens it for writing.
    static func createTemporary(besides path: String) throws(AtomicFileError) -> (Int32, String) {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<16 {
            let suffix = String(generator.next() & 0xFFFF_FFFF, radix: 16)
            let temporary = "\(path).tmp.\(getpid()).\(suffix)"
            let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 { return (fd, temporary) }
            // Named after the file asked for (the temporary name means nothing to the caller).
            if errno != EEXIST { throw AtomicFileError("create", path: path) }
        }
        throw AtomicFileError("open", path: "\(path).tmp.*", code: EEXIST)
    }

    /// Writes every byte of `buffer` to the open descriptor `fd`, retrying short writes and EINTR;
    /// errors name `path`.
    public static func writeAll(_ buffer: UnsafeRawBufferPointer, to fd: Int32, path: String) throws(AtomicFileError) {
        guard let base = buffer.baseAddress else { return }
        var done = 0
        while done < buffer.count {
            let n = systemWrite(fd, base + done, buffer.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw AtomicFileError("write", path: path)
            }
            done += n
        }
    }

    /// Flushes a directory entry change (the rename) to disk.
    static func syncDirectory(_ directory: String) throws(AtomicFileError) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw AtomicFileError("open", path: directory) }
        defer { _ = close(fd) }
        guard fsync(fd) == 0 else { throw AtomicFileError("fsync", path: directory) }
    }
}

/// `read(2)`, named apart from `AtomicFile.read`.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
        return Glibc.read(fd, buffer, count)
    #else
        return Darwin.read(fd, buffer, count)
    #endif
}

/// `write(2)`, named apart from `AtomicFile.write`.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
        return Glibc.write(fd, buffer, count)
    #else
        return Darwin.write(fd, buffer, count)
    #endif
}

/// A file written in pieces and put in place atomically, as `AtomicFile.write` does with a whole
/// one: the pieces go to a temporary file beside `path`, which `commit` fsyncs and renames over
/// `path` (then fsyncs the directory). A writer dropped without `commit` (an error, a failed
/// transfer) removes its temporary file and leaves `path` as it was.
public final class AtomicFileWriter {
    /// The file it replaces.
    public let path: String
    private let temporary: String
    private var fd: Int32

    /// Creates the temporary file beside `path`.
    public init(path: String) throws(AtomicFileError) {
        self.path = path
        (fd, temporary) = try AtomicFile.createTemporary(besides: path)
    }

    /// Appends `buffer`.
    public func append(_ buffer: UnsafeRawBufferPointer) throws(AtomicFileError) {
        guard fd >= 0 else { throw AtomicFileError("write", path: path, code: EBADF) }
        try AtomicFile.writeAll(buffer, to: fd, path: temporary)
    }

    /// Puts what was appended in place of `path`, durably.
    public func commit() throws(AtomicFileError) {
        guard fd >= 0 else { throw AtomicFileError("rename", path: path, code: EBADF) }
        let descriptor = fd
        fd = -1
        guard fsync(descriptor) == 0 else {
            let failure = AtomicFileError("fsync", path: temporary)
            _ = close(descriptor)
            _ = unlink(temporary)
            throw failure
        }
        guard close(descriptor) == 0 else {
            let failure = AtomicFileError("close", path: temporary)
            _ = unlink(temporary)
            throw failure
        }
        guard rename(temporary, path) == 0 else {
            let failure = AtomicFileError("rename", path: path)
            _ = unlink(temporary)
            throw failure
        }
        try AtomicFile.syncDirectory(AtomicFile.directoryName(of: path))
    }

    deinit {
        guard fd >= 0 else { return }
        _ = close(fd)
        _ = unlink(temporary)
    }
}
