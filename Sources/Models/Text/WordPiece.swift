import Foundation

/// BERT's WordPiece tokenizer, exactly as Hugging Face `BertTokenizerFast` (the Rust
/// `tokenizers` library: `BertNormalizer`, `BertPreTokenizer`, `WordPiece`, and the
/// `[CLS] text [SEP]` template) on the same `vocab.txt` and `tokenizer_config.json`.
///
/// 1. Special tokens (`[CLS]`, `[SEP]`, `[PAD]`, `[UNK]`, `[MASK]`) written literally in the
///    raw text become their ids (leftmost-longest match, case-sensitive, before anything else).
/// 2. The rest is normalised: NUL, U+FFFD and control/format/private-use characters dropped,
///    whitespace made a space; CJK ideographs surrounded by spaces; with accent stripping
///    (by default exactly when lower-casing) NFD and non-spacing marks dropped; then each
///    character lower-cased (full Unicode mapping, no context).
/// 3. Split on whitespace and around each punctuation character (ASCII 33-47, 58-64, 91-96,
///    123-126 and Unicode P*).
/// 4. Each word: greedy longest-match-first pieces, continuations looked up with `##`;
///    the whole word is `[UNK]` when it is longer than 100 characters or any part of it has
///    no piece.
/// 5. `[CLS]` + the first `maxLength - 2` pieces + `[SEP]`.
///
/// Characters are Unicode scalars throughout (as Rust's `char`), vocabulary lookups compare
/// scalars exactly (no canonical equivalence, unlike Swift `String` equality), and the
/// character classes are the reference's own (`UnicodeTables`), which differ from current
/// Unicode for a few hundred recently added code points.
public struct WordPieceTokenizer: Sendable {
    /// Normalisation and special-token settings (`tokenizer_config.json`).
    public struct Options: Sendable, Equatable {
        /// `do_lower_case`.
        public var lowercase = true
        /// `strip_accents`; nil follows `lowercase` (as BERT does).
        public var stripAccents: Bool? = nil
        /// `tokenize_chinese_chars`.
        public var tokenizeChineseChars = true
        /// Drop control characters and turn whitespace into spaces (always on in BERT).
        public var cleanText = true
        /// Longer words become `[UNK]` whole.
        public var maxInputCharsPerWord = 100
        public var continuingSubwordPrefix = "##"
        public var unknownToken = "[UNK]"
        public var classToken = "[CLS]"
        public var separatorToken = "[SEP]"
        public var paddingToken = "[PAD]"
        /// Tokens recognised literally in the raw text (`added_tokens`): the special tokens.
        public var specialTokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

        public init() {}

        var stripsAccents: Bool { stripAccents ?? lowercase }
    }

    /// One text's token ids: `[CLS] pieces [SEP]`, at most `maxLength` long.
    public struct Encoding: Sendable, Equatable {
        public var ids: [Int]
        /// Segment ids (`token_type_ids`): 0 for a single text.
        public var typeIDs: [Int]
        /// 1 for every token (padding appears only in a `TokenBatch`).
        public var attentionMask: [Int]
        /// Word pieces were dropped to fit `maxLength`.
        public var isTruncated: Bool

        public var count: Int { ids.count }
    }

    public let options: Options
    /// Longest encoding, `[CLS]` and `[SEP]` included.
    public let maxLength: Int
    /// Token of each id (`vocab.txt` line order).
    public let vocabulary: [String]
    public let unknownID: Int
    public let classID: Int
    public let separatorID: Int
    public let paddingID: Int

    typealias Key = [UInt32]
    private let wordStart: [Key: Int]          // every token as written
    private let continuation: [Key: Int]       // tokens with the `##` prefix, prefix removed
    private let longestStart: Int
    private let longestContinuation: Int
    private let specials: [(scalars: [UInt32], id: Int)]

