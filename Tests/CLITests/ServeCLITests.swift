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
        try CLI.pythonChecks("serve-check.py", imports: "openai", atLeast: 35)
    }
}
