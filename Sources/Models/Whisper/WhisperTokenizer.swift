import TensorCore

/// Whisper's byte-level BPE tokenizer (GPT-2 style), with Whisper's special tokens.
///
/// Ordinary tokens have ids `0..<eot`; every id from `eot` up is special: `<|endoftext|>`,
/// `<|startoftranscript|>`, the language tokens, `<|translate|>`, `<|transcribe|>`,
/// `<|startoflm|>`, `<|startofprev|>`, `<|nospeech|>` (`<|nocaptions|>` in older
/// vocabularies), `<|notimestamps|>`, then the 1501 timestamps `<|0.00|>` ... `<|30.00|>`.
///
/// Text is split as GPT-2 does (the pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, matched by
/// hand over Unicode scalars), each piece's UTF-8 bytes are merged pairwise by rank.
///
/// - Important: `encode` treats its input as plain text: `"<|endoftext|>"` in the text is
///   encoded as ordinary characters, never as the special token (tiktoken's
///   `encode_ordinary`). Build prompts from the id properties instead.
/// Files are read by `WhisperTokenizerLoader` (in `Weights/`); this type only holds tables.
public struct WhisperTokenizer: Sendable {
    /// Which pairs merge first.
    public enum MergeOrder: Sendable, Equatable {
        /// A pair merges when its concatenation is a token; lower ids first. This is
        /// openai-whisper's tokenizer (tiktoken) and needs only the vocabulary.
        case vocabularyRank
        /// The ranked merge list of a Hugging Face `tokenizer.json` (the `tokenizers` library,
        /// as faster-whisper uses it).
        ///
        /// - Important: the multilingual `tokenizer.json` in older checkpoints (including the
        ///   CTranslate2 whisper-base package) lacks the merge `Ġ t`, so `" test"` becomes
        ///   `["Ġ", "test"]` there while openai-whisper gives `["Ġtest"]`. Hugging Face fixed
        ///   the Hub files in 2024; `vocabularyRank` matches openai-whisper on every vocabulary.
        case mergeList
    }

    /// What a loader hands over.
    public struct Vocabulary: Sendable {
        /// The bytes of ordinary tokens `0..<pieces.count`; `<|endoftext|>` has id `pieces.count`.
        public var pieces: [[UInt8]]
        /// Names of the special tokens from `<|endoftext|>` (id `pieces.count`) on, in id order.
        /// The timestamps may be left out; they are then added after the last one given.
        public var specials: [String]
        /// A Hugging Face merge list as id pairs, rank order; nil when the source has none.
        public var merges: [(Int, Int)]?
        /// Where the vocabulary came from, for error messages.
        public var source: String

        public init(pieces: [[UInt8]], specials: [String], merges: [(Int, Int)]?, source: String) {
            self.pieces = pieces
            self.specials = specials
            self.merges = merges
            self.source = source
        }
    }

    /// A word for word-level timestamps and the tokens that spell it.
    public struct WordTokens: Sendable, Equatable {
        public var word: String
        public var tokens: [Int]

        public init(word: String, tokens: [Int]) {
            self.word = word
            self.tokens = tokens
        }
    }

    public static let timestampCount = 1501
    /// Seconds per timestamp token.
    public static let timestampResolution = 0.02

    // MARK: tables

    private let pieces: [[UInt8]]
    private let idOfBytes: [[UInt8]: Int]
    private let byteIDs: [Int]                     // id of each single byte
    private let pairRanks: [UInt64: ByteLevelBPE.Merge]     // .mergeList only
    public let mergeOrder: MergeOrder
    private let specialNames: [String]
    private let specialIDs: [String: Int]

    // MARK: special tokens

    public let eot: Int
    public let sot: Int
    public let translate: Int
    public let transcribe: Int
    public let sotLM: Int
    public let sotPrev: Int
    /// `<|nospeech|>`, or `<|nocaptions|>` in vocabularies from before its rename.
    public let noSpeech: Int
    public let noTimestamps: Int
    public let timestampBegin: Int
    /// Ids of the language tokens, in `languageCodes` order.
    public let languageTokens: [Int]
    /// Language codes of the language tokens, in whisper's `LANGUAGES` order (99 codes for
    /// every model before large-v3, 100 with `yue`).
    public let languageCodes: [String]
    /// Tokens suppressed so the model does not write speaker tags or non-speech
    /// annotations (openai-whisper's `non_speech_tokens`, sorted).
    public private(set) var nonSpeechTokens: [Int] = []

