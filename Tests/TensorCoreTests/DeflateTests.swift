import Foundation
import Testing
import TensorCore

// Fixtures: Tests/TensorCoreTests/Fixtures/inflate/, made by scripts/gen-inflate-fixtures.py (zlib).

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

    /// A raw stream in a gzip member (RFC 1952): header, the stream, CRC-32 and size.
    static func gzip(_ raw: [UInt8], crc32: UInt32, size: Int) -> [UInt8] {
        func le(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        return [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3] + raw + le(crc32) + le(UInt32(truncatingIfNeeded: size))
    }
}

@Suite("Deflate (zlib: raw streams, gunzip, CRC-32) and the .npz reader")
struct DeflateTests {
    @Test func crc32CheckValue() {
        #expect(Deflate.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(Deflate.crc32([UInt8]()) == 0)
    }

    @Test(arguments: InflateFixture.cases)
    func zlibStreams(_ c: InflateFixture.Case) throws {
        let out = try Deflate.inflate(raw: InflateFixture.stream(c.name), expectedSize: c.size, path: c.name)
        #expect(out.count == c.size)
        #expect(Deflate.crc32(out) == c.crc32)
        if let text = c.text { #expect(String(decoding: out, as: UTF8.self) == text) }
    }

    /// The same streams as gzip files: exact bytes back, and two members back to back join.
    @Test(arguments: InflateFixture.cases)
    func gzipFiles(_ c: InflateFixture.Case) throws {
        let raw = InflateFixture.stream(c.name)
        let member = InflateFixture.gzip(raw, crc32: c.crc32, size: c.size)
        #expect(Deflate.isGzip(member))
        let expected = try Deflate.inflate(raw: raw, path: c.name)
        #expect(try Deflate.gunzip(member, path: "\(c.name).gz") == expected)
        #expect(try Deflate.gunzip(member + member, path: "\(c.name).gz") == expected + expected)
    }

    @Test func gzipChecksAreErrorsNamingTheFile() {
        let c = InflateFixture.cases.first { $0.name == "hello-fixed" }!
        let good = InflateFixture.gzip(InflateFixture.stream(c.name), crc32: c.crc32, size: c.size)
        var badCRC = good
        badCRC[badCRC.count - 8] ^= 1
        var badSize = good
        badSize[badSize.count - 1] ^= 1
        for (bytes, what) in [(badCRC, "CRC-32"), (badSize, "length")] {
            let e = #expect(throws: WeightFileError.self, "\(what)") { try Deflate.gunzip(bytes, path: "/models/vocab.txt.gz") }
            #expect(e?.path == "/models/vocab.txt.gz" && e?.problem.contains("gzip") == true
                    && e?.problem.contains("CRC-32 or length") == true, "\(String(describing: e))")
        }
        let notGzip = #expect(throws: WeightFileError.self) { try Deflate.gunzip(Array("plain text".utf8), path: "x.gz") }
        #expect(notGzip?.path == "x.gz" && notGzip?.problem.hasPrefix("not a valid gzip file") == true)
        #expect(!Deflate.isGzip(Array("plain text".utf8)))
        #expect(throws: WeightFileError.self, "trailing bytes") { try Deflate.gunzip(good + [1, 2, 3], path: "x.gz") }
    }

    @Test func truncatedStreamsThrow() {
        for name in ["hello-fixed", "text-dynamic", "text-stored"] {
            let s = InflateFixture.stream(name)
            let c = InflateFixture.cases.first { $0.name == name }!
            let gz = InflateFixture.gzip(s, crc32: c.crc32, size: c.size)
            for cut in stride(from: 0, to: s.count - 1, by: max(1, s.count / 50)) {
                let e = #expect(throws: WeightFileError.self, "\(name) cut at \(cut)") {
                    try Deflate.inflate(raw: Array(s.prefix(cut)), path: name)
                }
                #expect(e?.path == name)
                #expect(throws: WeightFileError.self, "\(name).gz cut at \(cut)") { try Deflate.gunzip(Array(gz.prefix(10 + cut)), path: name) }
            }
        }
    }

    @Test func malformedStreamsThrow() {
        #expect(throws: WeightFileError.self) { try Deflate.inflate(raw: [0x07], path: "x") }                       // block type 3
        #expect(throws: WeightFileError.self) { try Deflate.inflate(raw: [0x01, 0x05, 0x00, 0x00, 0x00], path: "x") } // LEN/NLEN mismatch
        #expect(throws: WeightFileError.self) { try Deflate.inflate(raw: [0x01, 0x05, 0x00, 0xFA, 0xFF, 0x41], path: "x") } // stored data short
        // A fixed block whose first code is a distance back before the start.
        #expect(throws: WeightFileError.self) { try Deflate.inflate(raw: [0x03, 0x02, 0x00], path: "x") }
        let hello = InflateFixture.stream("hello-fixed")
        let e = #expect(throws: WeightFileError.self) { try Deflate.inflate(raw: hello, expectedSize: 3, path: "hello.deflate") }
        #expect(e?.path == "hello.deflate")
        #expect(throws: WeightFileError.self) { try Deflate.inflate(raw: hello, expectedSize: 30, path: "hello.deflate") }
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
            _ = try? Deflate.inflate(raw: input, path: "x")
            _ = try? Deflate.gunzip([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3] + input, path: "x")
        }
    }

    @Test(arguments: ["stored", "deflated"])
    func npz(_ name: String) throws {
        let arrays = try NPZ.read(InflateFixture.url(name, "npz"))
        #expect(Set(arrays.keys) == ["a", "b"])
        #expect(arrays["a"]!.shape == [2, 3] && arrays["a"]!.tensor.scalars == [0, 1, 2, 3, 4, 5])
        guard case .int64(let shape, let values) = arrays["b"]! else { Issue.record("b is not int64"); return }
        #expect(shape == [3] && values == [1, 2, 3])
        let e = #expect(throws: WeightFileError.self) { try NPZ.read(InflateFixture.url(name, "npz"), array: "c") }
        #expect(e?.problem.contains("no member 'c.npy'") == true, "\(String(describing: e))")
        let file = try NPZFile(contentsOf: InflateFixture.url(name, "npz"))
        #expect(file.members.map(\.name) == ["a.npy", "b.npy"])
        #expect(file.members.map(\.isCompressed) == [name == "deflated", name == "deflated"])
        #expect(try file.array("b").shape == [3])
    }

    @Test func npzDamage() throws {
        var bytes = [UInt8](try Data(contentsOf: InflateFixture.url("deflated", "npz")))
        let zip = try NPZFile(data: Data(bytes), path: "deflated.npz")
        #expect(zip.members.map(\.isCompressed) == [true, true])
        // Flip a byte of the first member's compressed data: inflate or CRC check must fail.
        bytes[60] ^= 0x55
        let damaged = try NPZFile(data: Data(bytes), path: "damaged.npz")
        let e = #expect(throws: WeightFileError.self) { try damaged.data(of: "a.npy") }
        #expect(e?.path == "damaged.npz" && e?.problem.hasPrefix("member a.npy") == true, "\(String(describing: e))")
        #expect(throws: WeightFileError.self) { try NPZFile(data: Data(bytes.prefix(40)), path: "short.npz") }
        #expect(throws: WeightFileError.self) { try NPZFile(data: Data("not a zip at all, just some text".utf8), path: "x") }
        let missing = #expect(throws: WeightFileError.self) { try NPZFile(contentsOf: URL(fileURLWithPath: "/nonexistent/a.npz")) }
        #expect(missing?.path == "/nonexistent/a.npz")
    }
}
