import Engine
import Foundation
import HTTPTypes
import Hummingbird
import Models
import NIOCore

/// `POST /v1/audio/transcriptions` and `/v1/audio/translations`: OpenAI's multipart form
/// onto a `TranscribeRequest` for the uploaded file.
extension MMPipeServer {
    enum ResponseFormat: String, CaseIterable {
        case json, text, srt, vtt
        case verboseJSON = "verbose_json"
    }

    /// What the form asks for, checked.
    struct TranscriptionForm {
        var model: String
        var request: TranscribeRequest
        var format: ResponseFormat
        var words: Bool
        var stream: Bool
        var filename: String
        var audio: ByteBuffer
    }

    func transcriptionForm(_ form: FormData, translate: Bool) throws -> TranscriptionForm {
        guard let file = form.field("file") else {
            let names = form.parts.map { "'\($0.name)'" }.joined(separator: ", ")
            throw APIError.badRequest("Missing the 'file' field (the audio, as a file upload); the form has \(names)", param: "file")
        }
        guard file.body.readableBytes > 0 else {
            throw APIError.badRequest("The uploaded file '\(file.filename ?? "file")' is empty", param: "file")
        }
        guard let asked = form.text("model") else {
            throw APIError.badRequest("Missing the 'model' field (whisper-1 means \(options.transcriptionModel))", param: "model")
        }
        let speech = models.names { $0.kind == .speech }
        let model = asked == "whisper-1" ? options.transcriptionModel : asked
        guard speech.contains(model) else { throw models.unknown(asked, known: ["whisper-1"] + speech) }

        var o = WhisperSession.Request()
        o.translate = translate
        if let l = form.text("language") {
            guard let code = WhisperTokenizer.languageCode(for: l) else {
                throw APIError.badRequest("language '\(l)' is not a language Whisper knows (ISO-639-1, e.g. en, fr, de)", param: "language")
            }
            o.language = code
        }
        if let p = form.text("prompt") { o.initialPrompt = p }
        if let t = form.text("temperature") {
            guard let v = Float(t), v.isFinite, (0...1).contains(v) else {
                throw APIError.badRequest("temperature '\(t)' is not a number from 0 to 1", param: "temperature")
            }
            // 0 (OpenAI's default): start at 0 and raise it when a window fails its checks;
            // above 0: sample at that temperature.
            if v > 0 { o.temperatures = [v] }
        }
        let formatName = form.text("response_format") ?? "json"
        guard let format = ResponseFormat(rawValue: formatName) else {
            throw APIError.badRequest("response_format '\(formatName)' is not one of \(ResponseFormat.allCases.map(\.rawValue).joined(separator: ", "))",
                                      param: "response_format")
        }
        var words = false
        for g in form.fields("timestamp_granularities[]") + form.fields("timestamp_granularities") {
            switch g.text.trimmingCharacters(in: .whitespaces) {
            case "word": words = true
            case "segment": break
            default:
                throw APIError.badRequest("timestamp_granularities '\(g.text)' is not word or segment", param: "timestamp_granularities[]")
            }
        }
        o.wordTimestamps = words
        let stream: Bool
        switch form.text("stream")?.lowercased() {
        case nil, "false": stream = false
        case "true": stream = true
        case let s?: throw APIError.badRequest("stream '\(s)' is not true or false", param: "stream")
        }
        let name = file.filename.map { ($0 as NSString).lastPathComponent }.flatMap { $0.isEmpty ? nil : $0 } ?? "audio"
        return TranscriptionForm(model: model, request: TranscribeRequest(input: .files([]), model: model, options: o, computeType: options.computeType),
                                 format: format, words: words, stream: stream, filename: name, audio: file.body)
    }

    func transcribe(_ request: Request, translate: Bool) async throws -> Response {
        try await computeForm(request) { parts, place, control in
            let form = try self.transcriptionForm(parts, translate: translate)
            let folder = self.uploads.appendingPathComponent(UUID().uuidString)
            let path = folder.appendingPathComponent(Self.safeName(form.filename))
            do {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                try Data(buffer: form.audio).write(to: path)
            } catch {
                throw APIError(.internalServerError, "Could not keep the upload: \(error)", type: "server_error")
            }
            let cleanup: @Sendable () -> Void = { try? FileManager.default.removeItem(at: folder) }
            var r = form.request
            r.input = .files([path.path])
            let request = r
            if form.stream {
                return try await self.streamTranscription(request, form: form, place: place, control: control, cleanup: cleanup)
            }
            defer { cleanup() }
            let transcript = try await self.queue.run(place, lane: .speech, control: control, timeout: self.options.timeoutSeconds) { control in
                try self.runTranscription(request, filename: form.filename, control: control, onSegment: nil)
            }
            return try self.render(transcript, form: form, task: translate ? "translate" : "transcribe")
        }
    }

