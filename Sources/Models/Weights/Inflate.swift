/// Raw DEFLATE decompression (RFC 1951): stored, fixed-Huffman and dynamic-Huffman blocks.
///
/// Enough for the zip members of `.npz` files (numpy's `savez_compressed`), which Foundation on
/// Linux cannot inflate. Canonical Huffman codes are decoded a bit at a time, as zlib's `puff.c`
/// does: simple and fast enough for the few hundred kilobytes of mel filters and the like.
///
/// - Important: no zlib or gzip wrapper here; the zip reader hands over the raw stream.
public enum Inflate {
    public struct Failure: Error, CustomStringConvertible, Equatable, Sendable {
        public let description: String
        init(_ d: String) { description = d }
    }

    /// The decompressed bytes. `expectedSize`, when known (a zip entry's size), reserves the
    /// output and is checked at the end.
    public static func decompress(_ input: [UInt8], expectedSize: Int? = nil) throws -> [UInt8] {
        var s = State(input: input)
        if let expectedSize { s.out.reserveCapacity(expectedSize) }
        var last = false
        while !last {
            last = try s.bits(1) == 1
            switch try s.bits(2) {
            case 0: try s.stored()
            case 1: try s.codes(Fixed.lengths, Fixed.distances)
            case 2: try s.dynamic()
            default: throw Failure("invalid block type 3 at input byte \(s.position)")
            }
        }
        if let expectedSize, s.out.count != expectedSize {
            throw Failure("inflated to \(s.out.count) bytes, expected \(expectedSize)")
        }
        return s.out
    }

    /// A canonical Huffman code: how many codes have each length, and the symbols ordered by
    /// (length, symbol).
    struct Huffman {
        var count = [Int](repeating: 0, count: 16)
        var symbol: [Int]

        /// Returns nil for an over-subscribed set of lengths; `incomplete` tells whether some
        /// bit patterns are unused.
        init?(lengths: ArraySlice<Int>, incomplete: inout Bool) {
            symbol = [Int](repeating: 0, count: lengths.count)
            for l in lengths { count[l] += 1 }
            var left = 1
            for len in 1..<16 {
                left <<= 1
                left -= count[len]
                if left < 0 { return nil }
            }
            incomplete = left > 0 && count[0] != lengths.count
            var offs = [Int](repeating: 0, count: 16)
            for len in 1..<15 { offs[len + 1] = offs[len] + count[len] }
            for (i, l) in lengths.enumerated() where l != 0 {
                symbol[offs[l]] = i
                offs[l] += 1
            }
        }
    }

    enum Fixed {
        static let lengths: Huffman = {
            var l = [Int](repeating: 8, count: 288)
            for i in 144..<256 { l[i] = 9 }
            for i in 256..<280 { l[i] = 7 }
            var inc = false
            return Huffman(lengths: l[...], incomplete: &inc)!
        }()
        static let distances: Huffman = {
            var inc = false
            return Huffman(lengths: [Int](repeating: 5, count: 30)[...], incomplete: &inc)!
        }()
    }

