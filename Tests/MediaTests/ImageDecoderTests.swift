import Foundation
import Testing
import TensorCore
@testable import Media

/// PNG and JPEG decoding against Pillow's pixels on crops of real photos
/// (scripts/gen-image-fixtures.py), and every kind of bad input.
@Suite("Image decoding: PNG and JPEG")
struct ImageDecoderTests {
    static let dir = Bundle.module.url(forResource: "images", withExtension: nil, subdirectory: "Fixtures")

    static func path(_ name: String) throws -> String {
        try #require(dir).appendingPathComponent(name).path
    }

    static func expected(_ file: String) throws -> (Int, Int, [UInt8]) {
        let stem = (file as NSString).deletingPathExtension
        let t = try NPY.read(URL(fileURLWithPath: try path(stem + ".expected.npy"))).tensor
        return (t.shape[1], t.shape[0], t.scalars.map { UInt8($0) })
    }

    /// (file, largest allowed per-channel difference from Pillow, format). PNG must match
    /// exactly; JPEG decoders may differ by one step of rounding (libjpeg-turbo versions).
    static let cases: [(String, Int, String)] = [
        ("rgb.png", 0, "png"), ("gray.png", 0, "png"), ("palette.png", 0, "png"),
        ("palette_trns.png", 0, "png"), ("rgba.png", 0, "png"), ("gray_alpha.png", 0, "png"),
        ("rgb16.png", 0, "png"), ("interlaced.png", 0, "png"),
        ("baseline.jpg", 1, "jpeg"), ("progressive.jpg", 1, "jpeg"), ("grayscale.jpg", 1, "jpeg"),
        ("cmyk.jpg", 2, "jpeg"), ("subsampled_420.jpg", 1, "jpeg"),
        ("exif_orient3.jpg", 1, "jpeg"), ("exif_orient6.jpg", 1, "jpeg"), ("exif_orient8.jpg", 1, "jpeg"),
    ]

    @Test("decodes like Pillow", arguments: cases.indices)
    func matchesPillow(_ i: Int) throws {
        let (file, tolerance, format) = Self.cases[i]
        let img = try ImageDecoder.decode(path: Self.path(file))
        let (w, h, want) = try Self.expected(file)
        #expect(img.width == w && img.height == h, "\(file): \(img.width)x\(img.height), Pillow \(w)x\(h)")
        guard img.pixels.count == want.count else { return }
        let maxDiff = zip(img.pixels, want).map { abs(Int($0) - Int($1)) }.max() ?? 0
        #expect(maxDiff <= tolerance, "\(file): max difference \(maxDiff) > \(tolerance)")
        let info = try ImageDecoder.info(path: Self.path(file))
        #expect(info.format == format && info.width == w && info.height == h)
    }

    @Test func exifOrientationIsReadFromTheHeader() throws {
        #expect(try ImageDecoder.info(path: Self.path("exif_orient6.jpg")).orientation == 6)
        #expect(try ImageDecoder.info(path: Self.path("baseline.jpg")).orientation == 1)
    }

    @Test func formatComesFromBytesNotTheName() throws {
        let tmp = try TempDir()
        let disguised = tmp.file("photo.jpg")
        try FileManager.default.copyItem(atPath: Self.path("rgb.png"), toPath: disguised)
        let img = try ImageDecoder.decode(path: disguised)
        let (_, _, want) = try Self.expected("rgb.png")
        #expect(img.pixels == want)
    }

    // MARK: bad input

    static func bad(_ name: String, _ bytes: [UInt8]) throws -> (TempDir, String) {
        let tmp = try TempDir()
        let p = tmp.file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return (tmp, p)
    }

