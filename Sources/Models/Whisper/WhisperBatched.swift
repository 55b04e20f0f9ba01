import Foundation
import TensorCore

// Batched transcription, as faster-whisper's `BatchedInferencePipeline`: the speech that
// Silero VAD finds (regions of at most 30 s, `max_speech_duration_s` = the chunk length) is
// joined, cut into chunks of up to 30 s along region boundaries (`collect_chunks`), and
// every chunk is transcribed on its own: features of the chunk alone, `batchSize` chunks
// encoded together and decoded together (every chunk's beams are rows of one decoder pass
// per token), without the previous text as a prompt and without timestamps, each chunk one
// segment. Their documented trade-off: no conditioning on earlier text and no temperature
// fallback, for throughput. The caller maps the segments back onto the recording
// (`SpeechTimestampsMap.restore`).

/// What a batched transcription needs beyond `WhisperOptions`.
public struct WhisperBatchOptions: Sendable, Equatable {
    /// Chunks encoded and decoded together.
    public var batchSize: Int
    /// The longest chunk, in 16 kHz samples (30 s).
    public var chunkSamples = LogMelSpectrogram.nSamples

    public init(batchSize: Int) {
        self.batchSize = batchSize
    }

    /// The VAD options of the batched pipeline: `max_speech_duration_s` is the chunk length
    /// (30 s) whatever `vad` says, and with no VAD options given, `min_silence_duration_ms`
    /// is 160 (faster-whisper's `VadOptions(max_speech_duration_s=30, min_silence_duration_ms=160)`).
    public static func vadOptions(_ vad: VADOptions?) -> VADOptions {
        var o = vad ?? {
            var d = VADOptions()
            d.minSilenceDurationMs = 160
            return d
        }()
        o.maxSpeechDurationS = Double(LogMelSpectrogram.nSamples / LogMelSpectrogram.sampleRate)
        return o
    }

    /// `collect_chunks(audio, regions, max_duration)`: the regions' samples end to end, cut
    /// into chunks of at most `chunkSamples` along region boundaries. Ranges of samples of
    /// the joined speech; empty chunks (no speech) are left out.
    public func chunks(_ regions: [SpeechRegion]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var start = 0, length = 0
        for r in regions {
            let n = max(0, r.end - r.start)
            if length + n > chunkSamples {
                out.append(start..<(start + length))
                start += length
                length = n
            } else {
                length += n
            }
        }
        out.append(start..<(start + length))
        return out.filter { !$0.isEmpty }
    }

    public func validate() throws {
        if !(1...WhisperBatchOptions.maxBatchSize).contains(batchSize) {
            throw WhisperError("batch size \(batchSize) is out of range: use 1 to \(WhisperBatchOptions.maxBatchSize)")
        }
    }

    /// Largest `batchSize`: each chunk holds its audio features, cross-attention keys and
    /// values and its beams' caches (tiny: about 110 MB a chunk at beam 5).
    public static let maxBatchSize = 64
}

