import ArgumentParser
import TensorCore

@main
struct MMPipe: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "mmpipe",
        abstract: "Run pre-trained speech and vision models locally, on the CPU.",
        discussion: """
            mmpipe transcribes audio, classifies images by free-text labels and extracts \
            image features, with no Python at run time. Subcommands appear here as they \
            are built. MMPIPE_THREADS=N limits the compute threads (default: all cores).
            """,
        version: "mmpipe \(version)",
        subcommands: []
    )

    @Flag(name: .long, help: "Print the compute set-up (threads, BLAS kernels) and exit.")
    var computeInfo = false

    func run() throws {
        if computeInfo {
            print("threads: \(Compute.threads) (MMPIPE_THREADS or the number of cores)")
            print("blas: \(Compute.blasDescription)")
            return
        }
        print(MMPipe.helpMessage())
    }
}
