import Foundation
import Testing
import TensorCore
@testable import Models

// Fixtures: Tests/ModelsTests/Fixtures/whisper-tokenizer/{tiny.en,base}.json, made by
// scripts/gen-whisper-tokenizer-fixtures.py from openai-whisper's tokenizer.py (tiktoken) and
// Hugging Face tokenizers. The vocabularies themselves are the fetched models
// (scripts/fetch-models whisper-tiny.en whisper-base whisper-assets); tests that need them
// are skipped when they are missing.

enum TokenizerFixture {
    struct File: Decodable, Sendable {
        struct Encode: Decodable, Sendable { let text: String; let tiktoken: [Int]; let hf: [Int]? }
        struct Decode: Decodable, Sendable { let ids: [Int]; let text: String; let with_timestamps: String }
        struct Words: Decodable, Sendable { let language: String?; let ids: [Int]; let words: [String]; let tokens: [[Int]] }
        let model_folder: String
        let multilingual: Bool
        let vocabulary_size: Int
        let eot, sot, translate, transcribe, sot_lm, sot_prev, no_speech, no_timestamps, timestamp_begin: Int
        let language_codes: [String]
        let language_tokens: [Int]
        let non_speech_tokens: [Int]
        let encode: [Encode]
        let decode: [Decode]
        let words: [Words]
    }

    static let names = ["tiny.en", "base"]

    static let files: [String: File] = {
        var out: [String: File] = [:]
        for n in names {
            let url = Bundle.module.url(forResource: n, withExtension: "json", subdirectory: "Fixtures/whisper-tokenizer")!
            out[n] = try! JSONDecoder().decode(File.self, from: Data(contentsOf: url))
        }
        return out
    }()

    /// `MMPIPE_MODELS_DIR`, else the checkout's `Models/`.
    static let modelsDir: URL = {
        if let env = ProcessInfo.processInfo.environment["MMPIPE_MODELS_DIR"], !env.isEmpty { return URL(fileURLWithPath: env) }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Models")
    }()

    static func folder(_ name: String) -> URL { modelsDir.appendingPathComponent(files[name]!.model_folder) }

    static let present: Bool = names.allSatisfy {
        FileManager.default.fileExists(atPath: folder($0).appendingPathComponent("tokenizer.json").path)
            && FileManager.default.fileExists(atPath: folder($0).appendingPathComponent("vocabulary.txt").path)
    } && FileManager.default.fileExists(atPath: modelsDir.appendingPathComponent("whisper-assets/multilingual.tiktoken").path)

    /// Where a tokenizer's tables come from.
    enum Source: String, CaseIterable, Sendable {
        case tokenizerJSON          // tokenizer.json, vocabulary-rank merging (openai-whisper's rule)
        case tokenizerJSONMerges    // tokenizer.json, its merge list (Hugging Face tokenizers)
        case vocabularyTXT          // CTranslate2 vocabulary.txt
        case tiktoken               // openai-whisper's .tiktoken asset
    }

    private final class Cache: @unchecked Sendable {
        let lock = NSLock()
        var tokenizers: [String: WhisperTokenizer] = [:]
    }
    private static let cache = Cache()

    static func tokenizer(_ name: String, _ source: Source) throws -> WhisperTokenizer {
        let key = "\(name)/\(source)"
        cache.lock.lock(); defer { cache.lock.unlock() }
        if let t = cache.tokenizers[key] { return t }
        let dir = folder(name)
        let t: WhisperTokenizer
        switch source {
        case .tokenizerJSON: t = try WhisperTokenizerLoader.load(tokenizerJSON: dir.appendingPathComponent("tokenizer.json"))
        case .tokenizerJSONMerges:
            t = try WhisperTokenizerLoader.load(tokenizerJSON: dir.appendingPathComponent("tokenizer.json"), mergeOrder: .mergeList)
        case .vocabularyTXT:
            t = try WhisperTokenizer(vocabulary: WhisperTokenizerLoader.vocabulary(vocabularyTXT: dir.appendingPathComponent("vocabulary.txt")))
        case .tiktoken:
            let asset = files[name]!.multilingual ? "multilingual.tiktoken" : "gpt2.tiktoken"
            t = try WhisperTokenizerLoader.load(tiktoken: modelsDir.appendingPathComponent("whisper-assets/\(asset)"))
        }
        cache.tokenizers[key] = t
        return t
    }

    struct Case<T: Sendable>: Sendable, CustomTestStringConvertible {
        let model: String
        let index: Int
        let value: T
        let label: String
        var testDescription: String { "\(model) #\(index) \(label)" }
    }

    static func cases<T>(_ pick: (File) -> [T], label: (T) -> String) -> [Case<T>] {
        names.flatMap { n in
            pick(files[n]!).enumerated().map { i, v in
                let l = label(v)
                return Case(model: n, index: i, value: v, label: l.count > 40 ? String(l.prefix(40)) + "…" : l)
            }
        }
    }

