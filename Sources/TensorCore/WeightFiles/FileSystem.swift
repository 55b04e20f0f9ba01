#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Every system call of TensorCore lives in this file.
enum FileSystem {
    /// A read-only view of a whole file, mapped copy-on-write (pages written by a caller
    /// stay private to the process and never reach the file).
    final class Mapping: @unchecked Sendable {
        let base: UnsafeMutableRawPointer?
        let size: Int

        init(path: String) throws {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw WeightFileError(path: path, FileSystem.errnoText("cannot open")) }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw WeightFileError(path: path, FileSystem.errnoText("cannot stat")) }
            guard (st.st_mode & S_IFMT) == S_IFREG else { throw WeightFileError(path: path, "not a regular file") }
            size = Int(st.st_size)
            if size == 0 { base = nil; return }
            let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
            guard let p, p != MAP_FAILED else { throw WeightFileError(path: path, FileSystem.errnoText("cannot map")) }
            base = p
        }

        deinit { if let base { munmap(base, size) } }
    }

    /// glibc's `mallopt` (declared in malloc.h, which the Glibc module does not export).
    static func keepLargeFreedBlocks(mmapThreshold: Int32, trimThreshold: Int32) {
        #if os(Linux) && canImport(Glibc)
        _ = glibcMallopt(-3, mmapThreshold)     // M_MMAP_THRESHOLD
        _ = glibcMallopt(-1, trimThreshold)     // M_TRIM_THRESHOLD
        // One arena for every thread: the thresholds above govern only the main arena, and
        // a model stage's or pool helper's own arena handed its freed pages back, so every
        // forward pass page-faulted its outputs again (300 000 faults in a ResNet-50 bench).
        _ = glibcMallopt(-8, 1)                 // M_ARENA_MAX
        #endif
    }

    static func errnoText(_ what: String) -> String {
        "\(what): \(String(cString: strerror(errno)))"
    }

    /// Renames `from` over `to` (one directory entry replaced by another, atomically).
    static func moveIntoPlace(_ from: String, over to: String) throws {
        guard rename(from, to) == 0 else {
            throw WeightFileError(path: to, errnoText("cannot rename into place"))
        }
    }

    static func removeFile(_ path: String) { unlink(path) }

    /// Flushes a folder's entries (a rename into it) to disk; best effort.
    static func synchronizeFolder(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    static var processID: Int32 { getpid() }
}

#if os(Linux) && canImport(Glibc)
@_silgen_name("mallopt")
private func glibcMallopt(_ param: Int32, _ value: Int32) -> Int32
#endif
