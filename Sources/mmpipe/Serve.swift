import ArgumentParser
import Engine
import Foundation
import Models
import Server

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the models over HTTP: OpenAI's audio and embeddings API, models, health and metrics.",
        discussion: """
            Endpoints: POST /v1/audio/transcriptions and /v1/audio/translations (OpenAI's \
            multipart form: file, model, language, prompt, response_format json|text|srt|vtt|verbose_json, \
            temperature, timestamp_granularities[], stream), POST /v1/embeddings (input, model, \
            encoding_format float|base64), POST /v1/images/classifications and \
            /v1/images/embeddings (multipart images or videos; see /openapi.json), POST \
            /v1/classifications (texts, with a --head trained on texts: {"head", "input"}), GET \
            /v1/models, GET /health, GET /metrics (Prometheus), GET /openapi.json.

            Models load once (on first use, or at start with --preload) and are shared by every \
            request. Compute runs one request at a time from a queue of --queue places; when it \
            is full the server answers 429 with Retry-After. SIGTERM or Ctrl-C: stop accepting, \
            finish the requests in flight, exit 0; a second one quits at once (status 130).

            Examples:
              mmpipe serve
              mmpipe serve --port 9000 --compute-type int8 --preload tiny.en
              mmpipe serve --head pets=pets.head.safetensors --head sentiment.head.safetensors
              MMPIPE_API_KEY=secret mmpipe serve --host 0.0.0.0
              curl -F file=@Samples/speech.wav -F model=whisper-1 localhost:8080/v1/audio/transcriptions
            """)

    @Option(help: "Address to listen on (default: this machine only).")
    var host = "127.0.0.1"

    @Option(parsing: .unconditional, help: "Port (0: any free port, printed at start).")
    var port = 8080

    @Option(help: "Require 'Authorization: Bearer <key>' on every endpoint but /health (default: MMPIPE_API_KEY, else none).")
    var apiKey: String?

    @Option(help: "The Whisper model that whisper-1 (OpenAI's name) means.")
    var model = TranscribeTask.defaultModel

    @Option(help: "The text model /v1/embeddings uses when a request names none.")
    var embeddingModel = EmbedTask.defaultTextModel

    @Option(help: "How Whisper's matrices are stored: default, float32, float16 or int8.")
    var computeType: WhisperComputeType = .default

    @Option(parsing: .unconditional, help: "Requests waiting or running at once; more get 429.")
    var queue = 16

    @Option(parsing: .unconditional, help: "Largest request body, in MB; a larger one gets 413.")
    var maxBodyMb = 200

    @Option(parsing: .unconditional, help: "Longest a request may take, in seconds (504 after).")
    var timeout: Double = 600

    @Option(parsing: .unconditional, help: "Longest a request's body may take to arrive, in seconds (408 after; default 120 or --timeout if less; at most --timeout).")
    var bodyTimeout: Double?

    @Option(parsing: .upToNextOption, help: "Models to load before the first request (names as `mmpipe models` lists them).")
    var preload: [String] = []

    @Option(help: ArgumentHelp("A head made by `mmpipe train` that requests name by NAME (repeatable; default name: the file's, without .safetensors and .head): images on /v1/images/classifications with head=NAME, texts on /v1/classifications. Its embedding model loads at start.", valueName: "[NAME=]FILE"))
    var head: [String] = []

    @Option(parsing: .unconditional, help: "Compute threads (default: MMPIPE_THREADS or all cores).")
    var threads: Int?

    func run() throws {
        let settings = RunSettings(threads: threads, quiet: true)
        do { try settings.validate() } catch { throw commandError(error) }
        settings.apply()
        var o = ServeOptions()
        o.host = host
        o.port = port
        o.apiKey = apiKey ?? ProcessInfo.processInfo.environment["MMPIPE_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        o.transcriptionModel = model
        o.embeddingModel = embeddingModel
        o.computeType = computeType
        o.queueCapacity = queue
        o.maxBodyBytes = maxBodyMb * (1 << 20)
        o.timeoutSeconds = timeout
        o.bodyTimeoutSeconds = bodyTimeout ?? min(120, timeout)
        o.preload = preload
        o.heads = head.map { spec in
            if let eq = spec.firstIndex(of: "="), eq != spec.startIndex {
                return (String(spec[..<eq]), String(spec[spec.index(after: eq)...]))
            }
            var name = URL(fileURLWithPath: spec).lastPathComponent
            for suffix in [".safetensors", ".head"] where name.hasSuffix(suffix) && name.count > suffix.count { name.removeLast(suffix.count) }
            return (name, spec)
        }
        guard (1...1 << 20).contains(maxBodyMb) else { throw ValidationError("--max-body-mb must be 1 to 1048576") }
        let server: MMPipeServer
        do { server = try MMPipeServer(options: o, store: try ModelStore()) } catch { throw commandError(error) }
        // The server drains on the first SIGTERM / SIGINT (swift-service-lifecycle); this says
        // so, and a second one quits at once, as the other commands do.
        Interrupts.watch {
            Report.log.warning("stopping: no new requests; finishing \(server.requestsInFlight) in flight (press Ctrl-C again to quit at once)")
        }
        let failure = ServeOutcome()
        let done = DispatchSemaphore(value: 0)
        let (host, auth) = (o.host, o.apiKey != nil)
        Task.detached {
            do {
                try await server.run { port in
                    let shown = host.contains(":") ? "[\(host)]" : host     // an IPv6 address in a URL
                    FileHandle.standardError.write(Data("mmpipe: serving on http://\(shown):\(port)\(auth ? " (Bearer key required)" : "")\n".utf8))
                }
            } catch {
                failure.set(error)
            }
            done.signal()
        }
        done.wait()
        if let e = failure.error { throw commandError(e) }
    }
}

/// The error the server stopped with, handed from its task to the command's thread.
private final class ServeOutcome: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Error?
    func set(_ e: Error) { lock.lock(); value = e; lock.unlock() }
    var error: Error? { lock.lock(); defer { lock.unlock() }; return value }
}