    static let encodeCases = cases({ $0.encode }, label: { $0.text.debugDescription })
    static let decodeCases = cases({ $0.decode }, label: { "\($0.ids.prefix(6))" })
    static let wordCases = cases({ $0.words }, label: { "\($0.language ?? "none")" })
}

@Suite("WhisperTokenizer parity (openai-whisper / tiktoken / HF tokenizers)", .enabled(if: TokenizerFixture.present, "Whisper vocabularies not fetched: scripts/fetch-models whisper-tiny.en whisper-base whisper-assets"))
struct WhisperTokenizerParityTests {
    @Test(arguments: TokenizerFixture.names, TokenizerFixture.Source.allCases)
    func specialTokens(model: String, source: TokenizerFixture.Source) throws {
        let f = TokenizerFixture.files[model]!
        let t = try TokenizerFixture.tokenizer(model, source)
        #expect(t.vocabularySize == f.vocabulary_size)
        #expect(t.isMultilingual == f.multilingual)
        let ids: [Int] = [t.eot, t.sot, t.translate, t.transcribe, t.sotLM, t.sotPrev, t.noSpeech, t.noTimestamps, t.timestampBegin]
        let expected: [Int] = [f.eot, f.sot, f.translate, f.transcribe, f.sot_lm, f.sot_prev, f.no_speech, f.no_timestamps, f.timestamp_begin]
        #expect(ids == expected)
        #expect(t.languageCodes == f.language_codes)
        #expect(t.languageTokens == f.language_tokens)
        #expect(t.languageToken(code: "en") == f.sot + 1)
        #expect(t.languageToken(code: "yue") == nil)      // only large-v3 has 100 languages
        #expect(t.nonSpeechTokens == f.non_speech_tokens)
        #expect(t.tokenText(t.timestampBegin + 54) == "<|1.08|>" && t.tokenText(t.timestampBegin + 1500) == "<|30.00|>")
        #expect(t.timestamp(of: t.timestampBegin + 125) == 2.5)
        #expect(t.specialTokens.firstLanguage == (f.multilingual ? f.sot + 1 : nil))
        #expect(t.specialTokens.timestampBegin == f.timestamp_begin && t.specialTokens.noSpeech == f.no_speech)
    }

    /// openai-whisper's rule (vocabulary rank) on every source, and tokenizer.json's merge
    /// list against Hugging Face tokenizers.
    @Test(arguments: TokenizerFixture.encodeCases)
    func encode(_ c: TokenizerFixture.Case<TokenizerFixture.File.Encode>) throws {
        for source in [TokenizerFixture.Source.tokenizerJSON, .vocabularyTXT, .tiktoken] {
            let ids = try TokenizerFixture.tokenizer(c.model, source).encode(c.value.text)
            #expect(ids == c.value.tiktoken, "\(source)")
        }
        if let hf = c.value.hf {
            #expect(try TokenizerFixture.tokenizer(c.model, .tokenizerJSONMerges).encode(c.value.text) == hf)
        }
    }

    @Test(arguments: TokenizerFixture.decodeCases)
    func decode(_ c: TokenizerFixture.Case<TokenizerFixture.File.Decode>) throws {
        let t = try TokenizerFixture.tokenizer(c.model, .tokenizerJSON)
        #expect(t.decode(c.value.ids) == c.value.text)
        #expect(t.decodeWithTimestamps(c.value.ids) == c.value.with_timestamps)
    }

    @Test(arguments: TokenizerFixture.wordCases)
    func splitToWordTokens(_ c: TokenizerFixture.Case<TokenizerFixture.File.Words>) throws {
        let t = try TokenizerFixture.tokenizer(c.model, .tokenizerJSON)
        let words = t.splitToWordTokens(c.value.ids, language: c.value.language)
        #expect(words.map(\.word) == c.value.words)
        #expect(words.map(\.tokens) == c.value.tokens)
    }

    /// The timestamp names the tokenizer makes up for tokenizer.json are vocabulary.txt's.
    @Test(arguments: TokenizerFixture.names)
    func everyTokenMatchesVocabularyTXT(model: String) throws {
        let a = try TokenizerFixture.tokenizer(model, .tokenizerJSON)
        let b = try TokenizerFixture.tokenizer(model, .vocabularyTXT)
        #expect(a.vocabularySize == b.vocabularySize)
        let differing = (0..<a.vocabularySize).filter { a.tokenText($0) != b.tokenText($0) || a.bytes(of: [$0]) != b.bytes(of: [$0]) }
        #expect(differing.isEmpty, "first differing ids: \(differing.prefix(5))")
    }

