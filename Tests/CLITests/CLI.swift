import Foundation
import Testing

/// Runs the `mmpipe` executable built next to the test bundle.
enum CLI {
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var binary: URL {
        // The test bundle lives in .build/<config>/; the executable is built beside it.
        var dir = Bundle.main.bundleURL
        if dir.pathExtension == "xctest" { dir.deleteLastPathComponent() }
        for candidate in [dir, Bundle.main.bundleURL.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("mmpipe")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return dir.appendingPathComponent("mmpipe")
    }

    static func sample(_ name: String) -> String { repoRoot.appendingPathComponent("Samples").appendingPathComponent(name).path }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
        var errorLines: [String] { stderr.split(separator: "\n").map(String.init) }
    }

    /// Runs the CLI (or `executable`, e.g. a tracer, with the CLI's path in `args`).
    /// `unset` removes variables from the environment the child inherits.
    static func run(_ args: [String], stdin: String? = nil, environment: [String: String] = [:],
                    unset: [String] = [], executable: URL? = nil) throws -> Result {
        try run(args, stdinData: stdin.map { Data($0.utf8) }, environment: environment, unset: unset, executable: executable)
    }

    /// As `run`, with raw bytes on standard input.
    static func run(_ args: [String], stdinData: Data?, environment: [String: String] = [:],
                    unset: [String] = [], executable: URL? = nil) throws -> Result {
        let p = Process()
        p.executableURL = executable ?? binary
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        for k in unset { env.removeValue(forKey: k) }
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inp
        try p.run()
        // Written from another thread: a child that stops reading early (a refused stdin)
        // must not block the test on a full pipe.
        signal(SIGPIPE, SIG_IGN)
        let writer = inp.fileHandleForWriting
        let written = DispatchGroup()
        written.enter()
        DispatchQueue.global().async {
            if let stdinData { try? writer.write(contentsOf: stdinData) }
            try? writer.close()
            written.leave()
        }
        // Read both pipes before waiting so a chatty child cannot block on a full pipe.
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        let errData = errBox.data
        p.waitUntilExit()
        written.wait()
        return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Runs a check script of scripts/ with .build-venv's python (which scripts/test makes with
    /// the packages `imports`): every `FAIL` line is an issue, and the script must end with
    /// "all checks passed" after at least `atLeast` `ok` lines.
    static func pythonChecks(_ script: String, imports: String, atLeast: Int,
                             sourceLocation: SourceLocation = #_sourceLocation) throws {
        let python = repoRoot.appendingPathComponent(".build-venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: python.path),
              try run(["-c", "import \(imports)"], executable: python).status == 0 else {
            Issue.record("\(python.path) cannot import \(imports): run scripts/test (it makes the venv)", sourceLocation: sourceLocation)
            return
        }
        let r = try run([repoRoot.appendingPathComponent("scripts/\(script)").path, binary.path], executable: python)
        let lines = r.stdout.split(separator: "\n")
        for line in lines where line.hasPrefix("FAIL") { Issue.record("\(line)", sourceLocation: sourceLocation) }
        #expect(r.status == 0 && lines.last == "all checks passed", "\(script) exited \(r.status):\n\(r.stdout)\n\(r.stderr.suffix(3000))",
                sourceLocation: sourceLocation)
        #expect(lines.filter { $0.hasPrefix("ok ") }.count >= atLeast, "fewer checks ran than expected:\n\(r.stdout)", sourceLocation: sourceLocation)
    }
}
