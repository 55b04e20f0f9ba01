import Foundation
import Testing
import TensorCore

/// `Tensor.fusedConv2d` (the convolution the vision models run) against a direct
/// double-precision loop: dense, grouped, pointwise and depthwise convolutions, strides 1
/// and 2, symmetric and TensorFlow "SAME" padding, with bias, residual and activations.
@Suite("Vision ops: fused convolution")
struct VisionOpsTests {
    struct Case: Sendable, CustomStringConvertible {
        var n = 2, c = 6, h = 9, w = 11, o = 8, k = 3, stride = 1, groups = 1
        var same = false, residual = false, act: Tensor.FusedActivation = .none
        var description: String { "n\(n) c\(c) \(h)x\(w) o\(o) k\(k) s\(stride) g\(groups)\(same ? " same" : "")\(residual ? " +res" : "") \(act)" }
    }

    static let cases: [Case] = [
        Case(),
        Case(stride: 2, act: .relu),
        Case(k: 1, residual: true, act: .relu),                       // pointwise, batched (small image)
        Case(n: 1, h: 40, w: 36, k: 1, act: .relu6),                  // pointwise, one GEMM per image
        Case(n: 2, h: 40, w: 36, k: 3, stride: 2, same: true),        // large image, SAME
        Case(k: 3, stride: 2, same: true, act: .relu6),              // stem-like: SAME, asymmetric pad
        Case(c: 8, o: 8, k: 3, stride: 1, groups: 8, same: true, act: .relu6),   // depthwise
        Case(c: 8, h: 12, w: 12, o: 8, k: 3, stride: 2, groups: 8, same: true, act: .relu6),
        Case(c: 8, h: 14, w: 13, o: 8, k: 5, stride: 2, groups: 8, same: true, act: .relu6),
        Case(c: 8, h: 21, w: 30, o: 8, k: 5, stride: 1, groups: 8, same: true, residual: true, act: .none),
        Case(c: 8, o: 8, k: 3, stride: 2, groups: 8, act: .relu),    // depthwise, symmetric padding
        Case(c: 6, o: 4, k: 3, stride: 1, groups: 2, act: .relu),    // grouped
    ]

    static func random(_ shape: [Int], seed: inout UInt64) -> Tensor {
        Tensor(shape: shape) { out in
            for i in 0..<out.count {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                out[i] = Float(Int64(bitPattern: seed >> 11) % 2000) / 1000 - 1
            }
        }
    }

    @Test(arguments: cases)
    func matchesDirectConvolution(_ t: Case) throws {
        var seed: UInt64 = 42
        let x = Self.random([t.n, t.c, t.h, t.w], seed: &seed)
        let weight = Self.random([t.o, t.c / t.groups, t.k, t.k], seed: &seed)
        let bias = Self.random([t.o], seed: &seed)
        let (ho, wo, top, left): (Int, Int, Int, Int)
        if t.same {
            ho = (t.h + t.stride - 1) / t.stride; wo = (t.w + t.stride - 1) / t.stride
            top = max((ho - 1) * t.stride + t.k - t.h, 0) / 2
            left = max((wo - 1) * t.stride + t.k - t.w, 0) / 2
        } else {
            let p = t.k / 2
            ho = (t.h + 2 * p - t.k) / t.stride + 1; wo = (t.w + 2 * p - t.k) / t.stride + 1
            (top, left) = (p, p)
        }
        let res = t.residual ? Self.random([t.n, t.o, ho, wo], seed: &seed) : nil
        let got = Tensor.fusedConv2d(x, weight: weight, bias: bias, stride: t.stride, padTop: top, padLeft: left,
                                     outHeight: ho, outWidth: wo, groups: t.groups, residual: res, activation: t.act)
        #expect(got.shape == [t.n, t.o, ho, wo])
        let xs = x.scalars, ws = weight.scalars, bs = bias.scalars, rs = res?.scalars, g = got.scalars
        let cg = t.c / t.groups, og = t.o / t.groups
        var maxErr: Double = 0
        for img in 0..<t.n { for oc in 0..<t.o { for oy in 0..<ho { for ox in 0..<wo {
            var s = Double(bs[oc])
            let gi = oc / og
            for ci in 0..<cg { for ky in 0..<t.k { for kx in 0..<t.k {
                let iy = oy * t.stride - top + ky, ix = ox * t.stride - left + kx
                guard iy >= 0, iy < t.h, ix >= 0, ix < t.w else { continue }
                let xv = xs[((img * t.c + gi * cg + ci) * t.h + iy) * t.w + ix]
                s += Double(xv) * Double(ws[((oc * cg + ci) * t.k + ky) * t.k + kx])
            } } }
            let idx = ((img * t.o + oc) * ho + oy) * wo + ox
            if let rs { s += Double(rs[idx]) }
            switch t.act {
            case .none: break
            case .relu: s = max(s, 0)
            case .relu6: s = min(max(s, 0), 6)
            }
            maxErr = max(maxErr, abs(s - Double(g[idx])))
        } } } }
        #expect(maxErr <= 1e-4, "\(t): max abs error \(maxErr)")
    }
}
