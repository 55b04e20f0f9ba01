import TensorCore

/// The element-wise activations of the models, parsed from the names checkpoints give them
/// and applied in one place. Convolutions fuse theirs into the kernel's epilogue (`fused`,
/// TensorCore's `Tensor.FusedActivation`).
public enum Activation: String, Sendable, Equatable, CaseIterable {
    case identity
    case relu
    /// `min(max(x, 0), 6)` (EfficientNet-Lite).
    case relu6
    /// Exact GELU `0.5 x (1 + erf(x / sqrt 2))`.
    case gelu
    /// GELU's tanh approximation (`gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`).
    case geluTanh
    /// CLIP's `x * sigmoid(1.702 x)`.
    case quickGELU

    /// transformers' `hidden_act` names (`ACT2FN`) this enum implements, in the order error
    /// messages list them.
    public static let huggingFaceNames = ["gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "quick_gelu", "relu", "relu6"]

    /// A transformers `hidden_act` name, or nil when it is not one of `huggingFaceNames`.
    public init?(huggingFace name: String) {
        switch name {
        case "gelu": self = .gelu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluTanh
        case "quick_gelu": self = .quickGELU
        case "relu": self = .relu
        case "relu6": self = .relu6
        default: return nil
        }
    }

    /// `init(huggingFace:)`, or the loader error naming `key` (`hidden_act`, `vision hidden_act`)
    /// and the file at `path`.
    public static func huggingFace(_ name: String, key: String = "hidden_act", path: String) throws -> Activation {
        guard let a = Activation(huggingFace: name) else {
            throw WeightFileError(path: path, "\(key) '\(name)' is not supported (\(huggingFaceNames.joined(separator: ", ")))")
        }
        return a
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .identity: return x
        case .relu: return x.relu()
        case .relu6: return x.relu6()
        case .gelu: return x.gelu()
        case .geluTanh: return x.geluTanh()
        case .quickGELU: return x.quickGELU()
        }
    }

    /// The form a convolution's epilogue applies, or nil for activations it does not fuse.
    public var fused: Tensor.FusedActivation? {
        switch self {
        case .identity: return Tensor.FusedActivation.none
        case .relu: return .relu
        case .relu6: return .relu6
        case .gelu, .geluTanh, .quickGELU: return nil
        }
    }
}
