import SeqLensCheckpoints
import SeqLensTensor

/// Named weights in transformers' naming (`model.layers.0.self_attn.q_proj.weight`), whatever
/// the file calls them; architectures ask for a name and the shape they expect.
public protocol WeightSource {
    func contains(_ name: String) -> Bool
    /// - Throws: `ModelError.missingWeight` or `.weightShapeMismatch`, or the checkpoint's error.
    func tensor(_ name: String, shape: [Int]) throws -> Tensor
    /// The `[out, in]` matrix `name` in its stored block encoding, when the file keeps it in one
    /// that `PackedMatrix` reads (Q4_0, Q4_1, Q8_0, Q4_K, Q6_K); nil otherwise. Half-precision weights are not
    /// kept twice: that would cost half again the Float32 copy's memory for a 2x faster GEMV.
    func packedMatrix(_ name: String, shape: [Int]) throws -> PackedMatrix?
}

extension WeightSource {
    public func packedMatrix(_ name: String, shape: [Int]) throws -> PackedMatrix? { nil }
}

extension PackedMatrix.Format {
    /// The packed encoding of a checkpoint dtype, if there is one.
    init?(_ dtype: TensorDType) {
        switch dtype {
        case .q4_0: self = .q4_0
        case .q4_1: self = .q4_1
        case .q8_0: self = .q8_0
        case .q4_K: self = .q4_K
        case .q6_K: self = .q6_K
        default: return nil
        }
    }
}


/// Weights of a safetensors checkpoint, whose names are already transformers'.
struct SafetensorsWeights: WeightSource {
    let store: any TensorStore

    func contains(_ name: String) -> Bool { store.info(name) != nil }

    func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        guard let info = store.info(name) else { throw ModelError.missingWeight(name) }
        guard info.shape == shape else {
            throw ModelError.weightShapeMismatch(name: name, expected: shape, found: info.shape)
        }
        return Tensor(shape: shape, scalars: try store.floats(name))
    }
}

/// Weights of a llama.cpp GGUF file, renamed to transformers' names.
///
/// llama.cpp's converter permutes the rows of Q and K of "llama" checkpoints so that rotary
/// pairs are interleaved; as transformers' GGUF loader does, the permutation is undone here so
/// one rotary kernel serves both formats.
struct GGUFWeights: WeightSource {
    let file: GGUFFile
    let headCount: Int
    let keyValueHeadCount: Int
    let permutesQueryKey: Bool

    func contains(_ name: String) -> Bool { Self.ggufName(name).map { file.info($0) != nil } ?? false }

    func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        guard let stored = Self.ggufName(name), let info = file.info(stored) else {
            throw ModelError.missingWeight(name)
        }
        guard info.shape == shape else {
            throw ModelError.weightShapeMismatch(name: "\(stored) (\(name))", expected: shape, found: info.shape)
        }
        let scalars = try file.floats(stored)
        guard let order = rowOrder(name, rows: shape[0]) else { return Tensor(shape: shape, scalars: scalars) }
        let width = shape.count > 1 ? shape[1] : 1
        var reordered = scalars
        for (to, from) in order.enumerated() {
            reordered[(to * width)..<((to + 1) * width)] = scalars[(from * width)..<((from + 1) * width)]
        }
        return Tensor(shape: shape, scalars: reordered)
    }

    func packedMatrix(_ name: String, shape: [Int]) throws -> PackedMatrix? {
        guard shape.count == 2, let stored = Self.ggufName(name), let info = file.info(stored), info.shape == shape,
              let format = PackedMatrix.Format(info.dtype), shape[1] % format.blockSize == 0 else { return nil }
        let matrix = PackedMatrix(format: format, rows: shape[0], columns: shape[1], bytes: Array(try file.rawBytes(stored)))
        return rowOrder(name, rows: shape[0]).map(matrix.reorderingRows) ?? matrix
    }

    /// For Q and K of a permuting checkpoint, the file row that goes to each row; nil otherwise.
    func rowOrder(_ name: String, rows: Int) -> [Int]? {
        guard permutesQueryKey else { return nil }
        if name.hasSuffix("q_proj.weight") { return Self.unpermutedRowOrder(rows: rows, heads: headCount) }
        if name.hasSuffix("k_proj.weight") { return Self.unpermutedRowOrder(rows: rows, heads: keyValueHeadCount) }
        return nil
    }

    /// Row (h, i, half) of the file becomes row (h, half, i): transformers' reverse_permute_weights.
    /// Element r is the file row that goes to row r.
    static func unpermutedRowOrder(rows: Int, heads: Int) -> [Int] {
        let half = rows / heads / 2
        var order = Array(0..<rows)
        for h in 0..<heads {
            for i in 0..<half {
                for pair in 0..<2 { order[h * half * 2 + pair * half + i] = h * half * 2 + i * 2 + pair }
            }
        }
        return order
    }

    /// llama.cpp's tensor names for transformers' Llama-family names.
    static func ggufName(_ name: String) -> String? {
        switch name {
        case "model.embed_tokens.weight": return "token_embd.weight"
        case "model.norm.weight": return "output_norm.weight"
        case "lm_head.weight": return "output.weight"
        default: break
        }
        let parts = name.split(separator: ".")
        guard parts.count >= 5, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]) else { return nil }
        let module = parts[3..<(parts.count - 1)].joined(separator: ".")
        let table: [String: String] = [
            "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
            "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
            "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
            "mlp.down_proj": "ffn_down",
        ]
        guard let mapped = table[module] else { return nil }
        return "blk.\(layer).\(mapped).\(parts.last!)"
    }
}

/// Counts the bytes of every weight handed out, for the registry's memory accounting.
final class CountingWeights: WeightSource {
    let base: any WeightSource
    private(set) var bytes = 0

    init(_ base: any WeightSource) { self.base = base }

    func contains(_ name: String) -> Bool { base.contains(name) }

    func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        let tensor = try base.tensor(name, shape: shape)
        bytes += tensor.count * MemoryLayout<Float>.size
        return tensor
    }

    func packedMatrix(_ name: String, shape: [Int]) throws -> PackedMatrix? {
        let matrix = try base.packedMatrix(name, shape: shape)
        bytes += matrix?.bytes.count ?? 0
        return matrix
    }
}
