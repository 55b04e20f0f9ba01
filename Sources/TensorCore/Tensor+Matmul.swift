import CKernels
/// Matrix products on BLAS: transposed views are passed as transposes, not copied.
extension Tensor {
    /// How a 2-D matrix view is handed to sgemm: pointer offset, transpose flag, leading dim.
    struct MatrixOperand {
        let trans: Bool
        let ld: Int
    }

    /// Describes the last two axes of `t` (rows, cols) as a BLAS operand, or nil when the
    /// layout is neither row- nor column-major with unit inner stride.
    static func operand(rows: Int, cols: Int, rowStride: Int, colStride: Int) -> MatrixOperand? {
        if cols == 1 && rows == 1 { return MatrixOperand(trans: false, ld: 1) }
        if colStride == 1 || cols == 1 {
            let ld = rows == 1 ? cols : rowStride
            if ld >= cols { return MatrixOperand(trans: false, ld: ld) }
        }
        if rowStride == 1 || rows == 1 {
            let ld = cols == 1 ? rows : colStride
            if ld >= rows { return MatrixOperand(trans: true, ld: ld) }
        }
        return nil
    }

    /// `self` is made a matrix-friendly view (copied only if its last two axes are neither
    /// row- nor column-major).
    func matrixReady() -> (Tensor, MatrixOperand) {
        let r = shape[rank - 2], c = shape[rank - 1]
        if let op = Tensor.operand(rows: r, cols: c, rowStride: strides[rank - 2], colStride: strides[rank - 1]) {
            return (self, op)
        }
        let t = copied()
        return (t, MatrixOperand(trans: false, ld: c))
    }

