import Foundation

/// 3x3 stride-1 "same" convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin and
/// Gray 2015): each 2x2 block of outputs comes from a 4x4 block of inputs with 16
/// multiplications per input channel instead of 36, as 16 GEMMs `[O, C] x [C, tiles]`.
///
/// With V = Bᵀ d B (input tile), U = G g Gᵀ (filter) and Y = Aᵀ (U ⊙ V) A:
///   Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1],
///   Aᵀ = [1 1 1 0; 0 1 -1 -1].
/// The transforms only add and halve, so results stay within a few float32 roundings of the
/// direct sum.
extension Tensor {
    typealias WV = VectorMath.V

    /// Whether `winograd3x3` pays for a convolution: enough tiles to amortise the filter
    /// transform (it writes 16 x O x C floats per call).
    static func winogradPays(n: Int, c: Int, h: Int, w: Int, o: Int) -> Bool {
        let tiles = n * ((h + 1) / 2) * ((w + 1) / 2)
        return c >= 16 && o >= 16 && tiles >= c && tiles >= o
    }

    /// out[n, o, y, x] = epilogue(sum over c, 3x3 taps of x (zero padding 1) * weight).
    static func winograd3x3(_ x: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                            n: Int, c: Int, h: Int, w: Int, o: Int, _ epilogue: Epilogue) {
        let th = (h + 1) / 2, tw = (w + 1) / 2, tpi = th * tw, tiles = n * tpi
        let lanes = VectorMath.lanes
        // Row stride of V and M: every image's tiles, plus room for the last 8-tile block of
        // a row to spill past the end (spills inside a row range are overwritten in order).
        let ld = tiles + lanes
        let u = UnsafeMutablePointer<Float>.allocate(capacity: 16 * o * c)
        let v = UnsafeMutablePointer<Float>.allocate(capacity: 16 * c * ld)
        let m = UnsafeMutablePointer<Float>.allocate(capacity: 16 * o * ld + lanes)
        defer { u.deallocate(); v.deallocate(); m.deallocate() }

        // Filters: U[e][o][c] = (G g Gᵀ)[e]: G on g's columns (rows of g as lanes), then G on
        // the result's rows (its columns as lanes).
        Compute.parallelFor(o, grain: max(1, 2048 / c)) { oc in
            for ic in 0..<c {
                let g = wt + (oc * c + ic) * 9
                let dst = u + oc * c + ic
                let r = filterTransform(SIMD4(g[0], g[1], g[2], 0), SIMD4(g[3], g[4], g[5], 0), SIMD4(g[6], g[7], g[8], 0))
                let cols = filterTransform(SIMD4(r.0[0], r.1[0], r.2[0], r.3[0]), SIMD4(r.0[1], r.1[1], r.2[1], r.3[1]),
                                           SIMD4(r.0[2], r.1[2], r.2[2], r.3[2]))
                for i in 0..<4 {
                    dst[(i * 4) * o * c] = cols.0[i]
                    dst[(i * 4 + 1) * o * c] = cols.1[i]
                    dst[(i * 4 + 2) * o * c] = cols.2[i]
                    dst[(i * 4 + 3) * o * c] = cols.3[i]
                }
            }
        }

        // Inputs: V[e][c][tile] = (Bᵀ d B)[e], 8 tiles of a row at a time. The zero-padded
        // plane is split into even and odd columns, so tile column tx's four input columns
        // are even[tx], odd[tx], even[tx + 1], odd[tx + 1]: consecutive over tx.
        let ph = 2 * th + 2, ew = tw + lanes + 1
        Compute.parallelFor(c) { ch in
            let even = UnsafeMutablePointer<Float>.allocate(capacity: 2 * ph * ew)
            let d = UnsafeMutablePointer<WV>.allocate(capacity: 32), t = d + 16
            defer { even.deallocate(); d.deallocate() }
            let odd = even + ph * ew
            for img in 0..<n {
                even.initialize(repeating: 0, count: 2 * ph * ew)
                let plane = x + (img * c + ch) * h * w
                for iy in 0..<h {
                    let src = plane + iy * w, e = even + (iy + 1) * ew, od = odd + (iy + 1) * ew
                    // Padded column ix + 1: odd columns are even ix.
                    var ix = 0
                    while ix < w {
                        od[ix / 2] = src[ix]
                        if ix + 1 < w { e[ix / 2 + 1] = src[ix + 1] }
                        ix += 2
                    }
                }
                let dst = v + ch * ld + img * tpi
                for ty in 0..<th {
                    let r = 2 * ty
                    var tx = 0
                    while tx < tw {
                        for i in 0..<4 {
                            let er = even + (r + i) * ew + tx, orow = odd + (r + i) * ew + tx
                            d[i * 4] = VectorMath.load(er, 0)
                            d[i * 4 + 1] = VectorMath.load(orow, 0)
                            d[i * 4 + 2] = VectorMath.load(er, 1)
                            d[i * 4 + 3] = VectorMath.load(orow, 1)
                        }
                        // Bᵀ d: rows.
                        for j in 0..<4 {
                            t[j] = d[j] - d[8 + j]
                            t[4 + j] = d[4 + j] + d[8 + j]
                            t[8 + j] = d[8 + j] - d[4 + j]
                            t[12 + j] = d[4 + j] - d[12 + j]
                        }
                        // (Bᵀ d) B: columns.
                        let at = dst + ty * tw + tx
                        for i in 0..<4 {
                            let t0 = t[i * 4], t1 = t[i * 4 + 1], t2 = t[i * 4 + 2], t3 = t[i * 4 + 3]
                            VectorMath.store(t0 - t2, at + (i * 4) * c * ld, 0)
                            VectorMath.store(t1 + t2, at + (i * 4 + 1) * c * ld, 0)
                            VectorMath.store(t2 - t1, at + (i * 4 + 2) * c * ld, 0)
                            VectorMath.store(t1 - t3, at + (i * 4 + 3) * c * ld, 0)
                        }
                        tx += lanes
                    }
                }
            }
        }

        // The 16 products, one per element of the tile, each on one thread.
        Compute.parallelParts(16) { e in
            BLAS.sgemmOnThisThread(m: o, n: tiles, k: c, a: u + e * o * c, lda: c, b: v + e * c * ld, ldb: ld,
                                   c: m + e * o * ld, ldc: ld)
        }

        // Outputs: Y = Aᵀ M A per tile, written into the planes, then the epilogue.
        Compute.parallelFor(o) { oc in
            let s = UnsafeMutablePointer<WV>.allocate(capacity: 8)
            defer { s.deallocate() }
            for img in 0..<n {
                let plane = out + (img * o + oc) * h * w
                let src = m + oc * ld + img * tpi
                for ty in 0..<th {
                    var tx = 0
                    while tx < tw {
                        let at = src + ty * tw + tx
                        for j in 0..<4 {
                            let m0 = VectorMath.load(at + j * o * ld, 0), m1 = VectorMath.load(at + (4 + j) * o * ld, 0)
                            let m2 = VectorMath.load(at + (8 + j) * o * ld, 0), m3 = VectorMath.load(at + (12 + j) * o * ld, 0)
                            s[j] = m0 + m1 + m2
                            s[4 + j] = m1 - m2 - m3
                        }
                        let y00 = s[0] + s[1] + s[2], y01 = s[1] - s[2] - s[3]
                        let y10 = s[4] + s[5] + s[6], y11 = s[5] - s[6] - s[7]
                        let count = Swift.min(lanes, tw - tx)
                        let y = 2 * ty
                        let row0 = plane + y * w, row1 = plane + (y + 1) * w
                        for k in 0..<count {
                            let px = 2 * (tx + k)
                            row0[px] = y00[k]
                            if px + 1 < w { row0[px + 1] = y01[k] }
                            if y + 1 < h {
                                row1[px] = y10[k]
                                if px + 1 < w { row1[px + 1] = y11[k] }
                            }
                        }
                        tx += lanes
                    }
                }
                let offset = (img * o + oc) * h * w
                epilogue.apply(plane, plane, channel: oc, offset: offset, len: h * w)
            }
        }
    }
}

extension Tensor {
    /// G x for three taps, lane by lane: (x0, (x0 + x1 + x2) / 2, (x0 - x1 + x2) / 2, x2).
    @inline(__always)
    static func filterTransform(_ x0: SIMD4<Float>, _ x1: SIMD4<Float>, _ x2: SIMD4<Float>)
        -> (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>) {
        (x0, 0.5 * (x0 + x1 + x2), 0.5 * (x0 - x1 + x2), x2)
    }

    /// `MMPIPE_WINOGRAD=0` runs 3x3 convolutions through im2col instead (for comparisons).
    static let winogradEnabled: Bool = ProcessInfo.processInfo.environment["MMPIPE_WINOGRAD"] != "0"
}
