/// The state an LSTM carries from one step to the next (batch 1): hidden `h` and cell `c`.
public struct LSTMState: Sendable, Equatable {
    public var h: [Float]
    public var c: [Float]

    /// All zeros, for `hidden` units.
    public init(hidden: Int) {
        h = [Float](repeating: 0, count: hidden)
        c = [Float](repeating: 0, count: hidden)
    }
}

extension Tensor {
    /// One-directional LSTM over `steps` time steps with batch 1, as ONNX's `LSTM` (and
    /// PyTorch's `nn.LSTM`) computes it with the default activations (sigmoid, tanh, tanh),
    /// no peepholes and no clipping.
    ///
    /// `inputGates` `[steps, 4H]` is `x W^T + Wb + Rb` for every step at once (one product,
    /// the caller's), gates in ONNX order input, output, forget, cell; `recurrent` `[4H, H]`
    /// is ONNX's `R`. The recurrent product of each step runs on this thread (it is small:
    /// one row against the weight). Returns the hidden state of every step `[steps, H]`;
    /// `state` ends as the last step's.
    public static func lstm(inputGates: Tensor, recurrent: Tensor, state: inout LSTMState) -> Tensor {
        let hidden = state.h.count
        precondition(recurrent.shape == [4 * hidden, hidden], "lstm: recurrent weight \(recurrent.shape) for \(hidden) units")
        precondition(inputGates.rank == 2 && inputGates.shape[1] == 4 * hidden, "lstm: input gates \(inputGates.shape) for \(hidden) units")
        precondition(hidden % VectorMath.lanes == 0, "lstm: \(hidden) units is not a multiple of \(VectorMath.lanes)")
        let steps = inputGates.shape[0]
        let out = Tensor(uninitializedShape: [steps, hidden])
        if steps == 0 { return out }
        // The recurrent weight transposed once ([hidden, 4 hidden]), so each step's product
        // reads it in place.
        let x = inputGates.contiguous(), r = recurrent.transposed().contiguous()
        let gates = UnsafeMutablePointer<Float>.allocate(capacity: 4 * hidden)
        defer { gates.deallocate() }
        typealias V = VectorMath.V
        let lanes = VectorMath.lanes
        withExtendedLifetime((x, r)) {
            state.h.withUnsafeMutableBufferPointer { hb in
                state.c.withUnsafeMutableBufferPointer { cb in
                    let h = hb.baseAddress!, c = cb.baseAddress!
                    for t in 0..<steps {
                        gates.update(from: x.pointer + t * 4 * hidden, count: 4 * hidden)
                        BLAS.sgemmOnThisThread(m: 1, n: 4 * hidden, k: hidden, a: h, lda: hidden, b: r.pointer,
                                               ldb: 4 * hidden, beta: 1, c: gates, ldc: 4 * hidden)
                        var j = 0
                        while j < hidden {
                            let i = VectorMath.sigmoid(VectorMath.load(gates, j))
                            let o = VectorMath.sigmoid(VectorMath.load(gates, hidden + j))
                            let f = VectorMath.sigmoid(VectorMath.load(gates, 2 * hidden + j))
                            let g = VectorMath.tanh(VectorMath.load(gates, 3 * hidden + j))
                            let cn: V = f * VectorMath.load(c, j) + i * g
                            let hn: V = o * VectorMath.tanh(cn)
                            VectorMath.store(cn, c, j)
                            VectorMath.store(hn, h, j)
                            VectorMath.store(hn, out.outputPointer + t * hidden, j)
                            j += lanes
                        }
                    }
                }
            }
        }
        return out
    }
}
