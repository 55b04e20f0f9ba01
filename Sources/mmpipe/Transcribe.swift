import ArgumentParser
import Foundation
import Media
import Models
import Engine
import TensorCore

struct Transcribe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Transcribe speech in audio and video files with Whisper.",
        discussion: """
            Audio and video files alike (the audio track is used); long files are transcribed \
            in consecutive 30 s windows as openai-whisper does (beam search, temperature \
            fallback, timestamps, conditioning on the previous text).

            With one input and no --output-dir the transcript goes to standard output. With \
            --output-dir, each input gets <name>.<format> files there (written atomically), \
            and running the same command again skips inputs already transcribed.

            Examples:
              mmpipe transcribe Samples/speech.wav
              mmpipe transcribe talk.mp4 --format srt
              mmpipe transcribe meeting.mp3 --vad --word-timestamps --format json
              mmpipe transcribe recordings/ --compute-type int8 --output-dir transcripts/
              mmpipe transcribe lecture.mp3 --batch-size 8 --compute-type int8 --format srt
              mmpipe transcribe recordings/ --model base --format all --output-dir transcripts/
              ffmpeg -i rtsp://camera/stream -f wav - | mmpipe transcribe --audio-stdin
              ffmpeg -i talk.mkv -f s16le -ac 1 -ar 16000 - | mmpipe transcribe --audio-stdin --raw

            --vad transcribes only the speech (Silero VAD v6, faster-whisper's vad_filter): \
            silence, music and noise are not decoded, so they give no hallucinated text, and \
            long gaps cost nothing; segment and word times are those of the recording.

            --batch-size N transcribes as faster-whisper's BatchedInferencePipeline: the speech \
            (Silero VAD: regions of at most 30 s, 160 ms of silence ends one unless the VAD \
            flags say otherwise) in chunks of up to 30 s, N chunks encoded and decoded together. \
            Faster on long files; each chunk is decoded alone (no previous text, no timestamps \
            inside a chunk, beam search at temperature 0 without fallback), so each chunk is one \
            segment.

            --audio-stdin transcribes the stream as a file (the same windows and seeking) and \
            prints each segment as soon as it is final (txt, srt, vtt, tsv); with --output-dir \
            it is written as stdin.<format>. Ctrl-C stops a transcription at the next window: \
            files not finished are transcribed on the next run; a second Ctrl-C quits at once.
            """)

    @Argument(help: "Audio or video files, directories, or - for a list of paths on stdin.")
    var inputs: [String] = []

    @Option(help: "Whisper model: tiny.en (default, alias of whisper-tiny.en) or base (whisper-base), or a folder with model.bin / model.safetensors.")
    var model: String = TranscribeTask.defaultModel

    @Option(help: "Spoken language (e.g. en, de, French), or auto to detect it (multilingual models).")
    var language: String = "auto"

    @Option(help: "How the model's matrices are stored and multiplied (CTranslate2's names): default (as stored: float16 where a decoding step reads them, float32 math), float32, float16, or int8 (quantised per output channel: faster, slightly different numbers).")
    var computeType: WhisperComputeType = .default

    enum Task: String, ExpressibleByArgument, CaseIterable { case transcribe, translate }

    @Option(help: "transcribe, or translate (to English; multilingual models).")
    var task: Task = .transcribe

    @Option(parsing: .unconditional, help: "Beams for beam search at temperature 0 (1 = greedy).")
    var beamSize: Int = 5

    @Option(parsing: .unconditional, help: "Candidates sampled at each non-zero temperature.")
    var bestOf: Int = 5

    @Option(parsing: .unconditional, help: "Beam search patience (1.0 = stop when beam-size sequences finished).")
    var patience: Float?

    @Option(parsing: .unconditional, help: "Temperature of the first attempt.")
    var temperature: Float = 0

    @Option(parsing: .unconditional, help: "Temperature added on each fallback (0 = no fallback).")
    var temperatureIncrement: Float = 0.2

    @Option(parsing: .unconditional, help: ArgumentHelp("Fall back to a higher temperature when a window's text compresses (zlib) by more than this (repeats); openai-whisper's default 2.4. none: never.", valueName: "ratio"))
    var compressionRatioThreshold: String = "2.4"

    @Option(parsing: .unconditional, help: ArgumentHelp("Fall back when a window's average log-probability is below this; openai-whisper's default -1. none: never.", valueName: "logprob"))
    var logprobThreshold: String = "-1"

    @Option(parsing: .unconditional, help: ArgumentHelp("A window whose no-speech probability is above this (and whose log-probability is below --logprob-threshold) is silence; default 0.6. none: never.", valueName: "p"))
    var noSpeechThreshold: String = "0.6"

    @Option(parsing: .unconditional, help: ArgumentHelp("Comma-separated token ids never produced; -1 (the default) stands for the non-speech symbols, \"\" for none (special tokens are always suppressed).", valueName: "ids"))
    var suppressTokens: String = "-1"

    @Option(help: "Text to condition the first window on (names, spelling, style).")
    var initialPrompt: String?

    @Flag(inversion: .prefixedEnableDisable, help: "Give the previous window's text as a prompt to the next.")
    var conditionOnPreviousText = true

    enum Format: String, ExpressibleByArgument, CaseIterable { case txt, srt, vtt, json, tsv, all }

    @Option(help: "Output format: txt, srt, vtt, json, tsv, or all.")
    var format: Format = .txt

    @Option(name: [.customShort("o"), .long], help: "Write <name>.<format> files here (one per input and format).")
    var outputDir: String?

    @Flag(help: "Transcribe again inputs already done in --output-dir.")
    var overwrite = false

    @Flag(help: "Read audio from standard input (WAV or any stream FFmpeg demuxes) and print each segment as soon as it is final.")
    var audioStdin = false

    @Flag(help: "With --audio-stdin: standard input is headerless PCM, signed 16-bit little-endian (ffmpeg -f s16le).")
    var raw = false

    @Option(help: ArgumentHelp("With --raw: samples per second of the PCM (resampled to 16000).", valueName: "Hz"))
    var sampleRate: Int?

    @Option(help: ArgumentHelp("With --raw: interleaved channels of the PCM (mixed down to mono).", valueName: "n"))
    var channels: Int?

    @Flag(help: "Print each segment on standard error as soon as it is final ([00:00.000 --> 00:04.000] text).")
    var verbose = false

    @Flag(help: "Word-level timestamps (JSON 'words') from the alignment heads' cross-attention.")
    var wordTimestamps = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Skip silences longer than this many seconds around a likely hallucination (computes word timestamps).",
                               valueName: "seconds"))
    var hallucinationSilenceThreshold: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("srt, vtt (needs --word-timestamps): characters in a line before it breaks (openai-whisper's writers).", valueName: "n"))
    var maxLineWidth: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("srt, vtt (needs --word-timestamps, with --max-line-width): lines in a cue.", valueName: "n"))
    var maxLineCount: Int?

    @Flag(help: "srt, vtt (needs --word-timestamps): underline each word as it is spoken.")
    var highlightWords = false

    @Option(parsing: .unconditional, help: ArgumentHelp("srt, vtt (needs --word-timestamps; no effect with --max-line-width): words in a cue.", valueName: "n"))
    var maxWordsPerLine: Int?

    var subtitles: SubtitleOptions {
        SubtitleOptions(maxLineWidth: maxLineWidth, maxLineCount: maxLineCount, highlightWords: highlightWords, maxWordsPerLine: maxWordsPerLine)
    }

    @Flag(help: "Transcribe only the speech Silero VAD finds, joined as faster-whisper's vad_filter does (times stay those of the recording); tuned by the VAD flags below.")
    var vad = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Batched transcription: chunks of speech up to 30 s, this many encoded and decoded together (faster-whisper's BatchedInferencePipeline; uses the VAD).", valueName: "n"))
    var batchSize: Int?

    @OptionGroup(title: "Voice-activity detection (with --vad or --batch-size)") var vadFlags: VADFlags

    @OptionGroup var runOptions: RunOptions
    @OptionGroup var sharding: ShardOptions

    var formats: [TranscriptFormat] {
        format == .all ? TranscriptFormat.allCases : [TranscriptFormat(rawValue: format.rawValue)].compactMap { $0 }
    }

    func validate() throws {
        if audioStdin && !inputs.isEmpty { throw ValidationError("--audio-stdin reads standard input: give no input files with it") }
        if !audioStdin && inputs.isEmpty { throw ValidationError("give at least one file, directory or - (or --audio-stdin)") }
        if raw && !audioStdin { throw ValidationError("--raw describes standard input: use it with --audio-stdin") }
        if !raw && (sampleRate != nil || channels != nil) {
            throw ValidationError("--sample-rate and --channels describe raw PCM: use them with --audio-stdin --raw")
        }
        if vadFlags.given && !vad && batchSize == nil {
            throw ValidationError("the VAD flags tune --vad: add --vad to transcribe only the speech")
        }
        if batchSize != nil && vadFlags.maxSpeechDurationS != nil {
            throw ValidationError("--batch-size cuts the speech into chunks of up to 30 s: drop --max-speech-duration-s")
        }
        if language != "auto" && WhisperTokenizer.languageCode(for: language) == nil {
            throw ValidationError("unknown language '\(language)'")
        }
        if !subtitles.isDefault {
            if !wordTimestamps {
                throw ValidationError("--max-line-width, --max-line-count, --highlight-words and --max-words-per-line cut subtitles at words: add --word-timestamps")
            }
            if audioStdin { throw ValidationError("subtitles are shaped over a whole transcript: --max-line-width and the like are not for --audio-stdin") }
            do { try subtitles.validate() } catch let e as RequestError { throw ValidationError(e.description) }
            if maxLineCount != nil && maxLineWidth == nil { Report.log.warning("--max-line-count has no effect without --max-line-width") }
            if maxWordsPerLine != nil && maxLineWidth != nil { Report.log.warning("--max-words-per-line has no effect with --max-line-width") }
        }
        if format == .all && outputDir == nil {
            throw ValidationError("--format all writes a file per format: give --output-dir (standard output takes one format)")
        }
        if sharding.shard != nil && (outputDir == nil || audioStdin) {
            throw ValidationError("--shard writes each part's transcripts to files: give --output-dir (and files, not --audio-stdin)")
        }
    }

    /// The options as the engine's request.
    func request() throws -> TranscribeRequest {
        var r = WhisperSession.Request()
        r.language = language == "auto" ? nil : WhisperTokenizer.languageCode(for: language)
        r.translate = task == .translate
        r.beamSize = beamSize
        r.bestOf = bestOf
        r.patience = patience
        r.temperatures = temperatureIncrement > 0
            ? Array(stride(from: temperature, through: 1.0 + 1e-6, by: temperatureIncrement))
            : [temperature]
        r.initialPrompt = initialPrompt
        r.compressionRatioThreshold = try Self.threshold(compressionRatioThreshold, "--compression-ratio-threshold")
        r.logprobThreshold = try Self.threshold(logprobThreshold, "--logprob-threshold").map(Float.init)
        r.noSpeechThreshold = try Self.threshold(noSpeechThreshold, "--no-speech-threshold").map(Float.init)
        r.suppressTokens = try Self.tokens(suppressTokens)
        r.conditionOnPreviousText = conditionOnPreviousText
        r.wordTimestamps = wordTimestamps
        r.hallucinationSilenceThreshold = hallucinationSilenceThreshold
        let pcm = raw ? RawPCMFormat(sampleRate: sampleRate ?? 16_000, channels: channels ?? 1) : nil
        // Batched: the VAD flags over the batched pipeline's own defaults.
        let vadOptions = batchSize != nil ? vadFlags.options(over: WhisperBatchOptions.vadOptions(nil))
            : vad ? vadFlags.options : nil
        var request = TranscribeRequest(input: audioStdin ? .live(fileDescriptor: STDIN_FILENO, name: "stdin", raw: pcm) : .files(inputs),
                                        model: model, options: r, vad: vadOptions, computeType: computeType,
                                        batch: batchSize.map { WhisperBatchOptions(batchSize: $0) })
        request.shard = try sharding.resolve()
        return request
    }

    func run() throws {
        let single = inputs.count == 1 && inputs[0] != "-" && !isDirectory(inputs[0])
        var verbose: SegmentObserver? = nil
        if self.verbose {
            verbose = { segment, _ in Engine.Console.standardError.line(verboseSegmentLine(segment)) }
        }
        try runOptions.execute(load: { try TranscribeTask(request(), store: try ModelStore()) }) { task in
            let sink: any ResultSink<TranscriptRecord>
            if let outputDir {
                let files = try TranscriptFiles(directory: URL(fileURLWithPath: outputDir), formats: formats, overwrite: overwrite,
                                                request: RequestIdentity(task.identity.fields + subtitles.fields), part: task.request.shard)
                files.subtitles = subtitles
                sink = files
            } else if audioStdin {
                sink = LiveTranscriptPrinter(formats: formats)
            } else {
                let printer = TranscriptPrinter(formats: formats, headers: !single)
                printer.subtitles = subtitles
                sink = printer
            }
            return try task.run(into: sink, progress: outputDir == nil && (single || audioStdin)
                                    ? runOptions.progressWithoutSummary() : runOptions.progress(),
                                onSegment: verbose)
        }
    }

    /// A threshold option: a number, or `none` (openai-whisper's None: the check is off).
    static func threshold(_ text: String, _ flag: String) throws -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.lowercased() == "none" { return nil }
        guard let v = Double(t), v.isFinite else { throw ValidationError("\(flag) takes a number or none, not '\(text)'") }
        return v
    }

    /// `--suppress-tokens`: comma-separated ids (-1: the non-speech symbols); "" for none.
    static func tokens(_ text: String) throws -> [Int] {
        try text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map {
            guard let id = Int($0) else { throw ValidationError("--suppress-tokens takes comma-separated token ids (and -1), not '\($0)'") }
            return id
        }
    }

    func isDirectory(_ p: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: p, isDirectory: &d) && d.boolValue
    }
}

extension WhisperComputeType: ExpressibleByArgument {}
