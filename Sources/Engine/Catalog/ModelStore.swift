import Foundation

/// The folder of model weights and its manifest (`models.json`, written by the project and
/// read by `scripts/fetch-models`): which models exist, where their weights come from, and
/// whether they are present.
///
/// The folder is `MMPIPE_MODELS_DIR` when set, else the `Models/` folder of the checkout the
/// binary was built in (found by walking up from the executable), else
/// `~/.cache/mmpipe/models`.
public struct ModelStore: Sendable {
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let description: String
        public let format: String
        public let licence: String
        public let source: String
        public let packages: [String]          // "name==version"
        public let files: [String]
        public let bytes: Int
        public let isDefault: Bool
    }

    public let directory: URL
    public let entries: [Entry]

    public init(directory: URL? = nil) throws {
        let dir = directory ?? ModelStore.defaultDirectory()
        self.directory = dir
        let manifest = dir.appendingPathComponent("models.json")
        guard let data = FileManager.default.contents(atPath: manifest.path) else {
            throw ModelStoreError("\(manifest.path): no model manifest here (set MMPIPE_MODELS_DIR to the folder that holds models.json and the fetched weights)")
        }
        guard let root = try? JSONDecoder().decode(Manifest.self, from: data) else {
            throw ModelStoreError("\(manifest.path): not a model manifest (expected an object with a \"models\" list)")
        }
        entries = root.models.compactMap { m in
            guard let name = m.name else { return nil }
            let files = m.files ?? []
            return Entry(name: name, description: m.description ?? "", format: m.format ?? "", licence: m.licence ?? "",
                         source: m.source ?? "",
                         packages: (m.packages ?? []).compactMap { p in p.name.flatMap { n in p.version.map { "\(n)==\($0)" } } },
                         // On disk: the files and what is converted from them (as scripts/fetch-models --list).
                         files: files.compactMap(\.to), bytes: (files + [m.convert].compactMap { $0 }).compactMap(\.size).reduce(0, +),
                         isDefault: m.default ?? false)
        }
    }

    /// `models.json` as far as mmpipe reads it (scripts/fetch-models reads the rest).
    struct Manifest: Decodable {
        struct Model: Decodable {
            struct Package: Decodable { let name: String?, version: String? }
            struct File: Decodable { let to: String?, size: Int? }
            let name: String?, description: String?, format: String?, licence: String?, source: String?
            let packages: [Package]?
            let files: [File]?
            let convert: File?
            let `default`: Bool?
        }
        let models: [Model]
    }

    public static func defaultDirectory() -> URL {
        if let env = ProcessInfo.processInfo.environment["MMPIPE_MODELS_DIR"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        if let exe = Bundle.main.executableURL { dir = exe.resolvingSymlinksInPath().deletingLastPathComponent() }
        for _ in 0..<6 {
            let candidate = dir.appendingPathComponent("Models")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("models.json").path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/mmpipe/models")
    }

    public func entry(_ name: String) throws -> Entry {
        guard let e = entries.first(where: { $0.name == name }) else {
            throw ModelStoreError("unknown model '\(name)'; known: \(entries.map(\.name).joined(separator: ", "))")
        }
        return e
    }

    public func folder(_ e: Entry) -> URL { directory.appendingPathComponent(e.name) }

    /// Files of the model that are not on disk (empty when the model is present).
    public func missingFiles(_ e: Entry) -> [String] {
        e.files.filter { !FileManager.default.fileExists(atPath: folder(e).appendingPathComponent($0).path) }
    }

    public func isPresent(_ e: Entry) -> Bool { missingFiles(e).isEmpty }

    /// The command that fetches a model's weights.
    public static func fetchCommand(_ name: String) -> String { "scripts/fetch-models \(name)" }
}

public struct ModelStoreError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}
