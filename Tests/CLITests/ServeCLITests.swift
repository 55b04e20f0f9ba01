import Foundation
import Testing

/// `mmpipe serve` against real clients: scripts/serve-check.py starts the server (port 0),
/// talks to it with the official `openai` Python client and raw HTTP (every response format,
/// streaming, embeddings against `mmpipe embed`'s vectors, 8 concurrent clients on a queue of 4,
/// bad requests, a client that goes away, a slow client, SIGTERM with a request in flight) and
/// compares each answer with the CLI's own output. The client lives in .build-venv, which
/// scripts/test makes.
@Suite("mmpipe serve with the openai client") struct ServeCLITests {
    @Test func serverAnswersAsTheCLIDoes() throws {
        let python = CLI.repoRoot.appendingPathComponent(".build-venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            Issue.record("no \(python.path): run scripts/test (it makes the venv with the openai client)")
            return
        }
        let script = CLI.repoRoot.appendingPathComponent("scripts/serve-check.py").path
        let r = try CLI.run([script, CLI.binary.path], executable: python)
        let lines = r.stdout.split(separator: "\n")
        for line in lines where line.hasPrefix("FAIL") { Issue.record("\(line)") }
        #expect(r.status == 0 && lines.last == "all checks passed", "serve-check.py exited \(r.status):\n\(r.stdout)\n\(r.stderr.suffix(3000))")
        #expect(lines.filter { $0.hasPrefix("ok ") }.count >= 35, "fewer checks ran than expected:\n\(r.stdout)")
    }
}
