import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Crash-safe file replacement: write a temporary file in the target's directory, fsync it, rename
/// it over the target, and fsync the directory. Readers see the old file or the new one, never a
/// torn one (the checkpoint rule of DESIGN.md; MXNet itself writes in place).
enum AtomicFile {
    static func store(_ data: Data, at path: String) throws {
        func fail(_ what: String) -> SymbolFileError {
            .cannotWrite(path: path, reason: "\(what): \(String(cString: strerror(errno)))")
        }
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temp = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw fail("cannot create \(temp)") }
        var closed = false
        defer {
            if !closed { close(fd) }
        }
        let written = data.withUnsafeBytes { buffer -> Bool in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += n
            }
            return true
        }
        guard written, fsync(fd) == 0 else {
            let error = fail("cannot write \(temp)")
            unlink(temp)
            throw error
        }
        closed = true
        guard close(fd) == 0, rename(temp, path) == 0 else {
            let error = fail("cannot move \(temp) into place")
            unlink(temp)
            throw error
        }
        let dirFD = open(directory, O_RDONLY)
        if dirFD >= 0 {
            _ = fsync(dirFD)
            close(dirFD)
        }
    }
}
