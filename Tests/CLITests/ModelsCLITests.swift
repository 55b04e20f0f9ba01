import Foundation
import Testing

@Suite("mmpipe models, end to end")
struct ModelsCLITests {
    /// A models folder with a two-entry manifest, one model present and one missing.
    static func store() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("models-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("tiny"), withIntermediateDirectories: true)
        try Data("weights".utf8).write(to: dir.appendingPathComponent("tiny/model.bin"))
        let manifest = """
            {"models": [
              {"name": "tiny", "description": "a tiny test model", "format": "test", "licence": "MIT",
               "source": "PyPI tiny-pkg 1.0", "packages": [{"name": "tiny-pkg", "version": "1.0"}],
               "files": [{"to": "model.bin", "size": 7}], "default": true},
              {"name": "absent", "description": "not fetched", "format": "test", "licence": "Apache-2.0",
               "source": "PyPI absent-pkg 2.0", "packages": [{"name": "absent-pkg", "version": "2.0"}],
               "files": [{"to": "model.bin", "size": 1000000}]}
            ]}
            """
        try Data(manifest.utf8).write(to: dir.appendingPathComponent("models.json"))
        return dir
    }

    @Test func listInfoPath() throws {
        let dir = try Self.store()
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = ["MMPIPE_MODELS_DIR": dir.path]
        let list = try CLI.run(["models", "list"], environment: env)
        #expect(list.status == 0)
        #expect(list.lines.count == 2)
        #expect(list.lines[0].hasPrefix("tiny") && list.lines[0].contains("present") && list.lines[0].contains("MIT"))
        #expect(list.lines[1].hasPrefix("absent") && list.lines[1].contains("missing"))

        let info = try CLI.run(["models", "info", "absent"], environment: env)
        #expect(info.status == 0 && info.stdout.contains("absent-pkg==2.0") && info.stdout.contains("scripts/fetch-models absent"))

        let path = try CLI.run(["models", "path", "tiny"], environment: env)
        #expect(path.status == 0 && path.stdout == dir.appendingPathComponent("tiny").path + "\n")
        let missing = try CLI.run(["models", "path", "absent"], environment: env)
        #expect(missing.status == 1 && missing.stderr.contains("scripts/fetch-models absent"))
        #expect(try CLI.run(["models", "info", "nope"], environment: env).status == 2)
        #expect(try CLI.run(["models", "list"], environment: ["MMPIPE_MODELS_DIR": "/nonexistent"]).status == 1)
    }

    @Test func theCheckoutsManifestIsFound() throws {
        let r = try CLI.run(["models", "list"], environment: ["MMPIPE_MODELS_DIR": ""])
        #expect(r.status == 0 && r.stdout.contains("whisper-tiny.en"), "\(r.stderr)")
    }
}
