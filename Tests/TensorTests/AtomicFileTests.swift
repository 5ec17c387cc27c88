import Testing

@testable import SwiftPSTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A fresh directory under /tmp, removed by `remove()`.
struct ScratchDirectory {
    let path: String

    init() {
        var template = Array("/tmp/swiftps-tensor-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { buffer -> String in
            guard let base = buffer.baseAddress, let made = mkdtemp(base) else { return "/tmp" }
            return String(cString: made)
        }
    }

    /// The names in the directory, sorted.
    func entries() -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    func remove() {
        for name in entries() { unlink(path + "/" + name) }
        rmdir(path)
    }
}

@Suite struct AtomicFileTests {
    @Test func writeCreatesThenReplacesWithoutLeavingTemporaries() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let target = dir.path + "/weights.params"
        try AtomicFile.write([1, 2, 3, 4, 5], to: target)
        #expect(try AtomicFile.read(target) == [1, 2, 3, 4, 5])
        try AtomicFile.write([9, 8], to: target)
        #expect(try AtomicFile.read(target) == [9, 8], "the old content is replaced, not overwritten in place")
        #expect(dir.entries() == ["weights.params"], "no temporary file is left behind")
    }

    /// An unchanged file is left alone (same inode, so no rename happened); a changed one, one of
    /// another size, or a missing one is written.
    @Test func writeIfChangedLeavesIdenticalBytesAlone() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let target = dir.path + "/net-symbol.json"
        func inode() -> UInt {
            var info = stat()
            return stat(target, &info) == 0 ? UInt(info.st_ino) : 0
        }
        #expect(try AtomicFile.writeIfChanged([1, 2, 3], to: target))
        let first = inode()
        #expect(try !AtomicFile.writeIfChanged([1, 2, 3], to: target))
        #expect(inode() == first && dir.entries() == ["net-symbol.json"])
        #expect(try AtomicFile.writeIfChanged([1, 2, 4], to: target))
        #expect(try AtomicFile.read(target) == [1, 2, 4] && inode() != first)
        #expect(try AtomicFile.writeIfChanged([1, 2], to: target))
        #expect(try AtomicFile.read(target) == [1, 2])
    }

    /// A file written in pieces appears whole at `commit`; until then, and for good when the writer
    /// is dropped without committing, the old file stays as it was and no temporary is left.
    @Test func aFileWrittenInPiecesAppearsOnlyAtCommit() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let target = dir.path + "/shard.states"
        try AtomicFile.write([7, 7], to: target)
        do {
            let writer = try AtomicFileWriter(path: target)
            try [1, 2, 3].withUnsafeBytes { try writer.append($0) }
            #expect(try AtomicFile.read(target) == [7, 7])
            #expect(dir.entries().count == 2, "the pieces go to a temporary file beside it")
        }
        #expect(try AtomicFile.read(target) == [7, 7], "a writer dropped without commit changes nothing")
        #expect(dir.entries() == ["shard.states"], "and removes its temporary file")
        let writer = try AtomicFileWriter(path: target)
        for piece in [[1, 2, 3], [], [4, 5]] as [[UInt8]] { try piece.withUnsafeBytes { try writer.append($0) } }
        try writer.commit()
        #expect(try AtomicFile.read(target) == [1, 2, 3, 4, 5])
        #expect(dir.entries() == ["shard.states"])
        #expect(throws: AtomicFileError.self) { try [9].withUnsafeBytes { try writer.append($0) } }
        #expect(throws: AtomicFileError.self) { try writer.commit() }
        #expect(throws: AtomicFileError.self) { try AtomicFileWriter(path: dir.path + "/no/such/dir/file") }
    }

    @Test func emptyAndLargeFilesRoundTrip() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let target = dir.path + "/blob"
        try AtomicFile.write([], to: target)
        #expect(try AtomicFile.read(target) == [])
        let big = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try AtomicFile.write(big, to: target)
        #expect(try AtomicFile.read(target) == big)
    }

    @Test func errorsNameThePathAndTheSystemReason() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let missing = dir.path + "/nope.params"
        do {
            _ = try AtomicFile.read(missing)
            Issue.record("reading a missing file must fail")
        } catch {
            #expect(error.path == missing)
            #expect(error.code == ENOENT)
            #expect(error.description.contains(missing))
            #expect(error.description.contains("No such file"))
        }
        // Into a missing directory: the error names the file asked for, not a temporary name.
        let inMissingDir = dir.path + "/no-such-dir/x.params"
        #expect(throws: AtomicFileError("create", path: inMissingDir, code: ENOENT)) {
            try AtomicFile.write([1], to: inMissingDir)
        }
        #expect(dir.entries() == [])
    }

    /// `mkdir -p`: nested directories are made, an existing one is fine, and one that cannot be made
    /// (a regular file in the way) is named with the system's reason.
    @Test func createDirectoriesMakesParentsAndNamesWhatFails() throws {
        let dir = ScratchDirectory()
        defer {
            rmdir(dir.path + "/a/b")
            rmdir(dir.path + "/a")
            dir.remove()
        }
        try AtomicFile.createDirectories(dir.path + "/a/b")
        try AtomicFile.createDirectories(dir.path + "/a/b")
        var info = stat()
        #expect(stat(dir.path + "/a/b", &info) == 0 && info.st_mode & S_IFMT == S_IFDIR)
        try AtomicFile.write([1], to: dir.path + "/f")
        do {
            try AtomicFile.createDirectories(dir.path + "/f/sub/dir")
            Issue.record("a directory under a file cannot be made")
        } catch {
            #expect(error.operation == "mkdir" && error.path == dir.path + "/f" && error.code == ENOTDIR)
        }
    }

    @Test func directoryOfPath() {
        #expect(AtomicFile.directoryName(of: "a.params") == ".")
        #expect(AtomicFile.directoryName(of: "/x.params") == "/")
        #expect(AtomicFile.directoryName(of: "/tmp/run/x.params") == "/tmp/run")
    }
}
