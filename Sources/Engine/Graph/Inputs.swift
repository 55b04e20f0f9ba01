import Foundation
import Media
#if canImport(Glibc)
import Glibc
#endif

/// The inputs of a job: files, directories (walked recursively, lazily), and `-` for
/// newline-separated paths on standard input. Paths stream out one at a time, so a folder
/// of a million files starts work at once and memory does not grow with the count.
public struct InputPaths: Sequence, Sendable {
    public enum Entry: Sendable, Equatable {
        /// A file named directly.
        case file(String)
        /// A file found by walking a folder or matching a pattern: its path, and its path
        /// below the folder (or below the pattern's fixed leading folders).
        case found(String, relative: String)
        /// An argument that names nothing usable (missing path); reported, not fatal.
        case missing(String)
        /// A pattern (`*`, `?`, `[`) that matches no file; reported, not fatal.
        case unmatched(String)
        /// A directory argument that held no file this job can read.
        case emptyDirectory(String)
    }

    public let arguments: [String]
    /// Directory entries are kept only when this says yes (by file name); explicitly named
    /// files are always kept.
    public let accept: @Sendable (String) -> Bool
    /// Only the inputs of this part (`--shard`): a file by its path below the folder or
    /// pattern it was found under, a file named directly (or missing) by its path as given.
    public var shard: Shard?

    public init(_ arguments: [String], shard: Shard? = nil, accept: @escaping @Sendable (String) -> Bool = { _ in true }) {
        self.arguments = arguments
        self.shard = shard
        self.accept = accept
    }

    public func makeIterator() -> Iterator { Iterator(arguments: arguments[...], accept: accept, shard: shard) }

    public struct Iterator: IteratorProtocol {
        var arguments: ArraySlice<String>
        let accept: (String) -> Bool
        let shard: Shard?
        var walker: FileManager.DirectoryEnumerator?
        var walkerRoot = ""
        var walkerYielded = 0
        /// Prepended to the walked paths (a folder matched by a pattern: its part below the
        /// pattern's fixed folders).
        var walkerPrefix = ""
        var readingStdin = false

        init(arguments: ArraySlice<String>, accept: @escaping (String) -> Bool, shard: Shard?) {
            self.arguments = arguments
            self.accept = accept
            self.shard = shard
        }

        public mutating func next() -> Entry? {
            guard let shard else { return nextOfAll() }
            while let e = nextOfAll() {
                switch e {
                case .file(let p), .missing(let p), .unmatched(let p): if shard.owns(p) { return e }
                case .found(_, let relative): if shard.owns(relative) { return e }
                case .emptyDirectory: return e
                }
            }
            return nil
        }

        mutating func nextOfAll() -> Entry? {
            while true {
                if let w = walker {
                    while let rel = w.nextObject() as? String {
                        let name = (rel as NSString).lastPathComponent
                        let type = w.fileAttributes?[.type] as? FileAttributeType
                        if name.hasPrefix(".") {
                            if type == .typeDirectory { w.skipDescendants() }
                            continue
                        }
                        let full = (walkerRoot as NSString).appendingPathComponent(rel)
                        if type == .typeRegular, accept(full) {
                            walkerYielded += 1
                            return .found(full, relative: walkerPrefix + rel)
                        }
                    }
                    walker = nil
                    if walkerYielded == 0 { return .emptyDirectory(walkerRoot) }
                }
                if !globbed.isEmpty {
                    let p = globbed.removeFirst()
                    let relative = InputPaths.below(globRoot, p)
                    if let e = expand(p, prefix: relative + "/") {
                        if case .file(let f) = e { return .found(f, relative: relative) }
                        return e
                    }
                    continue
                }
                if readingStdin {
                    if let line = StandardInputLines.shared.nextLine() {
                        let p = line.trimmingCharacters(in: .whitespaces)
                        if p.isEmpty { continue }
                        if let e = expand(p) { return e }
                        continue
                    }
                    readingStdin = false
                }
                guard let arg = arguments.popFirst() else { return nil }
                if arg == "-" { readingStdin = true; continue }
                if let e = expand(arg) { return e }
            }
        }

        /// Matches of a quoted glob pattern still to hand out, and the pattern's fixed
        /// leading folders.
        var globbed: [String] = []
        var globRoot = ""

        /// A file is returned as is; a directory starts a walk (its entries come next); a
        /// pattern with `*`, `?` or `[` that names no file is expanded (sorted matches).
        mutating func expand(_ path: String, prefix: String = "") -> Entry? {
            var isDir: ObjCBool = false
            if !FileManager.default.fileExists(atPath: path), path.contains(where: { "*?[".contains($0) }) {
                let matches = InputPaths.glob(path)
                if matches.isEmpty { return .unmatched(path) }
                globbed = matches
                globRoot = InputPaths.fixedFolders(of: path)
                return nil
            }
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { return .missing(path) }
            if isDir.boolValue {
                guard let w = FileManager.default.enumerator(atPath: path) else { return .missing(path) }
                walker = w
                walkerRoot = path
                walkerPrefix = prefix
                walkerYielded = 0
                return nil
            }
            return .file(path)
        }
    }

