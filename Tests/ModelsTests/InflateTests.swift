import Foundation
import Testing
import Models
import TensorCore

// Fixtures: Tests/ModelsTests/Fixtures/inflate/, made by scripts/gen-inflate-fixtures.py (zlib).

enum InflateFixture {
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        let name: String
        let size: Int
        let crc32: UInt32
        let text: String?
        var testDescription: String { name }
    }
    struct Manifest: Decodable { let cases: [Case] }

    static func url(_ name: String, _ ext: String) -> URL {
        Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures/inflate")!
    }

    static let cases: [Case] = try! JSONDecoder().decode(Manifest.self, from: Data(contentsOf: url("cases", "json"))).cases

    static func stream(_ name: String) -> [UInt8] { [UInt8](try! Data(contentsOf: url(name, "deflate"))) }
}

@Suite("Inflate (raw DEFLATE) and the .npz reader")
struct InflateTests {
    @Test func crc32CheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
    }

    @Test(arguments: InflateFixture.cases)
    func zlibStreams(_ c: InflateFixture.Case) throws {
        let out = try Inflate.decompress(InflateFixture.stream(c.name), expectedSize: c.size)
        #expect(out.count == c.size)
        #expect(CRC32.checksum(out) == c.crc32)
        if let text = c.text { #expect(String(decoding: out, as: UTF8.self) == text) }
    }

    @Test func truncatedStreamsThrow() {
        for name in ["hello-fixed", "text-dynamic", "text-stored"] {
            let s = InflateFixture.stream(name)
            for cut in stride(from: 0, to: s.count - 1, by: max(1, s.count / 50)) {
                #expect(throws: Inflate.Failure.self, "\(name) cut at \(cut)") { try Inflate.decompress(Array(s.prefix(cut))) }
            }
        }
    }

    @Test func malformedStreamsThrow() {
        #expect(throws: Inflate.Failure.self) { try Inflate.decompress([0x07]) }                       // block type 3
        #expect(throws: Inflate.Failure.self) { try Inflate.decompress([0x01, 0x05, 0x00, 0x00, 0x00]) } // LEN/NLEN mismatch
        #expect(throws: Inflate.Failure.self) { try Inflate.decompress([0x01, 0x05, 0x00, 0xFA, 0xFF, 0x41]) } // stored data short
        // A fixed block whose first code is a distance back before the start.
        #expect(throws: Inflate.Failure.self) { try Inflate.decompress([0x03, 0x02, 0x00]) }
        let hello = InflateFixture.stream("hello-fixed")
        #expect(throws: Inflate.Failure.self) { try Inflate.decompress(hello, expectedSize: 3) }
    }

    /// Garbage must throw or return, never trap.
    @Test func randomBytesNeverCrash() {
        var rng = SystemRandomNumberGenerator()
        var seed = UInt64.random(in: 0...UInt64.max, using: &rng)
        func next() -> UInt8 { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return UInt8(seed >> 56) }
        let text = InflateFixture.stream("text-dynamic")
        for i in 0..<3000 {
            var input: [UInt8]
            if i % 2 == 0 {
                input = (0..<Int(next() % 64)).map { _ in next() }
            } else {
                input = text
                for _ in 0..<3 { input[Int(next()) * input.count / 256] = next() }
            }
            _ = try? Inflate.decompress(input)
        }
    }

    @Test(arguments: ["stored", "deflated"])
    func npz(_ name: String) throws {
        let arrays = try NPZ.read(InflateFixture.url(name, "npz"))
        #expect(Set(arrays.keys) == ["a", "b"])
        #expect(arrays["a"]!.shape == [2, 3] && arrays["a"]!.tensor.scalars == [0, 1, 2, 3, 4, 5])
        guard case .int64(let shape, let values) = arrays["b"]! else { Issue.record("b is not int64"); return }
        #expect(shape == [3] && values == [1, 2, 3])
        #expect(throws: WeightFileError.self) { try NPZ.read(InflateFixture.url(name, "npz"), array: "c") }
    }

    @Test func npzDamage() throws {
        var bytes = [UInt8](try Data(contentsOf: InflateFixture.url("deflated", "npz")))
        let zip = try ZipArchive(bytes: bytes, path: "deflated.npz")
        #expect(zip.entries.map(\.method) == [8, 8])
        // Flip a byte of the first member's compressed data: inflate or CRC check must fail.
        bytes[60] ^= 0x55
        let damaged = try ZipArchive(bytes: bytes, path: "damaged.npz")
        #expect(throws: WeightFileError.self) { try damaged.contents(of: "a.npy") }
        #expect(throws: WeightFileError.self) { try ZipArchive(bytes: Array(bytes.prefix(40)), path: "short.npz") }
        #expect(throws: WeightFileError.self) { try ZipArchive(bytes: Array("not a zip at all, just some text".utf8), path: "x") }
    }
}
