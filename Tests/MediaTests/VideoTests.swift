import Foundation
import Testing
import Media
import TensorCore

/// colors.mp4: 64x48 H.264, 3 s at 10 fps, 1 s each of red, lime, blue; keyframes at 0 and
/// 1.5 s (GOP 15); a 440 Hz AAC track (see scripts/gen-av-fixtures.sh).
@Suite("Video decoding") struct VideoTests {
    static let colours: [(UInt8, UInt8, UInt8)] = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]

    /// Every pixel within `tolerance` of `colour` (codec and YUV round-trip error).
    static func isSolid(_ image: RGBImage, _ colour: (UInt8, UInt8, UInt8), tolerance: Int = 12) -> Bool {
        var worst = 0
        for i in stride(from: 0, to: image.pixels.count, by: 3) {
            worst = max(worst, abs(Int(image.pixels[i]) - Int(colour.0)), abs(Int(image.pixels[i + 1]) - Int(colour.1)),
                        abs(Int(image.pixels[i + 2]) - Int(colour.2)))
        }
        return worst <= tolerance
    }

    @Test func info() throws {
        let reader = try VideoReader(path: AVFixture.path("colors.mp4"))
        let info = reader.info
        #expect(info.container == "mp4" && info.codec == "h264")
        #expect(info.width == 64 && info.height == 48)
        #expect(info.fps == 10 && info.frameCount == 30 && info.hasAudio)
        #expect(abs((info.duration ?? 0) - 3) < 0.01)
        let streams = try MediaInspector.inspect(path: AVFixture.path("colors.mp4"))
        #expect(streams.video == info && streams.audio?.codec == "aac" && streams.audio?.sampleRate == 16_000)
    }

    @Test func oneFramePerSecond() throws {
        let reader = try VideoReader(path: AVFixture.path("colors.mp4"))
        var frames: [VideoFrame] = []
        while let f = try reader.next() { frames.append(f) }
        #expect(frames.map(\.time) == [0, 1, 2])
        for (f, c) in zip(frames, VideoTests.colours) {
            #expect(f.image.width == 64 && f.image.height == 48)
            #expect(VideoTests.isSolid(f.image, c), "frame at \(f.time): \(f.image[0, 0]) expected \(c)")
        }
        #expect(try reader.next() == nil)
    }

    @Test func otherRatesAndTheAsyncSequence() async throws {
        var times: [Double] = []
        for try await f in try VideoReader(path: AVFixture.path("colors.mp4")).frames(fps: 2) { times.append(f.time) }
        #expect(times == [0, 0.5, 1, 1.5, 2, 2.5])
        let all = try VideoReader(path: AVFixture.path("colors.mp4"))
        var n = 0
        while try all.next(fps: 1000) != nil { n += 1 }
        #expect(n == 30)   // never more frames than the file has
        #expect(AVFixture.kind { _ = try all.next(fps: 0) } == .unsupported)
    }

    @Test func keyframesOnly() throws {
        let reader = try VideoReader(path: AVFixture.path("colors.mp4"))
        var frames: [VideoFrame] = []
        while let f = try reader.next(keyframesOnly: true) { frames.append(f) }
        #expect(frames.map(\.time) == [0, 1.5])
        #expect(frames.count == 2 && VideoTests.isSolid(frames[0].image, VideoTests.colours[0])
                && VideoTests.isSolid(frames[1].image, VideoTests.colours[1]))
    }

    @Test func audioTrackOfTheVideo() throws {
        let reader = try AudioReader(path: AVFixture.path("colors.mp4"))
        #expect(reader.format.container == "mp4" && reader.format.codec == "aac")
        let audio = try reader.readAll()
        #expect(abs(Double(audio.count) / 16_000 - 3) < 0.05, "\(audio.count) samples")
        let peak = AVFixture.peak(audio[4000 ..< 40_000], rate: 16_000, candidates: stride(from: 400.0, through: 480, by: 10).map { $0 })
        #expect(peak == 440)
    }

    @Test func errors() throws {
        let dir = AVFixture.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(AVFixture.kind { _ = try VideoReader(path: AVFixture.path("speech.wav")) } == .noStream)
        #expect(AVFixture.kind { _ = try VideoReader(path: AVFixture.path("speech.mp3")) } == .noStream)
        #expect(AVFixture.kind { _ = try VideoReader(path: dir.appendingPathComponent("none.mp4").path) } == .notFound)
        #expect(AVFixture.kind { _ = try VideoReader(path: dir.path) } == .unreadable)
        let noise = (0..<20_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        let bad = AVFixture.write(noise, in: dir, as: "noise.mp4")
        #expect([.unsupported, .corrupt].contains(AVFixture.kind { _ = try VideoReader(path: bad).next() }))
        #expect(AVFixture.kind { _ = try VideoReader(path: AVFixture.path("colors.mp4"), limits: DecodeLimits(maxPixels: 1000)) } == .tooLarge)
    }

    /// A cut inside the index (`moov`) is `.corrupt` (at open or at the first frame); a cut inside the frames gives
    /// the frames before the cut, then the end.
    @Test func truncatedMP4() throws {
        let dir = AVFixture.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bytes = AVFixture.bytes("colors.mp4")
        let head = AVFixture.write(Array(bytes.prefix(1500)), in: dir, as: "head.mp4")
        #expect(AVFixture.kind { _ = try VideoReader(path: head).next() } == .corrupt)
        let half = AVFixture.write(Array(bytes.prefix(bytes.count / 2)), in: dir, as: "half.mp4")
        let reader = try VideoReader(path: half)
        var frames: [VideoFrame] = []
        while let f = try reader.next(fps: 10) { frames.append(f) }
        #expect(frames.count >= 1 && frames.count < 30, "\(frames.count) frames")
        #expect(VideoTests.isSolid(frames[0].image, VideoTests.colours[0]))
    }
}

