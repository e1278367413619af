/// The element encodings SeqLens can read, and a catch-all for the ones it cannot.
///
/// Quantized types store `blockSize` consecutive elements of a row in `blockBytes` bytes
/// (ggml's `ggml_type_traits`: `blck_size` and `type_size`).
public enum TensorDType: Hashable, Sendable, CustomStringConvertible {
    case f32, f16, bf16
    case q4_0, q4_1, q5_0, q5_1, q8_0
    case q4_K, q5_K, q6_K
    /// A type that parses but cannot be converted to Float32; the payload is its name
    /// (e.g. `IQ2_XXS`, `I64`, `GGML type 99`).
    case unsupported(String)

    /// Every type this module can convert to Float32.
    public static let supported: [TensorDType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K]

    /// The name ggml and gguf-py use (`Q4_K`, `BF16`, ...).
    public var description: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"
        case .q6_K: "Q6_K"
        case .unsupported(let name): name
        }
    }

    /// Elements per block (1 for plain floats); nil when unsupported.
    public var blockSize: Int? {
        switch self {
        case .f32, .f16, .bf16: 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: 32
        case .q4_K, .q5_K, .q6_K: 256
        case .unsupported: nil
        }
    }

    /// Bytes per block; nil when unsupported.
    public var blockBytes: Int? {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q4_0: 18
        case .q4_1: 20
        case .q5_0: 22
        case .q5_1: 24
        case .q8_0: 34
        case .q4_K: 144
        case .q5_K: 176
        case .q6_K: 210
        case .unsupported: nil
        }
    }

    /// The GGML type id of a supported type (ggml.h `enum ggml_type`).
    public var ggmlTypeID: UInt32? {
        switch self {
        case .f32: 0
        case .f16: 1
        case .q4_0: 2
        case .q4_1: 3
        case .q5_0: 6
        case .q5_1: 7
        case .q8_0: 8
        case .q4_K: 12
        case .q5_K: 13
        case .q6_K: 14
        case .bf16: 30
        case .unsupported: nil
        }
    }

    /// The dtype for a GGML type id; ids of types this module cannot read map to `.unsupported`.
    public init(ggmlTypeID id: UInt32) {
        if let known = TensorDType.supported.first(where: { $0.ggmlTypeID == id }) {
            self = known
        } else {
            self = .unsupported(GGMLTypeTable.name(of: id))
        }
    }
}

/// Block geometry of every GGML type, supported or not, so that files holding tensors this
/// module cannot dequantize still parse and have their byte ranges checked.
/// Source: gguf-py `constants.py` GGML_QUANT_SIZES (gguf 0.19.0).
enum GGMLTypeTable {
    struct Entry {
        let name: String
        let blockSize: Int
        let blockBytes: Int
    }

    private static let qkK = 256
    static let entries: [UInt32: Entry] = [
        0: Entry(name: "F32", blockSize: 1, blockBytes: 4),
        1: Entry(name: "F16", blockSize: 1, blockBytes: 2),
        2: Entry(name: "Q4_0", blockSize: 32, blockBytes: 18),
        3: Entry(name: "Q4_1", blockSize: 32, blockBytes: 20),
        6: Entry(name: "Q5_0", blockSize: 32, blockBytes: 22),
        7: Entry(name: "Q5_1", blockSize: 32, blockBytes: 24),
        8: Entry(name: "Q8_0", blockSize: 32, blockBytes: 34),
        9: Entry(name: "Q8_1", blockSize: 32, blockBytes: 40),
        10: Entry(name: "Q2_K", blockSize: qkK, blockBytes: 2 + 2 + qkK / 16 + qkK / 4),
        11: Entry(name: "Q3_K", blockSize: qkK, blockBytes: 2 + qkK / 4 + qkK / 8 + 12),
        12: Entry(name: "Q4_K", blockSize: qkK, blockBytes: 144),
        13: Entry(name: "Q5_K", blockSize: qkK, blockBytes: 176),
        14: Entry(name: "Q6_K", blockSize: qkK, blockBytes: 210),
        15: Entry(name: "Q8_K", blockSize: qkK, blockBytes: 4 + qkK + qkK / 8),
        16: Entry(name: "IQ2_XXS", blockSize: qkK, blockBytes: 2 + qkK / 4),
        17: Entry(name: "IQ2_XS", blockSize: qkK, blockBytes: 2 + qkK / 4 + qkK / 32),
        18: Entry(name: "IQ3_XXS", blockSize: qkK, blockBytes: 2 + qkK / 4 + qkK / 8),
        19: Entry(name: "IQ1_S", blockSize: qkK, blockBytes: 2 + qkK / 8 + qkK / 16),
        20: Entry(name: "IQ4_NL", blockSize: 32, blockBytes: 18),
        21: Entry(name: "IQ3_S", blockSize: qkK, blockBytes: 2 + qkK / 4 + qkK / 8 + qkK / 32 + 4),
        22: Entry(name: "IQ2_S", blockSize: qkK, blockBytes: 2 + qkK / 4 + qkK / 16),
        23: Entry(name: "IQ4_XS", blockSize: qkK, blockBytes: 2 + 2 + qkK / 2 + qkK / 64),
        24: Entry(name: "I8", blockSize: 1, blockBytes: 1),
        25: Entry(name: "I16", blockSize: 1, blockBytes: 2),
        26: Entry(name: "I32", blockSize: 1, blockBytes: 4),
        27: Entry(name: "I64", blockSize: 1, blockBytes: 8),
        28: Entry(name: "F64", blockSize: 1, blockBytes: 8),
        29: Entry(name: "IQ1_M", blockSize: qkK, blockBytes: qkK / 8 + qkK / 16 + qkK / 32),
        30: Entry(name: "BF16", blockSize: 1, blockBytes: 2),
        34: Entry(name: "TQ1_0", blockSize: qkK, blockBytes: 2 + 4 * 13),
        35: Entry(name: "TQ2_0", blockSize: qkK, blockBytes: 2 + 64),
        39: Entry(name: "MXFP4", blockSize: 32, blockBytes: 1 + 16),
        40: Entry(name: "NVFP4", blockSize: 64, blockBytes: 4 + 32),
        41: Entry(name: "Q1_0", blockSize: 128, blockBytes: 2 + 16),
    ]

    static func name(of id: UInt32) -> String {
        entries[id]?.name ?? "GGML type \(id)"
    }
}
