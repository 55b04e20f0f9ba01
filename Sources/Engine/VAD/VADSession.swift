import Foundation
import Models

/// A loaded voice-activity detector (Silero VAD v6 from the model store, or a folder or
/// `.safetensors` file given with `--weights`), shared by every file of a job.
public final class VADSession: @unchecked Sendable {
    public static let defaultModel = "silero-vad"

    public let name: String
    /// The folder or file loaded.
    public let weights: URL
    public let vad: SileroVAD

    public init(model: String = VADSession.defaultModel, weights: String? = nil, store: ModelStore,
                catalog: ModelCatalog = .standard) throws {
        let card = try catalog.card(model, for: [.vad])
        let url = try catalog.weights(for: card, given: weights, store: store)
        name = card.name
        self.weights = url
        do {
            vad = try SileroVADLoader.load(url)
        } catch {
            throw ItemFailure(path: url.path, error: error)
        }
    }
}
