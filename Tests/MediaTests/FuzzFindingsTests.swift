import Foundation
import Testing
import Media

/// Inputs the fuzzers found (scripts/fuzz), kept as regression tests: each must fail fast
/// with a one-line error.
@Suite struct FuzzFindingsTests {
    static let dir = Bundle.module.url(forResource: "fuzz-findings", withExtension: nil, subdirectory: "Fixtures")!

    /// A 67-byte WAV whose header claims 1,651,916,416 Hz and 5 channels: resampling it took
    /// 23 s and 2.3 GB before the header check.
    @Test func absurdSampleRateIsRefusedAtOnce() throws {
        let path = Self.dir.appendingPathComponent("wav-1.6GHz-sample-rate.wav").path
        let t0 = Date()
        do {
            _ = try AudioReader(path: path)
            Issue.record("accepted a 1.6 GHz WAV header")
        } catch let e as MediaError {
            #expect(e.kind == .corrupt && e.reason.contains("sample rate"), "\(e)")
        }
        #expect(Date().timeIntervalSince(t0) < 1)
    }
}
