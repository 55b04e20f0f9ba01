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
        try withoutActuallyEscaping(source) { source in
            try transcribeBatched([WhisperBatchedInput(source: source, chunks: chunks)], options: options, batch: batch,
                                  onSegment: { _, s in onSegment(s) }, onProgress: { _, done in onProgress(done) })[0].get()
        }
    }

    /// The same for several inputs at once, their chunks in input order, `batch.batchSize` at
    /// a time across inputs (many short files fill a batch together, as one long file does).
    /// Every input's transcript is the one it gets alone; `onSegment` and `onProgress` name
    /// the input by index. An input whose source throws fails alone (its result), its other
    /// chunks skipped; cancellation and unusable requests throw.
    public func transcribeBatched(_ inputs: [WhisperBatchedInput], options: WhisperOptions, batch: WhisperBatchOptions,
                                  onSegment: (_ input: Int, WhisperSegment) -> Void = { _, _ in },
                                  onProgress: (_ input: Int, _ done: Double) -> Void = { _, _ in })
        throws -> [Result<WhisperTranscript, Error>] {
        try check(options)
        try batch.validate()
        var stop = WhisperTranscribeOptions()
        stop.shouldStop = options.shouldStop
        let rate = Double(LogMelSpectrogram.sampleRate)
        let fixedLanguage = tokenizer.isMultilingual ? options.language : (options.language ?? "en")
        var languages = [String?](repeating: fixedLanguage, count: inputs.count)
        var languageProbabilities = [Float](repeating: 1, count: inputs.count)
        var segments = [[WhisperSegment]](repeating: [], count: inputs.count)
        var lastSpeech = [Double](repeating: 0, count: inputs.count)
        var failures = [Error?](repeating: nil, count: inputs.count)
        // Each input's joined speech, read as far as the chunks taken so far need.
        var readers = inputs.map { ChunkReader(source: $0.source) }
        let work = inputs.indices.flatMap { i in inputs[i].chunks.map { (input: i, chunk: $0) } }
        var next = 0
        while next < work.count {
            // The next batch: chunks whose audio could be read.
            // `encoded`: the chunk's encoder output when language detection already made it.
            var group: [(input: Int, chunk: Range<Int>, features: Tensor, encoded: Tensor?)] = []
            while group.count < batch.batchSize && next < work.count {
                let (i, c) = work[next]
                next += 1
                if failures[i] != nil { continue }
                do {
                    let features = try stages.features.chunk(readers[i].samples(c, stop: stop))
                    var encoded: Tensor?
                    if languages[i] == nil {
                        // faster-whisper detects on the first 30 s of the input's first batch
                        // of chunk features end to end.
                        var first = [features]
                        for later in inputs[i].chunks.dropFirst().prefix(batch.batchSize - 1)
                        where first.reduce(0, { $0 + $1.shape[1] }) < LogMelSpectrogram.nFrames {
                            first.append(try stages.features.chunk(readers[i].samples(later, stop: stop)))
                        }
                        let joined = LogMelSpectrogram.segment(Tensor.concat(first, axis: 1), start: 0)
                        try stop.checkStop()
                        let audio = try stages.encoder.encode(windows: joined.unsqueezed(0))
                        let detected = detectLanguage(audio: audio)
                        (languages[i], languageProbabilities[i]) = (detected.code, detected.probability)
                        // One chunk alone (a short file's speech, or 30 s of it): the very
                        // window the chunk is encoded as below, so its encoding is this one.
                        if first.count == 1 { encoded = audio }
                    }
                    group.append((i, c, features, encoded))
                } catch let e where !(e is CancellationError) && !(e is WhisperError) {
                    failures[i] = e
                    group.removeAll { $0.input == i }
                }
                try stop.checkStop()
                readers[i].release(upTo: c.upperBound)
            }
            if group.isEmpty { continue }
            // Encoded a window at a time (each is 1500 rows already, so batching them gains
            // nothing; one at a time keeps a batch's encoder activations an eighth as large).
            var encoded: [Tensor] = []
            for g in group {
                try stop.checkStop()
                encoded.append(try g.encoded ?? stages.encoder.encode(windows: LogMelSpectrogram.segment(g.features, start: 0).unsqueezed(0)))
            }
            let audio = encoded.count == 1 ? encoded[0] : Tensor.concat(encoded, axis: 0)
            // One decoding per language in the batch (one prompt each), in batch order.
            var decoded = [WhisperDecodedWindow?](repeating: nil, count: group.count)
            var decodeOptions = [WhisperTranscribeOptions?](repeating: nil, count: group.count)
            for language in Set(group.map { languages[$0.input] ?? "en" }).sorted() {
                let rows = group.indices.filter { (languages[group[$0].input] ?? "en") == language }
                var o = transcribeOptions(options, language: language)
                o.decoding.withoutTimestamps = true
                var prompt = sotSequence(language: language, translate: options.translate) + [tokenizer.noTimestamps]
                if let p = options.initialPrompt {
                    prompt = [tokenizer.sotPrev] + Array(tokenizer.encode(p).suffix(model.dims.nTextCtx / 2 - 1)) + prompt
                }
                try stop.checkStop()
                let windows = rows.count == group.count ? audio : Tensor.concat(rows.map { audio.slice(axis: 0, $0..<($0 + 1)) }, axis: 0)
                for (r, d) in zip(rows, try stages.decoder.decode(windows: windows, prompt: prompt, options: o)) {
                    decoded[r] = d
                    decodeOptions[r] = o
                }
            }
            for (row, (i, chunk, _, _)) in group.enumerated() {
                guard let d = decoded[row], let o = decodeOptions[row] else { continue }
                let offset = Double(chunk.lowerBound) / rate, duration = Double(chunk.count) / rate
                let tokens = d.result.tokens
                var current = [WhisperSegment(
                    id: segments[i].count, seek: Int(offset * 100), start: Whisper.round3(offset),
                    end: Whisper.round3(offset + duration), text: tokenizer.decode(tokens.filter { $0 < tokenizer.eot }),
                    tokens: tokens, temperature: options.temperatures.first ?? 0, avgLogprob: d.result.avgLogprob,
                    compressionRatio: d.compressionRatio, noSpeechProb: d.result.noSpeechProb)]
                if let aligner = o.wordAligner {
                    try stop.checkStop()
                    let frames = Int(duration.rounded(.up)) * 100
                    aligner.addWordTimestamps(&current, audio: audio.slice(axis: 0, row..<(row + 1)), frames: frames,
                                              lastSpeech: lastSpeech[i])
                    if let e = current.last?.words.last?.end { lastSpeech[i] = e }
                }
                for s in current {
                    segments[i].append(s)
                    onSegment(i, s)
                }
                onProgress(i, Double(chunk.upperBound) / rate)
            }
        }
        return inputs.indices.map { i in
            if let e = failures[i] { return .failure(e) }
            let total = Double(inputs[i].chunks.last?.upperBound ?? 0) / rate
            var t = WhisperTranscript(language: languages[i] ?? fixedLanguage ?? "en", segments: segments[i], duration: total)
            t.languageProbability = languageProbabilities[i]
            return .success(t)
        }
    }

    /// Python's `round(x, 3)` (correctly rounded, as printf's `%.3f`).
    static func round3(_ x: Double) -> Double {
        guard x.isFinite else { return x }
        return Double(String(format: "%.3f", x)) ?? x
    }
}