/// Damaged copies of every av fixture (bytes flipped, ranges overwritten, cut, chunks
/// repeated; seeded, so reproducible) through every FFmpeg-based decoder: each must return
/// or throw a MediaError, never crash, hang or throw anything else. 60 inputs by default;
/// `MMPIPE_AV_MUTATIONS=N` runs N, `MMPIPE_AV_SEED=S` picks other damage (for thousands, build
/// the tests with `-Xswiftc -sanitize=address` or in release).
@Suite("Damaged media through FFmpeg") struct FFmpegDamagedInputTests {

    static let files = ["speech.wav", "speech.flac", "speech.ogg", "speech.mp3", "speech.m4a", "speech.opus",
                        "speech-head.aiff", "colors.mp4", "pattern.bmp", "pattern.tiff", "pattern.gif",
                        "alpha.png", "alpha.webp", "solid.jpg"]

    static func mutate(_ bytes: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var b = bytes
        guard b.count > 16 else { return b }
        switch Int.random(in: 0..<4, using: &rng) {
        case 0:
            for _ in 0..<Int.random(in: 1...24, using: &rng) {
                b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
        case 1:
            let start = Int.random(in: 0..<b.count, using: &rng)
            let end = min(b.count, start + Int.random(in: 1...512, using: &rng))
            for i in start..<end { b[i] = UInt8.random(in: 0...255, using: &rng) }
        case 2:
            b = Array(b.prefix(Int.random(in: 1..<b.count, using: &rng)))
        default:
            let start = Int.random(in: 0..<b.count, using: &rng)
            let chunk = b[start..<min(b.count, start + Int.random(in: 1...4096, using: &rng))]
            b.insert(contentsOf: chunk, at: Int.random(in: 0..<b.count, using: &rng))
        }
        return b
    }

    @Test func damagedCopiesFailCleanly() throws {
        let count = Int(ProcessInfo.processInfo.environment["MMPIPE_AV_MUTATIONS"] ?? "") ?? 60
        let dir = AVFixture.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let originals = FFmpegDamagedInputTests.files.map { ($0, AVFixture.bytes($0)) }
        var rng = SplitMix64(seed: UInt64(ProcessInfo.processInfo.environment["MMPIPE_AV_SEED"] ?? "") ?? 20_261_124)
        let limits = DecodeLimits(maxPixels: 4_000_000, maxAudioSeconds: 120)
        var outcomes: [String: Int] = [:]
        for n in 0..<count {
            let (name, bytes) = originals[n % originals.count]
            let path = AVFixture.write(FFmpegDamagedInputTests.mutate(bytes, &rng), in: dir, as: "\(n)-\(name)")
            let jobs: [(String, () throws -> Void)] = [
                ("audio", { _ = try AudioReader(path: path, limits: limits).readAll() }),
                ("video", {
                    let v = try VideoReader(path: path, limits: limits)
                    for _ in 0..<40 { if try v.next(fps: 10) == nil { break } }
                }),
                ("image", { _ = try FFmpegImage.decode(path: path, limits: limits) }),
                ("inspect", { _ = try MediaInspector.inspect(path: path) }),
            ]
            for (job, body) in jobs {
                let start = Date()
                do {
                    try body()
                    outcomes["ok", default: 0] += 1
                } catch let e as MediaError {
                    outcomes[e.kind.rawValue, default: 0] += 1
                } catch {
                    Issue.record("\(job) \(path): not a MediaError: \(error)")
                }
                let seconds = Date().timeIntervalSince(start)
                #expect(seconds < 10, "\(job) \(path) took \(seconds) s")
            }
            try? FileManager.default.removeItem(atPath: path)
        }
        if count > 60 { print("damaged media outcomes:", outcomes.sorted { $0.key < $1.key }) }
    }
}
