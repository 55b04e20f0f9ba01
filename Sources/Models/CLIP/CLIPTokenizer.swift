import Foundation
import TensorCore

/// CLIP's byte-level BPE tokenizer, as open_clip's `SimpleTokenizer` (OpenAI CLIP's
/// `simple_tokenizer.py`) builds and applies it.
///
/// Vocabulary (49,408 ids for the standard merges file): the 256 byte symbols of GPT-2's
/// `bytes_to_unicode` alphabet, the same 256 with `</w>` (end of word), one token per merge
/// (the first `49152 - 256 - 2` merges of the file), then `<start_of_text>` (49406) and
/// `<end_of_text>` (49407).
///
/// Encoding: `CLIPTextCleaning.clean` (ftfy + `html.unescape` twice + whitespace collapse +
/// lower case), the pattern
/// `<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
/// (matched by hand over Unicode scalars), then each piece's UTF-8 bytes, the last one marked
/// end-of-word, merged pairwise by rank.
///
/// - Important: as in open_clip, the special-token names typed in the text
///   (`"<end_of_text>"`) become the special ids.
/// The merges file is read by `CLIPLoader` (in `Weights/`); this type only holds tables.
public final class CLIPTokenizer: @unchecked Sendable {
    /// open_clip's context length (every CLIP model's text tower takes 77 positions).
    public static let defaultContextLength = 77
    /// How many merges open_clip takes from the file: `49152 - 256 - 2`.
    public static let mergeCount = 49152 - 256 - 2

    public let startOfText: Int
    public let endOfText: Int
    /// Number of ids: bytes, bytes with `</w>`, merges, the two specials.
    public var vocabularySize: Int { pieces.count }

    /// Token strings in the byte alphabet (for `decode`), by id.
    private let pieces: [String]
    /// Id of each byte alone (`byteIDs[b]`) and as the end of a word (`byteIDs[256 + b]`).
    private let byteIDs: [Int32]
    /// `ByteLevelBPE.pairKey(left id, right id)` -> rank and id of the merged token.
    private let merges: [UInt64: ByteLevelBPE.Merge]

    private let cacheLock = NSLock()
    private var cache: [[UInt8]: [Int32]] = [:]
    private static let cacheLimit = 100_000

    /// Builds the tables from the merges file's text (the `.gz` already decompressed): a
    /// header line, then one merge `left right` per line. `source` names the file in errors.
    public init(mergesText: String, source: String) throws {
        // The 256 byte symbols in bytes_to_unicode's order.
        let alphabet = ByteLevelBPE.byteOrder.map { ByteLevelBPE.symbols[Int($0)] }
        var lines = mergesText.split(separator: "\n", omittingEmptySubsequences: false)
        // open_clip: merges[1 : 49152 - 256 - 2 + 1].
        let end = min(lines.count, CLIPTokenizer.mergeCount + 1)
        lines = lines.count > 1 ? Array(lines[1..<end]) : []
        guard !lines.isEmpty else {
            throw WeightFileError(path: source, "no BPE merges (expected a header line, then one 'left right' pair per line)")
        }
        var pairs: [(Substring, Substring)] = []
        pairs.reserveCapacity(lines.count)
        for (i, line) in lines.enumerated() {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard parts.count == 2 else {
                throw WeightFileError(path: source, "line \(i + 2) is not a BPE merge 'left right': '\(line.prefix(60))'")
            }
            pairs.append((parts[0], parts[1]))
        }

        var vocab: [String] = alphabet.map { String($0) }
        vocab += alphabet.map { String($0) + "</w>" }
        for (a, b) in pairs { vocab.append(String(a) + String(b)) }
        vocab += ["<start_of_text>", "<end_of_text>"]
        // dict(zip(vocab, range)): a repeated string keeps its last id.
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(vocab.count)
        for (i, s) in vocab.enumerated() { ids[s] = Int32(i) }

        var table: [UInt64: ByteLevelBPE.Merge] = [:]
        table.reserveCapacity(pairs.count)
        for (rank, (a, b)) in pairs.enumerated() {
            // A merge whose parts are not tokens can never apply (every symbol is a token).
            guard let l = ids[String(a)], let r = ids[String(b)], let m = ids[String(a) + String(b)] else { continue }
            table[ByteLevelBPE.pairKey(Int(l), Int(r))] = ByteLevelBPE.Merge(rank: Int32(rank), merged: m)   // last rank wins, as dict(zip(...))
        }
        var byteIDs = [Int32](repeating: 0, count: 512)
        for (b, symbol) in ByteLevelBPE.symbols.enumerated() {
            byteIDs[b] = ids[String(symbol)]!
            byteIDs[256 + b] = ids[String(symbol) + "</w>"]!
        }
        self.byteIDs = byteIDs
        merges = table
        pieces = vocab
        startOfText = Int(ids["<start_of_text>"]!)
        endOfText = Int(ids["<end_of_text>"]!)
    }

