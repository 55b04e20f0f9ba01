import Foundation
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
        /// A directory argument that held no file this job can read.
        case emptyDirectory(String)
    }

    public let arguments: [String]
    /// Directory entries are kept only when this says yes (by file name); explicitly named
    /// files are always kept.
    public let accept: @Sendable (String) -> Bool

    public init(_ arguments: [String], accept: @escaping @Sendable (String) -> Bool = { _ in true }) {
        self.arguments = arguments
        self.accept = accept
    }

    public func makeIterator() -> Iterator { Iterator(arguments: arguments[...], accept: accept) }

    public struct Iterator: IteratorProtocol {
        var arguments: ArraySlice<String>
        let accept: (String) -> Bool
        var walker: FileManager.DirectoryEnumerator?
        var walkerRoot = ""
        var walkerYielded = 0
        /// Prepended to the walked paths (a folder matched by a pattern: its part below the
        /// pattern's fixed folders).
        var walkerPrefix = ""
        var readingStdin = false

        init(arguments: ArraySlice<String>, accept: @escaping (String) -> Bool) {
            self.arguments = arguments
            self.accept = accept
        }

        public mutating func next() -> Entry? {
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
                    if let line = readLine(strippingNewline: true) {
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
                if matches.isEmpty { return .missing(path) }
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

    /// Paths matching a shell pattern (glob(3)), sorted; empty when nothing matches.
    static func glob(_ pattern: String) -> [String] {
        var g = glob_t()
        defer { globfree(&g) }
        guard Glibc.glob(pattern, 0, nil, &g) == 0 else { return [] }
        return (0..<Int(g.gl_pathc)).compactMap { g.gl_pathv[$0].map { String(cString: $0) } }
    }
}
