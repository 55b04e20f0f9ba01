import Foundation
import Testing
import TensorCore
@testable import Models

/// The building blocks in Models/Common that ViT, CLIP, BERT and Whisper share.
@Suite("Common blocks: activation, linear, attention, transformer block, byte-level BPE")
struct CommonBlocksTests {
    static func random(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
        var s = seed &* 6364136223846793005 &+ 1442695040888963407
        return Tensor(shape: shape) { buf in
            for i in buf.indices {
                s = s &* 6364136223846793005 &+ 1442695040888963407
                buf[i] = scale * Float(Int64(bitPattern: s >> 11) % 20_001) / 10_000
            }
        }
    }

    static func linear(_ out: Int, _ inp: Int, seed: UInt64, bias: Bool = true) -> Linear {
        Linear(weight: random([out, inp], seed: seed, scale: 0.3), bias: bias ? random([out], seed: seed + 1, scale: 0.1) : nil)
    }

    static func norm(_ d: Int, seed: UInt64) -> LayerNorm {
        LayerNorm(weight: random([d], seed: seed), bias: random([d], seed: seed + 1, scale: 0.1))
    }

    static func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
    }

    // MARK: activation

    @Test(arguments: [("gelu", Activation.gelu), ("gelu_new", .geluTanh), ("gelu_pytorch_tanh", .geluTanh),
                      ("gelu_fast", .geluTanh), ("quick_gelu", .quickGELU), ("relu", .relu), ("relu6", .relu6)])
    func huggingFaceNames(_ name: String, _ want: Activation) throws {
        #expect(Activation(huggingFace: name) == want)
        #expect(try Activation.huggingFace(name, path: "config.json") == want)
        #expect(Activation.huggingFaceNames.contains(name))
    }

    @Test func unknownActivationIsALoaderError() {
        let e = #expect(throws: WeightFileError.self) { try Activation.huggingFace("swish", key: "text hidden_act", path: "/m/config.json") }
        #expect(e?.path == "/m/config.json" && e?.problem.hasPrefix("text hidden_act 'swish' is not supported (gelu, gelu_new") == true)
    }

    @Test func activationsApplyTheTensorOps() {
        let x = Self.random([3, 40], seed: 1, scale: 8)
        let cases: [(Activation, Tensor)] = [(.identity, x), (.relu, x.relu()), (.relu6, x.relu6()), (.gelu, x.gelu()),
                                            (.geluTanh, x.geluTanh()), (.quickGELU, x.quickGELU())]
        for (a, want) in cases { #expect(a(x).scalars == want.scalars, "\(a)") }
        #expect(Activation.identity.fused == Tensor.FusedActivation.none && Activation.relu.fused == .relu
                && Activation.relu6.fused == .relu6 && Activation.gelu.fused == nil)
    }

    // MARK: linear

    @Test func linearStackingAndOutputs() {
        let parts = (0..<3).map { Self.linear(4, 6, seed: 10 + UInt64($0) * 2) }
        let fused = Linear(stacking: parts)
        #expect(fused.outFeatures == 12 && fused.inFeatures == 6)
        let x = Self.random([5, 6], seed: 20)
        let all = fused(x)
        for (i, p) in parts.enumerated() {
            #expect(fused.outputs((4 * i)..<(4 * i + 4))(x).scalars == p(x).scalars)
            #expect(all.slice(axis: 1, (4 * i)..<(4 * i + 4)).scalars == p(x).scalars)
        }
        let noBias = Linear(stacking: [Self.linear(2, 3, seed: 30, bias: false), Self.linear(2, 3, seed: 32, bias: false)])
        #expect(noBias.bias == nil && noBias.outFeatures == 4)
        #expect(fused.matrix.precision == .float32 && fused.halfPrecisionIfExact().matrix.precision == .float32)
    }

    // MARK: attention and blocks

    @Test func fusedAndSeparateProjectionsAgree() {
        let d = 16, heads = 4
        let q = Self.linear(d, d, seed: 40), k = Self.linear(d, d, seed: 42), v = Self.linear(d, d, seed: 44), out = Self.linear(d, d, seed: 46)
        let fused = MultiHeadAttention(qkv: Linear(stacking: [q, k, v]), out: out, heads: heads)
        let separate = MultiHeadAttention(query: q, key: k, value: v, out: out, heads: heads)
        let x = Self.random([2, 7, d], seed: 48)
        for causal in [false, true] {
            let a = fused(x, causal: causal), b = separate(x, causal: causal)
            #expect(a.shape == [2, 7, d] && Self.maxDifference(a, b) < 1e-5, "causal \(causal)")
        }
        // queries / keysAndValues are the parts of project.
        let (pq, pk, pv) = fused.project(x)
        let (sk, sv) = fused.keysAndValues(x)
        #expect(Self.maxDifference(pq, fused.queries(x)) < 1e-6 && Self.maxDifference(pk, sk) < 1e-6 && Self.maxDifference(pv, sv) < 1e-6)
        #expect(pq.shape == [2, heads, 7, d / heads])
    }

    @Test func preNormBlockIsTheResidualComposition() {
        let d = 8, heads = 2, mlp = 24
        let block = TransformerBlock(attentionNorm: Self.norm(d, seed: 50),
                                     attention: MultiHeadAttention(qkv: Self.linear(3 * d, d, seed: 52), out: Self.linear(d, d, seed: 54), heads: heads),
                                     attentionScale: Self.random([d], seed: 56),
                                     mlpNorm: Self.norm(d, seed: 58),
                                     mlp: MLP(fc1: Self.linear(mlp, d, seed: 60), fc2: Self.linear(d, mlp, seed: 62), activation: .quickGELU),
                                     mlpScale: Self.random([d], seed: 64))
        let x = Self.random([3, 5, d], seed: 66)
        let h = x + block.attention(block.attentionNorm(x)) * block.attentionScale!
        let want = h + block.mlp.fc2(block.mlp.fc1(block.mlpNorm(h)).quickGELU()) * block.mlpScale!
        #expect(block(x).scalars == want.scalars)

        let post = TransformerBlock(.post, attentionNorm: block.attentionNorm, attention: block.attention,
                                    mlpNorm: block.mlpNorm, mlp: block.mlp)
        let mask = Tensor(shape: [3, 5], scalars: (0..<15).map { $0 % 5 < 4 ? 1 : 0 })
        let p = post.attentionNorm(post.attention(x, keyMask: mask) + x)
        #expect(post(x, keyMask: mask).scalars == post.mlpNorm(post.mlp(p) + p).scalars)
    }

    @Test func cachedDecodingMatchesTheFullCausalPass() {
        let d = 12, heads = 3, s = 9
        let attention = { (seed: UInt64) in
            MultiHeadAttention(query: Self.linear(d, d, seed: seed), key: Self.linear(d, d, seed: seed + 2, bias: false),
                               value: Self.linear(d, d, seed: seed + 4), out: Self.linear(d, d, seed: seed + 6), heads: heads)
        }
        let block = TransformerBlock(attentionNorm: Self.norm(d, seed: 70), attention: attention(72),
                                     crossAttention: .init(norm: Self.norm(d, seed: 80), attention: attention(82)),
                                     mlpNorm: Self.norm(d, seed: 90),
                                     mlp: MLP(fc1: Self.linear(2 * d, d, seed: 92), fc2: Self.linear(d, 2 * d, seed: 94), activation: .gelu))
        let audio = Self.random([2, s, d], seed: 96)
        let (mk, mv) = block.crossAttention!.attention.keysAndValues(audio)
        let memory = AttentionMemory(key: mk, value: mv)
        let x = Self.random([2, 6, d], seed: 98)
        var seen: [[Int]] = []
        let full = block(x, causal: true, memory: memory, crossQueries: { seen.append($0.shape) })
        #expect(seen == [[2, heads, 6, d / heads]])
        // Prompt of 4 positions, then one at a time.
        let cache = KVCache(batch: 2, heads: heads, capacity: 8, headDim: d / heads)
        var parts = [block(x.slice(axis: 1, 0..<4), cache: cache, memory: memory)]
        for t in 4..<6 { parts.append(block(x.slice(axis: 1, t..<(t + 1)), cache: cache, memory: memory)) }
        let stepped = Tensor.concat(parts, axis: 1)
        #expect(cache.length == 6 && Self.maxDifference(stepped, full) < 1e-5, "max abs difference \(Self.maxDifference(stepped, full))")
    }

    // MARK: Whisper's half-precision decoder

    @Test func syntheticWhisperWeightsStayFloat32() {
        #expect(WhisperModel(weights: Synthetic.weights()).decoderPrecision == .float32)
    }

    /// tiny.en ships in float16: its decoder is stored so (where the CPU converts in
    /// hardware), and decodes to the same logits as in float32, bit for bit, for a prompt
    /// (many rows) and for beam steps (few rows).
    @Test func halfPrecisionDecoderGivesTheFloat32Logits() throws {
        let (w, _) = try WhisperLoader.load(directory: try WhisperWeightsTests.requiredModel("whisper-tiny.en"))
        let half = WhisperModel(weights: w), single = WhisperModel(weights: w, computeType: .float32)
        #expect(half.decoderPrecision == (CPUFeatures.avx2FMAF16C ? .float16 : .float32) && single.decoderPrecision == .float32)
        let audio = Self.random([1, w.dims.nAudioCtx, w.dims.nAudioState], seed: 5, scale: 0.5)
        let prompt = [50257, 50362] + Array(220..<260)
        var logits: [[Float]] = []
        for model in [half, single] {
            let cross = model.crossKV(audio)
            let caches = model.makeCaches(batch: 1)
            var out = model.decode([prompt], cross: cross, caches: caches, positions: [0, 20, prompt.count - 1]).scalars
            let beams = model.makeCaches(batch: 3)
            for c in beams { c.fill(from: caches[0]) }
            out += model.decode([[300], [301], [302]], cross: cross, caches: beams).scalars
            logits.append(out)
        }
        #expect(logits[0] == logits[1])
    }

    // MARK: byte-level BPE

    @Test func byteAlphabet() {
        let symbols = ByteLevelBPE.symbols
        #expect(Set(symbols).count == 256 && symbols[32] == "Ġ" && symbols[10] == "Ċ" && symbols[65] == "A")
        #expect(Set(ByteLevelBPE.byteOrder).count == 256 && ByteLevelBPE.byteOrder.first == UInt8(ascii: "!")
                && ByteLevelBPE.byteOrder[188] == 0)   // 188 printable bytes, then the others from 0
        let bytes: [UInt8] = Array(" héllo\n".utf8) + [0, 255, 127]
        #expect(ByteLevelBPE.bytes(ofTokenString: ByteLevelBPE.tokenString(bytes)) == bytes)
        #expect(ByteLevelBPE.tokenString(Array(" the".utf8)) == "Ġthe" && ByteLevelBPE.bytes(ofTokenString: "a\u{4E00}") == nil)
        for s in ["a", "é", "\u{4E00}", "\u{1F600}"] {
            var out: [UInt8] = []
            for c in s.unicodeScalars { ByteLevelBPE.appendUTF8(c, to: &out) }
            #expect(out == Array(s.utf8))
        }
    }

    /// GPT-2's / open_clip's `bpe`: merge every occurrence of the lowest-rank pair, repeat.
    static func sweep(_ start: [Int], _ table: [UInt64: ByteLevelBPE.Merge]) -> [Int] {
        var word = start
        while word.count > 1 {
            var best: (rank: Int32, merged: Int32, l: Int, r: Int)? = nil
            for i in 0..<(word.count - 1) {
                if let m = table[ByteLevelBPE.pairKey(word[i], word[i + 1])], m.rank < (best?.rank ?? .max) {
                    best = (m.rank, m.merged, word[i], word[i + 1])
                }
            }
            guard let best else { break }
            var next: [Int] = []
            var i = 0
            while i < word.count {
                if i + 1 < word.count && word[i] == best.l && word[i + 1] == best.r { next.append(Int(best.merged)); i += 2 } else { next.append(word[i]); i += 1 }
            }
            word = next
        }
        return word
    }

    @Test func mergeLoopEqualsTheSweepOnTrainedMergeLists() {
        // A merge list as BPE training writes it: each merge joins tokens made earlier, and
        // makes a new token (ids 4...).
        var seed: UInt64 = 7
        func next(_ n: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int(seed >> 33) % n
        }
        var table: [UInt64: ByteLevelBPE.Merge] = [:]
        var tokens = 4
        for rank in 0..<60 {
            let a = next(tokens), b = next(tokens)
            if table[ByteLevelBPE.pairKey(a, b)] != nil { continue }
            table[ByteLevelBPE.pairKey(a, b)] = ByteLevelBPE.Merge(rank: Int32(rank), merged: Int32(tokens))
            tokens += 1
        }
        for _ in 0..<500 {
            let word = (0..<(1 + next(12))).map { _ in next(4) }
            var got: [Int] = []
            ByteLevelBPE.merge(word, into: &got) { table[ByteLevelBPE.pairKey($0, $1)] }
            #expect(got == Self.sweep(word, table), "\(word)")
        }
        // Overlapping pairs merge from the left.
        let aa = [ByteLevelBPE.pairKey(0, 0): ByteLevelBPE.Merge(rank: 0, merged: 9)]
        var out: [Int] = [5]
        ByteLevelBPE.merge([0, 0, 0], into: &out) { aa[ByteLevelBPE.pairKey($0, $1)] }
        #expect(out == [5, 9, 0])
    }
}