    // MARK: encoding

    /// `[<start_of_text>] + ids + [<end_of_text>]`; longer than `contextLength`, it is cut to
    /// `contextLength` ids with `<end_of_text>` last (open_clip's truncation). Not padded.
    public func encode(_ text: String, contextLength: Int = CLIPTokenizer.defaultContextLength) -> [Int] {
        precondition(contextLength >= 2, "CLIPTokenizer.encode: context length \(contextLength) < 2")
        var ids = [startOfText] + tokens(text) + [endOfText]
        if ids.count > contextLength {
            ids.removeLast(ids.count - contextLength)
            ids[contextLength - 1] = endOfText
        }
        return ids
    }

    /// The BPE ids of the cleaned text, without start/end tokens (open_clip's
    /// `SimpleTokenizer.encode`).
    public func tokens(_ text: String) -> [Int] {
        let scalars = Array(CLIPTextCleaning.clean(text).unicodeScalars)
        var out: [Int] = []
        var bytes: [UInt8] = []
        for range in CLIPTokenizer.pretokenize(scalars) {
            let piece = scalars[range]
            if piece.elementsEqual(CLIPTokenizer.startName) { out.append(startOfText); continue }
            if piece.elementsEqual(CLIPTokenizer.endName) { out.append(endOfText); continue }
            bytes.removeAll(keepingCapacity: true)
            for s in piece { ByteLevelBPE.appendUTF8(s, to: &bytes) }
            out.append(contentsOf: bpe(bytes).lazy.map { Int($0) })
        }
        return out
    }