    /// - Parameters:
    ///   - vocabulary: tokens in id order (`vocab.txt` lines); a repeated token keeps its last id.
    ///   - maxLength: longest encoding including `[CLS]` and `[SEP]` (at least 2).
    /// - Throws: `TextModelError` when a required special token is not in the vocabulary.
    public init(vocabulary: [String], options: Options = Options(), maxLength: Int = 512) throws {
        guard maxLength >= 2 else { throw TextModelError("WordPiece: maxLength \(maxLength) leaves no room for [CLS] and [SEP]") }
        guard options.maxInputCharsPerWord > 0 else { throw TextModelError("WordPiece: maxInputCharsPerWord must be positive") }
        self.options = options
        self.maxLength = maxLength
        self.vocabulary = vocabulary
        let prefix = Array(options.continuingSubwordPrefix.unicodeScalars.map(\.value))
        var start: [Key: Int] = [:], cont: [Key: Int] = [:]
        start.reserveCapacity(vocabulary.count)
        var longest = 0, longestCont = 0
        for (id, token) in vocabulary.enumerated() {
            let s = token.unicodeScalars.map(\.value)
            start[s] = id
            longest = max(longest, s.count)
            if !prefix.isEmpty, s.count > prefix.count, Array(s.prefix(prefix.count)) == prefix {
                let rest = Array(s.dropFirst(prefix.count))
                cont[rest] = id
                longestCont = max(longestCont, rest.count)
            }
        }
        wordStart = start
        continuation = cont
        longestStart = longest
        longestContinuation = longestCont
        func required(_ token: String, _ what: String) throws -> Int {
            guard let id = start[token.unicodeScalars.map(\.value)] else {
                throw TextModelError("WordPiece: the vocabulary (\(vocabulary.count) tokens) has no \(what) token '\(token)'")
            }
            return id
        }
        unknownID = try required(options.unknownToken, "unknown")
        classID = try required(options.classToken, "class")
        separatorID = try required(options.separatorToken, "separator")
        paddingID = try required(options.paddingToken, "padding")
        // Specials that are not in the vocabulary are not added tokens either.
        specials = options.specialTokens.compactMap { t in
            let s = t.unicodeScalars.map(\.value)
            return s.isEmpty ? nil : start[s].map { (s, $0) }
        }
    }

    public var vocabularySize: Int { vocabulary.count }

    public func id(of token: String) -> Int? { wordStart[token.unicodeScalars.map(\.value)] }

    public func token(of id: Int) -> String? { vocabulary.indices.contains(id) ? vocabulary[id] : nil }

    /// Word pieces of `text` without `[CLS]`/`[SEP]` and without truncation (HF `tokenize`).
    public func tokenize(_ text: String) -> [String] {
        var ids: [Int] = []
        pieces(text, into: &ids, limit: .max)
        return ids.map { vocabulary[$0] }
    }

    /// `[CLS] pieces [SEP]`, truncated to `maxLength`. Text past the cut is not processed.
    public func encode(_ text: String) -> Encoding {
        let room = maxLength - 2
        var ids: [Int] = [classID]
        ids.reserveCapacity(min(maxLength, text.utf8.count / 2 + 8))
        let produced = pieces(text, into: &ids, limit: room)
        let truncated = produced > room
        if truncated { ids.removeSubrange((1 + room)...) }
        ids.append(separatorID)
        return Encoding(ids: ids, typeIDs: Array(repeating: 0, count: ids.count),
                        attentionMask: Array(repeating: 1, count: ids.count), isTruncated: truncated)
    }

    /// Encodings of `texts`, padded to the longest.
    public func encode(_ texts: [String]) -> TokenBatch {
        TokenBatch(texts.map(encode), paddingID: paddingID)
    }

    // MARK: pipeline

    /// Appends the word-piece ids of `text` to `ids`, stopping soon after more than `limit`
    /// were added; returns how many were added (all of them when at most `limit`).
    @discardableResult
    func pieces(_ text: String, into ids: inout [Int], limit: Int) -> Int {
        let start = ids.count
        let cap = limit > Int.max - start ? Int.max : start + limit
        let raw = Array(text.unicodeScalars.map(\.value))
        var segmentStart = 0, i = 0
        while i < raw.count {
            if let (length, id) = special(at: i, in: raw) {
                if segmentStart < i { segment(raw[segmentStart..<i], into: &ids, cap: cap) }
                if ids.count > cap { return ids.count - start }
                ids.append(id)
                i += length
                segmentStart = i
            } else {
                i += 1
            }
        }
        if segmentStart < raw.count && ids.count <= cap { segment(raw[segmentStart...], into: &ids, cap: cap) }
        return ids.count - start
    }

    /// The longest special token starting at `i` (the first listed when equally long).
    private func special(at i: Int, in raw: [UInt32]) -> (Int, Int)? {
        var best: (Int, Int)? = nil
        for (s, id) in specials where s.count > (best?.0 ?? 0) && i + s.count <= raw.count && s[0] == raw[i] {
            var match = true
            for j in 1..<s.count where raw[i + j] != s[j] { match = false; break }
            if match { best = (s.count, id) }
        }
        return best
    }

    /// Normalise, pre-tokenise and word-piece one stretch of text between special tokens.
    /// Stops once `ids` holds more than `cap` ids. Long text goes in chunks that end just
    /// after a whitespace character (words and normalisation never cross one), so a long
    /// document is normalised only as far as it is needed.
    private func segment(_ raw: ArraySlice<UInt32>, into ids: inout [Int], cap: Int) {
        var lo = raw.startIndex
        while lo < raw.endIndex && ids.count <= cap {
            var hi = min(lo + 4096, raw.endIndex)
            while hi < raw.endIndex && !(raw[hi - 1] == 0x20 || (options.cleanText && Self.isCleanSpace(raw[hi - 1]))) { hi += 1 }
            chunk(raw[lo..<hi], into: &ids, cap: cap)
            lo = hi
        }
    }

