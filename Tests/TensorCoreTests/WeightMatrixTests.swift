import Foundation
import Testing
import TensorCore

/// `WeightMatrix` storages: float16 products equal float32 ones bit for bit (few rows through
/// the half kernel, many rows through float32 panels), views, gathers, exactness checks.
@Suite("WeightMatrix: float32 and float16 storage")
struct WeightMatrixTests {
    /// Values exactly representable in half precision: multiples of 1/1024 in [-2, 2].
    static func halfExact(_ shape: [Int], seed: UInt64) -> Tensor {
        var s = seed &* 6364136223846793005 &+ 1442695040888963407
        return Tensor(shape: shape) { buf in
            for i in buf.indices {
                s = s &* 6364136223846793005 &+ 1442695040888963407
                buf[i] = Float(Int64(bitPattern: s >> 12) % 2049) / 1024
            }
        }
    }

    static func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var s = seed &* 6364136223846793005 &+ 1442695040888963407
        return Tensor(shape: shape) { buf in
            for i in buf.indices {
                s = s &* 6364136223846793005 &+ 1442695040888963407
                buf[i] = Float(Int64(bitPattern: s >> 11) % 200_001) / 100_000
            }
        }
    }

    struct Shape: Sendable, CustomStringConvertible {
        let rows: Int, inF: Int, outF: Int, bias: Bool
        var description: String { "\(rows) x [\(outF), \(inF)]\(bias ? " + bias" : "")" }
    }

    // Few rows (the half kernel), many rows (panels; widths not a multiple of a panel), a
    // weight too small for the few-row kernel, with and without bias.
    static let shapes: [Shape] = [
        Shape(rows: 1, inF: 384, outF: 1536, bias: true), Shape(rows: 5, inF: 1536, outF: 384, bias: true),
        Shape(rows: 8, inF: 384, outF: 1000, bias: false), Shape(rows: 9, inF: 384, outF: 1000, bias: true),
        Shape(rows: 40, inF: 384, outF: 2085, bias: false), Shape(rows: 200, inF: 1536, outF: 384, bias: true),
        Shape(rows: 400, inF: 1536, outF: 384, bias: true),      // more rows than outputs: split by rows
        Shape(rows: 3, inF: 16, outF: 24, bias: true), Shape(rows: 64, inF: 97, outF: 33, bias: false),
    ]

    @Test(.enabled(if: CPUFeatures.avx2FMAF16C, "needs AVX2, FMA and F16C"), arguments: shapes)
    func halfStorageGivesTheFloat32Products(_ s: Shape) throws {
        let w = Self.halfExact([s.outF, s.inF], seed: 1)
        let x = Self.random([s.rows, s.inF], seed: 2)
        let b = s.bias ? Self.random([s.outF], seed: 3) : nil
        let half = try #require(WeightMatrix(halfPrecisionExactly: w))
        #expect(half.precision == .float16 && half.shape == [s.outF, s.inF] && half.byteCount == s.outF * s.inF * 2)
        let want = Tensor.linear(x, weight: w, bias: b)
        let got = Tensor.linear(x, weight: half, bias: b)
        #expect(got.shape == want.shape)
        let diff = zip(got.scalars, want.scalars).map { abs($0 - $1) }.max() ?? 0
        #expect(got.scalars == want.scalars, "\(s): max abs difference \(diff)")
    }

    @Test(.enabled(if: CPUFeatures.avx2FMAF16C, "needs AVX2, FMA and F16C"))
    func halfStorageKeepsValuesAndViews() throws {
        let w = Self.halfExact([70, 48], seed: 4)
        let half = try #require(WeightMatrix(halfPrecisionExactly: w))
        #expect(half.float32.scalars == w.scalars)
        let rows = half.rows(10..<30)
        #expect(rows.precision == .float16 && rows.shape == [20, 48])
        #expect(rows.float32.scalars == w.slice(axis: 0, 10..<30).scalars)
        #expect(half.gather([3, 0, 69, 3]).scalars == [3, 0, 69, 3].flatMap { w.slice(axis: 0, $0..<($0 + 1)).scalars })
        #expect(WeightMatrix(w).gather([5]).scalars == w.slice(axis: 0, 5..<6).scalars)
        // A row view multiplies as its rows of the whole.
        let x = Self.random([12, 48], seed: 5)
        #expect(Tensor.linear(x, weight: rows).scalars == Tensor.linear(x, weight: w.slice(axis: 0, 10..<30)).scalars)
        #expect(half.halfPrecisionIfExact().precision == .float16)
    }

    @Test func inexactWeightsStayFloat32() {
        var v = Self.halfExact([40, 40], seed: 6).scalars
        v[17] = 0.1                                  // not a half float
        let w = Tensor(shape: [40, 40], scalars: v)
        #expect(WeightMatrix(halfPrecisionExactly: w) == nil)
        let m = WeightMatrix(w).halfPrecisionIfExact()
        #expect(m.precision == .float32 && m.float32.storage === w.storage)
    }
}