    /// The text of `ids`: token strings joined, bytes decoded as UTF-8 (invalid sequences
    /// become U+FFFD), `</w>` turned into a space (open_clip's `decode`).
    public func decode(_ ids: [Int]) -> String {
        var bytes: [UInt8] = []
        for id in ids where id >= 0 && id < pieces.count {
            for ch in pieces[id].unicodeScalars {
                if let b = ByteLevelBPE.byte(of: ch) { bytes.append(b) } else { ByteLevelBPE.appendUTF8(ch, to: &bytes) }
            }
        }
        return String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "</w>", with: " ")
    }

    /// The token string of an id (byte alphabet, `</w>` marking a word's end), or nil.
    public func piece(_ id: Int) -> String? { id >= 0 && id < pieces.count ? pieces[id] : nil }

    /// Merges the bytes of one piece (the last byte carrying `</w>`) by rank (see
    /// `ByteLevelBPE.merge` for why this equals open_clip's sweep over its merge list).
    private func bpe(_ bytes: [UInt8]) -> [Int32] {
        cacheLock.lock()
        if let hit = cache[bytes] { cacheLock.unlock(); return hit }
        cacheLock.unlock()

        var start = bytes.map { Int(byteIDs[Int($0)]) }
        start[start.count - 1] = Int(byteIDs[256 + Int(bytes[bytes.count - 1])])
        var merged: [Int] = []
        merged.reserveCapacity(start.count)
        ByteLevelBPE.merge(start, into: &merged) { a, b in merges[ByteLevelBPE.pairKey(a, b)] }
        let word = merged.map(Int32.init)

        cacheLock.lock()
        if cache.count >= CLIPTokenizer.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[bytes] = word
        cacheLock.unlock()
        return word
    }

    // MARK: pre-tokenisation

    static let startName = Array("<start_of_text>".unicodeScalars)
    static let endName = Array("<end_of_text>".unicodeScalars)
    private static let contractions: [[Unicode.Scalar]] = ["s", "t", "re", "ve", "m", "ll", "d"].map { Array($0.unicodeScalars) }

    /// Ranges of the pattern's matches over `s` (`re.findall`: leftmost alternative first,
    /// whitespace between matches skipped). IGNORECASE is applied through simple case
    /// folding of the few letters the literal alternatives hold.
    static func pretokenize(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = 0
        let n = s.count
        func matches(_ lit: [Unicode.Scalar], at p: Int) -> Bool {
            guard p + lit.count <= n else { return false }
            for (k, c) in lit.enumerated() where fold(s[p + k]) != c { return false }
            return true
        }
        while i < n {
            let c = s[i]
            if c == "<", matches(startName, at: i) { out.append(i..<(i + startName.count)); i += startName.count; continue }
            if c == "<", matches(endName, at: i) { out.append(i..<(i + endName.count)); i += endName.count; continue }
            if c == "'", let lit = contractions.first(where: { matches($0, at: i + 1) }) {
                out.append(i..<(i + 1 + lit.count)); i += 1 + lit.count; continue
            }
            switch scalarClass(c) {
            case .letter:
                var j = i + 1
                while j < n && scalarClass(s[j]) == .letter { j += 1 }
                out.append(i..<j); i = j
            case .number:
                out.append(i..<(i + 1)); i += 1
            case .other:
                var j = i + 1
                while j < n && scalarClass(s[j]) == .other { j += 1 }
                out.append(i..<j); i = j
            case .space:
                i += 1
            }
        }
        return out
    }

    /// Simple case folding of the scalars that fold onto the literals' letters (the text is
    /// already lower case; `ſ` folds to `s`, the Kelvin sign to `k`).
    @inline(__always) static func fold(_ c: Unicode.Scalar) -> Unicode.Scalar {
        switch c.value {
        case 0x41...0x5A: return Unicode.Scalar(c.value + 32)!
        case 0x17F: return "s"
        case 0x212A: return "k"
        default: return c
        }
    }

    enum ScalarClass { case letter, number, space, other }

    static func scalarClass(_ c: Unicode.Scalar) -> ScalarClass {
        if c.value < 0x80 {
            switch c.value {
            case 0x61...0x7A, 0x41...0x5A: return .letter
            case 0x30...0x39: return .number
            default: return CLIPTextCleaning.isSpace(c) ? .space : .other
            }
        }
        if CLIPTextCleaning.isSpace(c) { return .space }
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }
}

/// open_clip's text cleaning for the tokenizer (`_clean_lower`): `ftfy.fix_text`,
/// `html.unescape` twice, strip, whitespace collapsed to single spaces, lower case.
///
/// ftfy is reimplemented for the fixes that change ordinary text: its own HTML-entity
/// decoding (only for lines without `<`), C1 controls read as Windows-1252, Latin ligatures
/// (`ﬁ` -> `fi`), full/half-width forms (`ＡＢＣ` -> `ABC`, U+3000 -> space), curly quotes
/// (`’` -> `'`), line breaks, ANSI terminal escapes, control characters, NFC; repeated until
/// nothing changes, line by line, as ftfy does.
///
/// - Important: ftfy's mojibake repair (`fix_encoding`: `"cafÃ©"` -> `"café"`, driven by its
///   badness heuristics) is not implemented; such text is tokenised as it stands, where
///   open_clip would repair it first. Text that is not mojibake is unaffected.
public enum CLIPTextCleaning {
    public static func clean(_ text: String) -> String {
        var s = fixText(Array(text.unicodeScalars))
        s = htmlUnescape(htmlUnescape(s))
        // strip + " ".join(split()) + strip, then lower()
        var out = String.UnicodeScalarView()
        var pendingSpace = false
        for c in s {
            if isSpace(c) { pendingSpace = !out.isEmpty; continue }
            if pendingSpace { out.append(" "); pendingSpace = false }
            out.append(c)
        }
        return lowercased(Array(out))
    }