    private func chunk(_ raw: ArraySlice<UInt32>, into ids: inout [Int], cap: Int) {
        Self.splitWords(normalize(raw)) { word in
            wordPiece(word, into: &ids)
            return ids.count <= cap
        }
    }

    /// `BertPreTokenizer`: words split on whitespace (dropped) and around punctuation (each a
    /// word); `body` returns false to stop.
    static func splitWords(_ text: [UInt32], _ body: ([UInt32]) -> Bool) {
        var word: [UInt32] = []
        word.reserveCapacity(32)
        for c in text {
            if isWhitespace(c) {
                if !word.isEmpty { if !body(word) { return }; word.removeAll(keepingCapacity: true) }
            } else if isPunctuation(c) {
                if !word.isEmpty { if !body(word) { return }; word.removeAll(keepingCapacity: true) }
                if !body([c]) { return }
            } else {
                word.append(c)
            }
        }
        if !word.isEmpty { _ = body(word) }
    }

    /// The normalised words of `text` (as scalar values) before word-piecing, special tokens
    /// not recognised: the reference's `normalizer` then `pre_tokenizer`, for tests.
    func preTokenize(_ text: String) -> [[UInt32]] {
        var words: [[UInt32]] = []
        Self.splitWords(normalize(ArraySlice(text.unicodeScalars.map(\.value)))) { words.append($0); return true }
        return words
    }

    /// `BertNormalizer`: clean, space out CJK, strip accents (NFD), lower-case, in that order.
    func normalize(_ raw: ArraySlice<UInt32>) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(raw.count + 8)
        var ascii = true
        for c in raw {
            if options.cleanText {
                if Self.isCleanRemoved(c) { continue }
                if Self.isCleanSpace(c) { out.append(0x20); continue }
            }
            if options.tokenizeChineseChars && Self.isChineseChar(c) {
                out.append(0x20); out.append(c); out.append(0x20)
                ascii = false
                continue
            }
            if c >= 0x80 { ascii = false }
            out.append(c)
        }
        if ascii {
            if options.lowercase {
                for i in out.indices where out[i] >= 0x41 && out[i] <= 0x5A { out[i] += 0x20 }
            }
            return out
        }
        if options.stripsAccents {
            // No character below U+00C0 has a canonical decomposition.
            if out.contains(where: { $0 >= 0xC0 }) { out = Self.nfd(out) }
            out.removeAll { $0 >= 0x300 && Self.contains(UnicodeTables.nonspacingMark, $0) }
        }
        if options.lowercase {
            var lowered: [UInt32] = []
            lowered.reserveCapacity(out.count)
            for c in out {
                if c < 0x80 {
                    lowered.append(c >= 0x41 && c <= 0x5A ? c + 0x20 : c)
                } else if let s = Unicode.Scalar(c), s.properties.changesWhenLowercased,
                          Self.assigned(s, byVersion: Self.lowercaseVersion) {
                    lowered.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars.map(\.value))
                } else {
                    lowered.append(c)
                }
            }
            out = lowered
        }
        return out
    }

    /// Canonical decomposition (Foundation's) of the characters the reference's NFD knows;
    /// later ones stay as they are and, having no combining class there, act as starters,
    /// so the text is decomposed in runs between them.
    static func nfd(_ text: [UInt32]) -> [UInt32] {
        func decompose(_ run: ArraySlice<UInt32>) -> [UInt32] {
            let s = String(String.UnicodeScalarView(run.compactMap(Unicode.Scalar.init)))
            return s.decomposedStringWithCanonicalMapping.unicodeScalars.map(\.value)
        }
        func isNew(_ c: UInt32) -> Bool {
            c >= 0x800 && Unicode.Scalar(c).map { $0.properties.age != nil && !assigned($0, byVersion: decompositionVersion) } ?? false
        }
        guard text.contains(where: isNew) else { return decompose(text[...]) }
        var out: [UInt32] = []
        out.reserveCapacity(text.count + 8)
        var start = 0
        for (i, c) in text.enumerated() where isNew(c) {
            out += decompose(text[start..<i])
            out.append(c)
            start = i + 1
        }
        out += decompose(text[start...])
        return out
    }

    /// Greedy longest-match-first pieces of one word, or `[UNK]` for the whole word.
    private func wordPiece(_ word: [UInt32], into ids: inout [Int]) {
        if word.count > options.maxInputCharsPerWord {
            ids.append(unknownID)
            return
        }
        let mark = ids.count
        var start = 0
        while start < word.count {
            let table = start == 0 ? wordStart : continuation
            var end = min(word.count, start + (start == 0 ? longestStart : longestContinuation))
            var found: Int? = nil
            while end > start {
                if let id = table[Array(word[start..<end])] { found = id; break }
                end -= 1
            }
            guard let id = found else {
                ids.removeSubrange(mark...)
                ids.append(unknownID)
                return
            }
            ids.append(id)
            start = end
        }
    }

    // MARK: character classes

    /// CJK ideograph blocks, as the reference has them: `0x2B920...0x2CEAF` where Python's
    /// `BasicTokenizer` has `0x2B820` (a typo in the Rust library, kept for parity).
    static func isChineseChar(_ c: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(c) || (0x3400...0x4DBF).contains(c) || (0x20000...0x2A6DF).contains(c)
            || (0x2A700...0x2B73F).contains(c) || (0x2B740...0x2B81F).contains(c) || (0x2B920...0x2CEAF).contains(c)
            || (0xF900...0xFAFF).contains(c) || (0x2F800...0x2FA1F).contains(c)
    }

    /// The Unicode versions of the reference's data: its NFD tables predate Unicode 13 (U+11938
    /// does not decompose) and Rust's lower-casing is Unicode 15. Characters assigned later
    /// are left as they are, as the reference leaves them.
    static let decompositionVersion = (major: 12, minor: 1)
    static let lowercaseVersion = (major: 15, minor: 0)

    static func assigned(_ s: Unicode.Scalar, byVersion v: (major: Int, minor: Int)) -> Bool {
        guard let age = s.properties.age else { return false }
        return age.major < v.major || (age.major == v.major && age.minor <= v.minor)
    }

    @inline(__always)
    static func isCleanRemoved(_ c: UInt32) -> Bool {
        if c < 0x80 { return c < 0x20 ? !(c == 9 || c == 10 || c == 13) : c == 0x7F }
        return contains(UnicodeTables.cleanRemoved, c)
    }

    @inline(__always)
    static func isCleanSpace(_ c: UInt32) -> Bool {
        if c < 0x80 { return c == 9 || c == 10 || c == 13 }
        return contains(UnicodeTables.cleanSpace, c)
    }

    @inline(__always)
    static func isWhitespace(_ c: UInt32) -> Bool {
        if c < 0x80 { return c == 0x20 || (9...13).contains(c) }
        return contains(UnicodeTables.whitespace, c)
    }

    @inline(__always)
    static func isPunctuation(_ c: UInt32) -> Bool {
        if c < 0x80 { return (33...47).contains(c) || (58...64).contains(c) || (91...96).contains(c) || (123...126).contains(c) }
        return contains(UnicodeTables.punctuation, c)
    }

    /// Binary search in sorted inclusive ranges `[lo0, hi0, lo1, hi1, ...]`.
    static func contains(_ ranges: [UInt32], _ c: UInt32) -> Bool {
        var lo = 0, hi = ranges.count / 2
        while lo < hi {
            let mid = (lo + hi) / 2
            if c < ranges[2 * mid] { hi = mid } else if c > ranges[2 * mid + 1] { lo = mid + 1 } else { return true }
        }
        return false
    }
}

