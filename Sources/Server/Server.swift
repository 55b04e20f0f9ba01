import Engine
import Foundation
import Hummingbird
import Logging
import Metrics
import Models
import NIOCore
import Prometheus
import ServiceLifecycle

/// How `mmpipe serve` runs.
public struct ServeOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Bearer key every endpoint but `/health` asks for (nil: none).
    public var apiKey: String?
    /// Largest request body (bytes): a larger one is refused with 413.
    public var maxBodyBytes = 200 << 20
    /// Requests waiting or running at once; more are refused with 429.
    public var queueCapacity = 16
    /// Longest a request may take, from its first byte to its answer (504).
    public var timeoutSeconds: Double = 600
    /// Longest a request's body may take to arrive (408), at most `timeoutSeconds`: a client
    /// that sends slowly holds a queue place no longer than this.
    public var bodyTimeoutSeconds: Double = 120
    /// The Whisper model that `whisper-1` (or no model) means.
    public var transcriptionModel = TranscribeTask.defaultModel
    /// The text model that `/v1/embeddings` uses when asked for none.
    public var embeddingModel = EmbedTask.defaultTextModel
    public var computeType: WhisperComputeType = .default
    /// Models loaded before the first request (names as `mmpipe models` lists them).
    public var preload: [String] = []
    /// Heads made by `mmpipe train` that requests name (`head`), by name; each is read and its
    /// embedding model loaded at start.
    public var heads: [(name: String, path: String)] = []

    public init() {}
}

/// `mmpipe serve`: the application layer's tasks over HTTP. OpenAI's audio transcription and
/// translation and its embeddings endpoints (so its clients work unchanged), the models list,
/// health and Prometheus metrics. Every request becomes the same request the CLI makes
/// (`TranscribeRequest`, `EmbedTask`) on models loaded once; compute runs one job at a time
/// from a bounded queue.
public final class MMPipeServer: @unchecked Sendable {
    let options: ServeOptions
    let models: LoadedModels
    let queue: ComputeQueue
    let registry = PrometheusCollectorRegistry()
    let uploads: URL
    private let logger: Logger

    public init(options: ServeOptions, store: ModelStore, catalog: ModelCatalog = .standard) throws {
        self.options = options
        if let k = options.apiKey, k.isEmpty { throw RequestError("--api-key is empty") }
        guard (1...65_535).contains(options.port) || options.port == 0 else { throw RequestError("port \(options.port) is out of range: use 1 to 65535 (0: any free port)") }
        guard options.queueCapacity >= 1 else { throw RequestError("--queue must be at least 1") }
        guard options.maxBodyBytes >= 1024 else { throw RequestError("--max-body-mb is too small") }
        guard options.timeoutSeconds > 0 else { throw RequestError("--timeout must be above 0 seconds") }
        guard options.bodyTimeoutSeconds > 0, options.bodyTimeoutSeconds <= options.timeoutSeconds else {
            throw RequestError("--body-timeout must be above 0 and at most --timeout (\(Int(options.timeoutSeconds)) s)")
        }
        guard let card = catalog.card(options.transcriptionModel), card.kind == .speech else {
            throw RequestError("\(options.transcriptionModel) is not a speech model; use one of: \(catalog.cards(.speech).map(\.name).joined(separator: ", "))")
        }
        guard catalog.isPresent(card, store: store) else {
            throw RequestError("\(card.name) is not installed: fetch it with scripts/fetch-models \(card.name)")
        }
        var names = Set<String>()
        for (name, _) in options.heads where !names.insert(name).inserted { throw RequestError("--head: two heads are named \(name)") }
        guard let text = catalog.card(options.embeddingModel), text.kind == .text || text.family == "clip" else {
            throw RequestError("--embedding-model \(options.embeddingModel) is not a text model; use one of: \(catalog.cards.filter { $0.kind == .text || $0.family == "clip" }.map(\.name).joined(separator: ", "))")
        }
        models = LoadedModels(store: store, catalog: catalog, computeType: options.computeType)
        queue = ComputeQueue(capacity: options.queueCapacity)
        uploads = FileManager.default.temporaryDirectory.appendingPathComponent("mmpipe-serve-\(getpid())")
        var logger = Logger(label: "mmpipe.serve")
        logger.logLevel = .info
        self.logger = logger
        let depth = registry.makeGauge(name: "mmpipe_queue_depth", help: "Requests waiting for or running on the compute queue")
        queue.onDepth = { depth.set(Int64($0)) }
        let loads = registry.makeCounter(name: "mmpipe_model_loads_total", help: "Models loaded since the server started")
        models.onLoad = { _ in loads.increment() }
    }

