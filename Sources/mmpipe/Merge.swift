import ArgumentParser
import Engine
import Foundation

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Join the parts of a sharded run (--shard I/N) into the files one process would write.",
        discussion: """
            In DIR, every NAME.shard-I-of-N.EXT (and the committed lines of a part that has not \
            finished) becomes NAME.EXT: embed's manifest.jsonl (the feature files stay as they \
            are; the lines name them), classify's and vad's results file, transcribe's listing \
            (.mmpipe-transcribe.jsonl). Atomic and idempotent: run it again when more parts \
            have finished.

            Exit status: 0 when every part finished and no input is in two parts; 1 when parts \
            are missing or unfinished or inputs repeat (each said on stderr; the merge is still \
            written from what is there); 2 when DIR holds no parts.

            Given the jobs' inputs too (the same arguments), it also lists the inputs that no \
            part has a result for.

            Examples:
              mmpipe merge feats/
              mmpipe merge transcripts/ /data/recordings
            """)

    @Argument(help: "The folder the parts wrote into (embed --output, transcribe --output-dir, the folder of classify/vad --output).")
    var directory: String

    @Argument(help: "The inputs the parts were given (the same arguments): inputs without a result are listed.")
    var inputs: [String] = []

    func run() throws {
        let groups: [ShardMerge.Group]
        do { groups = try ShardMerge.merge(directory: URL(fileURLWithPath: directory)) } catch let e as ItemFailure {
            throw ValidationError(e.description)
        }
        var problems = 0
        for g in groups {
            let path = (directory as NSString).appendingPathComponent(g.target)
            print("\(path): \(g.lines) lines, \(g.inputs) inputs from \(g.parts - g.missing.count) of \(g.parts) parts")
            if !g.missing.isEmpty {
                Report.log.error("\(path): parts \(Merge.list(g.missing)) of \(g.parts) are missing (not run, or their files are elsewhere)")
            }
            if !g.unfinished.isEmpty {
                Report.log.error("\(path): parts \(Merge.list(g.unfinished)) have not finished (killed or still running): their committed lines are merged; run them again, then merge again")
            }
            if !g.duplicates.isEmpty {
                Report.log.error("\(path): \(g.duplicates.count) inputs are in more than one part, e.g. \(g.duplicates.prefix(3).joined(separator: ", "))")
            }
            var complete = g.complete
            if !inputs.isEmpty {
                let absent = ShardMerge.inputsMissing(from: g, arguments: inputs)
                if !absent.isEmpty {
                    complete = false
                    Report.log.error("\(path): \(absent.count) inputs have no result in any part, e.g. \(absent.prefix(3).joined(separator: ", "))")
                }
            }
            if !complete { problems += 1 }
        }
        if problems > 0 { throw ExitCode(1) }
    }

    static func list(_ parts: [Int]) -> String {
        parts.count <= 10 ? parts.map(String.init).joined(separator: ", ") : parts.prefix(10).map(String.init).joined(separator: ", ") + ", ..."
    }
}
