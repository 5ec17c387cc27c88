#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Appends whole lines to a log-like file (metrics files): one `write` per line with O_APPEND, then
/// fsync, so a crash never leaves half a line and concurrent writers do not interleave.
public enum AppendFile {
    /// Appends `line` and a newline to `path`, creating the file when missing.
    public static func appendLine(_ line: String, to path: String) throws(AtomicFileError) {
        let bytes = Array((line + "\n").utf8)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw AtomicFileError("open", path: path) }
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw AtomicFileError("append to", path: path) }
        guard fsync(fd) == 0 else { throw AtomicFileError("fsync", path: path) }
    }
}