    /// Python's `str.lower()`: each scalar's full lower-case mapping, and capital sigma as
    /// final `ς` after a cased letter not followed by one (case-ignorable scalars skipped),
    /// the one context-dependent rule (Swift's `lowercased()` lacks it).
    static func lowercased(_ s: [Unicode.Scalar]) -> String {
        var out = String.UnicodeScalarView()
        for (i, c) in s.enumerated() {
            if c.isASCII {
                out.append(c.value >= 0x41 && c.value <= 0x5A ? Unicode.Scalar(c.value + 32)! : c)
            } else if c.value == 0x3A3 {
                var j = i - 1
                while j >= 0 && s[j].properties.isCaseIgnorable { j -= 1 }
                var final = j >= 0 && s[j].properties.isCased
                if final {
                    var k = i + 1
                    while k < s.count && s[k].properties.isCaseIgnorable { k += 1 }
                    final = k == s.count || !s[k].properties.isCased
                }
                out.append(final ? "\u{3C2}" : "\u{3C3}")
            } else {
                out.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return String(out)
    }

    /// Python's `str.isspace` (what `split()` and `strip()` split on; after cleaning, the
    /// regex's `\s` meets only the single spaces left).
    @inline(__always) static func isSpace(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    // MARK: ftfy.fix_text

    /// `ftfy.fix_text` with its default configuration, without `fix_encoding` (see the type's
    /// note). Segments end after each `\n`; once a segment holds `<`, HTML unescaping stays
    /// off for the rest of the text (ftfy keeps the changed config).
    static func fixText(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var unescape = true
        var start = 0
        while start < text.count {
            var end = start
            while end < text.count && text[end] != "\n" { end += 1 }
            end = min(end + 1, text.count)
            var segment = Array(text[start..<end])
            if unescape && segment.contains("<") { unescape = false }
            while true {
                let before = segment
                if unescape { segment = ftfyUnescape(segment) }
                segment = segment.map(c1Control)
                segment = segment.flatMap(ligatureAndWidth)
                segment = segment.map(uncurl)
                segment = fixLineBreaks(segment)
                segment = removeTerminalEscapes(segment)
                segment = segment.filter { !isRemovedControl($0) }
                segment = nfc(segment)
                if segment == before { break }
            }
            out += segment
            start = end
        }
        return out
    }

    /// C1 controls U+0080...U+009F as Windows-1252 ("sloppy": undefined bytes stay).
    static func c1Control(_ c: Unicode.Scalar) -> Unicode.Scalar {
        guard (0x80...0x9F).contains(c.value) else { return c }
        return windows1252[Int(c.value - 0x80)]
    }

    static let windows1252: [Unicode.Scalar] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D, 0x017D, 0x8F,
        0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ].map { Unicode.Scalar(UInt32($0))! }

    static let ligatures: [UInt32: String] = [
        0x132: "IJ", 0x133: "ij", 0x149: "ʼn", 0x1F1: "DZ", 0x1F2: "Dz", 0x1F3: "dz", 0x1C4: "DŽ", 0x1C5: "Dž", 0x1C6: "dž",
        0x1C7: "LJ", 0x1C8: "Lj", 0x1C9: "lj", 0x1CA: "NJ", 0x1CB: "Nj", 0x1CC: "nj",
        0xFB00: "ff", 0xFB01: "fi", 0xFB02: "fl", 0xFB03: "ffi", 0xFB04: "ffl", 0xFB05: "ſt", 0xFB06: "st",
    ]

    /// `fix_latin_ligatures` then `fix_character_width` (U+3000 and U+FF01...U+FFEF to their NFKC form).
    static func ligatureAndWidth(_ c: Unicode.Scalar) -> [Unicode.Scalar] {
        if let l = ligatures[c.value] { return Array(l.unicodeScalars) }
        if c.value == 0x3000 { return [" "] }
        if (0xFF01...0xFFEF).contains(c.value) { return widthForms[Int(c.value - 0xFF01)] }
        return [c]
    }

    static let widthForms: [[Unicode.Scalar]] = (0xFF01...0xFFEF).map { v in
        let c = Unicode.Scalar(UInt32(v))!
        return Array(String(c).precomposedStringWithCompatibilityMapping.unicodeScalars)
    }

    static func uncurl(_ c: Unicode.Scalar) -> Unicode.Scalar {
        switch c.value {
        case 0x2BC, 0x2018...0x201B: return "'"
        case 0x201C...0x201F: return "\""
        default: return c
        }
    }

    static func fixLineBreaks(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            switch s[i].value {
            case 0x0D:
                out.append("\n")
                if i + 1 < s.count && s[i + 1] == "\n" { i += 1 }
            case 0x2028, 0x2029, 0x85: out.append("\n")
            default: out.append(s[i])
            }
            i += 1
        }
        return out
    }

    /// Removes `ESC [ (digit|;)* letter` (ftfy's `ANSI_RE`; `\d` is any decimal digit).
    static func removeTerminalEscapes(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard s.contains("\u{1B}") else { return s }
        var out: [Unicode.Scalar] = []
        var i = 0
        while i < s.count {
            if s[i] == "\u{1B}" && i + 1 < s.count && s[i + 1] == "[" {
                var j = i + 2
                while j < s.count && (s[j] == ";" || s[j].properties.generalCategory == .decimalNumber) { j += 1 }
                if j < s.count && s[j].isASCII && s[j].properties.isAlphabetic {
                    i = j + 1
                    continue
                }
            }
            out.append(s[i])
            i += 1
        }
        return out
    }

    static func isRemovedControl(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x00...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0x206A...0x206F, 0xFEFF, 0xFFF9...0xFFFC: return true
        default: return false
        }
    }

