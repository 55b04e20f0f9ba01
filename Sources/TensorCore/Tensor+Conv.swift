/// Convolutions in NCHW (PyTorch layout): im2col + sgemm, 1x1 as plain GEMM, depthwise as
/// a direct loop, and batch-norm folding for inference.
public struct Conv2DGeometry: Sendable, Equatable {
    public var stride: (h: Int, w: Int)
    public var padding: (h: Int, w: Int)
    public var dilation: (h: Int, w: Int)
    public var groups: Int

    public init(stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                dilation: (Int, Int) = (1, 1), groups: Int = 1) {
        self.stride = (stride.0, stride.1)
        self.padding = (padding.0, padding.1)
        self.dilation = (dilation.0, dilation.1)
        self.groups = groups
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.stride == b.stride && a.padding == b.padding && a.dilation == b.dilation && a.groups == b.groups
    }

    /// Output length along one axis (floor, as PyTorch).
    @inline(__always)
    static func outSize(_ n: Int, kernel: Int, stride: Int, padding: Int, dilation: Int) -> Int {
        (n + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1
    }
}

extension Tensor {
    /// 2-D convolution. x `[N, C, H, W]`, weight `[O, C/groups, kh, kw]`, bias `[O]`.
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil,
                              _ g: Conv2DGeometry = Conv2DGeometry()) -> Tensor {
        precondition(x.rank == 4 && weight.rank == 4, "conv2d: input \(x.shape), weight \(weight.shape) must be 4-D")
        let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
        let o = weight.shape[0], cg = weight.shape[1], kh = weight.shape[2], kw = weight.shape[3]
        let groups = g.groups
        precondition(groups >= 1 && c % groups == 0 && o % groups == 0 && cg == c / groups,
                     "conv2d: \(c) input channels, weight \(weight.shape) and groups \(groups) disagree")
        precondition(g.stride.h > 0 && g.stride.w > 0 && g.dilation.h > 0 && g.dilation.w > 0
                     && g.padding.h >= 0 && g.padding.w >= 0, "conv2d: bad geometry \(g)")
        if let bias { precondition(bias.count == o, "conv2d: bias \(bias.shape) for \(o) channels") }
        let ho = Conv2DGeometry.outSize(h, kernel: kh, stride: g.stride.h, padding: g.padding.h, dilation: g.dilation.h)
        let wo = Conv2DGeometry.outSize(w, kernel: kw, stride: g.stride.w, padding: g.padding.w, dilation: g.dilation.w)
        precondition(ho > 0 && wo > 0, "conv2d: kernel \(kh)x\(kw) larger than padded input \(h)x\(w)")
        _ = Compute.threads
        let xc = x.contiguous(), wc = weight.contiguous(), bc = bias?.contiguous()
        let out = Tensor(uninitializedShape: [n, o, ho, wo])
        withExtendedLifetime((xc, wc, bc)) {
            if cg == 1 && groups == c {
                depthwise(xc.pointer, wc.pointer, bc?.pointer, out.outputPointer,
                          n: n, c: c, h: h, w: w, o: o, kh: kh, kw: kw, ho: ho, wo: wo, g: g)
            } else {
                im2colConv(xc.pointer, wc.pointer, bc?.pointer, out.outputPointer,
                           n: n, c: c, h: h, w: w, o: o, kh: kh, kw: kw, ho: ho, wo: wo, g: g)
            }
        }
        return out
    }