/// One input of a batched transcription: its joined speech and the chunks to cut from it
/// (`WhisperBatchOptions.chunks`).
public struct WhisperBatchedInput {
    public var source: WhisperSampleSource
    public var chunks: [Range<Int>]

    public init(source: @escaping WhisperSampleSource, chunks: [Range<Int>]) {
        self.source = source
        self.chunks = chunks
    }
}

/// An input's joined speech, read from its source as far as the chunks asked for need and
/// dropped once they are taken.
struct ChunkReader {
    let source: WhisperSampleSource
    var buffer: [Float] = [], start = 0, ended = false

    init(source: @escaping WhisperSampleSource) { self.source = source }

    /// The samples of `range` (fewer if the source ends first).
    mutating func samples(_ range: Range<Int>, stop: WhisperTranscribeOptions) throws -> [Float] {
        while start + buffer.count < range.upperBound && !ended {
            try stop.checkStop()
            if let more = try source() { buffer += more } else { ended = true }
        }
        return buffered(range)
    }

    private func buffered(_ range: Range<Int>) -> [Float] {
        let lo = min(max(0, range.lowerBound - start), buffer.count), hi = min(max(0, range.upperBound - start), buffer.count)
        return lo < hi ? Array(buffer[lo..<hi]) : []
    }

    /// Forgets the samples before `position`.
    mutating func release(upTo position: Int) {
        let n = min(buffer.count, max(0, position - start))
        buffer.removeFirst(n)
        start += n
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
