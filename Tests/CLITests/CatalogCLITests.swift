import Foundation
import Testing

/// Every command knows the catalog's names (issue 13: one model catalog).
@Suite("one model catalog, end to end")
struct CatalogCLITests {
    @Test func infoKnowsEveryRegisteredModel() throws {
        for name in ["clip-vit-b-32", "lite0-minilm", "whisper-base", "base", "resnet50", "vit"] {
            let r = try CLI.run(["models", "info", name])
            #expect(r.status == 0 && r.stdout.contains("weights:"), "\(name): \(r.stderr)")
        }
        let clip = try CLI.run(["models", "info", "clip-vit-b-32"])
        #expect(clip.stdout.contains("openai/clip-vit-base-patch32") && clip.stdout.contains("mmpipe models fetch clip-vit-b-32"))
        #expect(try CLI.run(["models", "info", "nope"]).status == 2)
    }

    @Test func listAllShowsModelsBeyondTheManifest() throws {
        let r = try CLI.run(["models", "list", "--all"])
        #expect(r.status == 0)
        for name in ["whisper-tiny.en", "clip-vit-b-32", "lite0-minilm", "resnet50"] {
            #expect(r.lines.contains { $0.hasPrefix(name + " ") }, "\(name) in \(r.stdout)")
        }
        #expect(try CLI.run(["models", "list"]).lines.count < r.lines.count)
    }

    @Test func fetchTakesEveryRegisteredName() throws {
        // Installed from PyPI by scripts/fetch-models: already here, so nothing is downloaded.
        let r = try CLI.run(["models", "fetch", "whisper-base"])
        #expect(r.status == 0 && r.stdout.contains("whisper-base"), "\(r.stderr)")
        let own = try CLI.run(["models", "fetch", "resnet"])
        #expect(own.status == 1 && own.errorLines.count == 1 && own.stderr.contains("--weights"), "\(own.stderr)")
        #expect(try CLI.run(["models", "fetch", "no-such-model"]).status == 2)
    }

    @Test func transcribeTakesTheCatalogNameAndTheAlias() throws {
        let a = try CLI.run(["transcribe", CLI.sample("speech.wav"), "--model", "whisper-tiny.en"])
        let b = try CLI.run(["transcribe", CLI.sample("speech.wav"), "--model", "tiny.en"])
        #expect(a.status == 0 && a.stdout == b.stdout && !a.stdout.isEmpty, "\(a.stderr)")
        let wrong = try CLI.run(["transcribe", CLI.sample("speech.wav"), "--model", "efficientnet-lite0"])
        #expect(wrong.status == 2 && wrong.stderr.contains("not a speech model"), "\(wrong.stderr)")
    }
}