    static func nfc(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        if s.allSatisfy({ $0.value < 0x300 }) { return s }   // nothing composes below U+0300
        var v = String.UnicodeScalarView()
        v.append(contentsOf: s)
        return Array(String(v).precomposedStringWithCanonicalMapping.unicodeScalars)
    }

    // MARK: HTML entities

    /// Python's `html.entities.html5`.
    static let entities: [String: [Unicode.Scalar]] = {
        var m: [String: [Unicode.Scalar]] = [:]
        for line in htmlEntityTable.split(separator: "\n") {
            let parts = line.split(separator: " ")
            m[String(parts[0])] = parts[1].split(separator: ",").map { Unicode.Scalar(UInt32($0, radix: 16)!)! }
        }
        return m
    }()

    /// ftfy's table: `&name;` for the names ending in `;`, plus the upper-case spelling of
    /// the lower-case names when `html.unescape` leaves that spelling alone.
    static let ftfyEntities: [String: [Unicode.Scalar]] = {
        var m: [String: [Unicode.Scalar]] = [:]
        for (name, value) in entities where name.hasSuffix(";") {
            m["&" + name] = value
            if name == name.lowercased() {
                let upper = "&" + name.uppercased()
                let u = Array(upper.unicodeScalars)
                if htmlUnescape(u) == u {
                    var v = String.UnicodeScalarView()
                    v.append(contentsOf: value)
                    m[upper] = Array(String(v).uppercased().unicodeScalars)
                }
            }
        }
        return m
    }()