    static func truncated(_ file: String, keep fraction: Double) throws -> [UInt8] {
        let all = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path(file))))
        return Array(all.prefix(Int(Double(all.count) * fraction)))
    }

    /// A PNG header claiming `w` x `h` with a valid CRC and no pixel data.
    static func pngHeader(width w: UInt32, height h: UInt32) -> [UInt8] {
        var ihdr: [UInt8] = Array("IHDR".utf8)
        for v in [w, h] { ihdr += [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }
        ihdr += [8, 2, 0, 0, 0]
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in ihdr {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
        }
        crc ^= 0xFFFF_FFFF
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + ihdr
            + [UInt8(crc >> 24), UInt8((crc >> 16) & 0xff), UInt8((crc >> 8) & 0xff), UInt8(crc & 0xff)]
    }

    @Test func badInputsGiveOneLineErrors() throws {
        var rng = SystemRandomNumberGenerator()
        let cases: [(String, [UInt8], MediaError.Kind)] = [
            ("empty.png", [], .empty),
            ("truncated.png", try Self.truncated("rgb.png", keep: 0.5), .corrupt),
            ("header-only.png", Array(try Self.truncated("rgb.png", keep: 1).prefix(40)), .corrupt),
            ("truncated.jpg", try Self.truncated("baseline.jpg", keep: 0.5), .corrupt),
            ("header-only.jpg", [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10], .corrupt),
            ("huge.png", Self.pngHeader(width: 100_000, height: 100_000), .tooLarge),
            ("zero-size.png", Self.pngHeader(width: 0, height: 10), .corrupt),
            ("random.jpg", [0xFF, 0xD8, 0xFF] + (0..<4000).map { _ in UInt8.random(in: 0...255, using: &rng) }, .corrupt),
        ]
        for (name, bytes, kind) in cases {
            let (tmp, p) = try Self.bad(name, bytes)
            do {
                let img = try ImageDecoder.decode(path: p)
                Issue.record("\(name): decoded \(img.width)x\(img.height) from bad input")
            } catch let e as MediaError {
                #expect(e.kind == kind, "\(name): \(e.kind) (\(e)), expected \(kind)")
                #expect(e.path == p && !e.description.contains("\n"))
            }
            _ = tmp
        }
    }

    @Test func filesystemProblems() throws {
        let tmp = try TempDir()
        let dirNamedPNG = tmp.file("x.png")
        try FileManager.default.createDirectory(atPath: dirNamedPNG, withIntermediateDirectories: false)
        #expect(throws: MediaError(dirNamedPNG, .unreadable, "is a directory, not a file")) {
            try ImageDecoder.decode(path: dirNamedPNG)
        }
        let missing = tmp.file("missing.png")
        #expect(throws: MediaError(missing, .notFound, "no such file")) { try ImageDecoder.decode(path: missing) }
        if getuid() != 0 {   // root reads anything; the permission check only means something for users
            let locked = tmp.file("locked.png")
            try FileManager.default.copyItem(atPath: Self.path("rgb.png"), toPath: locked)
            chmod(locked, 0)
            #expect(throws: MediaError.self) { try ImageDecoder.decode(path: locked) }
        }
    }

    @Test func pixelLimitIsConfigurable() throws {
        let p = try Self.path("rgb.png")                       // 61 x 47 = 2867 pixels
        #expect(throws: MediaError.self) { try ImageDecoder.decode(path: p, limits: DecodeLimits(maxPixels: 2000)) }
        #expect(try ImageDecoder.decode(path: p, limits: DecodeLimits(maxPixels: 2867)).width == 61)
    }

    @Test func compositingOnWhite() {
        let rgba: [UInt8] = [0, 0, 0, 0, 10, 20, 30, 255, 200, 100, 0, 128]
        var rgb = [UInt8](repeating: 0, count: 9)
        ImageDecoder.compositeOnWhite(rgba, pixels: 3, into: &rgb)
        #expect(rgb == [255, 255, 255, 10, 20, 30, 227, 177, 127])
    }
}

/// A temporary folder removed when the value is released.
final class TempDir {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("mmpipe-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}
