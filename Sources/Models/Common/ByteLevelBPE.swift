/// GPT-2's byte-level BPE, the part the CLIP and Whisper tokenizers share: the
/// `bytes_to_unicode` alphabet that spells bytes in token strings, UTF-8 bytes of a piece,
/// and the merge loop. What differs (pre-tokenisation, where the merge ranks come from,
/// special tokens) stays in each tokenizer.
public enum ByteLevelBPE {
    // MARK: alphabet (GPT-2's bytes_to_unicode)

    /// Whether a byte stands for itself in token strings: `!`...`~`, `¡`...`¬`, `®`...`ÿ`.
    static func isPrintable(_ b: Int) -> Bool {
        (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
    }

    /// The character of each byte (`symbols[b]`): printable bytes stand for themselves, the
    /// other 68 map to U+0100 on, in byte order.
    public static let symbols: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var extra: UInt32 = 0
        for b in 0..<256 {
            if isPrintable(b) {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(256 + extra)!
                extra += 1
            }
        }
        return table
    }()

    /// `bytes_to_unicode`'s order: the printable bytes, then the others (the order of the 256
    /// byte tokens that open CLIP's vocabulary).
    public static let byteOrder: [UInt8] = (0..<256).filter(isPrintable).map(UInt8.init)
        + (0..<256).filter { !isPrintable($0) }.map(UInt8.init)

    private static let byteOfSymbol: [UInt32: UInt8] = {
        var m: [UInt32: UInt8] = [:]
        for (b, s) in symbols.enumerated() { m[s.value] = UInt8(b) }
        return m
    }()

    /// The byte a character of a token string stands for, or nil if it is not in the alphabet.
    public static func byte(of symbol: Unicode.Scalar) -> UInt8? { byteOfSymbol[symbol.value] }

    /// The bytes a byte-level token string (`"Ġthe"`) stands for; nil if it has a character
    /// outside the alphabet.
    public static func bytes(ofTokenString s: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(s.unicodeScalars.count)
        for c in s.unicodeScalars {
            guard let b = byteOfSymbol[c.value] else { return nil }
            out.append(b)
        }
        return out
    }

    /// The token string of `bytes` (`" the"` -> `"Ġthe"`).
    public static func tokenString(_ bytes: [UInt8]) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(symbols[Int(b)]) }
        return String(s)
    }

    /// Appends the UTF-8 bytes of `s`.
    @inline(__always)
    static func appendUTF8(_ s: Unicode.Scalar, to bytes: inout [UInt8]) {
        let v = s.value
        switch v {
        case 0..<0x80:
            bytes.append(UInt8(v))
        case 0x80..<0x800:
            bytes.append(UInt8(0xC0 | (v >> 6))); bytes.append(UInt8(0x80 | (v & 0x3F)))
        case 0x800..<0x10000:
            bytes.append(UInt8(0xE0 | (v >> 12))); bytes.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            bytes.append(UInt8(0x80 | (v & 0x3F)))
        default:
            bytes.append(UInt8(0xF0 | (v >> 18))); bytes.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            bytes.append(UInt8(0x80 | ((v >> 6) & 0x3F))); bytes.append(UInt8(0x80 | (v & 0x3F)))
        }
    }

    // MARK: merging

    /// A pair that merges: its rank (lower merges first) and the id of the merged token.
    public struct Merge: Sendable, Equatable {
        public var rank: Int32
        public var merged: Int32

        public init(rank: Int32, merged: Int32) {
            self.rank = rank
            self.merged = merged
        }
    }

    /// `(left << 32) | right`: the key of a pair of ids in a merge table.
    @inline(__always) public static func pairKey(_ a: Int, _ b: Int) -> UInt64 { UInt64(UInt32(a)) << 32 | UInt64(UInt32(b)) }

    /// BPE of one piece's token ids: repeatedly merges the adjacent pair of lowest rank
    /// (`rule`; the leftmost on a tie) until no pair merges; appends the result to `out`.
    /// A heap over a linked list keeps long pieces O(n log n).
    ///
    /// - Important: merging one pair at a time, as here (Hugging Face `tokenizers`, tiktoken),
    ///   equals merging every occurrence of the lowest-rank pair in one sweep (GPT-2's and
    ///   open_clip's `bpe`) whenever a merged token only takes part in merges of higher rank
    ///   than the merge that made it, as in every merge list BPE training writes (open_clip's
    ///   `bpe_simple_vocab_16e6` included).
    @inline(__always)
    static func merge(_ start: [Int], into out: inout [Int], rule: (Int, Int) -> Merge?) {
        let n = start.count
        if n <= 1 { out += start; return }
        var ids = start
        var next = Array(1...n)            // n = end
        var prev = Array(-1..<(n - 1))
        var alive = [Bool](repeating: true, count: n)
        var heap = PairHeap()
        func consider(_ l: Int, _ r: Int) {
            if let m = rule(ids[l], ids[r]) {
                heap.push(.init(rank: m.rank, left: Int32(l), right: Int32(r),
                                leftID: Int32(ids[l]), rightID: Int32(ids[r]), merged: m.merged))
            }
        }
        for i in 0..<(n - 1) { consider(i, i + 1) }
        while let m = heap.pop() {
            let l = Int(m.left), r = Int(m.right)
            // Stale when either node merged since it was pushed (ids only ever grow longer,
            // so an unchanged id means an unchanged node).
            guard alive[l], alive[r], next[l] == r, ids[l] == Int(m.leftID), ids[r] == Int(m.rightID) else { continue }
            ids[l] = Int(m.merged)
            alive[r] = false
            next[l] = next[r]
            if next[r] < n { prev[next[r]] = l }
            if prev[l] >= 0 { consider(prev[l], l) }
            if next[l] < n { consider(l, next[l]) }
        }
        var i = 0
        while i < n { out.append(ids[i]); i = next[i] }
    }

    /// A binary min-heap of candidate merges ordered by (rank, left position).
    private struct PairHeap {
        struct Item {
            var rank: Int32
            var left: Int32
            var right: Int32
            var leftID: Int32
            var rightID: Int32
            var merged: Int32
            @inline(__always) func less(_ o: Item) -> Bool { rank != o.rank ? rank < o.rank : left < o.left }
        }
        var items: [Item] = []

        mutating func push(_ x: Item) {
            items.append(x)
            var i = items.count - 1
            while i > 0 {
                let p = (i - 1) / 2
                if !items[i].less(items[p]) { break }
                items.swapAt(i, p); i = p
            }
        }

        mutating func pop() -> Item? {
            guard let top = items.first else { return nil }
            let last = items.removeLast()
            if !items.isEmpty {
                items[0] = last
                var i = 0
                while true {
                    let a = 2 * i + 1, b = a + 1
                    var m = i
                    if a < items.count && items[a].less(items[m]) { m = a }
                    if b < items.count && items[b].less(items[m]) { m = b }
                    if m == i { break }
                    items.swapAt(i, m); i = m
                }
            }
            return top
        }
    }
}
