import TensorCore

/// A PyTorch-layout linear layer: `y = x W^T + b`, W `[out, in]`.
public struct Linear: Sendable {
    public var weight: Tensor
    public var bias: Tensor?
    /// The weight in half precision, when it is exactly representable so (see `HalfMatrix`).
    public var half: HalfMatrix?

    public init(weight: Tensor, bias: Tensor?) {
        self.weight = weight
        self.bias = bias
    }

    /// Keeps a half-precision copy for few-row products (decoding steps) when the weight is
    /// exactly half precision and the CPU converts in hardware; otherwise unchanged.
    public mutating func addHalfPrecisionCopy() {
        if half == nil { half = HalfMatrix(exactly: weight) }
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    public func callAsFunction(_ x: Tensor) -> Tensor { Tensor.linear(x, weight: weight, bias: bias, half: half) }
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