    /// The transcription of one uploaded file, as the CLI makes it; a bad file is a 400 that
    /// names it and says what is wrong.
    func runTranscription(_ request: TranscribeRequest, filename: String, control: JobControl,
                          onSegment: SegmentObserver?) throws -> WhisperSession.Transcript {
        let session: WhisperSession
        do { session = try models.whisper(request.model) } catch {
            throw APIError(.internalServerError, "Could not load \(request.model): \(ErrorText.describe(error))", type: "server_error")
        }
        let task: TranscribeTask
        do {
            task = try TranscribeTask(request, session: session, vadSession: request.vadInEffect == nil ? nil : try models.voiceActivity())
        } catch let e as RequestError {
            throw APIError.badRequest(e.description)
        }
        let sink = CollectingSink<TranscriptRecord>()
        _ = try task.run(into: sink, progress: Progress(mode: .quiet), onSegment: onSegment, control: control)
        guard let result = sink.results.first?.result else {
            if control.isCancelled { throw CancellationError() }
            throw APIError.badRequest("'\(filename)' is not audio or video this server can read")
        }
        switch result {
        case .success(let t): return t
        case .failure(let f) where f.interrupted: throw CancellationError()
        case .failure(let f): throw APIError.badRequest("'\(filename)': \(f.reason)", param: "file")
        }
    }

    /// A file name for the upload on disk: its last component, letters, digits, `.-_` only.
    static func safeName(_ name: String) -> String {
        let kept = String(name.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0) ? Character($0) : "_" })
        let trimmed = kept.trimmingCharacters(in: CharacterSet(charactersIn: "."))
        return trimmed.isEmpty ? "audio" : String(trimmed.suffix(120))
    }

    /// The transcript in the asked format. What the CLI warns of (a truncated file) is in the
    /// answer too: a `warnings` array in the JSON formats, an `X-Mmpipe-Warning` header in
    /// every format.
    func render(_ t: WhisperSession.Transcript, form: TranscriptionForm, task: String) throws -> Response {
        var response: Response
        switch form.format {
        case .json: response = try json(PlainTranscription(text: t.text.trimmingCharacters(in: .whitespaces), warnings: t.warnings.isEmpty ? nil : t.warnings))
        case .text: response = text(t.text.trimmingCharacters(in: .whitespaces) + "\n")
        case .srt: response = text(TranscriptFormat.srt.render(t), type: "application/x-subrip; charset=utf-8")
        case .vtt: response = text(TranscriptFormat.vtt.render(t), type: "text/vtt; charset=utf-8")
        case .verboseJSON: response = try json(VerboseTranscription(t, task: task, words: form.words))
        }
        for w in t.warnings { response.headers.append(HTTPField(name: Self.warningHeader, value: "'\(form.filename)': \(w)")) }
        return response
    }

    static let warningHeader = HTTPField.Name("X-Mmpipe-Warning")!

    /// `stream=true`: server-sent events as segments are final, OpenAI's
    /// `transcript.text.delta` (each with its segment's times) and a closing
    /// `transcript.text.done`. The answer's head waits for the first event: a request that
    /// fails before its first segment (bad media, a full queue's wait ending in a timeout) is
    /// answered with its HTTP error as without `stream`; a failure after it is an `error`
    /// event. From then on the body's writer watches for the client going away (its job
    /// stops at the next segment).
    func streamTranscription(_ request: TranscribeRequest, form: TranscriptionForm, place: ComputeQueue.Place, control: JobControl,
                             cleanup: @escaping @Sendable () -> Void) async throws -> Response {
        enum Event: Sendable { case bytes(ByteBuffer), failed(APIError) }
        let (events, sink) = AsyncStream<Event>.makeStream()
        let run = Task {
            defer { cleanup() }
            do {
                let t = try await queue.run(place, lane: .speech, control: control, timeout: options.timeoutSeconds) { control in
                    try self.runTranscription(request, filename: form.filename, control: control) { s, _ in
                        sink.yield(.bytes(Self.event(StreamDelta(s))))
                    }
                }
                sink.yield(.bytes(Self.event(StreamDone(text: t.text.trimmingCharacters(in: .whitespaces)))))
            } catch let e as APIError {
                sink.yield(.failed(e))
            } catch is CancellationError {
                sink.yield(.failed(APIError(.init(code: 499, reasonPhrase: "Client Closed Request"), "The request was cancelled")))
            } catch {
                sink.yield(.failed(APIError(.internalServerError, "\(error)", type: "server_error")))
            }
            sink.finish()
        }
        var iterator = events.makeAsyncIterator()
        // The request's own cancellation (its client left while it waited) stops the job.
        let first = await withTaskCancellationHandler { await iterator.next() } onCancel: { control.cancel() }
        switch first {
        case .failed(let e)?: throw e
        case nil: throw CancellationError()
        case .bytes(let head)?:
            place.handedOver = true       // the place is the running job's now; the writer watches the client
            let rest = UncheckedIterator(iterator)
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                            body: .init { writer in
                                do {
                                    try await writer.write(head)
                                    while let e = await rest.next() {
                                        switch e {
                                        case .bytes(let b): try await writer.write(b)
                                        case .failed(let f):
                                            try await writer.write(Self.event(StreamError(error: f.object)))
                                        }
                                    }
                                    try await writer.finish(nil)
                                } catch {
                                    control.cancel()    // the client went away
                                    run.cancel()
                                    throw error
                                }
                            })
        }
    }

    static func event<T: Encodable>(_ value: T) -> ByteBuffer {
        let data = (try? JSONEncoder().encode(value)) ?? Data("{}".utf8)
        return ByteBuffer(string: "data: \(String(decoding: data, as: UTF8.self))\n\n")
    }
}

