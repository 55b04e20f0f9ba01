import Foundation

/// Test recordings built from recipes, sample for sample as `scripts/test_audio.py` builds
/// them (its doc comment describes the parts): the fixture scripts record the FNV-1a hash of
/// the samples, and a test checks `fnv1a64` before comparing anything.
public enum TestAudio {
    public static let rate = 16_000
    public static let librivox = URL(fileURLWithPath: "/usr/share/pocketsphinx/test/data/librivox")
    /// The repository (this file is Tests/Support/TestAudio/Recipe.swift).
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public struct RecipeError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The int16 samples of a recipe (the JSON form: a list of one-key objects).
    public static func build(_ recipe: Any) throws -> [Int16] {
        guard let parts = recipe as? [[String: Any]] else { throw RecipeError(description: "a recipe is a list of objects") }
        var pcm: [Int16] = []
        for part in parts {
            guard part.count == 1, let (kind, value) = part.first else { throw RecipeError(description: "bad part \(part)") }
            switch kind {
            case "silence":
                pcm += [Int16](repeating: 0, count: Int((number(value) * Double(rate)).rounded(.toNearestOrEven)))
            case "clip":
                pcm += try readWAV(librivox.appendingPathComponent("sense_and_sensibility_01_austen_64kb-\(value).wav"))
            case "wav":
                pcm += try readWAV(root.appendingPathComponent("\(value)"))
            case "pink":
                let v = value as? [String: Any] ?? [:]
                pcm += pink(seconds: number(v["seconds"]), seed: UInt64(number(v["seed"])), amplitude: number(v["amplitude"]))
            case "melody":
                let v = value as? [String: Any] ?? [:]
                pcm += melody(seconds: number(v["seconds"]), amplitude: number(v["amplitude"]))
            case "take":
                pcm = Array(pcm.prefix(Int(number(value))))
            default:
                throw RecipeError(description: "unknown recipe part \(kind)")
            }
        }
        return pcm
    }

    static func number(_ v: Any?) -> Double { (v as? NSNumber)?.doubleValue ?? 0 }

    static func toInt16(_ x: Double) -> Int16 {
        Int16(max(-32768, min(32767, (x * 32767 + 0.5).rounded(.down))))
    }

    public static func pink(seconds: Double, seed: UInt64, amplitude: Double) -> [Int16] {
        let n = Int((seconds * Double(rate)).rounded(.toNearestOrEven))
        var state = seed == 0 ? 1 : seed
        var b0 = 0.0, b1 = 0.0, b2 = 0.0, b3 = 0.0, b4 = 0.0, b5 = 0.0, b6 = 0.0
        var out = [Int16](repeating: 0, count: n)
        for i in 0..<n {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            let r = state &* 0x2545F4914F6CDD1D
            let w = Double(r >> 11) * 0x1p-53 * 2.0 - 1.0
            b0 = 0.99886 * b0 + w * 0.0555179
            b1 = 0.99332 * b1 + w * 0.0750759
            b2 = 0.96900 * b2 + w * 0.1538520
            b3 = 0.86650 * b3 + w * 0.3104856
            b4 = 0.55000 * b4 + w * 0.5329522
            b5 = -0.7616 * b5 - w * 0.0168980
            var p = b0 + b1
            p = p + b2
            p = p + b3
            p = p + b4
            p = p + b5
            p = p + b6
            p = p + w * 0.5362
            b6 = w * 0.115926
            out[i] = toInt16(p * 0.11 * amplitude)
        }
        return out
    }

    static let notes: [Double] = [220.0, 261.63, 293.66, 329.63, 392.0, 440.0, 523.25, 587.33]
    static let note = 4800

    public static func melody(seconds: Double, amplitude: Double) -> [Int16] {
        let n = Int((seconds * Double(rate)).rounded(.toNearestOrEven))
        var out = [Int16](repeating: 0, count: n)
        for i in 0..<n {
            let k = i / note, j = i % note
            let f = notes[(k * 5 + 3) % notes.count]
            let env = min(1.0, Double(j) / 160.0) * min(1.0, Double(note - j) / 160.0)
            let t = Double(i) / 16000.0
            var s = sin(2.0 * Double.pi * f * t)
            s = s + 0.5 * sin(4.0 * Double.pi * f * t)
            s = s + 0.25 * sin(6.0 * Double.pi * f * t)
            out[i] = toInt16(amplitude * env * s / 1.75)
        }
        return out
    }

    /// FNV-1a 64 of the int16 little-endian bytes, as 16 hex digits.
    public static func fnv1a64(_ pcm: [Int16]) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for s in pcm {
            let u = UInt16(bitPattern: s.littleEndian)
            for b in [UInt8(u & 0xFF), UInt8(u >> 8)] {
                h = (h ^ UInt64(b)) &* 0x100_0000_01B3
            }
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// What a 16-bit WAV decodes to: int16 / 32768.
    public static func floats(_ pcm: [Int16]) -> [Float] { pcm.map { Float($0) / 32768 } }

    /// 16 kHz mono 16-bit PCM samples of a WAV file (the only kind the recipes use).
    public static func readWAV(_ url: URL) throws -> [Int16] {
        let d = try Data(contentsOf: url)
        func u32(_ o: Int) -> Int { Int(d[o]) | Int(d[o + 1]) << 8 | Int(d[o + 2]) << 16 | Int(d[o + 3]) << 24 }
        func u16(_ o: Int) -> Int { Int(d[o]) | Int(d[o + 1]) << 8 }
        guard d.count >= 12, d.prefix(4) == Data("RIFF".utf8), d[8..<12] == Data("WAVE".utf8) else {
            throw RecipeError(description: "\(url.path): not a WAV file")
        }
        var o = 12
        var format: (channels: Int, rate: Int, bits: Int)? = nil
        while o + 8 <= d.count {
            let id = String(decoding: d[o..<(o + 4)], as: UTF8.self), size = u32(o + 4)
            let body = o + 8
            if id == "fmt " { format = (u16(body + 2), u32(body + 4), u16(body + 14)) }
            if id == "data" {
                guard let f = format, f.channels == 1, f.rate == rate, f.bits == 16 else {
                    throw RecipeError(description: "\(url.path): not 16 kHz mono 16-bit")
                }
                let n = min(size, d.count - body) / 2
                return (0..<n).map { Int16(bitPattern: UInt16(u16(body + 2 * $0))) }
            }
            o = body + size + (size & 1)
        }
        throw RecipeError(description: "\(url.path): no data chunk")
    }

    /// Writes a 16 kHz mono 16-bit WAV.
    public static func writeWAV(_ pcm: [Int16], to url: URL) throws {
        var d = Data()
        func put32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { d.append(contentsOf: $0) } }
        func put16(_ v: Int) { withUnsafeBytes(of: UInt16(v).littleEndian) { d.append(contentsOf: $0) } }
        d.append(contentsOf: Array("RIFF".utf8)); put32(36 + 2 * pcm.count)
        d.append(contentsOf: Array("WAVEfmt ".utf8)); put32(16); put16(1); put16(1); put32(rate); put32(2 * rate); put16(2); put16(16)
        d.append(contentsOf: Array("data".utf8)); put32(2 * pcm.count)
        pcm.withUnsafeBufferPointer { d.append(UnsafeBufferPointer(start: UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: UInt8.self), count: 2 * pcm.count)) }
        try d.write(to: url, options: .atomic)
    }
}
