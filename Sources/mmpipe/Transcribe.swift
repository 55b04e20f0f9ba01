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
                sink = try TranscriptFiles(directory: URL(fileURLWithPath: outputDir), formats: formats, overwrite: overwrite,
                                           request: task.identity, part: task.request.shard)
            } else if audioStdin {
                sink = LiveTranscriptPrinter(formats: formats)
            } else {
                sink = TranscriptPrinter(formats: formats, headers: !single)
            }
            return try task.run(into: sink, progress: outputDir == nil && (single || audioStdin)
                                    ? runOptions.progressWithoutSummary() : runOptions.progress(),
                                onSegment: verbose)
        }
    }

    func isDirectory(_ p: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: p, isDirectory: &d) && d.boolValue
    }
}

extension WhisperComputeType: ExpressibleByArgument {}
