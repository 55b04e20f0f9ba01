import Foundation

/// Files that readers see whole or not at all: the bytes go to a temporary file beside the
/// target, are flushed to disk, and the temporary file is renamed over the target. A reader
/// (or a run killed half way) sees the old file or the new one, never part of one.
///
/// Every writer of the project goes through here: `NPY.write`, `SafeTensorsWriter`,
/// `WhisperConverter`, the hub download (`.NAME.part`, continued across runs) and the
/// results files.
public enum AtomicFile {
    /// Checks that `url` can be a file written here: not a folder, and its folder (when it
    /// exists) a writable folder. Throws a `FileAccessError` naming what is wrong.
    public static func checkTarget(_ url: URL) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue {
            throw FileAccessError(path: url.path, "is a folder, not a file")
        }
        let folder = url.deletingLastPathComponent()
        if FileManager.default.fileExists(atPath: folder.path) { try FileAccessError.checkFolder(folder.path) }
    }

    /// Writes `data` to a temporary file beside `url`, flushes it, and renames it over `url`.
    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { try $0.append(data) }
    }

    /// Runs `body` on a writer to a new temporary file beside `url` and commits it; when
    /// `body` or the commit throws, the temporary file is removed and `url` is untouched.
    public static func write(to url: URL, _ body: (Writer) throws -> Void) throws {
        let writer = try Writer(target: url)
        do {
            try body(writer)
            try writer.commit()
        } catch {
            writer.discard()
            throw error
        }
    }

    /// A file being written beside its target: `append`, then `commit` (flush, rename over
    /// the target). Until then the target is untouched.
    ///
    /// With a named `temporary` (`.results.jsonl.partial`, `.model.safetensors.part`) the
    /// temporary file outlives the writer: `close()` keeps what was written, and a later
    /// writer on the same name continues at its end (a resumed job or download). Without
    /// one, the writer makes a fresh uniquely named file, and `discard()` removes it.
    ///
    /// - Important: one thread at a time (callers that share a writer hold their own lock).
    ///   Errors are `WeightFileError`s naming the target.
    public final class Writer {
        public let target: URL
        public let temporary: URL
        private var handle: FileHandle?

        /// Opens `temporary` (created when missing, else continued at its end), or a new
        /// uniquely named file beside `target` when `temporary` is nil.
        public init(target: URL, temporary: URL? = nil) throws {
            self.target = target
            let folder = target.deletingLastPathComponent()
            let fm = FileManager.default
            if let temporary {
                self.temporary = temporary
                if !fm.fileExists(atPath: temporary.path) {
                    guard fm.createFile(atPath: temporary.path, contents: nil) else {
                        throw WeightFileError(path: target.path, "cannot create \(temporary.lastPathComponent) in \(folder.path)" + FileAccessError.why(folder.path))
                    }
                }
            } else {
                self.temporary = folder.appendingPathComponent(
                    ".\(target.lastPathComponent).tmp-\(FileSystem.processID)-\(UInt32.random(in: 0 ... .max))")
                guard fm.createFile(atPath: self.temporary.path, contents: nil) else {
                    throw WeightFileError(path: target.path, "cannot create a temporary file in \(folder.path)" + FileAccessError.why(folder.path))
                }
            }
            do {
                let h = try FileHandle(forWritingTo: self.temporary)
                try h.seekToEnd()
                handle = h
            } catch {
                throw WeightFileError(path: target.path, "cannot open \(self.temporary.path): \(error.localizedDescription)")
            }
        }

        deinit { try? handle?.close() }

        /// Bytes in the temporary file so far.
        public var size: Int64 {
            guard let handle, let offset = try? handle.offset() else { return 0 }
            return Int64(offset)
        }

        public func append(_ data: Data) throws {
            try perform("write failed") { try $0.write(contentsOf: data) }
        }

        /// Appends `bytes` without copying them first.
        public func append(_ bytes: UnsafeRawBufferPointer) throws {
            guard let base = bytes.baseAddress, bytes.count > 0 else { return }
            try append(Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: bytes.count, deallocator: .none))
        }

        /// Empties the temporary file, to write it again from the start.
        public func truncate() throws {
            try perform("cannot truncate") { try $0.truncate(atOffset: 0) }
        }

        /// Flushes what was appended to disk (it stays in the temporary file).
        public func synchronize() throws {
            try perform("cannot flush to disk") { try $0.synchronize() }
        }

        /// Flushes, closes and renames the temporary file over the target. The writer is
        /// done afterwards.
        public func commit() throws {
            try synchronize()
            try perform("cannot close") { try $0.close() }
            handle = nil
            try FileSystem.moveIntoPlace(temporary.path, over: target.path)
            FileSystem.synchronizeFolder(target.deletingLastPathComponent().path)
        }

        /// Closes the temporary file and keeps it (to be continued by a later writer).
        public func close() {
            try? handle?.close()
            handle = nil
        }

        /// Closes and removes the temporary file; the target is untouched.
        public func discard() {
            close()
            FileSystem.removeFile(temporary.path)
        }

        private func perform(_ what: String, _ body: (FileHandle) throws -> Void) throws {
            guard let handle else { throw WeightFileError(path: target.path, "\(what): the file was already committed or closed") }
            do { try body(handle) } catch {
                throw WeightFileError(path: target.path, "\(what): \(error.localizedDescription)")
            }
        }
    }
}

/// A place to write that cannot be used as one: a folder that is missing, is a file, or
/// is read-only; a file name that is a folder. `path` is that place (not the file that was
/// to be written in it), so the message names what the user gave.
public struct FileAccessError: ItemReasonError, Equatable, Sendable {
    public let path: String
    public let problem: String

    public init(path: String, _ problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
    public var itemReason: String { description }

    /// Throws when `path` is not a writable folder: missing, a file, or read-only.
    public static func checkFolder(_ path: String) throws {
        if let problem = problem(folder: path) { throw FileAccessError(path: path, problem) }
    }

    /// What is wrong with `path` as a folder to write in; nil when nothing is seen.
    static func problem(folder path: String) -> String? {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else { return "no such folder" }
        guard isDir.boolValue else { return "is a file, not a folder" }
        guard fm.isWritableFile(atPath: path) else { return "folder is not writable (permission denied)" }
        return nil
    }

    /// `": <problem>"` to end a message that names `folder`, or "".
    static func why(_ folder: String) -> String { problem(folder: folder).map { ": \($0)" } ?? "" }
}