    /// Requests waiting for or running on the compute queue.
    public var requestsInFlight: Int { queue.depth }

    /// Serves until SIGTERM or SIGINT: then stops accepting, lets the requests in flight
    /// finish, and returns. `onReady` gets the bound port.
    public func run(onReady: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        try FileManager.default.createDirectory(at: uploads, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: uploads) }
        for name in options.preload { try preload(name) }
        for (name, path) in options.heads { try models.addHead(name, path: path) }
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let router = Router(context: BasicRequestContext.self)
        // Metrics outermost: they count the answer as it leaves, an error turned into its
        // status by the error middleware inside.
        router.middlewares.add(MetricsMiddleware())
        router.middlewares.add(APIErrorMiddleware())
        if let key = options.apiKey { router.middlewares.add(BearerAuthMiddleware(key: key)) }
        routes(router)
        // A connection idle between requests, or stalled inside a request's head, is closed
        // after the body timeout and a little (a stalled body gets its 408 first; a request
        // whose answer is being computed is never idle).
        let idle = TimeAmount.milliseconds(Int64((options.bodyTimeoutSeconds + 5) * 1000))
        let app = Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: idle)),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "mmpipe"),
            onServerRunning: { channel in onReady(channel.localAddress?.port ?? 0) },
            logger: logger)
        do {
            try await app.runService()
        } catch let e as IOError {
            throw ServeError("cannot listen on \(options.host):\(options.port): \(String(cString: strerror(e.errnoCode)))")
        } catch let e as SocketAddressError {
            throw ServeError("cannot listen on \(options.host):\(options.port): \(e)")
        }
    }

    private func preload(_ name: String) throws {
        guard let card = models.catalog.card(name) else {
            throw RequestError("--preload \(name): no such model; models: \(models.catalog.cards.map(\.name).joined(separator: ", "))")
        }
        switch card.kind {
        case .speech: _ = try models.whisper(card.name)
        case .text: _ = try models.textEncoder(card.name)
        case .vad: _ = try models.voiceActivity()
        case .image: _ = try models.imageEncoder(card.name)
        case .zeroShot:
            // CLIP: its image tower, its zero-shot text side and its text tower (/v1/embeddings).
            _ = try models.classifier(card.name, zeroShot: true)
            if card.family == "clip" { _ = try models.textEncoder(card.name) }
        }
    }

    func routes(_ router: Router<BasicRequestContext>) {
        router.get("health") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: .init(byteBuffer: ByteBuffer(string: "{\"status\":\"ok\",\"queue\":\(self.queue.depth)}")))
        }
        router.get("metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(bytes: self.registry.emitToBuffer())))
        }
        router.get("v1/models") { _, _ in try self.json(ModelList(self.models)) }
        router.get("v1/models/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            let list = ModelList(self.models)
            guard let entry = list.data.first(where: { $0.id == id }) else { throw self.models.unknown(id, known: list.data.map(\.id)) }
            return try self.json(entry)
        }
        router.post("v1/audio/transcriptions") { request, _ in try await self.transcribe(request, translate: false) }
        router.post("v1/audio/translations") { request, _ in try await self.transcribe(request, translate: true) }
        router.post("v1/embeddings") { request, _ in try await self.embeddings(request) }
        router.post("v1/images/classifications") { request, _ in try await self.classifications(request) }
        router.post("v1/classifications") { request, _ in try await self.textClassifications(request) }
        router.post("v1/images/embeddings") { request, _ in try await self.imageEmbeddings(request) }
        router.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: OpenAPI.document)))
        }
    }

    // MARK: bodies

    /// A compute request: a place in the queue first (429 before its body is read when the
    /// queue is full), then its body, then `body`'s answer; the place is given back however
    /// the request ends (unless a streamed answer took it over). The connection is closed
    /// after the answer (watching for the client going away reads the connection past the
    /// request), and the answer says so, so that a client does not send its next request on it.
    /// `control` stops the request's job (its client going away, its time running out).
    func compute(_ request: Request,
                 _ body: @escaping @Sendable (ByteBuffer, ComputeQueue.Place, JobControl) async throws -> Response) async throws -> Response {
        let control = JobControl()
        let limit = options.maxBodyBytes, timeout = min(options.timeoutSeconds, options.bodyTimeoutSeconds)
        var response: Response
        do {
            let place = try queue.admit()
            defer { if !place.handedOver { place.giveBack() } }
            // Once a streamed answer has begun, its writer watches for the client instead.
            response = try await withBodyCollected(request, limit: limit, timeout: timeout,
                                                   onClose: { if !place.handedOver { control.cancel() } }) { data in
                try await body(data, place, control)
            }
        } catch {
            response = APIError.response(for: error, request: request)
        }
        response.headers[.connection] = "close"
        return response
    }

    /// The same for a `multipart/form-data` request: its parsed form.
    func computeForm(_ request: Request,
                     _ body: @escaping @Sendable (FormData, ComputeQueue.Place, JobControl) async throws -> Response) async throws -> Response {
        let contentType = request.headers[.contentType]
        return try await compute(request) { data, place, control in
            try await body(try FormData(contentType: contentType, body: data), place, control)
        }
    }

    /// The request's body, at most `limit` bytes (413) and within `timeout` seconds (408), then
    /// `body`'s answer; `onClose` is called if the client goes away meanwhile.
    private func withBodyCollected(_ request: Request, limit: Int, timeout: Double, onClose: @escaping @Sendable () -> Void,
                                   _ body: @escaping @Sendable (ByteBuffer) async throws -> Response) async throws -> Response {
        let tooLarge = APIError(.contentTooLarge, "The request body is over this server's limit of \(limit / (1 << 20)) MB",
                                code: "request_too_large")
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit { throw tooLarge }
        return try await request.body.consumeWithInboundCloseHandler({ stream in
            let buffer = try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
                group.addTask {
                    do {
                        return try await stream.collect(upTo: limit)
                    } catch let e as HTTPError where e.status == .contentTooLarge {
                        throw tooLarge
                    } catch is NIOTooManyBytesError {
                        throw tooLarge
                    } catch let e where !(e is CancellationError) && !(e is APIError) {
                        throw APIError.badRequest("The request body could not be read whole (it ended before its Content-Length?): \(e)")
                    }
                }
                group.addTask {
                    try await Task.sleep(nanoseconds: UInt64(timeout * 1e9))
                    return nil
                }
                let first = try await group.next()!
                group.cancelAll()
                guard let b = first else {
                    throw APIError(.requestTimeout, "The request body did not arrive within \(Int(timeout)) s", code: "timeout")
                }
                return b
            }
            return try await body(buffer)
        }, onInboundClosed: onClose)
    }

    func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let e = JSONEncoder()
        e.outputFormatting = [.withoutEscapingSlashes]
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: try e.encode(value))))
    }

    func text(_ value: String, type: String = "text/plain; charset=utf-8") -> Response {
        Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: value)))
    }
}

/// OpenAI's models list: every model whose weights this server has, by its name and its
/// aliases, and `whisper-1`.
struct ModelList: Encodable {
    struct Entry: Encodable {
        let id: String
        let object = "model"
        let created = 0
        let owned_by: String
    }
    let object = "list"
    let data: [Entry]

    init(_ models: LoadedModels) {
        data = models.catalog.cards.filter { models.installed($0) }.flatMap { card in
            ([card.name] + card.aliases).map { Entry(id: $0, owned_by: "mmpipe") }
        } + [Entry(id: "whisper-1", owned_by: "mmpipe")]
    }
}

/// The server could not run (its address taken or unknown).
public struct ServeError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ d: String) { description = d }
}
