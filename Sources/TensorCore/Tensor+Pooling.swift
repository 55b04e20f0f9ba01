/// 2-D pooling in NCHW.
extension Tensor {
    /// Average pooling; `countIncludePad` as PyTorch (default true). Output size floors.
    public func avgPool2d(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                          countIncludePad: Bool = true) -> Tensor {
        pool2d(kernel: kernel, stride: stride ?? kernel, padding: padding) { src, h, w, y0, y1, x0, x1, py0, py1, px0, px1 in
            var s: Float = 0
            for y in y0..<y1 { for x in x0..<x1 { s += src[y * w + x] } }
            let n = countIncludePad ? (py1 - py0) * (px1 - px0) : (y1 - y0) * (x1 - x0)
            return s / Float(max(n, 1))
        }
    }

    /// Max pooling (padding never wins: it counts as -inf).
    public func maxPool2d(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) -> Tensor {
        pool2d(kernel: kernel, stride: stride ?? kernel, padding: padding) { src, h, w, y0, y1, x0, x1, _, _, _, _ in
            var m = -Float.infinity
            for y in y0..<y1 { for x in x0..<x1 { m = Swift.max(m, src[y * w + x]) } }
            return m
        }
    }

    /// Window reducer: `(plane, H, W, y0, y1, x0, x1, py0, py1, px0, px1)` where `y0..<y1`
    /// is the window clipped to the image and `py0..<py1` clipped to the padded image.
    typealias Window = (UnsafePointer<Float>, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int) -> Float

    func pool2d(kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), _ reduce: @escaping Window) -> Tensor {
        precondition(rank == 4, "pool2d: input \(shape) must be [N, C, H, W]")
        let (kh, kw) = kernel, (sh, sw) = stride, (ph, pw) = padding
        let n = shape[0], c = shape[1], h = shape[2], w = shape[3]
        precondition(kh > 0 && kw > 0 && sh > 0 && sw > 0 && ph >= 0 && pw >= 0 && 2 * ph <= kh && 2 * pw <= kw,
                     "pool2d: bad kernel/stride/padding")
        let ho = (h + 2 * ph - kh) / sh + 1, wo = (w + 2 * pw - kw) / sw + 1
        precondition(ho > 0 && wo > 0, "pool2d: kernel larger than input \(h)x\(w)")
        let src = contiguous()
        let out = Tensor(uninitializedShape: [n, c, ho, wo])
        withExtendedLifetime(src) {
            let s = src.pointer, o = out.outputPointer
            Compute.parallelFor(n * c, grain: max(1, 4096 / (ho * wo * kh * kw))) { p in
                let plane = s + p * h * w, dst = o + p * ho * wo
                for oy in 0..<ho {
                    let ys = oy * sh - ph, py1 = Swift.min(ys + kh, h + ph)
                    let y0 = Swift.max(ys, 0), y1 = Swift.min(ys + kh, h)
                    for ox in 0..<wo {
                        let xs = ox * sw - pw, px1 = Swift.min(xs + kw, w + pw)
                        let x0 = Swift.max(xs, 0), x1 = Swift.min(xs + kw, w)
                        dst[oy * wo + ox] = reduce(plane, h, w, y0, y1, x0, x1, ys, py1, xs, px1)
                    }
                }
            }
        }
        return out
    }

    /// PyTorch's adaptive average pooling: bin `i` covers `floor(i*H/oh) ..< ceil((i+1)*H/oh)`.
    public func adaptiveAvgPool2d(_ size: (Int, Int)) -> Tensor {
        precondition(rank == 4, "adaptiveAvgPool2d: input \(shape) must be [N, C, H, W]")
        let (oh, ow) = size
        let n = shape[0], c = shape[1], h = shape[2], w = shape[3]
        precondition(oh > 0 && ow > 0 && h > 0 && w > 0, "adaptiveAvgPool2d: bad sizes")
        let src = contiguous()
        let out = Tensor(uninitializedShape: [n, c, oh, ow])
        withExtendedLifetime(src) {
            let s = src.pointer, o = out.outputPointer
            Compute.parallelFor(n * c, grain: max(1, 4096 / (h * w))) { p in
                let plane = s + p * h * w
                for i in 0..<oh {
                    let y0 = i * h / oh, y1 = ((i + 1) * h + oh - 1) / oh
                    for j in 0..<ow {
                        let x0 = j * w / ow, x1 = ((j + 1) * w + ow - 1) / ow
                        var sum: Float = 0
                        for y in y0..<y1 { for x in x0..<x1 { sum += plane[y * w + x] } }
                        o[p * oh * ow + i * ow + j] = sum / Float((y1 - y0) * (x1 - x0))
                    }
                }
            }
        }
        return out
    }

    /// Mean over all positions of each channel: `[N, C, H, W] -> [N, C]`.
    public func globalAvgPool2d() -> Tensor {
        precondition(rank == 4, "globalAvgPool2d: input \(shape) must be [N, C, H, W]")
        let hw = shape[2] * shape[3]
        let src = contiguous()
        return Tensor(shape: [shape[0], shape[1]]) { out in
            for p in 0..<out.count { out[p] = VectorMath.sum(src.pointer + p * hw, hw) / Float(hw) }
        }
    }
}
