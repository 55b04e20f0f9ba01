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

    /// The same with the weight in any storage: float32 and float16 through the same
    /// products (`BLAS.sgemm`, `BLAS.sgemmHalfWeightT`: the half weights widened exactly, so
    /// the bits are the float32 weight's), int8 through its own kernels. Every row's result is
    /// the same whatever the other rows (a batch, a decoding step's beams).
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
        switch weight.storage {
        case .float32(let w):
            gemm(x2, w.transposed(), into: c, ldc: outF, beta: beta)
        case .int8(let q):
            let xc = x2.contiguous(), bc = bias?.contiguous()
            withExtendedLifetime((xc, q, bc)) { q.product(xc.pointer, rows: rows, into: c, bias: bc?.pointer, accumulate: false) }
        case .float16(let h):
            let xc = x2.contiguous()
            withExtendedLifetime(xc) {
                BLAS.sgemmHalfWeightT(m: rows, n: outF, k: inF, a: xc.pointer, lda: inF, w: h, beta: beta, c: c, ldc: outF)
            }
        }
        return out
    }
}