    /// Ordinary tokens plus specials plus timestamps (51864 English-only, 51865 multilingual).
    public var vocabularySize: Int { eot + specialNames.count }
    /// openai-whisper's rule: a model is multilingual when its vocabulary has 51865 or more tokens.
    public var isMultilingual: Bool { vocabularySize >= 51865 }

    public init(vocabulary v: Vocabulary, mergeOrder: MergeOrder = .vocabularyRank) throws {
        func fail(_ problem: String) -> WeightFileError { WeightFileError(path: v.source, problem) }
        pieces = v.pieces
        eot = v.pieces.count
        var ids = [[UInt8]: Int](minimumCapacity: v.pieces.count)
        for (i, p) in v.pieces.enumerated() where ids[p] == nil { ids[p] = i }
        idOfBytes = ids
        var single = [Int](repeating: -1, count: 256)
        for b in 0..<256 {
            guard let id = ids[[UInt8(b)]] else { throw fail("the vocabulary has no token for byte \(b); not a byte-level BPE vocabulary") }
            single[b] = id
        }
        byteIDs = single

        self.mergeOrder = mergeOrder
        var rules: [UInt64: ByteLevelBPE.Merge] = [:]
        if mergeOrder == .mergeList {
            guard let merges = v.merges else {
                throw fail("no merge list in this vocabulary; load tokenizer.json for MergeOrder.mergeList, or use .vocabularyRank")
            }
            rules.reserveCapacity(merges.count)
            for (rank, (a, b)) in merges.enumerated() {
                guard a >= 0, a < eot, b >= 0, b < eot, let merged = ids[v.pieces[a] + v.pieces[b]] else {
                    throw fail("merge \(rank) joins ids \(a) and \(b), whose concatenation is not a token")
                }
                let key = ByteLevelBPE.pairKey(a, b)
                if rules[key] == nil { rules[key] = ByteLevelBPE.Merge(rank: Int32(rank), merged: Int32(merged)) }
            }
        }
        pairRanks = rules

        var names = v.specials
        guard names.first == "<|endoftext|>" else {
            throw fail("the first special token (id \(eot)) is '\(names.first ?? "none")', expected <|endoftext|>")
        }
        if !names.contains("<|0.00|>") {
            names += (0..<WhisperTokenizer.timestampCount).map { WhisperTokenizer.timestampName($0) }
        }
        specialNames = names
        var sid: [String: Int] = [:]
        for (i, n) in names.enumerated() where sid[n] == nil { sid[n] = eot + i }
        specialIDs = sid
        func need(_ names: String...) throws -> Int {
            for n in names { if let id = sid[n] { return id } }
            throw fail("the vocabulary has no \(names.joined(separator: " or ")) token")
        }
        sot = try need("<|startoftranscript|>")
        translate = try need("<|translate|>")
        transcribe = try need("<|transcribe|>")
        sotLM = try need("<|startoflm|>")
        sotPrev = try need("<|startofprev|>")
        noSpeech = try need("<|nospeech|>", "<|nocaptions|>")
        noTimestamps = try need("<|notimestamps|>")
        timestampBegin = try need("<|0.00|>")
        guard timestampBegin + WhisperTokenizer.timestampCount <= eot + names.count,
              sid[WhisperTokenizer.timestampName(WhisperTokenizer.timestampCount - 1)] == timestampBegin + WhisperTokenizer.timestampCount - 1 else {
            throw fail("the timestamp tokens <|0.00|> ... <|30.00|> are not 1501 consecutive ids")
        }
        guard sot < translate else { throw fail("<|translate|> (\(translate)) comes before <|startoftranscript|> (\(sot))") }
        var langs: [Int] = [], codes: [String] = []
        for id in (sot + 1)..<translate {
            let name = names[id - eot]
            guard name.hasPrefix("<|"), name.hasSuffix("|>") else { continue }
            var code = String(name.dropFirst(2).dropLast(2))
            if code == "iw" { code = "he" }        // Hebrew's old code, in English-only vocabularies
            if WhisperTokenizer.languageNames[code] != nil { langs.append(id); codes.append(code) }
        }
        languageTokens = langs
        languageCodes = codes
        nonSpeechTokens = computeNonSpeechTokens()
    }

