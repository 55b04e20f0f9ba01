import TensorCore

/// A PyTorch-layout linear layer: `y = x W^T + b`, W `[out, in]`, stored as a `WeightMatrix`
/// (float32 as loaded; float16 for Whisper's decoding products, see `halfPrecisionIfExact`).
public struct Linear: Sendable {
    public var matrix: WeightMatrix
    public var bias: Tensor?

    public init(weight: Tensor, bias: Tensor?) {
        self.init(WeightMatrix(weight), bias: bias)
    }

    public init(_ matrix: WeightMatrix, bias: Tensor?) {
        self.matrix = matrix
        self.bias = bias
    }

    /// One layer whose outputs are those of `parts` in order (their weights stacked): Hugging
    /// Face's query, key and value projections as one `[3D, D]` product. Biases: all or none.
    public init(stacking parts: [Linear]) {
        precondition(!parts.isEmpty && parts.allSatisfy { $0.inFeatures == parts[0].inFeatures },
                     "Linear(stacking:): parts must share their input width")
        let biases = parts.compactMap(\.bias)
        precondition(biases.isEmpty || biases.count == parts.count, "Linear(stacking:): some parts have a bias, some not")
        self.init(weight: Tensor.concat(parts.map(\.weight), axis: 0),
                  bias: biases.isEmpty ? nil : Tensor.concat(biases, axis: 0))
    }

    /// The weight in float32: the stored tensor, or an exact float32 copy of another storage.
    public var weight: Tensor { matrix.float32 }

    public var inFeatures: Int { matrix.cols }
    public var outFeatures: Int { matrix.rows }

    /// The layer for outputs `range` only (weight rows and bias entries; no copy).
    public func outputs(_ range: Range<Int>) -> Linear {
        Linear(matrix.rows(range), bias: bias?.slice(axis: 0, range))
    }

    /// The layer with its weight in half precision when every value is exactly a half float
    /// and the CPU converts in hardware (see `WeightMatrix.halfPrecisionIfExact`); otherwise
    /// unchanged. Few-row products (decoding steps) then read half the bytes.
    public func halfPrecisionIfExact() -> Linear { Linear(matrix.halfPrecisionIfExact(), bias: bias) }

    public func callAsFunction(_ x: Tensor) -> Tensor { Tensor.linear(x, weight: matrix, bias: bias) }
}

/// Layer norm over the last axis.
public struct LayerNorm: Sendable {
    public var weight: Tensor
    public var bias: Tensor
    public var eps: Float

    public init(weight: Tensor, bias: Tensor, eps: Float = 1e-5) {
        self.weight = weight
        self.bias = bias
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm(weight: weight, bias: bias, eps: eps) }
}

/// A transformer's feed-forward part: `fc2(activation(fc1(x)))`.
public struct MLP: Sendable {
    public var fc1: Linear
    public var fc2: Linear
    public var activation: Activation

    public init(fc1: Linear, fc2: Linear, activation: Activation) {
        (self.fc1, self.fc2, self.activation) = (fc1, fc2, activation)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { fc2(activation(fc1(x))) }
}
