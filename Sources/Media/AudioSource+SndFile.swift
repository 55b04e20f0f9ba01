import CSndFile

/// WAV, AIFF, FLAC and Ogg (Vorbis, Opus) through libsndfile, read in blocks of
/// `blockFrames`.
final class SndFileAudioSource: AudioSource {
    static let blockFrames = 16_384
    /// The `MediaFormat` names given to libsndfile. Everything else goes to FFmpeg, which
    /// also reads these when libsndfile cannot (libsndfile would open MP3 too, through
    /// mpg123, which prints to stderr).
    static let formats: Set<String> = ["wav", "aiff", "flac", "ogg"]

    let format: AudioFormat
    private let file: OpaquePointer
    private let channels: Int
    private let interleaved: UnsafeMutablePointer<Float>
    private let mono: UnsafeMutablePointer<Float>
    private(set) var hadErrors = false
    private(set) var endReason: String?
    private var delivered = 0

    /// Opens `path` when libsndfile recognises it as one of the formats above; nil otherwise
    /// (libsndfile also reads MP3 and others, which go to FFmpeg instead).
    init?(path: String) {
        var info = SF_INFO()
        guard let file = sf_open(path, Int32(SFM_READ), &info) else { return nil }
        let major = Int(info.format) & Int(SF_FORMAT_TYPEMASK)
        let sub = Int(info.format) & Int(SF_FORMAT_SUBMASK)
        let container: String
        switch major {
        case Int(SF_FORMAT_WAV), Int(SF_FORMAT_WAVEX): container = "wav"
        case Int(SF_FORMAT_W64): container = "w64"
        case Int(SF_FORMAT_RF64): container = "rf64"
        case Int(SF_FORMAT_AIFF): container = "aiff"
        case Int(SF_FORMAT_FLAC): container = "flac"
        case Int(SF_FORMAT_OGG): container = "ogg"
        default: sf_close(file); return nil
        }
        guard info.channels > 0, info.channels <= 64, info.samplerate > 0 else { sf_close(file); return nil }
        let bigEndian = major == Int(SF_FORMAT_AIFF)
            ? (Int(info.format) & Int(SF_FORMAT_ENDMASK)) != Int(SF_ENDIAN_LITTLE)
            : (Int(info.format) & Int(SF_FORMAT_ENDMASK)) == Int(SF_ENDIAN_BIG)
        let frames: Int? = info.frames >= 0 && info.frames < Int64(Int32.max) * 1024 ? Int(info.frames) : nil
        let codec = major == Int(SF_FORMAT_FLAC) ? "flac" : SndFileAudioSource.codecName(sub, bigEndian: bigEndian)
        self.format = AudioFormat(container: container, codec: codec,
                                  sampleRate: Int(info.samplerate), channels: Int(info.channels), frames: frames)
        self.file = file
        self.channels = Int(info.channels)
        self.interleaved = .allocate(capacity: SndFileAudioSource.blockFrames * channels)
        self.mono = channels == 1 ? interleaved : .allocate(capacity: SndFileAudioSource.blockFrames)
    }

    deinit {
        sf_close(file)
        if mono != interleaved { mono.deallocate() }
        interleaved.deallocate()
    }

    func nextBlock() throws -> (samples: UnsafeBufferPointer<Float>, rate: Int)? {
        let n = Int(sf_readf_float(file, interleaved, Int64(SndFileAudioSource.blockFrames)))
        guard n > 0 else {
            if sf_error(file) != 0 {
                hadErrors = true
                endReason = String(cString: sf_strerror(file))
            } else if let frames = format.frames, delivered < frames {
                hadErrors = true
                endReason = "the file ends after \(delivered) of \(frames) samples; it is truncated"
            } else if format.frames == nil {
                hadErrors = true   // libsndfile finds no length in truncated Ogg files
                endReason = "libsndfile found no length and no samples; the file is probably truncated"
            }
            return nil
        }
        delivered += n
        if channels > 1 {
            AudioMixdown.mix(interleaved: interleaved, channels: channels, frames: n, into: mono)
        }
        return (UnsafeBufferPointer(start: mono, count: n), format.sampleRate)
    }

    /// libsndfile's subtype as FFmpeg's codec name, so `probe` shows the same names either way.
    private static func codecName(_ sub: Int, bigEndian: Bool) -> String {
        let e = bigEndian ? "be" : "le"
        switch sub {
        case Int(SF_FORMAT_PCM_S8): return "pcm_s8"
        case Int(SF_FORMAT_PCM_U8): return "pcm_u8"
        case Int(SF_FORMAT_PCM_16): return "pcm_s16" + e
        case Int(SF_FORMAT_PCM_24): return "pcm_s24" + e
        case Int(SF_FORMAT_PCM_32): return "pcm_s32" + e
        case Int(SF_FORMAT_FLOAT): return "pcm_f32" + e
        case Int(SF_FORMAT_DOUBLE): return "pcm_f64" + e
        case Int(SF_FORMAT_ULAW): return "pcm_mulaw"
        case Int(SF_FORMAT_ALAW): return "pcm_alaw"
        case Int(SF_FORMAT_IMA_ADPCM): return "adpcm_ima_wav"
        case Int(SF_FORMAT_MS_ADPCM): return "adpcm_ms"
        case Int(SF_FORMAT_GSM610): return "gsm_ms"
        case Int(SF_FORMAT_FLAC): return "flac"
        case Int(SF_FORMAT_VORBIS): return "vorbis"
        case Int(SF_FORMAT_OPUS): return "opus"
        default: return "sndfile-0x" + String(sub, radix: 16)
        }
    }
}