/// Encodings padded to one length, row-major `[count, length]`.
public struct TokenBatch: Sendable, Equatable {
    public let count: Int
    public let length: Int
    public let ids: [Int]
    public let typeIDs: [Int]
    /// 1 for real tokens, 0 for padding.
    public let attentionMask: [Int]
    /// Real tokens per row.
    public let lengths: [Int]

    /// Pads each encoding with `paddingID` (type 0, mask 0) to the longest.
    public init(_ encodings: [WordPieceTokenizer.Encoding], paddingID: Int) {
        self.init(ids: encodings.map(\.ids), typeIDs: encodings.map(\.typeIDs), paddingID: paddingID)
    }

    /// Rows of ids (and optionally segment ids of the same lengths), padded to the longest.
    public init(ids rows: [[Int]], typeIDs typeRows: [[Int]]? = nil, paddingID: Int = 0) {
        precondition(typeRows == nil || typeRows!.map(\.count) == rows.map(\.count), "TokenBatch: typeIDs rows differ in length from ids")
        let n = rows.count, t = rows.map(\.count).max() ?? 0
        var ids = Array(repeating: paddingID, count: n * t)
        var types = Array(repeating: 0, count: n * t)
        var mask = Array(repeating: 0, count: n * t)
        for (r, row) in rows.enumerated() {
            for (j, id) in row.enumerated() {
                ids[r * t + j] = id
                mask[r * t + j] = 1
                if let ty = typeRows?[r][j] { types[r * t + j] = ty }
            }
        }
        count = n
        length = t
        lengths = rows.map(\.count)
        self.ids = ids
        typeIDs = types
        attentionMask = mask
    }
}