    @Test func sotSequence() throws {
        let t = try TokenizerFixture.tokenizer("base", .tokenizerJSON)
        #expect(t.sotSequence(language: "de", translating: false) == [t.sot, t.languageToken(code: "de")!, t.transcribe])
        #expect(t.sotSequence(language: nil, translating: nil) == [t.sot])
    }

    @Test func longPiecesStayFast() throws {
        let t = try TokenizerFixture.tokenizer("base", .tokenizerJSON)
        let word = String(repeating: "abcdefghij", count: 5_000)
        let clock = ContinuousClock()
        var ids: [Int] = []
        let elapsed = clock.measure { ids = t.encode(word) }
        #expect(t.decode(ids) == word)
        #expect(elapsed < .seconds(5), "50k-character word took \(elapsed)")
    }

    @Test func brokenFilesThrow() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wtok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appendingPathComponent("tokenizer.json")
        try Data(#"{"model": {"type": "WordPiece", "vocab": {"a": 0}}}"#.utf8).write(to: json)
        #expect(throws: WeightFileError.self) { try WhisperTokenizerLoader.load(tokenizerJSON: json) }
        let txt = dir.appendingPathComponent("vocabulary.txt")
        try Data("a\nb\n".utf8).write(to: txt)
        #expect(throws: WeightFileError.self) { try WhisperTokenizerLoader.vocabulary(vocabularyTXT: txt) }
        #expect(throws: WeightFileError.self) { try WhisperTokenizerLoader.load(folder: dir.appendingPathComponent("none")) }
        // vocabulary.txt has no merge list
        let v = try WhisperTokenizerLoader.vocabulary(vocabularyTXT: TokenizerFixture.folder("tiny.en").appendingPathComponent("vocabulary.txt"))
        #expect(throws: WeightFileError.self) { try WhisperTokenizer(vocabulary: v, mergeOrder: .mergeList) }
    }
}

/// The pieces of GPT-2's pre-tokenisation pattern (no vocabulary needed).
@Suite("WhisperTokenizer pre-tokenisation")
struct WhisperTokenizerPretokenizeTests {
    static let cases: [(String, [String])] = [
        ("Hello world", ["Hello", " world"]),
        ("  hello  world  ", [" ", " hello", " ", " world", "  "]),
        ("it's we're I'M 'tis", ["it", "'s", " we", "'re", " I", "'", "M", " '", "tis"]),
        ("a\n\nb", ["a", "\n", "\n", "b"]),          // \s+(?!\S) leaves the last newline
        ("a\n\n", ["a", "\n\n"]),
        ("a \n b", ["a", " \n", " b"]),
        ("x\ty", ["x", "\t", "y"]),
        ("3.14 + 2", ["3", ".", "14", " +", " 2"]),
        ("日本語テキスト。", ["日本語テキスト", "。"]),
        ("😀🎉 ok!!", ["😀🎉", " ok", "!!"]),
        ("''s", ["''", "s"]),
        ("\u{00A0}nbsp", ["\u{00A0}", "nbsp"]),
        ("½ x²", ["½", " x", "²"]),
        ("end ", ["end", " "]),
        ("", []),
    ]

    @Test(arguments: cases)
    func pieces(_ text: String, _ expected: [String]) {
        let scalars = Array(text.unicodeScalars)
        let pieces = WhisperTokenizer.pretokenize(scalars).map { r in
            var s = String.UnicodeScalarView(); s.append(contentsOf: scalars[r]); return String(s)
        }
        #expect(pieces == expected)
    }

    @Test(arguments: [
        ("", true), ("  ", true), (".", true), ("?!", false), ("()", true), (" ...", false), ("-", true),
        ("a", false), ("«", false), ("(", true), ("\"#$", true),
    ])
    func pythonPunctuationRule(_ s: String, _ expected: Bool) {
        #expect(WhisperTokenizer.isPunctuation(s) == expected)
    }

    @Test func byteTable() {
        #expect(WhisperTokenizer.byteToUnicode[32] == "Ġ" && WhisperTokenizer.byteToUnicode[10] == "Ċ")
        #expect(Set(WhisperTokenizer.byteToUnicode).count == 256)
        #expect(WhisperTokenizer.bytes(ofTokenString: "Ġthe") == Array(" the".utf8))
        #expect(WhisperTokenizer.timestampName(0) == "<|0.00|>" && WhisperTokenizer.timestampName(1500) == "<|30.00|>")
        #expect(WhisperTokenizer.timestampName(5) == "<|0.10|>" && WhisperTokenizer.timestampName(1234) == "<|24.68|>")
        #expect(WhisperTokenizer.languageCode(for: "German") == "de" && WhisperTokenizer.languageCode(for: "castilian") == "es")
        #expect(WhisperTokenizer.languageCode(for: "yue") == "yue" && WhisperTokenizer.languageCode(for: "klingon") == nil)
    }
}
