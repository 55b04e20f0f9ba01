import Foundation
import Testing
@testable import Media

@Suite("Truncated audio headers")
struct AudioIntegrityTests {
    static func scratch(_ bytes: [UInt8]) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("integrity-\(UUID().uuidString)")
        try Data(bytes).write(to: url)
        return url.path
    }

    static func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
    static func be32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * (3 - $0))) & 0xFF) } }

    /// 16 kHz mono 16-bit: `declared` bytes in the header, `held` in the file.
    static func wav(declared: Int, held: Int, extraChunk: Bool = false) -> [UInt8] {
        var b = Array("RIFF".utf8) + le32(36 + declared) + Array("WAVE".utf8)
        if extraChunk { b += Array("LIST".utf8) + le32(3) + [1, 2, 3, 0] }   // odd size: padded
        b += Array("fmt ".utf8) + le32(16) + [1, 0, 1, 0] + le32(16_000) + le32(32_000) + [2, 0, 16, 0]
        return b + Array("data".utf8) + le32(declared) + [UInt8](repeating: 7, count: held)
    }

    @Test func aCutWAVIsTruncated() throws {
        let p = try Self.scratch(Self.wav(declared: 35_200, held: 4_800, extraChunk: true))
        defer { try? FileManager.default.removeItem(atPath: p) }
        let w = AudioIntegrity.check(path: p)
        #expect(w.map(\.message) == ["truncated: header says 1.10 s, file holds 0.15 s"])
        #expect(w.first?.description == p + ": truncated: header says 1.10 s, file holds 0.15 s")
    }

    @Test(arguments: [(35_200, 35_200), (0, 100), (0xFFFF_FFFF, 100), (100, 200)])
    func wholeOrStreamedWAVsAreNot(declared: Int, held: Int) throws {
        let p = try Self.scratch(Self.wav(declared: declared, held: held))
        defer { try? FileManager.default.removeItem(atPath: p) }
        #expect(AudioIntegrity.check(path: p).isEmpty)
    }

    @Test func aCutAIFFIsTruncated() throws {
        // COMM: 1 channel, 16 000 frames, 16 bits, 16 kHz (80-bit float 0x400C FA00...).
        let comm = Array("COMM".utf8) + Self.be32(18) + [0, 1] + Self.be32(16_000) + [0, 16, 0x40, 0x0C, 0xFA, 0, 0, 0, 0, 0, 0, 0]
        let ssnd = Array("SSND".utf8) + Self.be32(8 + 32_000) + Self.be32(0) + Self.be32(0) + [UInt8](repeating: 1, count: 8_000)
        let body = Array("AIFF".utf8) + comm + ssnd
        let p = try Self.scratch(Array("FORM".utf8) + Self.be32(body.count + 32_000 - 8_000) + body)
        defer { try? FileManager.default.removeItem(atPath: p) }
        #expect(AudioIntegrity.check(path: p).map(\.message) == ["truncated: header says 1.00 s, file holds 0.25 s"])
    }

    @Test func decodedLengthAgainstAnExactHeader() {
        let flac = AudioFormat(container: "flac", codec: "flac", sampleRate: 16_000, channels: 1, frames: 160_000)
        #expect(AudioIntegrity.compare(path: "a.flac", format: flac, decodedSeconds: 2.5)?.message
                == "truncated: header says 10.00 s, file holds 2.50 s")
        #expect(AudioIntegrity.compare(path: "a.flac", format: flac, decodedSeconds: 9.9) == nil)
        let mp3 = AudioFormat(container: "mp3", codec: "mp3", sampleRate: 16_000, channels: 1, frames: 160_000)
        #expect(AudioIntegrity.compare(path: "a.mp3", format: mp3, decodedSeconds: 2.5) == nil)
    }

    @Test func textFilesGetOneReason() throws {
        for name in ["n.txt", "n.jpg", "n.wav", "n"] {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("text-\(UUID().uuidString)-\(name)")
            try Data("just some words\n".utf8).write(to: url)
            defer { try? FileManager.default.removeItem(at: url) }
            #expect(throws: MediaError(url.path, .unsupported, "is a text file, not an image, audio or video file")) {
                _ = try MediaProbe.probe(path: url.path)
            }
        }
        #expect(MediaFormat.looksLikeText(Array("P3\n2 2\n255\n".utf8), complete: true) == false)
    }
}
