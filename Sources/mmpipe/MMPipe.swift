import ArgumentParser
import Foundation
import TensorCore

struct MMPipe: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "mmpipe",
        abstract: "Run pre-trained speech and vision models locally, on the CPU.",
        discussion: """
            mmpipe transcribes audio, classifies images and extracts image features, with \
            no Python at run time. MMPIPE_THREADS=N limits the compute threads (default: \
            all cores).
            """,
        version: "mmpipe \(version)",
        subcommands: [Transcribe.self, Classify.self, Embed.self, Probe.self, ModelsCommand.self]
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
        do {
            var command = try MMPipe.parseAsRoot()
            try command.run()
        } catch {
            let code = MMPipe.exitCode(for: error)
            let message = MMPipe.fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }
                exit(0)
            }
            if !message.isEmpty { FileHandle.standardError.write(Data((message + "\n").utf8)) }
            exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }
}
