import Foundation
import Testing
import TensorCore

/// Readers against files written by numpy and the safetensors library
/// (scripts/gen-weightfile-fixtures.py), writer round trips, and malformed files.
@Suite("Weight files: safetensors and npy")
struct WeightFileTests {
    static func fixture(_ name: String) throws -> URL {
        try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures/weightfiles"))
    }

    static func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mmpipe-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func npyWrittenByNumpy() throws {
        let f32 = try NPY.read(Self.fixture("f32_2x3.npy")).tensor
        #expect(f32.shape == [2, 3])
        #expect(f32.scalars == [-1, -0.5, 0, 0.5, 1, 1.5])

        guard case .int64(let shape, let values) = try NPY.read(Self.fixture("i64_5.npy")) else {
            Issue.record("i64_5.npy did not read as int64"); return
        }
        #expect(shape == [5])
        #expect(values == [-2, -1, 0, 1, 1 << 40])

        let fortran = try NPY.read(Self.fixture("f64_fortran.npy")).tensor
        #expect(fortran.shape == [3, 4])
        #expect(fortran.scalars == (0..<12).map(Float.init))

        let v2 = try NPY.read(Self.fixture("f32_v2.npy")).tensor
        #expect(v2.shape == [2, 2] && v2.scalars == [1.5, -2, 3, 4])

        let scalar = try NPY.read(Self.fixture("scalar.npy")).tensor
        #expect(scalar.shape == [] && scalar.scalars == [7.25])
    }

    @Test(arguments: [[Int](), [0], [3], [2, 3, 4], [1, 1, 5]])
    func npyRoundTrip(shape: [Int]) throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let n = shape.reduce(1, *)
        let t = Tensor(shape: shape, scalars: (0..<n).map { Float($0) * 0.25 - 3 })
        let url = dir.appendingPathComponent("a.npy")
        try NPY.write(t, to: url)
        let back = try NPY.read(url).tensor
        #expect(back.shape == shape && back.scalars == t.scalars)
        // Data starts on a 64-byte boundary, as numpy writes it.
        let data = try Data(contentsOf: url)
        #expect((data.count - n * 4) % 64 == 0)