    @inline(__always) static func isASCIIAlnum(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        default: return false
        }
    }

    /// ftfy's `unescape_html`: `&#?[0-9A-Za-z]{1,24};` replaced from its table; numeric
    /// references through `html.unescape` when that consumes the semicolon.
    static func ftfyUnescape(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard s.contains("&") else { return s }
        var out: [Unicode.Scalar] = []
        var i = 0
        while i < s.count {
            if s[i] == "&" {
                var j = i + 1
                if j < s.count && s[j] == "#" { j += 1 }
                let bodyStart = j
                while j < s.count && isASCIIAlnum(s[j]) && j - bodyStart < 24 { j += 1 }
                if j > bodyStart && j < s.count && s[j] == ";" {
                    let match = Array(s[i...j])
                    let key = String(String.UnicodeScalarView(match))
                    if let v = ftfyEntities[key] {
                        out += v
                    } else if match[1] == "#" {
                        let u = htmlUnescape(match)
                        out += u.contains(";") ? match : u
                    } else {
                        out += match
                    }
                    i = j + 1
                    continue
                }
            }
            out.append(s[i])
            i += 1
        }
        return out
    }

    /// Python's `html.unescape`.
    static func htmlUnescape(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard s.contains("&") else { return s }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        var i = 0
        let n = s.count
        while i < n {
            guard s[i] == "&", i + 1 < n else { out.append(s[i]); i += 1; continue }
            var j = i + 1
            if s[j] == "#" {
                // #[0-9]+;?  |  #[xX][0-9a-fA-F]+;?
                var k = j + 1
                var hex = false
                if k < n && (s[k] == "x" || s[k] == "X") { hex = true; k += 1 }
                let digitsStart = k
                var value: UInt64 = 0
                while k < n, let d = hex ? hexValue(s[k]) : decValue(s[k]) {
                    value = min(value &* (hex ? 16 : 10) &+ UInt64(d), 0x7FFF_FFFF)
                    k += 1
                }
                // "&#" or "&#x" without digits matches none of the alternatives: a plain "&".
                if k == digitsStart { out.append(s[i]); i += 1; continue }
                if k < n && s[k] == ";" { k += 1 }
                out += numericReference(value)
                i = k
                continue
            }
            // [^\t\n\f <&#;]{1,32};?
            let nameStart = j
            while j < n && j - nameStart < 32 && !"\t\n\u{0C} <&#;".unicodeScalars.contains(s[j]) { j += 1 }
            if j == nameStart { out.append(s[i]); i += 1; continue }
            if j < n && s[j] == ";" { j += 1 }
            let name = String(String.UnicodeScalarView(s[nameStart..<j]))
            i = j
            if let v = entities[name] { out += v; continue }
            let scalars = Array(name.unicodeScalars)
            var replaced = false
            var x = scalars.count - 1
            while x > 1 {
                if let v = entities[String(String.UnicodeScalarView(scalars[0..<x]))] {
                    out += v
                    out += scalars[x...]
                    replaced = true
                    break
                }
                x -= 1
            }
            if !replaced { out.append("&"); out += scalars }
        }
        return out
    }

    @inline(__always) static func decValue(_ c: Unicode.Scalar) -> Int? {
        (0x30...0x39).contains(c.value) ? Int(c.value - 0x30) : nil
    }

    @inline(__always) static func hexValue(_ c: Unicode.Scalar) -> Int? {
        switch c.value {
        case 0x30...0x39: return Int(c.value - 0x30)
        case 0x41...0x46: return Int(c.value - 0x41 + 10)
        case 0x61...0x66: return Int(c.value - 0x61 + 10)
        default: return nil
        }
    }

    /// `html._replace_charref` for a numeric reference.
    static func numericReference(_ num: UInt64) -> [Unicode.Scalar] {
        if num == 0 { return ["\u{FFFD}"] }
        if num == 13 { return ["\r"] }
        if (0x80...0x9F).contains(num) { return [windows1252[Int(num - 0x80)]] }
        if (0xD800...0xDFFF).contains(num) || num > 0x10FFFF { return ["\u{FFFD}"] }
        switch num {
        case 0x1...0x8, 0xB, 0xE...0x1F, 0x7F...0x9F, 0xFDD0...0xFDEF: return []
        default:
            if num & 0xFFFE == 0xFFFE { return [] }   // U+xFFFE, U+xFFFF of every plane
            return [Unicode.Scalar(UInt32(num))!]
        }
    }
}