    /// The leading folders of a pattern before its first component with `*`, `?` or `[`
    /// (`coll/*/x.wav` → `coll`; `*.wav` → "").
    static func fixedFolders(of pattern: String) -> String {
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: false)
        let fixed = parts.prefix { !$0.contains(where: { "*?[".contains($0) }) }
        return fixed.count == parts.count ? (pattern as NSString).deletingLastPathComponent : fixed.joined(separator: "/")
    }

    /// `path` below `root` (a prefix of it, as glob(3) returns matches).
    static func below(_ root: String, _ path: String) -> String {
        guard !root.isEmpty, path.hasPrefix(root) else { return path.hasPrefix("/") ? String(path.dropFirst()) : path }
        let rest = path.dropFirst(root.count)
        return String(rest.hasPrefix("/") ? rest.dropFirst() : rest)
    }

    /// Checks, before any work, that `-` (when given) finds a list of paths on standard
    /// input and not the bytes of a media file (`cat x.wav | mmpipe transcribe -`): those
    /// would otherwise become thousands of "paths" of binary. Throws a `RequestError` that
    /// says what stdin holds and ends with `hint` (what to do instead). Reads at most 64 KB
    /// ahead; the lines are still handed out in full afterwards.
    public func checkStandardInput(hint: String) throws {
        guard arguments.contains("-") else { return }
        if let what = StandardInputLines.shared.binaryContent() {
            throw RequestError("`-` reads a list of paths (one per line), but standard input holds \(what): \(hint)")
        }
    }

    /// Paths matching a shell pattern (glob(3)), sorted; empty when nothing matches.
    static func glob(_ pattern: String) -> [String] {
        var g = glob_t()
        defer { globfree(&g) }
        guard Glibc.glob(pattern, 0, nil, &g) == 0 else { return [] }
        return (0..<Int(g.gl_pathc)).compactMap { g.gl_pathv[$0].map { String(cString: $0) } }
    }
}

/// Standard input read as lines, with a look at its first bytes (to tell a list of paths
/// from the bytes of a file piped in by mistake). One per process, as standard input is.
final class StandardInputLines: @unchecked Sendable {
    static let shared = StandardInputLines(fileDescriptor: STDIN_FILENO)

    private let fd: Int32
    private let lock = NSLock()
    private var buffer: [UInt8] = []
    private var head = 0
    private var atEnd = false

    init(fileDescriptor: Int32) { fd = fileDescriptor }

    /// Reads until `count` bytes are buffered or the input ends.
    private func fill(to count: Int) {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while !atEnd && buffer.count - head < count {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { atEnd = true; break }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }

    /// The next line without its newline (and a trailing carriage return); nil at the end.
    func nextLine() -> String? {
        lock.lock(); defer { lock.unlock() }
        while true {
            if let nl = buffer[head...].firstIndex(of: 0x0A) {
                var line = buffer[head..<nl]
                head = nl + 1
                if line.last == 0x0D { line = line.dropLast() }
                compact()
                return String(decoding: line, as: UTF8.self)
            }
            if atEnd {
                guard head < buffer.count else { return nil }
                let line = buffer[head...]
                head = buffer.count
                compact()
                return String(decoding: line, as: UTF8.self)
            }
            fill(to: buffer.count - head + 65_536)
        }
    }

    private func compact() {
        if head > 1 << 16 { buffer.removeFirst(head); head = 0 }
    }

    /// What the first bytes are when they are not text ("audio data (wav)", "binary data"),
    /// nil for text.
    func binaryContent() -> String? {
        lock.lock(); defer { lock.unlock() }
        fill(to: 65_536)
        return StandardInputLines.describeBinary(Array(buffer[head...].prefix(65_536)), complete: atEnd)
    }

    /// nil when `bytes` read as text (`MediaFormat.looksLikeText`, magic numbers aside);
    /// else what they look like. `complete`: `bytes` is the whole input.
    static func describeBinary(_ bytes: [UInt8], complete: Bool) -> String? {
        let format = MediaFormat.sniff(Array(bytes.prefix(MediaFormat.sniffLength)))
        // A path list may start with anything printable ("BM..." sniffs as a BMP): the
        // characters decide, the magic only names what the bytes are.
        if bytes.isEmpty || MediaFormat.looksLikeText(bytes, complete: complete, charactersOnly: true) { return nil }
        if format.name == "bmp" || format == .unknown { return "binary data" }
        return "\(format.kind.rawValue) data (\(format.name))"
    }
}