        let ints: [Int64] = (0..<n).map { Int64($0) - 2 }
        try NPY.write(int64: ints, shape: shape, to: url)
        guard case .int64(let s2, let v2) = try NPY.read(url) else { Issue.record("not int64"); return }
        #expect(s2 == shape && v2 == ints)
        // Nothing but the target is left in the folder (temp file renamed into place).
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["a.npy"])
    }

    @Test func npyTransposedViewIsWrittenInLogicalOrder() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let t = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]).transposed()
        let url = dir.appendingPathComponent("t.npy")
        try NPY.write(t, to: url)
        #expect(try NPY.read(url).tensor.scalars == [1, 4, 2, 5, 3, 6])
    }

    @Test func safetensorsWrittenByTheLibrary() throws {
        let file = try SafeTensorsFile(path: Self.fixture("mixed.safetensors").path)
        #expect(Set(file.entries.keys) == ["a", "b", "c"])
        #expect(file.metadata == ["format": "np"])
        #expect(try file.tensor("a").scalars == [0, 1, 2, 3, 4, 5])
        #expect(try file.tensor("a").shape == [2, 3])
        #expect(file.entries["b"]?.dtype == .f16)
        #expect(try file.tensor("b").scalars == [0.5, -1, 65504, 6.1035156e-05])
        #expect(try file.tensor("c").shape == [] && file.tensor("c").scalars == [3])
        let bf = try SafeTensorsFile(path: Self.fixture("bf16.safetensors").path)
        #expect(try bf.tensor("w").scalars == [1.0, -2.5, 0.15625])
        #expect(throws: WeightFileError.self) { try file.tensor("missing") }
    }

    @Test func safetensorsRoundTripKeepsViewsAndMetadata() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6])
        let url = dir.appendingPathComponent("w.safetensors")
        try SafeTensorsWriter.write([("a", a), ("aT", a.transposed()), ("empty", Tensor(zeros: [0, 4]))],
                                    metadata: ["model": "test"], to: url)
        let f = try SafeTensorsFile(path: url.path)
        #expect(f.metadata == ["model": "test"])
        #expect(try f.tensor("a").scalars == a.scalars)
        #expect(try f.tensor("aT").shape == [2, 3] && f.tensor("aT").scalars == [1, 3, 5, 2, 4, 6])
        #expect(try f.tensor("empty").shape == [0, 4])
        #expect(throws: WeightFileError.self) {
            try SafeTensorsWriter.write([("x", a), ("x", a)], to: url)
        }
    }

    /// A header + data blob with the given JSON header text.
    static func blob(header: String, data: [UInt8] = [], lengthOverride: UInt64? = nil) -> Data {
        var h = Array(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var out = Data()
        var len = (lengthOverride ?? UInt64(h.count)).littleEndian
        out.append(Data(bytes: &len, count: 8))
        out.append(contentsOf: h)
        out.append(contentsOf: data)
        return out
    }

    static let malformed: [(String, Data, String)] = [
        ("empty", Data(), "too short"),
        ("short", Data([1, 2, 3]), "too short"),
        ("header longer than file", blob(header: "{}", lengthOverride: 1 << 40), "does not fit"),
        ("not json", blob(header: "{nope"), "not a JSON object"),
        ("json array", blob(header: "[1,2]"), "not a JSON object"),
        ("missing offsets", blob(header: #"{"a":{"dtype":"F32","shape":[1]}}"#, data: [0, 0, 0, 0]), "data_offsets"),
        ("offsets past end", blob(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0]), "outside"),
        ("length vs shape", blob(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), "needs 8"),
        ("unknown dtype", blob(header: #"{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}"#, data: [0]), "unsupported dtype Q4"),
        ("negative dim", blob(header: #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}"#), "non-negative"),
        ("overlap", blob(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                         data: [UInt8](repeating: 0, count: 8)), "overlap"),
        ("reversed offsets", blob(header: #"{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}"#, data: [0, 0, 0, 0]), "outside"),
    ]

    @Test("malformed safetensors are refused with the file and the problem",
          arguments: malformed.indices)
    func malformedSafetensors(_ i: Int) throws {
        let (name, bytes, expected) = Self.malformed[i]
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("bad.safetensors")
        try bytes.write(to: url)
        do {
            _ = try SafeTensorsFile(path: url.path)
            Issue.record("\(name): accepted a malformed file")
        } catch let e as WeightFileError {
            #expect(e.path == url.path)
            #expect(e.description.contains(expected), "\(name): message '\(e.description)' lacks '\(expected)'")
            #expect(!e.description.contains("\n"))
        }
    }

    @Test func unreadablePathsAreErrorsNotCrashes() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: WeightFileError.self) { try SafeTensorsFile(path: dir.appendingPathComponent("missing").path) }
        #expect(throws: WeightFileError.self) { try SafeTensorsFile(path: dir.path) }   // a directory
        #expect(throws: WeightFileError.self) { try NPY.read(dir.appendingPathComponent("missing.npy")) }
    }

    static let badNPY: [(String, Data, String)] = [
        ("no magic", Data("hello world, not numpy".utf8), "magic"),
        ("truncated data", NPY.header(descr: "<f4", shape: [10]) + Data(count: 8), "needs 40"),
        ("complex dtype", NPY.header(descr: "<c8", shape: [1]) + Data(count: 8), "unsupported .npy dtype"),
        ("big-endian", NPY.header(descr: ">f4", shape: [1]) + Data(count: 4), "unsupported .npy dtype"),
        ("header past end", Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 0xff, 0x7f]), "past the end"),
        ("version 9", Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 9, 0, 0, 0]), "version 9"),
    ]

    @Test("malformed npy files are refused", arguments: badNPY.indices)
    func malformedNPY(_ i: Int) throws {
        let (name, bytes, expected) = Self.badNPY[i]
        do {
            _ = try NPY.decode(bytes, path: "x.npy")
            Issue.record("\(name): accepted")
        } catch let e as WeightFileError {
            #expect(e.description.hasPrefix("x.npy: ") && e.description.contains(expected), "\(name): \(e)")
        }
    }
}
