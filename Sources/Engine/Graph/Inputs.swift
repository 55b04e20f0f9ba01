import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The inputs of a job: files, directories (walked recursively, lazily), and `-` for
/// newline-separated paths on standard input. Paths stream out one at a time, so a folder
/// of a million files starts work at once and memory does not grow with the count.
public struct InputPaths: Sequence, Sendable {
    public enum Entry: Sendable, Equatable {
        case file(String)
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
                            return .file(full)
                        }
                    }
                    walker = nil
                    if walkerYielded == 0 { return .emptyDirectory(walkerRoot) }
                }
                if !globbed.isEmpty {
                    let p = globbed.removeFirst()
                    if let e = expand(p) { return e }
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

        /// Matches of a quoted glob pattern still to hand out.
        var globbed: [String] = []

        /// A file is returned as is; a directory starts a walk (its entries come next); a
        /// pattern with `*`, `?` or `[` that names no file is expanded (sorted matches).
        mutating func expand(_ path: String) -> Entry? {
            var isDir: ObjCBool = false
            if !FileManager.default.fileExists(atPath: path), path.contains(where: { "*?[".contains($0) }) {
                let matches = InputPaths.glob(path)
                if matches.isEmpty { return .missing(path) }
                globbed = matches
                return nil
            }
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { return .missing(path) }
            if isDir.boolValue {
                guard let w = FileManager.default.enumerator(atPath: path) else { return .missing(path) }
                walker = w
                walkerRoot = path
                walkerYielded = 0
                return nil
            }
            return .file(path)
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
