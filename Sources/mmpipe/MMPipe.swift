import ArgumentParser
import Engine
import Foundation
import TensorCore

struct MMPipe: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "mmpipe",
        abstract: "Run pre-trained speech and vision models locally, on the CPU.",
        discussion: """
            mmpipe transcribes audio, finds its speech (vad), classifies images (ImageNet classes or your own labels) \
            and extracts image and text features, with no Python at run time. \
            MMPIPE_THREADS=N (1...1024) limits the compute threads (default: all cores).
            MMPIPE_ISA=avx512|avx2|portable caps the instruction set of mmpipe's kernels
            (default: the CPU's best; --compute-info shows it).
            """,
        version: "mmpipe \(version)",
        subcommands: [Transcribe.self, Classify.self, Embed.self, VAD.self, Probe.self, ModelsCommand.self, Serve.self, Merge.self, Train.self]
    )

    @Flag(name: .long, help: "Print the compute set-up (threads, BLAS kernels) and exit.")
    var computeInfo = false

    func run() throws {
        if computeInfo {
            for line in Compute.report { print(line) }
            return
        }
        print(MMPipe.helpMessage())
    }
}

/// Exit codes: 0 all done, 1 some inputs failed (each said on stderr), 2 usage errors,
/// 130 interrupted.
@main
enum Main {
    static func main() {
        Compute.configureAllocator()
        // MMPIPE_ISA naming no level, or one this CPU lacks: one line, before anything runs.
        if let problem = RunSettings.instructionSetProblem { fail("mmpipe: " + problem, code: 2) }
        var command: ParsableCommand
        do {
            command = try MMPipe.parseAsRoot()
        } catch {
            // A mistyped command: say which one was meant (`mmpipe transcrib`).
            if let hint = Main.unknownCommand(Array(CommandLine.arguments.dropFirst())) { fail(hint, code: 2) }
            finish(error, message: MMPipe.fullMessage(for: error))
        }
        do {
            try command.run()
        } catch let e as ValidationError {
            // Refused once the command ran (a request the engine or a subcommand refused):
            // the line alone, not the top-level usage.
            fail("mmpipe: " + e.message, code: 2)
        } catch let e as ExitCode {
            finish(e, message: "")
        } catch {
            // Anything else a command let through: one line in words, as every other error.
            if MMPipe.exitCode(for: error) == .failure { fail("mmpipe: " + ErrorText.describe(error), code: 1) }
            finish(error, message: MMPipe.message(for: error))
        }
    }

    static func finish(_ error: Error, message: String) -> Never {
        let code = MMPipe.exitCode(for: error)
        if code == .success {
            if !message.isEmpty { print(message) }
            exit(0)
        }
        fail(message, code: code == .validationFailure ? 2 : code.rawValue)
    }

    static func fail(_ message: String, code: Int32) -> Never {
        if !message.isEmpty { FileHandle.standardError.write(Data((message + "\n").utf8)) }
        exit(code)
    }

    /// `mmpipe: unknown command 'X'; did you mean 'Y'?` when the first word that is not an
    /// option names no subcommand (at the top level or under `models`); nil otherwise.
    static func unknownCommand(_ arguments: [String]) -> String? {
        var level: ParsableCommand.Type = MMPipe.self
        var path = ["mmpipe"]
        for word in arguments {
            if word.hasPrefix("-") { return nil }
            let subcommands = level.configuration.subcommands
            if subcommands.isEmpty { return nil }
            if let next = subcommands.first(where: { $0._commandName == word || $0.configuration.aliases.contains(word) }) {
                level = next
                path.append(word)
                continue
            }
            let names = subcommands.map { $0._commandName }
            let close = names.map { ($0, editDistance($0, word)) }.filter { $0.1 <= max(2, word.count / 3) || $0.0.hasPrefix(word) }
                .min { $0.1 < $1.1 }
            let listed = "commands: " + names.joined(separator: ", ")
            return "\(path.joined(separator: " ")): unknown command '\(word)'" + (close.map { "; did you mean '\($0.0)'?" } ?? "; " + listed)
        }
        return nil
    }

    /// Levenshtein distance (few and short words: the plain table).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var row = Array(0...b.count)
        for i in 1...a.count {
            var previous = row[0]
            row[0] = i
            for j in 1...b.count {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }
}