    static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
                               2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    static let distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
    static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    struct State {
        let input: [UInt8]
        var position = 0          // next input byte
        var bitBuffer = 0
        var bitCount = 0
        var out: [UInt8] = []

        init(input: [UInt8]) { self.input = input }

        /// `n` bits, least significant first (n <= 16).
        @inline(__always) mutating func bits(_ n: Int) throws -> Int {
            while bitCount < n {
                guard position < input.count else { throw Failure("deflate stream ends early (input truncated at \(input.count) bytes)") }
                bitBuffer |= Int(input[position]) << bitCount
                position += 1
                bitCount += 8
            }
            let v = bitBuffer & ((1 << n) - 1)
            bitBuffer >>= n
            bitCount -= n
            return v
        }

        mutating func stored() throws {
            bitBuffer = 0; bitCount = 0           // to a byte boundary
            guard position + 4 <= input.count else { throw Failure("stored block header truncated") }
            let len = Int(input[position]) | Int(input[position + 1]) << 8
            let nlen = Int(input[position + 2]) | Int(input[position + 3]) << 8
            position += 4
            guard len == (~nlen & 0xFFFF) else { throw Failure("stored block length \(len) does not match its complement") }
            guard position + len <= input.count else { throw Failure("stored block of \(len) bytes runs past the input") }
            out.append(contentsOf: input[position..<(position + len)])
            position += len
        }

        @inline(__always) mutating func decode(_ h: Huffman) throws -> Int {
            var code = 0, first = 0, index = 0
            for len in 1..<16 {
                code |= try bits(1)
                let count = h.count[len]
                if code - count < first { return h.symbol[index + (code - first)] }
                index += count
                first += count
                first <<= 1
                code <<= 1
            }
            throw Failure("invalid Huffman code")
        }

        mutating func codes(_ lengths: Huffman, _ distances: Huffman) throws {
            while true {
                let sym = try decode(lengths)
                if sym < 256 { out.append(UInt8(sym)); continue }
                if sym == 256 { return }
                let li = sym - 257
                guard li < 29 else { throw Failure("invalid length symbol \(sym)") }
                let len = Inflate.lengthBase[li] + (try bits(Inflate.lengthExtra[li]))
                let di = try decode(distances)
                guard di < 30 else { throw Failure("invalid distance symbol \(di)") }
                let dist = Inflate.distanceBase[di] + (try bits(Inflate.distanceExtra[di]))
                guard dist <= out.count else { throw Failure("distance \(dist) reaches before the start of the output") }
                let from = out.count - dist
                for k in 0..<len { out.append(out[from + k]) }      // may overlap: byte by byte
            }
        }

        mutating func dynamic() throws {
            let nlen = try bits(5) + 257, ndist = try bits(5) + 1, ncode = try bits(4) + 4
            guard nlen <= 286, ndist <= 30 else { throw Failure("dynamic block with \(nlen) length and \(ndist) distance codes") }
            var cl = [Int](repeating: 0, count: 19)
            for i in 0..<ncode { cl[Inflate.codeLengthOrder[i]] = try bits(3) }
            var incomplete = false
            guard let clCode = Huffman(lengths: cl[...], incomplete: &incomplete), !incomplete else {
                throw Failure("invalid code-length code")
            }
            var lengths = [Int](repeating: 0, count: nlen + ndist)
            var i = 0
            while i < nlen + ndist {
                let sym = try decode(clCode)
                if sym < 16 { lengths[i] = sym; i += 1; continue }
                var value = 0, repeats: Int
                switch sym {
                case 16:
                    guard i > 0 else { throw Failure("repeat of a code length with no previous length") }
                    value = lengths[i - 1]
                    repeats = 3 + (try bits(2))
                case 17: repeats = 3 + (try bits(3))
                default: repeats = 11 + (try bits(7))
                }
                guard i + repeats <= nlen + ndist else { throw Failure("code lengths repeat past the end") }
                for _ in 0..<repeats { lengths[i] = value; i += 1 }
            }
            guard lengths[256] != 0 else { throw Failure("dynamic block has no end-of-block code") }
            // Incomplete codes are allowed only when they have a single code (zlib's rule).
            guard let litCode = Huffman(lengths: lengths[0..<nlen], incomplete: &incomplete),
                  !incomplete || nlen - litCode.count[0] == 1 else { throw Failure("invalid literal/length code") }
            guard let distCode = Huffman(lengths: lengths[nlen...], incomplete: &incomplete),
                  !incomplete || ndist - distCode.count[0] == 1 else { throw Failure("invalid distance code") }
            try codes(litCode, distCode)
        }
    }
}

/// CRC-32 (IEEE 802.3, as zip and gzip use it).
public enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