extension Whisper {
    /// Transcribes the joined speech read from `source` in `chunks` (from
    /// `WhisperBatchOptions.chunks`), `batch.batchSize` chunks at a time. Times are seconds of
    /// the joined speech; `onSegment` sees each segment as its batch is decoded, `onProgress`
    /// the seconds of joined speech done after each batch. Throws `CancellationError` when
    /// `options.shouldStop` says so, `WhisperError` for an unusable request, or what the
    /// source or a stage throws.
    ///
    /// As `BatchedInferencePipeline.transcribe` (faster-whisper 1.2.1) with its defaults:
    /// - features: each chunk's log-mel alone (160 zero samples appended, floored at its own
    ///   maximum - 8, the last frame dropped), then zero-padded to 3000 frames;
    /// - prompt: `<|startofprev|>` + the initial prompt's tokens (encoded as given) when
    ///   there is one, the SOT sequence, `<|notimestamps|>`;
    /// - decoding: beam search (or greedy) at temperature 0, no fallback, no no-speech skip;
    /// - a segment per chunk: from its offset for its duration, text and tokens of the best
    ///   candidate, compression ratio of that text as decoded (not stripped), start and end
    ///   rounded to 3 decimals; `seek` is the chunk's offset in frames (truncated).
    /// - language (multilingual models, none given): detected once, on the first 30 s of the
    ///   chunks' features end to end.
    /// - word timestamps: each chunk aligned on its own encoder output over its whole seconds
    ///   (`ceil(duration)` x 100 frames), the end of the last word carried from chunk to chunk.
    public func transcribeBatched(_ source: WhisperSampleSource, chunks: [Range<Int>], options: WhisperOptions,
                                  batch: WhisperBatchOptions,
                                  onSegment: (WhisperSegment) -> Void = { _ in },
                                  onProgress: (_ done: Double) -> Void = { _ in }) throws -> WhisperTranscript {
        try check(options)
        try batch.validate()
        var stop = WhisperTranscribeOptions()
        stop.shouldStop = options.shouldStop
        let rate = Double(LogMelSpectrogram.sampleRate)
        var language = tokenizer.isMultilingual ? options.language : (options.language ?? "en")
        var segments: [WhisperSegment] = []
        var lastSpeech = 0.0
        // The joined speech, read as far as the chunks of one batch need.
        var buffer: [Float] = [], bufferStart = 0, ended = false
        func samples(_ range: Range<Int>) throws -> [Float] {
            while bufferStart + buffer.count < range.upperBound && !ended {
                try stop.checkStop()
                if let more = try source() { buffer += more } else { ended = true }
            }
            let lo = min(range.lowerBound - bufferStart, buffer.count), hi = min(range.upperBound - bufferStart, buffer.count)
            return Array(buffer[lo..<hi])
        }
        for first in stride(from: 0, to: chunks.count, by: batch.batchSize) {
            let group = Array(chunks[first..<min(chunks.count, first + batch.batchSize)])
            var features: [Tensor] = []
            for c in group {
                features.append(try stages.features.chunk(try samples(c)))
                try stop.checkStop()
            }
            buffer.removeFirst(min(buffer.count, group.last!.upperBound - bufferStart))
            bufferStart = group.last!.upperBound
            let mel = Tensor.concat(features.map { LogMelSpectrogram.segment($0, start: 0).unsqueezed(0) }, axis: 0)
            if language == nil {
                // faster-whisper detects on the first 30 s of the chunks' features end to end.
                let joined = LogMelSpectrogram.segment(Tensor.concat(features, axis: 1), start: 0)
                try stop.checkStop()
                language = detectLanguage(audio: try stages.encoder.encode(windows: joined.unsqueezed(0))).code
            }
            try stop.checkStop()
            let audio = try stages.encoder.encode(windows: mel)
            var o = transcribeOptions(options, language: language ?? "en")
            o.decoding.withoutTimestamps = true
            var prompt = sotSequence(language: language ?? "en", translate: options.translate) + [tokenizer.noTimestamps]
            if let p = options.initialPrompt {
                prompt = [tokenizer.sotPrev] + Array(tokenizer.encode(p).suffix(model.dims.nTextCtx / 2 - 1)) + prompt
            }
            try stop.checkStop()
            let decoded = try stages.decoder.decode(windows: audio, prompt: prompt, options: o)
            for (i, (chunk, d)) in zip(group, decoded).enumerated() {
                let offset = Double(chunk.lowerBound) / rate, duration = Double(chunk.count) / rate
                let tokens = d.result.tokens
                var current = [WhisperSegment(
                    id: segments.count, seek: Int(offset * 100), start: Whisper.round3(offset),
                    end: Whisper.round3(offset + duration), text: tokenizer.decode(tokens.filter { $0 < tokenizer.eot }),
                    tokens: tokens, temperature: options.temperatures.first ?? 0, avgLogprob: d.result.avgLogprob,
                    compressionRatio: d.compressionRatio, noSpeechProb: d.result.noSpeechProb)]
                if let aligner = o.wordAligner {
                    try stop.checkStop()
                    let frames = Int(duration.rounded(.up)) * 100
                    aligner.addWordTimestamps(&current, audio: audio.slice(axis: 0, i..<(i + 1)), frames: frames, lastSpeech: lastSpeech)
                    if let e = current.last?.words.last?.end { lastSpeech = e }
                }
                for s in current {
                    segments.append(s)
                    onSegment(s)
                }
            }
            onProgress(Double(group.last!.upperBound) / rate)
        }
        let total = Double(chunks.last?.upperBound ?? 0) / rate
        return WhisperTranscript(language: language ?? "en", segments: segments, duration: total)
    }

    /// Python's `round(x, 3)` (correctly rounded, as printf's `%.3f`).
    static func round3(_ x: Double) -> Double {
        guard x.isFinite else { return x }
        return Double(String(format: "%.3f", x)) ?? x
    }
}

extension LogMelSpectrogram {
    /// faster-whisper's `FeatureExtractor(chunk)[..., :-1]`: the log-mel of the chunk alone
    /// with 160 zero samples appended, floored at its own maximum - 8, the last frame
    /// dropped: `[nMels, samples / 160]`. (The batched pipeline then pads it with zeros, not
    /// with the log-mel of silence.)
    public func chunk(_ samples: [Float]) -> Tensor {
        let mel = longForm(samples, padding: LogMelSpectrogram.hopLength)
        return mel.slice(axis: 1, 0..<max(0, mel.shape[1] - 1)).contiguous()
    }
}
