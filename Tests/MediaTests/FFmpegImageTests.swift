import Foundation
import Testing
import Media

/// pattern.* and alpha.* hold a 4x3 pattern (see scripts/gen-av-fixtures.sh).
@Suite("Still images through FFmpeg") struct FFmpegImageTests {
    static let pattern: [UInt8] = [
        255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255,
        0, 0, 0, 128, 128, 128, 255, 255, 0, 0, 255, 255,
        255, 0, 255, 10, 20, 30, 200, 100, 50, 1, 2, 3,
    ]
    /// The RGBA pattern on white: (0,0,0,0) -> white; (255,0,0,128) -> (255,127,127).
    static let alphaOnWhite: [UInt8] = Array(pattern.prefix(30)) + [255, 255, 255, 255, 127, 127]

    @Test(arguments: ["pattern.bmp", "pattern.tiff", "pattern.gif"])
    func losslessPattern(file: String) throws {
        let image = try FFmpegImage.decode(path: AVFixture.path(file))
        #expect(image.width == 4 && image.height == 3)
        #expect(image.pixels == FFmpegImageTests.pattern, "\(file): \(image.pixels)")
    }

    @Test(arguments: ["alpha.png", "alpha.webp"])
    func alphaIsCompositedOnWhite(file: String) throws {
        let image = try FFmpegImage.decode(path: AVFixture.path(file))
        #expect(image.width == 4 && image.height == 3)
        #expect(image.pixels == FFmpegImageTests.alphaOnWhite, "\(file): \(image.pixels)")
        #expect(image[2, 2] == (255, 255, 255))
    }

    @Test func inspectAnImage() throws {
        let streams = try MediaInspector.inspect(path: AVFixture.path("alpha.webp"))
        #expect(streams.container == "webp" && streams.audio == nil)
        #expect(streams.video?.codec == "webp" && streams.video?.width == 4 && streams.video?.height == 3)
    }

    @Test func jpegIsClose() throws {
        let image = try FFmpegImage.decode(path: AVFixture.path("solid.jpg"))
        #expect(image.width == 16 && image.height == 16)
        #expect(VideoTests.isSolid(image, (200, 100, 50), tolerance: 4), "\(image[0, 0])")
    }

    @Test func firstFrameOfAVideo() throws {
        let image = try FFmpegImage.decode(path: AVFixture.path("colors.mp4"))
        #expect(VideoTests.isSolid(image, (255, 0, 0)))
    }

    @Test func limitsAndBadInput() throws {
        let dir = AVFixture.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(AVFixture.kind { _ = try FFmpegImage.decode(path: AVFixture.path("alpha.webp"), limits: DecodeLimits(maxPixels: 11)) } == .tooLarge)
        #expect(AVFixture.kind { _ = try FFmpegImage.decode(path: AVFixture.path("pattern.bmp"), limits: DecodeLimits(maxPixels: 11)) } == .tooLarge)
        #expect(try FFmpegImage.decode(path: AVFixture.path("pattern.tiff"), limits: DecodeLimits(maxPixels: 12)).width == 4)
        #expect(AVFixture.kind { _ = try FFmpegImage.decode(path: AVFixture.path("speech.wav")) } == .noStream)
        let cases: [(String, [MediaError.Kind])] = [
            (AVFixture.write(Array(AVFixture.bytes("alpha.png").prefix(60)), in: dir, as: "cut.png"), [.corrupt]),
            (AVFixture.write(Array(AVFixture.bytes("alpha.webp").prefix(40)), in: dir, as: "cut.webp"), [.corrupt]),
            (AVFixture.write(Array(AVFixture.bytes("pattern.gif").prefix(40)), in: dir, as: "cut.gif"), [.corrupt]),
            (AVFixture.write(Array(repeating: 7, count: 3000), in: dir, as: "sevens.tiff"), [.corrupt, .unsupported]),
            (AVFixture.write(Array("<svg>not really</svg>".utf8), in: dir, as: "text.webp"), [.unsupported, .corrupt]),
            (AVFixture.write([], in: dir, as: "empty.bmp"), [.empty]),
            (dir.appendingPathComponent("missing.gif").path, [.notFound]),
        ]
        for (path, kinds) in cases {
            let kind = AVFixture.kind { _ = try FFmpegImage.decode(path: path) }
            #expect(kind.map(kinds.contains) == true, "\(path): got \(String(describing: kind)), expected \(kinds)")
        }
    }

    /// A header claiming a huge picture is refused from the header, before any allocation:
    /// above our limit (12000² = 144 MP) and above FFmpeg's own ceiling (30000² = 900 MP).
    @Test(arguments: [12_000, 30_000]) func hugeBMPHeaderIsRefusedCheaply(side: Int32) throws {
        let dir = AVFixture.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        var bmp = AVFixture.bytes("pattern.bmp")
        func put(_ v: Int32, at i: Int) { withUnsafeBytes(of: v.littleEndian) { for (k, b) in $0.enumerated() { bmp[i + k] = b } } }
        put(side, at: 18)
        put(side, at: 22)
        let path = AVFixture.write(bmp, in: dir, as: "huge.bmp")
        #expect(AVFixture.kind { _ = try FFmpegImage.decode(path: path) } == .tooLarge)
    }
}
