import Foundation
import Testing
import Media

// Fixtures: Tests/MediaTests/Fixtures/av/, made by scripts/gen-av-fixtures.sh.

/// Fixture files, scratch files and small signal tools shared by the Audio, Video and
/// FFmpegImage tests.
enum AVFixture {
    static func path(_ name: String) -> String {
        let dot = name.lastIndex(of: ".")!
        let url = Bundle.module.url(forResource: String(name[..<dot]), withExtension: String(name[name.index(after: dot)...]),
                                    subdirectory: "Fixtures/av")
        return url!.path
    }

    static func bytes(_ name: String) -> [UInt8] {
        [UInt8](FileManager.default.contents(atPath: path(name))!)
    }

    /// A fresh scratch folder, removed by the caller with `cleanUp`.
    static func scratch() -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mmpipe-av-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func write(_ bytes: [UInt8], in dir: URL, as name: String) -> String {
        let url = dir.appendingPathComponent(name)
        _ = FileManager.default.createFile(atPath: url.path, contents: Data(bytes))
        return url.path
    }

    /// 16-bit PCM WAV, channels interleaved.
    static func wav(_ samples: [Int16], channels: Int, rate: Int) -> [UInt8] {
        var b: [UInt8] = []
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { b += $0 } }
        func u16(_ v: Int) { withUnsafeBytes(of: UInt16(v).littleEndian) { b += $0 } }
        let data = samples.count * 2
        b += Array("RIFF".utf8); u32(36 + data); b += Array("WAVE".utf8)
        b += Array("fmt ".utf8); u32(16); u16(1); u16(channels); u32(rate); u32(rate * channels * 2)
        u16(channels * 2); u16(16)
        b += Array("data".utf8); u32(data)
        for s in samples { withUnsafeBytes(of: s.littleEndian) { b += $0 } }
        return b
    }

    /// The int16 samples of a plain PCM WAV (our own parser, independent of the decoders).
    static func int16Samples(ofWAV bytes: [UInt8]) -> [Int16] {
        var i = 12
        while i + 8 <= bytes.count {
            let id = String(decoding: bytes[i ..< i + 4], as: UTF8.self)
            let size = Int(bytes[i + 4]) | Int(bytes[i + 5]) << 8 | Int(bytes[i + 6]) << 16 | Int(bytes[i + 7]) << 24
            if id == "data" {
                let end = min(bytes.count, i + 8 + size)
                return stride(from: i + 8, to: end - 1, by: 2).map { Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8) }
            }
            i += 8 + size + (size & 1)
        }
        return []
    }

    /// Best normalised cross-correlation of `b` against `a` over lags in -maxLag...maxLag.
    static func correlation(_ a: [Float], _ b: [Float], maxLag: Int) -> (value: Double, lag: Int) {
        var best = (value: -2.0, lag: 0)
        for lag in -maxLag...maxLag {
            var ab = 0.0, aa = 0.0, bb = 0.0
            for i in 0..<a.count {
                let j = i + lag
                guard j >= 0, j < b.count else { continue }
                let x = Double(a[i]), y = Double(b[j])
                ab += x * y; aa += x * x; bb += y * y
            }
            let c = ab / max((aa * bb).squareRoot(), 1e-12)
            if c > best.value { best = (c, lag) }
        }
        return best
    }

    static func rms(_ x: ArraySlice<Float>) -> Double {
        (x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(max(x.count, 1))).squareRoot()
    }

    /// Magnitude of the DFT of `x` at `frequency` Hz (Goertzel-style direct sum).
    static func magnitude(_ x: ArraySlice<Float>, at frequency: Double, rate: Int) -> Double {
        var re = 0.0, im = 0.0
        let w = 2 * Double.pi * frequency / Double(rate)
        for (k, v) in x.enumerated() {
            re += Double(v) * cos(w * Double(k))
            im -= Double(v) * sin(w * Double(k))
        }
        return (re * re + im * im).squareRoot() / Double(x.count)
    }

    /// The frequency among `candidates` with the largest DFT magnitude.
    static func peak(_ x: ArraySlice<Float>, rate: Int, candidates: [Double]) -> Double {
        candidates.max { magnitude(x, at: $0, rate: rate) < magnitude(x, at: $1, rate: rate) }!
    }

    /// Writes `bytes` into a pipe from another thread; returns the read end (close it after).
    static func pipe(_ bytes: [UInt8]) -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        var fds: [Int32] = [0, 0]
        precondition(Foundation.pipe(&fds) == 0)
        let writeEnd = fds[1]
        Thread.detachNewThread {
            bytes.withUnsafeBytes { buf in
                var off = 0
                while off < buf.count {
                    let n = Foundation.write(writeEnd, buf.baseAddress! + off, buf.count - off)
                    if n <= 0 { break }
                    off += n
                }
            }
            close(writeEnd)
        }
        return fds[0]
    }

    static func kind(of body: () throws -> Void) -> MediaError.Kind? {
        do {
            try body()
            return nil
        } catch let e as MediaError {
            #expect(!e.reason.isEmpty && !e.reason.contains("\n"), "reason must be one line: \(e)")
            return e.kind
        } catch {
            Issue.record("not a MediaError: \(error)")
            return nil
        }
    }
}