struct StreamDelta: Encodable {
    struct Segment: Encodable { let id: Int, start: Double, end: Double, text: String }
    let type = "transcript.text.delta"
    let delta: String
    let segment: Segment
    init(_ s: WhisperSegment) {
        delta = s.text
        segment = Segment(id: s.id, start: JSONValue.seconds(s.start), end: JSONValue.seconds(s.end), text: s.text)
    }
}

struct StreamDone: Encodable {
    let type = "transcript.text.done"
    let text: String
}

/// An async iterator handed to the one task that reads it.
final class UncheckedIterator<I: AsyncIteratorProtocol>: @unchecked Sendable where I.Element: Sendable {
    private var iterator: I
    init(_ iterator: I) { self.iterator = iterator }
    func next() async -> I.Element? { try? await iterator.next() }
}

struct StreamError: Encodable {
    let type = "error"
    let error: APIError.Object
}

/// OpenAI's `json`: the text (and `warnings` when the file has something wrong with it).
struct PlainTranscription: Encodable {
    let text: String
    let warnings: [String]?
}

/// OpenAI's `verbose_json`: task, language (its English name), duration, text, segments and,
/// with `timestamp_granularities[]=word`, words.
struct VerboseTranscription: Encodable {
    struct Segment: Encodable {
        let id: Int, seek: Int, start: Double, end: Double, text: String, tokens: [Int]
        let temperature: Double, avg_logprob: Double, compression_ratio: Double, no_speech_prob: Double
    }
    struct Word: Encodable { let word: String, start: Double, end: Double }
    let task: String, language: String, duration: Double, text: String
    let segments: [Segment]
    let words: [Word]?
    let warnings: [String]

    init(_ t: WhisperSession.Transcript, task: String, words withWords: Bool) {
        warnings = t.warnings
        self.task = task
        language = WhisperTokenizer.languages.first { $0.code == t.language }?.name ?? t.language
        duration = JSONValue.seconds(t.duration)
        text = t.text.trimmingCharacters(in: .whitespaces)
        segments = t.segments.map { s in
            Segment(id: s.id, seek: s.seek, start: JSONValue.seconds(s.start), end: JSONValue.seconds(s.end), text: s.text, tokens: s.tokens,
                    temperature: JSONValue.decimal(s.temperature), avg_logprob: JSONValue.decimal(s.avgLogprob), compression_ratio: s.compressionRatio,
                    no_speech_prob: JSONValue.decimal(s.noSpeechProb))
        }
        words = withWords ? t.segments.flatMap { $0.words.map { Word(word: $0.word.trimmingCharacters(in: .whitespaces), start: JSONValue.seconds($0.start), end: JSONValue.seconds($0.end)) } } : nil
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(task, forKey: .task)
        try c.encode(language, forKey: .language)
        try c.encode(duration, forKey: .duration)
        try c.encode(text, forKey: .text)
        try c.encode(segments, forKey: .segments)
        if let words { try c.encode(words, forKey: .words) }
        if !warnings.isEmpty { try c.encode(warnings, forKey: .warnings) }
    }
    enum CodingKeys: String, CodingKey { case task, language, duration, text, segments, words, warnings }
}

/// Seconds to the millisecond (times mapped back onto a recording carry float noise).
