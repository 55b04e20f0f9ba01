/// Inference convolutions with the epilogue fused in: `act(conv(x) + bias (+ residual))` in
/// one pass over the output, and explicit (possibly asymmetric) padding: the output size is
/// given and the input is padded with `padTop` / `padLeft` zeros before and as many as the
/// output size needs after (TensorFlow "SAME" padding, used by EfficientNet-Lite).
///
/// Dense and grouped convolutions run as GEMMs (1x1 stride-1 convolutions on the input
/// itself, others through im2col); depthwise convolutions (groups == channels, one filter
/// per channel) run as a SIMD loop over a zero-padded copy of each input plane.
extension Tensor {
    public enum FusedActivation: Sendable {
        case none, relu, relu6
    }

    /// x `[N, C, H, W]`, weight `[O, C/groups, kh, kw]`, bias `[O]`, residual `[N, O, outHeight, outWidth]`.
    public static func fusedConv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int,
                                   padTop: Int, padLeft: Int, outHeight: Int, outWidth: Int, groups: Int = 1,
                                   residual: Tensor? = nil, activation: FusedActivation = .none) -> Tensor {
        precondition(x.rank == 4 && weight.rank == 4, "fusedConv2d: input \(x.shape), weight \(weight.shape) must be 4-D")
        let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
        let o = weight.shape[0], cg = weight.shape[1], kh = weight.shape[2], kw = weight.shape[3]
        precondition(groups >= 1 && c % groups == 0 && o % groups == 0 && cg == c / groups,
                     "fusedConv2d: \(c) input channels, weight \(weight.shape) and groups \(groups) disagree")
        precondition(stride > 0 && padTop >= 0 && padLeft >= 0 && outHeight > 0 && outWidth > 0,
                     "fusedConv2d: bad geometry")
        precondition((outHeight - 1) * stride - padTop < h && (outWidth - 1) * stride - padLeft < w,
                     "fusedConv2d: output \(outHeight)x\(outWidth) reaches past the padded input \(h)x\(w)")
        if let bias { precondition(bias.count == o, "fusedConv2d: bias \(bias.shape) for \(o) channels") }
        if let residual {
            precondition(residual.shape == [n, o, outHeight, outWidth],
                         "fusedConv2d: residual \(residual.shape), output [\(n), \(o), \(outHeight), \(outWidth)]")
        }
        _ = Compute.threads
        let xc = x.contiguous(), wc = weight.contiguous(), bc = bias?.contiguous(), rc = residual?.contiguous()
        let out = Tensor(uninitializedShape: [n, o, outHeight, outWidth])
        if out.count == 0 { return out }
        let geometry = Conv2DGeometry(stride: (stride, stride), padding: (padTop, padLeft), groups: groups)
        withExtendedLifetime((xc, wc, bc, rc)) {
            let epilogue = Epilogue(bias: bc?.pointer, residual: rc?.pointer, activation: activation)
            if cg == 1 && groups == c && o == c {
                depthwiseFused(xc.pointer, wc.pointer, out.outputPointer, n: n, c: c, h: h, w: w, k: (kh, kw),
                               stride: stride, padTop: padTop, padLeft: padLeft, ho: outHeight, wo: outWidth, epilogue)
            } else {
                gemmConvFused(xc.pointer, wc.pointer, out.outputPointer, n: n, c: c, h: h, w: w, o: o, kh: kh, kw: kw,
                              ho: outHeight, wo: outWidth, g: geometry, epilogue)
            }
        }
        return out
    }

    /// `dst[j] = act(src[j] + bias[channel] + residual[j])` over a run of one output plane.
    struct Epilogue {
        let bias: UnsafePointer<Float>?
        let residual: UnsafePointer<Float>?
        let activation: FusedActivation

        /// `len` outputs starting `offset` elements into the output (and residual) tensor.
        @inline(__always)
        func apply(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, channel: Int, offset: Int, len: Int) {
            let b = bias?[channel] ?? 0
            let res = residual.map { $0 + offset }
            let lanes = VectorMath.lanes
            var i = 0
            while i + lanes <= len {
                var v = simdLoad(src, i) + b
                if let res { v += simdLoad(res, i) }
                simdStore(Epilogue.activate(v, activation), dst, i)
                i += lanes
            }
            while i < len {
                var v = src[i] + b
                if let res { v += res[i] }
                dst[i] = Epilogue.activate(v, activation)
                i += 1
            }
        }

        @inline(__always)
        static func activate(_ v: VectorMath.V, _ a: FusedActivation) -> VectorMath.V {
            switch a {
            case .none: return v
            case .relu: return v.replacing(with: 0, where: v .< 0)
            case .relu6: return simdClamp6(v)
            }
        }

        @inline(__always)
        static func activate(_ v: Float, _ a: FusedActivation) -> Float {
            switch a {
            case .none: return v
            case .relu: return v < 0 ? 0 : v
            case .relu6: return Swift.min(Swift.max(v, 0), 6)
            }
        }
    }

    static func gemmConvFused(_ x: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                              n: Int, c: Int, h: Int, w: Int, o: Int, kh: Int, kw: Int, ho: Int, wo: Int,
                              g: Conv2DGeometry, _ epilogue: Epilogue) {
        let groups = g.groups, cg = c / groups, og = o / groups
        if groups == 1 && kh == 3 && kw == 3 && g.stride == (1, 1) && g.padding == (1, 1) && g.dilation == (1, 1)
            && ho == h && wo == w && winogradEnabled && winogradPays(n: n, c: c, h: h, w: w, o: o) {
            winograd3x3(x, wt, out, n: n, c: c, h: h, w: w, o: o, epilogue)
            return
        }
        let k = cg * kh * kw, hw = ho * wo
        let pointwise = kh == 1 && kw == 1 && g.stride == (1, 1) && g.padding == (0, 0) && ho == h && wo == w
        // Small images: one GEMM over the whole batch (columns n*hw), so the GEMM is wide
        // enough to run at speed; the epilogue scatters the columns back per image.
        let batched = n > 1 && hw < 1024
        // Otherwise per image; several images run one per part, start to end on one thread
        // (im2col, product, epilogue), so the threads meet once per layer, not three times
        // per image.
        let threads = Compute.threads
        let imagePerPart = !batched && threads > 1 && n >= threads && (n % threads == 0 || n >= 4 * threads)
        let cols = batched ? n * hw : hw
        let colBuffer: UnsafeMutablePointer<Float>? = (!pointwise && !imagePerPart) || batched ? .allocate(capacity: k * cols) : nil
        defer { colBuffer?.deallocate() }
        let tmp: UnsafeMutablePointer<Float>? = batched ? .allocate(capacity: og * cols) : nil
        defer { tmp?.deallocate() }

        for gi in 0..<groups {
            let wg = wt + gi * og * k
            if batched {
                let col = colBuffer!, t = tmp!
                for img in 0..<n {
                    let src = x + (img * c + gi * cg) * h * w
                    if pointwise {
                        for ch in 0..<cg { (col + ch * cols + img * hw).update(from: src + ch * hw, count: hw) }
                    } else {
                        im2col(src, cg: cg, h: h, w: w, kh: kh, kw: kw, ho: ho, wo: wo, g: g, dst: col + img * hw, ld: cols)
                    }
                }
                BLAS.sgemm(transA: false, transB: false, m: og, n: cols, k: k, a: wg, lda: k,
                           b: col, ldb: cols, c: t, ldc: cols)
                Compute.parallelFor(n * og, grain: max(1, 8192 / hw)) { p in
                    let img = p / og, oc = p % og
                    let channel = gi * og + oc
                    let offset = (img * o + channel) * hw
                    epilogue.apply(t + oc * cols + img * hw, out + offset, channel: channel, offset: offset, len: hw)
                }
                continue
            }
            // One image: GEMM output goes straight to `out` and the epilogue runs in place
            // (inside a part, the parallel steps run on that part's thread).
            func convolveImage(_ img: Int, col: UnsafeMutablePointer<Float>?) {
                let src = x + (img * c + gi * cg) * h * w
                let dst = out + (img * o + gi * og) * hw
                var b = src
                if let col {
                    im2col(src, cg: cg, h: h, w: w, kh: kh, kw: kw, ho: ho, wo: wo, g: g, dst: col, ld: hw)
                    b = UnsafePointer(col)
                }
                BLAS.sgemm(transA: false, transB: false, m: og, n: hw, k: k, a: wg, lda: k,
                           b: b, ldb: hw, c: dst, ldc: hw)
                Compute.parallelFor(og, grain: max(1, 8192 / hw)) { oc in
                    let channel = gi * og + oc
                    let offset = (img * o + channel) * hw
                    epilogue.apply(out + offset, out + offset, channel: channel, offset: offset, len: hw)
                }
            }
            if imagePerPart {
                Compute.parallelParts(n) { img in
                    let col: UnsafeMutablePointer<Float>? = pointwise ? nil : .allocate(capacity: k * hw)
                    defer { col?.deallocate() }
                    convolveImage(img, col: col)
                }
            } else {
                for img in 0..<n { convolveImage(img, col: colBuffer) }
            }
        }
    }

    /// Depthwise convolution, one filter per channel, with the epilogue. Each input plane is
    /// first copied into a zero-padded buffer (for stride 2 split into even and odd columns,
    /// so every tap reads consecutive floats), then each run of 8 outputs of a row is one
    /// register accumulating `kh * kw` multiply-adds of unaligned SIMD loads.
    static func depthwiseFused(_ x: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                               n: Int, c: Int, h: Int, w: Int, k: (Int, Int), stride: Int, padTop: Int, padLeft: Int,
                               ho: Int, wo: Int, _ epilogue: Epilogue) {
        let (kh, kw) = k
        let lanes = VectorMath.lanes
        // Padded rows: every input row an output reads. Each column phase (px % stride) is a
        // separate block of rows; a phase row is wide enough for the last SIMD block of
        // outputs plus the taps, so no read leaves the buffer.
        let ph = (ho - 1) * stride + kh
        let woBlocks = (wo + lanes - 1) / lanes * lanes
        let pw = woBlocks + (kw - 1) / stride + 1
        let planeSize = ph * pw * stride
        // Offset of tap (ky, kx) from the first padded row of an output row: phase kx % stride,
        // row ky, column kx / stride.
        let taps = kh * kw
        let tapOffset = UnsafeMutablePointer<Int>.allocate(capacity: taps)
        defer { tapOffset.deallocate() }
        for ky in 0..<kh {
            for kx in 0..<kw { tapOffset[ky * kw + kx] = ((kx % stride) * ph + ky) * pw + kx / stride }
        }
        let offsets = UnsafePointer(tapOffset)
        Compute.parallelFor(n * c, grain: max(1, 16384 / max(ho * wo * taps, 1))) { p in
            let ch = p % c
            let src = x + p * h * w
            let dst = out + p * ho * wo
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: planeSize + woBlocks + taps)
            defer { buffer.deallocate() }
            let acc = buffer + planeSize
            let wv = acc + woBlocks
            for t in 0..<taps { wv[t] = wt[ch * taps + t] }
            buffer.initialize(repeating: 0, count: planeSize)
            // Input (iy, ix) goes to padded row iy + padTop, column ix + padLeft, stored in phase
            // (ix + padLeft) % stride at column (ix + padLeft) / stride.
            for iy in 0..<h {
                let py = iy + padTop
                if py >= ph { break }
                let s = src + iy * w
                for phase in 0..<stride {
                    // First input column of this phase, and its column in the phase row.
                    let ix0 = ((phase - padLeft) % stride + stride) % stride
                    if ix0 >= w { continue }
                    let d = buffer + (phase * ph + py) * pw + (ix0 + padLeft) / stride
                    let count = Swift.min((w - ix0 + stride - 1) / stride, pw - (ix0 + padLeft) / stride)
                    if count <= 0 { continue }
                    if stride == 1 {
                        d.update(from: s + ix0, count: count)
                    } else {
                        var sp = s + ix0
                        for j in 0..<count { d[j] = sp.pointee; sp += stride }
                    }
                }
            }
            for oy in 0..<ho {
                let base = buffer + oy * stride * pw
                var ox = 0
                while ox < wo {
                    let b = base + ox
                    var a = VectorMath.V()
                    var t = 0
                    while t < taps {
                        a += wv[t] * simdLoad(b + offsets[t], 0)
                        t += 1
                    }
                    simdStore(a, acc, ox)
                    ox += lanes
                }
                epilogue.apply(acc, dst + oy * wo, channel: ch, offset: p * ho * wo + oy * wo, len: wo)
            }
        }
    }
}

// File-local SIMD helpers: debug builds compile file by file (no -wmo), where the
// `VectorMath` ones in another file would be calls in the innermost loops.
private typealias V8 = VectorMath.V

@inline(__always)
private func simdLoad(_ p: UnsafePointer<Float>, _ i: Int) -> V8 {
    UnsafeRawPointer(p + i).loadUnaligned(as: V8.self)
}

@inline(__always)
private func simdStore(_ v: V8, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
    UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: V8.self)
}

@inline(__always)
private func simdClamp6(_ x: V8) -> V8 {
    var r = x.replacing(with: 0, where: x .< 0)
    r.replace(with: 6, where: r .> 6)
    return r
}
