import SeqLensTensor

/// The MLP nonlinearities named in HF configs.
enum Activation: Sendable {
    case geluTanh, geluErf, silu, relu

    init(huggingFaceName name: String) throws {
        switch name {
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluTanh
        case "gelu": self = .geluErf
        case "silu", "swish": self = .silu
        case "relu": self = .relu
        default: throw ModelError.invalidConfiguration("unsupported activation function '\(name)'")
        }
    }

    func callAsFunction(_ x: Variable) -> Variable {
        switch self {
        case .geluTanh: SeqLensTensor.geluTanh(x)
        case .geluErf: SeqLensTensor.geluErf(x)
        case .silu: SeqLensTensor.silu(x)
        case .relu: SeqLensTensor.relu(x)
        }
    }
}