    /// numpy `matmul` for rank >= 2 operands: `[..., M, K] x [..., K, N] -> [..., M, N]`,
    /// batch axes broadcast.
    public static func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.rank >= 2 && b.rank >= 2, "matmul needs rank >= 2, got \(a.shape) and \(b.shape)")
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
        precondition(b.shape[b.rank - 2] == k, "matmul inner dims differ: \(a.shape) x \(b.shape)")
        _ = Compute.threads
        let batch = broadcastShape(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)))
        let out = Tensor(uninitializedShape: batch + [m, n])
        if out.count == 0 { return out }
        if k == 0 {
            out.outputPointer.initialize(repeating: 0, count: out.count)
            return out
        }

        // b is one matrix for every batch: fold a's batch axes into M (one big GEMM).
        if b.shape.dropLast(2).reduce(1, *) == 1 && a.rank > 2 && batch.count == a.rank - 2 {
            gemm(a.reshaped([-1, k]), b.reshaped([k, n]), into: out.outputPointer, ldc: n)
            return out
        }

        let (aa, _) = a.matrixReady()
        let (bb, _) = b.matrixReady()
        let aB = aa.broadcast(to: batch + [m, k])
        let bB = bb.broadcast(to: batch + [k, n])
        let nb = batch.reduce(1, *)
        var aIndex = 0, bIndex = 0
        var idx = [Int](repeating: 0, count: batch.count)
        for i in 0..<nb {
            let am = Tensor(storage: aB.storage, shape: [m, k], strides: Array(aB.strides.suffix(2)), offset: aB.offset + aIndex)
            let bm = Tensor(storage: bB.storage, shape: [k, n], strides: Array(bB.strides.suffix(2)), offset: bB.offset + bIndex)
            gemm(am, bm, into: out.outputPointer + i * m * n, ldc: n)
            var d = batch.count - 1
            while d >= 0 {
                idx[d] += 1
                aIndex += aB.strides[d]
                bIndex += bB.strides[d]
                if idx[d] < batch[d] { break }
                aIndex -= aB.strides[d] * batch[d]
                bIndex -= bB.strides[d] * batch[d]
                idx[d] = 0
                d -= 1
            }
        }
        return out
    }

    /// C = A x B (+ beta * C) for 2-D operands with BLAS-compatible layouts.
    static func gemm(_ a: Tensor, _ b: Tensor, into c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float = 0) {
        let m = a.shape[0], k = a.shape[1], n = b.shape[1]
        let (aa, opA) = a.matrixReady()
        let (bb, opB) = b.matrixReady()
        withExtendedLifetime((aa, bb)) {
            BLAS.sgemm(transA: opA.trans, transB: opB.trans, m: m, n: n, k: k,
                       a: aa.pointer, lda: opA.ld, b: bb.pointer, ldb: opB.ld, beta: beta, c: c, ldc: ldc)
        }
    }

    /// `x @ weight.T + bias` over the last axis: x `[..., in]`, weight `[out, in]`
    /// (PyTorch `nn.Linear` layout), bias `[out]`.
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
        linear(x, weight: WeightMatrix(weight), bias: bias)
    }

    /// The same with the weight in any storage: float32 through BLAS (or the few-row
    /// kernel); float16 through the half-precision few-row kernel for a few rows (a decoding
    /// step, where reading the weight dominates) and, for many, through BLAS on float32
    /// copies of the blocks it works on (the same products as float32, bit for bit).
    public static func linear(_ x: Tensor, weight: WeightMatrix, bias: Tensor? = nil) -> Tensor {
        let outF = weight.rows, inF = weight.cols
        precondition(x.rank >= 1 && x.shape[x.rank - 1] == inF,
                     "linear: input \(x.shape) does not match weight \(weight.shape)")
        if let bias { precondition(bias.count == outF, "linear: bias \(bias.shape) for \(outF) outputs") }
        _ = Compute.threads
        let rows = x.count / max(inF, 1)
        let out = Tensor(uninitializedShape: Array(x.shape.dropLast()) + [outF])
        if out.count == 0 { return out }
        let c = out.outputPointer
        var beta: Float = 0
        // The int8 kernels add the bias as they write each result (one pass over the output);
        // the others start from it.
        if let bias, weight.precision != .int8 {
            let bc = bias.contiguous()
            for r in 0..<rows { (c + r * outF).update(from: bc.pointer, count: outF) }
            beta = 1
        } else if inF == 0 && weight.precision != .int8 {
            c.initialize(repeating: 0, count: out.count)
            return out
        }
        let x2 = x.reshaped([rows, inF])
        // A few rows against a large weight (one decoding step): BLAS would copy the whole
        // weight into its packed layout on every call; streaming each weight row once past
        // all input rows reads it once and copies nothing.
        let fewRows = rows <= 8 && inF >= 32 && outF * inF >= 1 << 16
        switch weight.storage {
        case .float32(let w):
            if fewRows && w.isContiguous {
                let xc = x2.contiguous()
                withExtendedLifetime((xc, w)) {
                    Tensor.fewRowsTimesWeightT(xc.pointer, rows: rows, k: inF, w.pointer, n: outF, into: c, accumulate: beta != 0)
                }
            } else {
                gemm(x2, w.transposed(), into: c, ldc: outF, beta: beta)
            }
        case .int8(let q):
            let xc = x2.contiguous(), bc = bias?.contiguous()
            withExtendedLifetime((xc, q, bc)) { q.product(xc.pointer, rows: rows, into: c, bias: bc?.pointer, accumulate: false) }
        case .float16(let h):
            let xc = x2.contiguous()
            withExtendedLifetime(xc) {
                if fewRows {
                    Tensor.fewRowsTimesHalfWeightT(xc.pointer, rows: rows, k: inF, h, into: c, accumulate: beta != 0)
                } else {
                    Tensor.manyRowsTimesHalfWeightT(xc.pointer, rows: rows, k: inF, h, into: c, beta: beta)
                }
            }
        }
        return out
    }

    /// `c = x w^T + beta c` for many rows of `x` `[rows, k]` with `w` in half precision: the
    /// same sgemm calls as for the float32 weight (`BLAS.split`'s blocks), each block of
    /// weight rows converted to float32 right before its call, on the thread that makes it;
    /// so the products equal the float32 ones bit for bit.
    static func manyRowsTimesHalfWeightT(_ x: UnsafePointer<Float>, rows m: Int, k: Int, _ w: HalfMatrix,
                                         into c: UnsafeMutablePointer<Float>, beta: Float) {
        let n = w.rows
        /// Output columns `r`: `c[:, r] = x w[r]^T + beta c[:, r]` through a float32 copy of weight rows `r`.
        func product(_ r: Range<Int>) {
            let block = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(1, r.count * k))
            defer { block.deallocate() }
            w.convert(rows: r, into: block)
            BLAS.sgemmOnThisThread(transA: false, transB: true, m: m, n: r.count, k: k, a: x, lda: k,
                                   b: block, ldb: k, beta: beta, c: c + r.lowerBound, ldc: n)
        }
        withExtendedLifetime(w) {
            guard let split = BLAS.split(m: m, n: n, k: k) else { return product(0..<n) }
            if split.byRows {
                // Every block needs the whole weight: convert it once.
                let whole = w.float32()
                withExtendedLifetime(whole) {
                    BLAS.splitSgemm(split, transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: x, lda: k,
                                    b: whole.pointer, ldb: k, beta: beta, c: c, ldc: n)
                }
                return
            }
            Compute.parallelParts(split.blocks.count) { p in
                if !split.blocks[p].isEmpty { product(split.blocks[p]) }
            }
        }
    }

    /// Columns per parallel chunk of the few-row kernels.
    static let fewRowsChunk = 64

    /// `fewRowsTimesWeightT` with the weight in half precision (needs `CPUFeatures.avx2FMAF16C`).
    static func fewRowsTimesHalfWeightT(_ x: UnsafePointer<Float>, rows: Int, k: Int, _ w: HalfMatrix,
                                        into c: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let n = w.rows, chunk = fewRowsChunk
        withExtendedLifetime(w) {
            Compute.parallelFor((n + chunk - 1) / chunk) { ci in
                let j0 = ci * chunk, j1 = Swift.min(n, j0 + chunk)
                mmpipe_rows_wt_f16(x, Int32(rows), Int32(k), w.base, Int32(j0), Int32(j1), c, Int32(n), accumulate ? 1 : 0)
            }
        }
    }

    /// `c[r, j] (+)= sum_k x[r, k] * w[j, k]` for r < rows (at most 8), in parallel over j
    /// (or all on this thread: an LSTM's step, too small to share).
    static func fewRowsTimesWeightT(_ x: UnsafePointer<Float>, rows: Int, k: Int, _ w: UnsafePointer<Float>, n: Int,
                                    into c: UnsafeMutablePointer<Float>, accumulate: Bool, onThisThread: Bool = false) {
        func parts(_ count: Int, _ body: (Int) -> Void) {
            if onThisThread { for i in 0..<count { body(i) } } else { Compute.parallelFor(count, body) }
        }
        if CPUFeatures.avx2FMAF16C {
            let chunk = fewRowsChunk
            parts((n + chunk - 1) / chunk) { ci in
                let j0 = ci * chunk, j1 = Swift.min(n, j0 + chunk)
                mmpipe_rows_wt_f32(x, Int32(rows), Int32(k), w, Int32(j0), Int32(j1), c, Int32(n), accumulate ? 1 : 0)
            }
            return
        }
        typealias V = VectorMath.V
        let lanes = VectorMath.lanes
        let kv = k / lanes * lanes
        let chunk = 64
        parts((n + chunk - 1) / chunk) { ci in
            let j0 = ci * chunk, j1 = Swift.min(n, j0 + chunk)
            for j in j0..<j1 {
                let wr = w + j * k
                var r0 = 0
                while r0 < rows {
                    // Up to four input rows at a time share each load of the weight row.
                    let g = Swift.min(4, rows - r0)
                    var a0 = V(), a1 = V(), a2 = V(), a3 = V()
                    let x0 = x + r0 * k, x1 = x + Swift.min(r0 + 1, rows - 1) * k
                    let x2 = x + Swift.min(r0 + 2, rows - 1) * k, x3 = x + Swift.min(r0 + 3, rows - 1) * k
                    var i = 0
                    while i < kv {
                        let wv = VectorMath.load(wr, i)
                        a0 += wv * VectorMath.load(x0, i)
                        a1 += wv * VectorMath.load(x1, i)
                        a2 += wv * VectorMath.load(x2, i)
                        a3 += wv * VectorMath.load(x3, i)
                        i += lanes
                    }
                    var sums = (a0.sum(), a1.sum(), a2.sum(), a3.sum())
                    while i < k {
                        sums.0 += wr[i] * x0[i]; sums.1 += wr[i] * x1[i]
                        sums.2 += wr[i] * x2[i]; sums.3 += wr[i] * x3[i]
                        i += 1
                    }
                    for r in 0..<g {
                        let v = r == 0 ? sums.0 : r == 1 ? sums.1 : r == 2 ? sums.2 : sums.3
                        let o = c + (r0 + r) * n + j
                        o.pointee = accumulate ? o.pointee + v : v
                    }
                    r0 += g
                }
            }
        }
    }
}