    // MARK: special-token helpers

    /// The id of `<|code|>` (e.g. "en", "yue"), or nil when this vocabulary has no such language.
    public func languageToken(code: String) -> Int? {
        guard let i = languageCodes.firstIndex(of: code) else { return nil }
        return languageTokens[i]
    }

    /// The id of a special token by its text (`"<|en|>"`, `"<|1.00|>"`), or nil.
    public func specialToken(_ name: String) -> Int? { specialIDs[name] }

    /// `<|startoftranscript|>` then the language and task tokens, as openai-whisper's
    /// `sot_sequence`. For English-only models pass nil for both (their sequence is `[sot]`);
    /// an unknown language code is left out.
    public func sotSequence(language: String?, translating: Bool?) -> [Int] {
        var seq = [sot]
        if let language, let t = languageToken(code: language) { seq.append(t) }
        if let translating { seq.append(translating ? translate : transcribe) }
        return seq
    }

    /// Time in seconds of a timestamp token.
    public func timestamp(of token: Int) -> Double? {
        guard token >= timestampBegin, token < timestampBegin + WhisperTokenizer.timestampCount else { return nil }
        return Double(token - timestampBegin) * WhisperTokenizer.timestampResolution
    }

    static func timestampName(_ i: Int) -> String {
        // i * 0.02 printed with two decimals; integer arithmetic avoids binary rounding.
        let centis = i * 2
        let frac = centis % 100
        return "<|\(centis / 100).\(frac < 10 ? "0" : "")\(frac)|>"
    }

    // MARK: decoding

    /// The text of ordinary tokens; special and timestamp tokens (and ids outside the
    /// vocabulary) are skipped. Bytes are joined before UTF-8 decoding, so a character split
    /// across tokens comes out whole; invalid or incomplete sequences become U+FFFD.
    public func decode(_ ids: [Int]) -> String {
        String(decoding: bytes(of: ids), as: UTF8.self)
    }

    /// Like openai-whisper's `decode_with_timestamps`: every token, special ones written as
    /// their names (`<|1.08|>`, `<|endoftext|>`).
    public func decodeWithTimestamps(_ ids: [Int]) -> String {
        String(decoding: bytesWithSpecials(ids), as: UTF8.self)
    }

    /// The raw bytes of the ordinary tokens (no UTF-8 repair).
    public func bytes(of ids: [Int]) -> [UInt8] {
        var bytes: [UInt8] = []
        for id in ids where id >= 0 && id < eot { bytes += pieces[id] }
        return bytes
    }

    /// The text of one token (special names included), for display.
    public func tokenText(_ id: Int) -> String? {
        if id >= 0 && id < eot { return String(decoding: pieces[id], as: UTF8.self) }
        if id >= eot && id < vocabularySize { return specialNames[id - eot] }
        return nil
    }

    private func bytesWithSpecials(_ ids: [Int]) -> [UInt8] {
        var bytes: [UInt8] = []
        for id in ids {
            if id >= 0 && id < eot { bytes += pieces[id] } else if id >= eot && id < vocabularySize { bytes += Array(specialNames[id - eot].utf8) }
        }
        return bytes
    }

    // MARK: words (for word-level timestamps)

    /// Splits tokens into words the way openai-whisper's `split_to_word_tokens` does: for
    /// zh, ja, th, lo, my and yue wherever the tokens so far decode to whole characters;
    /// otherwise at those points too, but a piece without a leading space that is not a
    /// special token or punctuation joins the word before it.
    public func splitToWordTokens(_ tokens: [Int], language: String?) -> [WordTokens] {
        if let language, WhisperTokenizer.languagesWithoutSpaces.contains(language) {
            return splitOnUnicode(tokens)
        }
        return splitOnSpaces(tokens)
    }

