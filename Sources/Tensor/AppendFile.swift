#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Appends whole lines to a log-like file (metrics files): one `write` per line with O_APPEND, then
/// fsync, so a crash never leaves half a line and concurrent writers do not interleave. A short
/// write (a full disk) is cut back off, so the next line, once there is space, starts a line.
public enum AppendFile {
    /// Appends `line` and a newline to `path`, creating the file when missing.
    public static func appendLine(_ line: String, to path: String) throws(AtomicFileError) {
        let bytes = Array((line + "\n").utf8)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw AtomicFileError("open", path: path) }
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            let failure = AtomicFileError("append to", path: path)
            // With O_APPEND the offset ends just after this write's bytes: cut those alone, not a line
            // another writer appended meanwhile.
            if written > 0 { _ = ftruncate(fd, lseek(fd, 0, SEEK_CUR) - off_t(written)) }
            throw failure
        }
        guard fsync(fd) == 0 else { throw AtomicFileError("fsync", path: path) }
    }

    /// Checks that lines can be appended to `path` (creating it, empty, when missing): a directory,
    /// a read-only place or a missing parent fails now, naming it, not after an epoch of training.
    public static func checkAppendable(_ path: String) throws(AtomicFileError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw AtomicFileError("open", path: path) }
        close(fd)
    }
}