@Suite("Audio decoding") struct AudioTests {
    static let speechRate = 16_000
    static var speech: [Int16] { AVFixture.int16Samples(ofWAV: AVFixture.bytes("speech.wav")) }

    // MARK: Parity

    @Test func wavAtItsOwnRateIsExactlyInt16Over32768() throws {
        let expected = AudioTests.speech.map { Float($0) / 32768 }
        #expect(expected.count > 30_000)
        let reader = try AudioReader(path: AVFixture.path("speech.wav"), sampleRate: nil)
        #expect(reader.format == AudioFormat(container: "wav", codec: "pcm_s16le", sampleRate: 16_000, channels: 1,
                                             frames: expected.count))
        #expect(reader.outputRate == 16_000)
        let got = try reader.readAll()
        #expect(got == expected)
        #expect(try decodeAudio(path: AVFixture.path("speech.wav")) == expected)   // 16 kHz asked = native
    }

    @Test func flacIsLosslessAndAIFFHeadMatches() throws {
        let expected = AudioTests.speech.map { Float($0) / 32768 }
        let flac = try AudioReader(path: AVFixture.path("speech.flac"))
        #expect(flac.format == AudioFormat(container: "flac", codec: "flac", sampleRate: 16_000, channels: 1, frames: expected.count))
        #expect(try flac.readAll() == expected)
        let reader = try AudioReader(path: AVFixture.path("speech-head.aiff"), sampleRate: nil)
        #expect(reader.format.container == "aiff" && reader.format.codec == "pcm_s16be" && reader.format.frames == 4000)
        #expect(try reader.readAll() == Array(expected.prefix(4000)))
    }

    @Test func wavFromAPipeIsExactToo() throws {
        let expected = AudioTests.speech.map { Float($0) / 32768 }
        let fd = AVFixture.pipe(AVFixture.bytes("speech.wav"))
        defer { close(fd) }
        let reader = try AudioReader(fileDescriptor: fd, name: "speech.wav (pipe)", sampleRate: nil)
        #expect(reader.format.container == "wav" && reader.format.sampleRate == 16_000)
        #expect(try reader.readAll() == expected)
    }

    /// Lossy versions of the same sentence: right length (codec padding removed) and the same
    /// waveform, time-aligned, after decoding and resampling to 16 kHz.
    @Test(arguments: [("speech.flac", 0.9999), ("speech.ogg", 0.99), ("speech.mp3", 0.99),
                      ("speech.m4a", 0.95), ("speech.opus", 0.99)])
    func compressedVersionsMatchTheWAV(file: String, minCorrelation: Double) throws {
        let reference = AudioTests.speech.map { Float($0) / 32768 }
        let reader = try AudioReader(path: AVFixture.path(file))
        #expect(reader.outputRate == 16_000)
        let got = try reader.readAll()
        let seconds = Double(got.count) / 16_000, expected = Double(reference.count) / 16_000
        #expect(abs(seconds - expected) <= 0.05, "\(file): \(seconds) s decoded, \(expected) s expected")
        let (c, lag) = AVFixture.correlation(reference, got, maxLag: 48)
        #expect(c >= minCorrelation, "\(file): correlation \(c) at lag \(lag)")
        #expect(abs(lag) <= 2, "\(file): decoded audio is shifted by \(lag) samples")
        if let d = reader.format.duration { #expect(abs(d - expected) < 0.1, "\(file): header says \(d) s") }
    }

    // MARK: Resampling and mixing

    @Test func sineResampledTo16kKeepsFrequencyAndAmplitude() throws {
        let dir = AVFixture.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let rate = 44_100, amplitude = 0.5
        let samples = (0..<rate * 2).map { Int16((amplitude * 32767 * sin(2 * .pi * 1000 * Double($0) / Double(rate))).rounded()) }
        let path = AVFixture.write(AVFixture.wav(samples, channels: 1, rate: rate), in: dir, as: "sine.wav")
        let reader = try AudioReader(path: path, sampleRate: 16_000)
        let out = try reader.readAll()
        #expect(abs(out.count - 32_000) <= 2, "\(out.count) samples for 2 s")
        let middle = out[1600 ..< 30_400]   // away from the edges
        let rms = AVFixture.rms(middle), expected = amplitude * 32767 / 32768 / 2.0.squareRoot()
        #expect(abs(rms / expected - 1) < 0.01, "RMS \(rms), expected \(expected)")
        var crossings = 0
        for i in middle.indices.dropFirst() where (middle[i - 1] < 0) != (middle[i] < 0) { crossings += 1 }
        let expectedCrossings = 2.0 * 1000 * Double(middle.count) / 16_000
        #expect(abs(Double(crossings) - expectedCrossings) <= 2, "\(crossings) zero crossings, \(expectedCrossings) expected")
        let peak = AVFixture.peak(middle, rate: 16_000, candidates: stride(from: 900.0, through: 1100, by: 10).map { $0 })
        #expect(peak == 1000)
        // Phase: no delay introduced by the resampler (compare with the ideal sine at 16 kHz).
        let ideal = (0..<out.count).map { Float(amplitude * sin(2 * .pi * 1000 * Double($0) / 16_000)) }
        let (c, lag) = AVFixture.correlation(Array(ideal[1600 ..< 30_400]), Array(out[1600 ..< 30_400]), maxLag: 4)
        #expect(lag == 0 && c > 0.999, "correlation \(c) at lag \(lag)")
    }

    @Test func stereoIsTheMeanOfItsChannels() throws {
        let dir = AVFixture.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let n = 22_050
        let left = (0..<n).map { Int16((12_000 * sin(Double($0) * 0.05)).rounded()) }
        var opposite: [Int16] = [], mixed: [Int16] = []
        for (i, l) in left.enumerated() {
            opposite += [l, -l]
            mixed += [l, Int16(i % 200) * 10]
        }
        let a = AVFixture.write(AVFixture.wav(opposite, channels: 2, rate: n), in: dir, as: "opposite.wav")
        let out = try decodeAudio(path: a)   // also resampled 22.05 -> 16 kHz
        #expect(out.count > 15_900 && out.count < 16_100)
        #expect(out.map(abs).max()! < 1e-6, "opposite channels must cancel")
        let b = AVFixture.write(AVFixture.wav(mixed, channels: 2, rate: n), in: dir, as: "mixed.wav")
        let mean = try AudioReader(path: b, sampleRate: nil).readAll()
        let expected = (0..<n).map { i -> Float in
            let l = Float(left[i]) / 32768, r = Float(Int16(i % 200) * 10) / 32768
            return (l + r) * 0.5
        }
        #expect(mean == expected)
    }

    // MARK: Streaming

    @Test func readInChunksEqualsReadAll() throws {
        let all = try decodeAudio(path: AVFixture.path("speech.mp3"))
        let reader = try AudioReader(path: AVFixture.path("speech.mp3"))
        var joined: [Float] = [], sizes: [Int] = []
        while let chunk = try reader.read(maxFrames: 1000) {
            sizes.append(chunk.count)
            joined += chunk
        }
        #expect(joined == all)
        #expect(sizes.dropLast().allSatisfy { $0 == 1000 } && sizes.last! <= 1000)
        #expect(try reader.read(maxFrames: 1000) == nil)
    }

    @Test func chunksStreamsFixedLengthBlocks() async throws {
        let all = try decodeAudio(path: AVFixture.path("speech.ogg"))
        let reader = try AudioReader(path: AVFixture.path("speech.ogg"))
        var joined: [Float] = [], sizes: [Int] = []
        for try await chunk in reader.chunks(seconds: 0.5) {
            sizes.append(chunk.count)
            joined += chunk
        }
        #expect(joined == all)
        #expect(sizes.count == 5 && sizes.dropLast().allSatisfy { $0 == 8000 })
    }

    /// The first chunk comes back while most of the stream has not even been written yet.
    /// (FFmpeg's WAV demuxer reads ahead a little, 64 KiB at open plus up to 32 packets of
    /// 4 KiB to probe for S/PDIF data, so the writer sends 10 s = 320 KB before it waits.)
    @Test func readDoesNotBufferTheWholeStream() throws {
        signal(SIGPIPE, SIG_IGN)
        var fds: [Int32] = [0, 0]
        #expect(Foundation.pipe(&fds) == 0)
        let (readEnd, writeEnd) = (fds[0], fds[1])
        defer { close(readEnd) }
        let second = [Int16](repeating: 1000, count: 16_000)
        var header = AVFixture.wav(Array([[Int16]](repeating: second, count: 10).joined()), channels: 1, rate: 16_000)
        for i in [4, 5, 6, 7, 40, 41, 42, 43] { header[i] = 0xFF }   // streaming WAV: length unknown
        let go = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        final class Flag: @unchecked Sendable {
            private let lock = NSLock()
            private var value = false
            func set() { lock.lock(); value = true; lock.unlock() }
            func get() -> Bool { lock.lock(); defer { lock.unlock() }; return value }
        }
        let rest = Flag()
        let head = header
        Thread.detachNewThread {
            func put(_ bytes: [UInt8]) {
                bytes.withUnsafeBytes { buf in
                    var off = 0
                    while off < buf.count {
                        let n = Foundation.write(writeEnd, buf.baseAddress! + off, buf.count - off)
                        if n <= 0 { return }
                        off += n
                    }
                }
            }
            put(head)   // 10 s
            _ = go.wait(timeout: .now() + 20)
            rest.set()
            let body = AVFixture.wav(second, channels: 1, rate: 16_000).dropFirst(44)
            for _ in 0..<50 { put(Array(body)) }   // 50 s more
            close(writeEnd)
            done.signal()
        }
        let reader = try AudioReader(fileDescriptor: readEnd, sampleRate: nil)
        let first = try reader.read(maxFrames: 4000)
        let early = !rest.get()
        go.signal()
        #expect(first?.count == 4000 && early, "the first read waited for the rest of the stream")
        var total = first?.count ?? 0
        while let chunk = try reader.read(maxFrames: 48_000) { total += chunk.count }
        #expect(total == 60 * 16_000)
        _ = done.wait(timeout: .now() + 20)
    }

    @Test func mp3FromAPipe() throws {
        let fd = AVFixture.pipe(AVFixture.bytes("speech.mp3"))
        defer { close(fd) }
        let reader = try AudioReader(fileDescriptor: fd)
        #expect(reader.format.codec == "mp3")
        let got = try reader.readAll()
        let file = try decodeAudio(path: AVFixture.path("speech.mp3"))
        #expect(abs(got.count - file.count) <= 1200, "\(got.count) vs \(file.count) samples")
        #expect(AVFixture.correlation(file, got, maxLag: 4).value > 0.99)
    }

    // MARK: Limits and bad input

    @Test func durationLimit() throws {
        #expect(AVFixture.kind { _ = try AudioReader(path: AVFixture.path("speech.wav"), limits: DecodeLimits(maxAudioSeconds: 1.5)) } == .tooLarge)
        #expect(AVFixture.kind { _ = try AudioReader(path: AVFixture.path("speech.m4a"), limits: DecodeLimits(maxAudioSeconds: 1.5)) } == .tooLarge)
        #expect(try AudioReader(path: AVFixture.path("speech.wav"), limits: DecodeLimits(maxAudioSeconds: 3)).readAll().count == 32_358)
        // A pipe has no length up front: the limit trips while decoding (limit + 1 s slack).
        let dir = AVFixture.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let long = [Int16](repeating: 100, count: 16_000 * 5)
        var header = AVFixture.wav(long, channels: 1, rate: 16_000)
        for i in 40..<44 { header[i] = 0xFF }   // streaming WAV: data size unknown
        for i in 4..<8 { header[i] = 0xFF }
        let fd = AVFixture.pipe(header)
        defer { close(fd) }
        #expect(AVFixture.kind { _ = try AudioReader(fileDescriptor: fd, limits: DecodeLimits(maxAudioSeconds: 2)).readAll() } == .tooLarge)
    }

    @Test func badFilesThrowCleanErrors() throws {
        let dir = AVFixture.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        var random = SystemRandomNumberGenerator()
        let noise = (0..<50_000).map { _ in UInt8.random(in: 0...255, using: &random) }
        let cases: [(String, [MediaError.Kind])] = [
            (dir.appendingPathComponent("missing.wav").path, [.notFound]),
            (dir.path, [.unreadable]),
            (AVFixture.write([], in: dir, as: "zero.wav"), [.empty]),
            (AVFixture.write(noise, in: dir, as: "noise.bin"), [.unsupported, .corrupt]),
            (AVFixture.write(noise, in: dir, as: "noise.mp3"), [.unsupported, .corrupt]),
            (AVFixture.write(Array("just some text\n".utf8), in: dir, as: "notes.txt"), [.unsupported]),
            (AVFixture.write(Array("just some text\n".utf8), in: dir, as: "notes.wav"), [.unsupported]),
            (AVFixture.write(AVFixture.wav([], channels: 1, rate: 16_000), in: dir, as: "nosamples.wav"), [.empty]),
            (AVFixture.write(Array(AVFixture.bytes("speech.wav").prefix(30)), in: dir, as: "cut-header.wav"), [.corrupt]),
            (AVFixture.write(Array(AVFixture.bytes("colors.mp4").prefix(2000)), in: dir, as: "cut.mp4"), [.corrupt]),
            (AVFixture.write(Array(AVFixture.bytes("speech.ogg").prefix(5000)), in: dir, as: "headers-only.ogg"), [.corrupt]),
            (AVFixture.write(Array(AVFixture.bytes("pattern.bmp")), in: dir, as: "picture.bmp"), [.noStream]),
        ]
        for (path, kinds) in cases {
            let kind = AVFixture.kind { _ = try AudioReader(path: path).readAll() }
            #expect(kind.map(kinds.contains) == true, "\(path): got \(String(describing: kind)), expected \(kinds)")
        }
        #expect(AVFixture.kind { _ = try AudioReader(path: AVFixture.path("speech.wav"), sampleRate: 0) } == .unsupported)
        #expect(AVFixture.kind { _ = try AudioReader(fileDescriptor: -1) } == .unreadable)
        let empty = AVFixture.pipe([])
        defer { close(empty) }
        #expect(AVFixture.kind { _ = try AudioReader(fileDescriptor: empty).readAll() } == .empty)
    }

    /// 1 GB of zeros named .mp3: FFmpeg's MP3 parser would buffer all of it looking for a
    /// frame; the read watchdog stops after 128 MB without a packet.
    @Test func garbageThatNeverYieldsAPacketStops() throws {
        let dir = AVFixture.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = AVFixture.write([], in: dir, as: "zeros.mp3")
        #expect(truncate(path, 1 << 30) == 0)   // sparse: no disk space used
        let start = Date()
        #expect(AVFixture.kind { _ = try AudioReader(path: path).readAll() } == .corrupt)
        #expect(Date().timeIntervalSince(start) < 30)
        #expect(AVFixture.kind { _ = try AudioReader(path: "/dev/zero") } == .unreadable)
    }

    @Test(.enabled(if: getuid() != 0, "root reads anything")) func unreadableFile() throws {
        let dir = AVFixture.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = AVFixture.write(AVFixture.bytes("speech.wav"), in: dir, as: "locked.wav")
        chmod(path, 0)
        #expect(AVFixture.kind { _ = try AudioReader(path: path) } == .unreadable)
    }

    /// Truncated files decode what is there, then end (see AudioReader's doc comment).
    @Test(arguments: ["speech.wav", "speech.mp3", "speech.flac", "speech.ogg", "speech.m4a", "speech.opus"])
    func truncatedFilesDecodeWhatIsThere(file: String) throws {
        let dir = AVFixture.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bytes = AVFixture.bytes(file)
        let path = AVFixture.write(Array(bytes.prefix(bytes.count * 8 / 10)), in: dir, as: "cut-" + file)
        let full = try decodeAudio(path: AVFixture.path(file))
        do {
            let partial = try decodeAudio(path: path)
            #expect(partial.count > full.count / 3 && partial.count < full.count * 95 / 100,
                    "\(file): \(partial.count) of \(full.count) samples")
            let n = min(partial.count, full.count) * 8 / 10
            #expect(AVFixture.correlation(Array(full.prefix(n)), Array(partial.prefix(n)), maxLag: 0).value > 0.99)
        } catch let e as MediaError {
            // Only a container whose index is at the end may refuse outright.
            #expect(file == "speech.m4a" && e.kind == .corrupt, "\(e)")
        }
    }

    // MARK: Inspection

    @Test func inspectReadsHeaders() throws {
        let wav = try MediaInspector.inspect(path: AVFixture.path("speech.wav"))
        #expect(wav.container == "wav" && wav.video == nil)
        #expect(wav.audio?.codec == "pcm_s16le" && wav.audio?.sampleRate == 16_000 && wav.audio?.frames == 32_358)
        let mp3 = try MediaInspector.inspect(path: AVFixture.path("speech.mp3"))
        #expect(mp3.container == "mp3" && mp3.audio?.codec == "mp3" && mp3.audio?.sampleRate == 22_050)
        let m4a = try MediaInspector.inspect(path: AVFixture.path("speech.m4a"))
        #expect(m4a.container == "m4a" && m4a.audio?.codec == "aac" && m4a.audio?.sampleRate == 44_100)
        #expect(abs((m4a.duration ?? 0) - 2.022) < 0.05)
        #expect(AVFixture.kind { _ = try MediaInspector.inspect(path: "/nonexistent/x.wav") } == .notFound)
    }

    // MARK: Throughput (opt-in: MMPIPE_AUDIO_BENCH="a.wav b.mp3", build with -c release)

    @Test(.enabled(if: ProcessInfo.processInfo.environment["MMPIPE_AUDIO_BENCH"] != nil))
    func throughput() throws {
        for path in ProcessInfo.processInfo.environment["MMPIPE_AUDIO_BENCH"]!.split(separator: " ").map(String.init) {
            var best = Double.infinity, samples = 0
            for _ in 0..<3 {
                let start = Date()
                let reader = try AudioReader(path: path)
                samples = 0
                while let chunk = try reader.read(maxFrames: 480_000) { samples += chunk.count }
                best = min(best, Date().timeIntervalSince(start))
            }
            let seconds = Double(samples) / 16_000
            print("bench \(path): \(String(format: "%.1f", seconds)) s of audio in \(String(format: "%.3f", best)) s = \(String(format: "%.0f", seconds / best))x real time")
        }
    }
}