    /// 1-D convolution. x `[N, C, L]`, weight `[O, C/groups, K]`, bias `[O]`.
    public static func conv1d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil,
                              stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1) -> Tensor {
        precondition(x.rank == 3 && weight.rank == 3, "conv1d: input \(x.shape), weight \(weight.shape) must be 3-D")
        let y = conv2d(x.unsqueezed(2), weight: weight.unsqueezed(2), bias: bias,
                       Conv2DGeometry(stride: (1, stride), padding: (0, padding), dilation: (1, dilation), groups: groups))
        return y.squeezed(2)
    }

    /// Folds inference batch norm into the preceding convolution's weight and bias:
    /// `bn(conv(x, w, b)) == conv(x, w', b')`.
    public static func foldBatchNorm(weight: Tensor, bias: Tensor?, gamma: Tensor, beta: Tensor,
                                     mean: Tensor, variance: Tensor, eps: Float) -> (weight: Tensor, bias: Tensor) {
        let o = weight.shape[0]
        precondition(gamma.count == o && beta.count == o && mean.count == o && variance.count == o,
                     "batch norm parameters do not match \(o) channels")
        let per = weight.count / max(o, 1)
        let wc = weight.contiguous()
        let g = gamma.scalars, bt = beta.scalars, mu = mean.scalars, v = variance.scalars
        let b0 = bias?.scalars ?? [Float](repeating: 0, count: o)
        let newW = Tensor(uninitializedShape: weight.shape)
        let newB = Tensor(uninitializedShape: [o])
        for i in 0..<o {
            let scale = g[i] / (v[i] + eps).squareRoot()
            let src = wc.pointer + i * per, dst = newW.outputPointer + i * per
            for j in 0..<per { dst[j] = src[j] * scale }
            newB.outputPointer[i] = (b0[i] - mu[i]) * scale + bt[i]
        }
        return (newW, newB)
    }

    // MARK: - kernels

    /// Unfolds `cg` channel planes of one image into rows `(c, ky, kx)` of `Ho*Wo` columns,
    /// written at `dst + row * ld`.
    static func im2col(_ src: UnsafePointer<Float>, cg: Int, h: Int, w: Int, kh: Int, kw: Int,
                       ho: Int, wo: Int, g: Conv2DGeometry, dst: UnsafeMutablePointer<Float>, ld: Int) {
        let rows = cg * kh * kw
        let grain = max(1, 16384 / max(ho * wo, 1))
        Compute.parallelFor(rows, grain: grain) { row in
            let ch = row / (kh * kw), ky = (row / kw) % kh, kx = row % kw
            let plane = src + ch * h * w
            let d = dst + row * ld
            let xOff = kx * g.dilation.w - g.padding.w
            // Columns whose input x falls inside the image.
            let lo = xOff >= 0 ? 0 : min(wo, (-xOff + g.stride.w - 1) / g.stride.w)
            let hiNum = w - 1 - xOff
            let hi = hiNum < 0 ? 0 : min(wo, hiNum / g.stride.w + 1)
            for oy in 0..<ho {
                let iy = oy * g.stride.h - g.padding.h + ky * g.dilation.h
                let dr = d + oy * wo
                if iy < 0 || iy >= h || hi <= lo {
                    dr.initialize(repeating: 0, count: wo)
                    continue
                }
                if lo > 0 { dr.initialize(repeating: 0, count: lo) }
                let sr = plane + iy * w + xOff
                if g.stride.w == 1 {
                    (dr + lo).update(from: sr + lo, count: hi - lo)
                } else {
                    let sw = g.stride.w
                    for ox in lo..<hi { dr[ox] = sr[ox * sw] }
                }
                if hi < wo { (dr + hi).initialize(repeating: 0, count: wo - hi) }
            }
        }
    }

    /// Convolution as GEMMs over im2col columns (the batched small-image path included),
    /// with the bias added after each product: `gemmConvFused` with a bias-only epilogue.
    static func im2colConv(_ x: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                           _ out: UnsafeMutablePointer<Float>, n: Int, c: Int, h: Int, w: Int, o: Int,
                           kh: Int, kw: Int, ho: Int, wo: Int, g: Conv2DGeometry) {
        gemmConvFused(x, wt, out, n: n, c: c, h: h, w: w, o: o, kh: kh, kw: kw, ho: ho, wo: wo, g: g,
                      Epilogue(bias: bias, residual: nil, activation: .none))
    }

    static func depthwise(_ x: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                          _ out: UnsafeMutablePointer<Float>, n: Int, c: Int, h: Int, w: Int, o: Int,
                          kh: Int, kw: Int, ho: Int, wo: Int, g: Conv2DGeometry) {
        let mult = o / c
        let sw = g.stride.w
        Compute.parallelFor(n * o, grain: max(1, 4096 / max(ho * wo * kh * kw, 1))) { plane in
            let img = plane / o, oc = plane % o, ic = oc / mult
            let src = x + (img * c + ic) * h * w
            let dst = out + plane * ho * wo
            let wp = wt + oc * kh * kw
            dst.initialize(repeating: bias?[oc] ?? 0, count: ho * wo)
            for ky in 0..<kh {
                for kx in 0..<kw {
                    let wv = wp[ky * kw + kx]
                    let xOff = kx * g.dilation.w - g.padding.w
                    let lo = xOff >= 0 ? 0 : min(wo, (-xOff + sw - 1) / sw)
                    let hiNum = w - 1 - xOff
                    let hi = hiNum < 0 ? 0 : min(wo, hiNum / sw + 1)
                    if hi <= lo { continue }
                    for oy in 0..<ho {
                        let iy = oy * g.stride.h - g.padding.h + ky * g.dilation.h
                        if iy < 0 || iy >= h { continue }
                        let sr = src + iy * w + xOff
                        let dr = dst + oy * wo
                        if sw == 1 {
                            for ox in lo..<hi { dr[ox] += wv * sr[ox] }
                        } else {
                            for ox in lo..<hi { dr[ox] += wv * sr[ox * sw] }
                        }
                    }
                }
            }
        }
    }
}
