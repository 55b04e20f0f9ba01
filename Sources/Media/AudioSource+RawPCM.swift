import Foundation

/// The layout of headerless PCM (what `ffmpeg ... -f s16le -` writes): signed 16-bit
/// little-endian samples, channels interleaved, at `sampleRate`.
public struct RawPCMFormat: Sendable, Equatable {
    public var sampleRate: Int
    public var channels: Int

    public init(sampleRate: Int = 16_000, channels: Int = 1) {
        self.sampleRate = sampleRate
        self.channels = channels
    }

    /// The codec name FFmpeg gives this layout.
    public static let codec = "pcm_s16le"
}

/// Raw s16le PCM read from a file descriptor (a pipe) with read(2), in blocks of
/// `blockFrames`: mixed down to mono as every other source (the mean of the channels,
/// x / 32768) at the stated rate; `AudioReader` resamples. A last partial frame (an odd
/// byte, or fewer bytes than a frame) is dropped and reported as damage.
final class RawPCMAudioSource: AudioSource {
    static let blockFrames = 16_384

    let format: AudioFormat
    private let fd: Int32
    private let name: String
    private let channels: Int
    private var bytes: [UInt8]
    private var filled = 0
    private let mono: UnsafeMutablePointer<Float>
    private let interleaved: UnsafeMutablePointer<Float>
    private var ended = false
    private(set) var hadErrors = false
    private(set) var endReason: String?

    init(fileDescriptor fd: Int32, name: String, layout: RawPCMFormat) throws {
        guard (1...768_000).contains(layout.sampleRate) else {
            throw MediaError(name, .unsupported, "raw PCM sample rate \(layout.sampleRate) Hz is outside 1...768000 Hz")
        }
        guard (1...64).contains(layout.channels) else {
            throw MediaError(name, .unsupported, "raw PCM with \(layout.channels) channels (1...64 are read)")
        }
        self.fd = fd
        self.name = name
        channels = layout.channels
        format = AudioFormat(container: "s16le", codec: RawPCMFormat.codec, sampleRate: layout.sampleRate,
                             channels: layout.channels, frames: nil)
        bytes = [UInt8](repeating: 0, count: RawPCMAudioSource.blockFrames * layout.channels * 2)
        mono = .allocate(capacity: RawPCMAudioSource.blockFrames)
        interleaved = .allocate(capacity: RawPCMAudioSource.blockFrames * layout.channels)
    }

    deinit {
        mono.deallocate()
        interleaved.deallocate()
    }

    func nextBlock() throws -> (samples: UnsafeBufferPointer<Float>, rate: Int)? {
        let frameBytes = 2 * channels
        // Fill the block (a pipe returns what it has; read until a block or the end).
        while !ended && filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { InputStreamEnd.read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n > 0 {
                filled += n
            } else if n == 0 {
                ended = true
            } else if errno != EINTR {
                throw MediaError(name, .unreadable, "reading raw PCM failed: \(String(cString: strerror(errno)))")
            }
            if filled >= frameBytes * 1024 { break }       // enough for a block: do not wait on a slow pipe
        }
        let frames = filled / frameBytes
        if frames == 0 {
            if ended && filled > 0 {
                hadErrors = true
                endReason = "the stream ends inside a sample frame (\(filled) byte(s) left over)"
                filled = 0
            }
            return nil
        }
        let count = frames * channels
        bytes.withUnsafeBytes { raw in
            for i in 0..<count {
                let v = Int16(bitPattern: UInt16(raw[2 * i]) | UInt16(raw[2 * i + 1]) << 8)
                interleaved[i] = Float(v) * (1 / 32768)
            }
        }
        let used = frames * frameBytes
        if used < filled { bytes.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[used..<filled])) } }
        filled -= used
        if channels == 1 {
            mono.update(from: interleaved, count: frames)
        } else {
            AudioMixdown.mix(interleaved: interleaved, channels: channels, frames: frames, into: mono)
        }
        return (UnsafeBufferPointer(start: mono, count: frames), format.sampleRate)
    }
}
