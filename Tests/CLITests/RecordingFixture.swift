import Foundation
import Testing
import TestAudio

/// A JSON fixture of a generator script whose inputs are recordings built from
/// `scripts/test_audio.py` recipes (no audio committed): each input's recipe, sample count
/// and hash, and the reference's results.
struct RecordingFixture: @unchecked Sendable {
    /// The fixture's JSON object (empty when the file is missing).
    let object: [String: Any]
    let generator: String

    /// `Fixtures/<name>.json`, written by `generator`.
    init(_ name: String, generator: String) {
        self.generator = generator
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures"),
              let data = try? Data(contentsOf: url),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            object = [:]
            return
        }
        object = obj
    }

    func input(_ name: String) throws -> [String: Any] {
        let inputs = try #require(object["inputs"] as? [String: Any], "run \(generator)")
        return try #require(inputs[name] as? [String: Any], "no input \(name) in \(generator)'s fixture")
    }

    /// The recording of input `name`, rebuilt from its recipe and written as a WAV into `dir`.
    func recording(_ name: String, in dir: URL) throws -> String {
        let input = try input(name)
        let pcm = try TestAudio.build(input["recipe"]!)
        try #require(pcm.count == (input["samples"] as? NSNumber)?.intValue, "\(name): the recipe built \(pcm.count) samples")
        if let hash = input["fnv1a64"] as? String { try #require(TestAudio.fnv1a64(pcm) == hash, "\(name): other samples than the fixture's") }
        let url = dir.appendingPathComponent("\(name).wav")
        try TestAudio.writeWAV(pcm, to: url)
        return url.path
    }
}