/// `Tensor.l2Normalized`: the loops CLIP, sentence-transformers and zero-shot averaging use.
@Suite("L2 normalisation")
struct L2NormalizationTests {
    @Test func matchesTheRowLoops() {
        let x = WeightMatrixTests.random([7, 33], seed: 9)
        let v = x.scalars
        for (accumulation, epsilon) in [(Tensor.L2Accumulation.float, Float(0)), (.float, 1e-12), (.double, 0)] {
            let got = x.l2Normalized(epsilon: epsilon, accumulation: accumulation).scalars
            var want = [Float](repeating: 0, count: v.count)
            for r in 0..<7 {
                let row = Array(v[(r * 33)..<((r + 1) * 33)])
                let inv: Float
                if accumulation == .double {
                    var sum: Double = 0
                    for a in row { sum += Double(a) * Double(a) }
                    inv = Float(1 / sum.squareRoot())
                } else {
                    var sum: Float = 0
                    for a in row { sum += a * a }
                    inv = 1 / max(sum.squareRoot(), epsilon)
                }
                for j in 0..<33 { want[r * 33 + j] = row[j] * inv }
            }
            #expect(got == want, "\(accumulation) epsilon \(epsilon)")
        }
    }

    @Test func zeroRowsAndAxes() {
        let x = Tensor(shape: [2, 3], scalars: [0, 0, 0, 3, 0, 4])
        #expect(x.l2Normalized().scalars == [0, 0, 0, 0.6, 0, 0.8])
        #expect(x.l2Normalized(accumulation: .double).scalars == [0, 0, 0, 0.6, 0, 0.8])
        // epsilon bounds the norm from below (sentence-transformers' Normalize).
        let tiny = Tensor(shape: [1, 2], scalars: [1e-14, 0])
        #expect(tiny.l2Normalized(epsilon: 1e-12).scalars == [1e-14 * (1 / Float(1e-12)), 0])
        #expect(abs(tiny.l2Normalized().scalars[0] - 1) < 1e-6)
        // Along axis 0: columns.
        #expect(x.l2Normalized(axis: 0).scalars == [0, 0, 0, 1, 0, 1])
        #expect(Tensor(zeros: [0, 4]).l2Normalized().shape == [0, 4])
    }
}

/// `ImagePreprocessing`, the one preprocessing spec: JSON keys and the recipes.
@Suite("ImagePreprocessing spec")
struct ImagePreprocessingTests {
    @Test func jsonAndRecipes() throws {
        let json = #"{"resizeShorterSide":256,"filter":"bilinear","cropWidth":224,"cropHeight":224,"mean":[0.485,0.456,0.406],"std":[0.229,0.224,0.225]}"#
        let p = try JSONDecoder().decode(ImagePreprocessing.self, from: Data(json.utf8))
        #expect(p == .imagenet && p == .torchvisionImageNet && !p.resizeExact)
        let exact = ImagePreprocessing.huggingFaceViT(size: 32)
        #expect(exact.resizeExact && exact.resizeShorterSide == 32 && exact.inputShape(batch: 2) == [2, 3, 32, 32])
        #expect(try JSONDecoder().decode(ImagePreprocessing.self, from: JSONEncoder().encode(exact)) == exact)
        #expect(ImagePreprocessing.clip == .clip(imageSize: 224) && ImagePreprocessing.clip.filter == .bicubic)
        let crop = ImagePreprocessing.centerCrop(size: 224, cropFraction: 0.9, filter: .bicubic, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
        #expect(crop.resizeShorterSide == 248 && crop.cropWidth == 224)
    }
}
