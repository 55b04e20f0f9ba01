import Testing
import Media

/// Values from Python: `len(b) / len(zlib.compress(b))`.
@Suite struct TextCompressionTests {
    @Test(arguments: [
        ("hello world", 0.5789473684210527),
        (" the the the the the the the the the the the the the the the", 4.0),
        (" And Mr. John Dashwood had then leisure to consider how much there might be prudently in his power to do for them.", 1.1515151515151516),
    ])
    func matchesPythonZlib(_ text: String, _ want: Double) {
        #expect(abs(TextCompression.ratio(text) - want) < 1e-12)
    }

    @Test func emptyTextIsZero() { #expect(TextCompression.ratio("") == 0) }
}