    static let languagesWithoutSpaces: Set<String> = ["zh", "ja", "th", "lo", "my", "yue"]
    /// Python's `string.punctuation`.
    static let asciiPunctuation = Array("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".unicodeScalars)

    func splitOnUnicode(_ tokens: [Int]) -> [WordTokens] {
        let replacement: Unicode.Scalar = "\u{FFFD}"
        let full = Array(decodeWithTimestamps(tokens).unicodeScalars)
        var out: [WordTokens] = []
        var current: [Int] = []
        var offset = 0
        for t in tokens {
            current.append(t)
            let decoded = decodeWithTimestamps(current)
            let scalars = Array(decoded.unicodeScalars)
            let complete: Bool
            if let r = scalars.firstIndex(of: replacement) {
                complete = offset + r < full.count && full[offset + r] == replacement
            } else {
                complete = true
            }
            if complete {
                out.append(WordTokens(word: decoded, tokens: current))
                current = []
                offset += scalars.count
            }
        }
        return out
    }

    func splitOnSpaces(_ tokens: [Int]) -> [WordTokens] {
        var out: [WordTokens] = []
        for sub in splitOnUnicode(tokens) {
            let special = sub.tokens[0] >= eot
            let withSpace = sub.word.unicodeScalars.first == " "
            if special || withSpace || WhisperTokenizer.isPunctuation(sub.word) || out.isEmpty {
                out.append(sub)
            } else {
                out[out.count - 1].word += sub.word
                out[out.count - 1].tokens += sub.tokens
            }
        }
        return out
    }

    /// Python's `s.strip() in string.punctuation`: the stripped text is a substring (the empty
    /// string included) of the ASCII punctuation string.
    static func isPunctuation(_ s: String) -> Bool {
        let scalars = Array(s.unicodeScalars)
        var lo = 0, hi = scalars.count
        while lo < hi && scalars[lo].properties.isWhitespace { lo += 1 }
        while hi > lo && scalars[hi - 1].properties.isWhitespace { hi -= 1 }
        let needle = scalars[lo..<hi]
        if needle.isEmpty { return true }
        let hay = asciiPunctuation
        guard needle.count <= hay.count else { return false }
        for start in 0...(hay.count - needle.count) where hay[start..<(start + needle.count)].elementsEqual(needle) {
            return true
        }
        return false
    }

    // MARK: encoding

    /// Byte-level BPE ids of `text` (plain text: special-token names are not recognised).
    public func encode(_ text: String) -> [Int] {
        let scalars = Array(text.unicodeScalars)
        var out: [Int] = []
        out.reserveCapacity(scalars.count)
        var bytes: [UInt8] = []
        for range in WhisperTokenizer.pretokenize(scalars) {
            bytes.removeAll(keepingCapacity: true)
            for s in scalars[range] { ByteLevelBPE.appendUTF8(s, to: &bytes) }
            encodePiece(bytes, into: &out)
        }
        return out
    }

    private enum ScalarClass { case letter, number, space, other }

