import Engine
import Foundation
import Models

/// The models a server has loaded, shared by every request: each is loaded once, on first
/// use (or at start with `--preload`), on the compute queue, and kept.
final class LoadedModels: @unchecked Sendable {
    let store: ModelStore
    let catalog: ModelCatalog
    let computeType: WhisperComputeType
    private let lock = NSLock()
    private var speech: [String: WhisperSession] = [:]
    private var vad: VADSession?
    private var text: [String: EmbedTask.TextEncoder] = [:]
    /// Called with a model's registered name each time one is loaded.
    var onLoad: @Sendable (String) -> Void = { _ in }

    init(store: ModelStore, catalog: ModelCatalog, computeType: WhisperComputeType) {
        self.store = store
        self.catalog = catalog
        self.computeType = computeType
    }

    /// The Whisper model registered as `name` (a card's name or alias).
    func whisper(_ name: String) throws -> WhisperSession {
        guard let card = catalog.card(name), card.kind == .speech else { throw RequestError("\(name) is not a speech model") }
        lock.lock(); defer { lock.unlock() }
        if let s = speech[card.name] { return s }
        let s = try WhisperSession(model: card.name, store: store, catalog: catalog, computeType: computeType)
        speech[card.name] = s
        onLoad(card.name)
        return s
    }

    func voiceActivity() throws -> VADSession {
        lock.lock(); defer { lock.unlock() }
        if let v = vad { return v }
        let v = try VADSession(store: store, catalog: catalog)
        vad = v
        onLoad(VADSession.defaultModel)
        return v
    }

    /// The text encoder registered as `name` (a text model, or a CLIP model's text tower).
    func textEncoder(_ name: String) throws -> EmbedTask.TextEncoder {
        let key = catalog.card(name)?.name ?? name
        lock.lock(); defer { lock.unlock() }
        if let e = text[key] { return e }
        let e = try EmbedTask.textEncoder(key, store: store, catalog: catalog)
        text[key] = e
        onLoad(key)
        return e
    }

    private var vision: [String: VisionSession] = [:]
    private var zeroShotModels: [String: ClassifierModels] = [:]

    /// The image encoder registered as `name` (its own weights, fetched into the store).
    func imageEncoder(_ name: String) throws -> VisionSession {
        let key = catalog.card(name)?.name ?? name
        lock.lock(); defer { lock.unlock() }
        if let v = vision[key] { return v }
        let v = try VisionSession(model: key, weights: nil, store: store, catalog: catalog)
        vision[key] = v
        onLoad(key)
        return v
    }

    /// What a classification with `model` needs: its own classes, or (`zeroShot`) the zero-shot
    /// model `model` (nil: an installed CLIP, else lite0-minilm).
    func classifier(_ model: String?, zeroShot: Bool) throws -> ClassifierModels {
        if !zeroShot { return .imageNet(try imageEncoder(model ?? ClassifyTask.defaultModel)) }
        let key = model.flatMap { catalog.card($0)?.name } ?? model ?? "default"
        lock.lock(); defer { lock.unlock() }
        if let m = zeroShotModels[key] { return m }
        let m = try ClassifierModels.load(model: model, weights: nil, zeroShot: true, store: store, catalog: catalog)
        zeroShotModels[key] = m
        onLoad(m.name)
        return m
    }

    private var heads: [String: (path: String, models: ClassifierModels)] = [:]

    /// Reads the head at `path` (made by `mmpipe train`) and loads the embedding model it was
    /// trained on, checking that it is that model (the sha256 of its weights); requests name it.
    func addHead(_ name: String, path: String) throws {
        let head = try ClassificationHead(path: path)
        let models: ClassifierModels
        if head.text {
            let encoder = try textEncoder(head.embeddingCard)
            try head.check(model: encoder.name, weights: encoder.weights, headPath: path)
            models = .textHead(encoder, head)
        } else {
            let vision = try imageEncoder(head.embeddingCard)
            try head.check(model: vision.modelName, weights: vision.weights, headPath: path)
            models = .head(vision, head)
        }
        lock.lock(); defer { lock.unlock() }
        heads[name] = (path, models)
    }

    /// The head a request named, with its file and models.
    func head(_ name: String) -> (path: String, models: ClassifierModels)? {
        lock.lock(); defer { lock.unlock() }
        return heads[name]
    }

    /// The heads requests may name, and whether each is on text embeddings.
    var headNames: [(name: String, text: Bool)] {
        lock.lock(); defer { lock.unlock() }
        return heads.keys.sorted().map { name in
            if case .textHead = heads[name]!.models { return (name, true) }
            return (name, false)
        }
    }

    /// The 404 for a head a request named that this server does not have.
    func unknownHead(_ name: String, text: Bool) -> APIError {
        let known = headNames.filter { $0.text == text }.map(\.name)
        return APIError(.notFound, "No head '\(name)' on this server; " + (known.isEmpty
            ? "it serves none on \(text ? "text" : "image") embeddings (its operator adds them: mmpipe serve --head NAME=HEAD.safetensors)"
            : "heads on \(text ? "text" : "image") embeddings: \(known.joined(separator: ", "))"), param: "head", code: "head_not_found")
    }

    /// Whether this server has the card's weights.
    func installed(_ card: ModelCard) -> Bool {
        if card.name == "clip" { return VisionSession.installedCLIP(store: store, catalog: catalog) != nil }
        return catalog.isPresent(card, store: store)
    }

    /// Names a request may use (names and aliases of the installed models that `accepts`).
    func names(_ accepts: (ModelCard) -> Bool) -> [String] {
        catalog.cards.filter { accepts($0) && installed($0) }.flatMap { [$0.name] + $0.aliases }
    }

    /// The 404 for a model a request named: unknown, or registered but not installed here.
    func unknown(_ name: String, known: [String]) -> APIError {
        if let card = catalog.card(name), !installed(card) {
            return APIError(.notFound, "The model '\(name)' is not installed on this server (its operator can fetch it: mmpipe models fetch \(card.name)); installed: \(known.joined(separator: ", "))",
                            param: "model", code: "model_not_found")
        }
        return APIError.unknownModel(name, known: known)
    }
}