    private static func classify(_ s: Unicode.Scalar) -> ScalarClass {
        if s.value < 0x80 {
            switch s.value {
            case 0x41...0x5A, 0x61...0x7A: return .letter
            case 0x30...0x39: return .number
            case 0x09...0x0D, 0x20: return .space
            default: return .other
            }
        }
        let p = s.properties
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return p.isWhitespace ? .space : .other
        }
    }

    /// The pieces GPT-2's pre-tokenisation pattern matches, as ranges of scalar indices:
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
    /// alternatives tried in order at each position (leftmost-first, as the regex engines do).
    static func pretokenize(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        let n = s.count
        let cls = s.map(classify)
        var out: [Range<Int>] = []
        var i = 0
        func run(from j: Int, of c: ScalarClass) -> Int {
            var k = j
            while k < n && cls[k] == c { k += 1 }
            return k
        }
        while i < n {
            // 's 't 're 've 'm 'll 'd (lower case only, as in the pattern)
            if s[i] == "'" && i + 1 < n {
                let a = s[i + 1]
                if a == "s" || a == "t" || a == "m" || a == "d" { out.append(i..<(i + 2)); i += 2; continue }
                if i + 2 < n {
                    let b = s[i + 2]
                    if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") {
                        out.append(i..<(i + 3)); i += 3; continue
                    }
                }
            }
            // optional space then letters / numbers / other symbols
            let j = (s[i] == " " && i + 1 < n && cls[i + 1] != .space) ? i + 1 : i
            switch cls[j] {
            case .letter, .number, .other:
                let end = run(from: j, of: cls[j])
                out.append(i..<end)
                i = end
                continue
            case .space:
                break
            }
            // whitespace: \s+(?!\S) leaves the last space to the next word, else \s+
            let end = run(from: i, of: .space)
            if end == n || end - i == 1 {
                out.append(i..<end); i = end
            } else {
                out.append(i..<(end - 1)); i = end - 1
            }
        }
        return out
    }

    /// Rank of merging `a` then `b`, and the merged id; nil when they do not merge.
    @inline(__always) private func rule(_ a: Int, _ b: Int) -> ByteLevelBPE.Merge? {
        switch mergeOrder {
        case .mergeList:
            return pairRanks[ByteLevelBPE.pairKey(a, b)]
        case .vocabularyRank:
            guard let id = idOfBytes[pieces[a] + pieces[b]] else { return nil }
            return ByteLevelBPE.Merge(rank: Int32(id), merged: Int32(id))
        }
    }

    /// BPE of one pre-token (`ByteLevelBPE.merge`: the adjacent pair of lowest rank first,
    /// leftmost on a tie).
    private func encodePiece(_ bytes: [UInt8], into out: inout [Int]) {
        if bytes.count == 1 { out.append(byteIDs[Int(bytes[0])]); return }
        if mergeOrder == .vocabularyRank, let id = idOfBytes[bytes] {   // tiktoken's shortcut
            out.append(id); return
        }
        ByteLevelBPE.merge(bytes.map { byteIDs[Int($0)] }, into: &out, rule: rule)
    }

    // MARK: non-speech tokens

    private func computeNonSpeechTokens() -> [Int] {
        // The symbols openai-whisper suppresses (speaker tags, music notes, brackets).
        var symbols = "\"#()*+/:;<=>@[\\]^_`{|}~「」『』".map(String.init)
        symbols += "<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪".split(separator: " ").map(String.init)
        // U+2640...U+267F symbols: when they take several tokens, the first (shared lead bytes) is suppressed.
        let miscellaneous = "♩♪♫♬♭♮♯".map(String.init)
        var result = Set<Int>()
        // Hyphens and apostrophes stay allowed between words, not at the start of one.
        if let t = encode(" -").first { result.insert(t) }
        if let t = encode(" '").first { result.insert(t) }
        for symbol in symbols + miscellaneous {
            let isMisc = miscellaneous.contains(symbol)
            for tokens in [encode(symbol), encode(" " + symbol)] where tokens.count == 1 || (isMisc && !tokens.isEmpty) {
                result.insert(tokens[0])
            }
        }
        return result.sorted()
    }

    // MARK: byte-level unicode (GPT-2's bytes_to_unicode)

    /// The printable character GPT-2 uses for each byte in token strings (`ByteLevelBPE.symbols`).
    public static var byteToUnicode: [Unicode.Scalar] { ByteLevelBPE.symbols }

    /// The bytes a byte-level token string (`"Ġthe"`) stands for; nil if it has a character
    /// outside the table (`ByteLevelBPE.bytes(ofTokenString:)`).
    public static func bytes(ofTokenString s: String) -> [UInt8]? { ByteLevelBPE.bytes(ofTokenString: s) }

    // MARK: languages

    /// whisper's `LANGUAGES` (code, English name), in token order.
    public static let languages: [(code: String, name: String)] = [
        ("en", "english"), ("zh", "chinese"), ("de", "german"), ("es", "spanish"), ("ru", "russian"),
        ("ko", "korean"), ("fr", "french"), ("ja", "japanese"), ("pt", "portuguese"), ("tr", "turkish"),
        ("pl", "polish"), ("ca", "catalan"), ("nl", "dutch"), ("ar", "arabic"), ("sv", "swedish"),
        ("it", "italian"), ("id", "indonesian"), ("hi", "hindi"), ("fi", "finnish"), ("vi", "vietnamese"),
        ("he", "hebrew"), ("uk", "ukrainian"), ("el", "greek"), ("ms", "malay"), ("cs", "czech"),
        ("ro", "romanian"), ("da", "danish"), ("hu", "hungarian"), ("ta", "tamil"), ("no", "norwegian"),
        ("th", "thai"), ("ur", "urdu"), ("hr", "croatian"), ("bg", "bulgarian"), ("lt", "lithuanian"),
        ("la", "latin"), ("mi", "maori"), ("ml", "malayalam"), ("cy", "welsh"), ("sk", "slovak"),
        ("te", "telugu"), ("fa", "persian"), ("lv", "latvian"), ("bn", "bengali"), ("sr", "serbian"),
        ("az", "azerbaijani"), ("sl", "slovenian"), ("kn", "kannada"), ("et", "estonian"), ("mk", "macedonian"),
        ("br", "breton"), ("eu", "basque"), ("is", "icelandic"), ("hy", "armenian"), ("ne", "nepali"),
        ("mn", "mongolian"), ("bs", "bosnian"), ("kk", "kazakh"), ("sq", "albanian"), ("sw", "swahili"),
        ("gl", "galician"), ("mr", "marathi"), ("pa", "punjabi"), ("si", "sinhala"), ("km", "khmer"),
        ("sn", "shona"), ("yo", "yoruba"), ("so", "somali"), ("af", "afrikaans"), ("oc", "occitan"),
        ("ka", "georgian"), ("be", "belarusian"), ("tg", "tajik"), ("sd", "sindhi"), ("gu", "gujarati"),
        ("am", "amharic"), ("yi", "yiddish"), ("lo", "lao"), ("uz", "uzbek"), ("fo", "faroese"),
        ("ht", "haitian creole"), ("ps", "pashto"), ("tk", "turkmen"), ("nn", "nynorsk"), ("mt", "maltese"),
        ("sa", "sanskrit"), ("lb", "luxembourgish"), ("my", "myanmar"), ("bo", "tibetan"), ("tl", "tagalog"),
        ("mg", "malagasy"), ("as", "assamese"), ("tt", "tatar"), ("haw", "hawaiian"), ("ln", "lingala"),
        ("ha", "hausa"), ("ba", "bashkir"), ("jw", "javanese"), ("su", "sundanese"), ("yue", "cantonese"),
    ]

    static let languageNames: [String: String] = Dictionary(uniqueKeysWithValues: languages.map { ($0.code, $0.name) })

    /// The language code for a code or an English language name ("German", "de", "castilian"),
    /// with whisper's aliases; nil when unknown.
    public static func languageCode(for nameOrCode: String) -> String? {
        let key = nameOrCode.lowercased()
        if languageNames[key] != nil { return key }
        if let hit = languages.first(where: { $0.name == key }) { return hit.code }
        let aliases = ["burmese": "my", "valencian": "ca", "flemish": "nl", "haitian": "ht", "letzeburgesch": "lb",
                       "pushto": "ps", "panjabi": "pa", "moldavian": "ro", "moldovan": "ro", "sinhalese": "si",
                       "castilian": "es", "mandarin": "zh"]
        return aliases[key]
    }
}

extension WhisperTokenizer {
    /// The ids the decoder and transcriber work with; `firstLanguage` only for multilingual
    /// vocabularies (English-only ones carry language tokens the model never uses).
    public var specialTokens: WhisperSpecialTokens {
        WhisperSpecialTokens(eot: eot, sot: sot, transcribe: transcribe, translate: translate, sotPrev: sotPrev,
                             noSpeech: noSpeech, noTimestamps: noTimestamps, timestampBegin: timestampBegin,
                             firstLanguage: isMultilingual ? languageTokens.first : nil)
    }
}
