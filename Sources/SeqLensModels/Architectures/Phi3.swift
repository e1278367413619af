import SeqLensTensor

// Phi-3, following transformers' models/phi3/modeling_phi3.py: a Llama block whose query, key
// and value projections are one `qkv_proj` (rows [Q | K | V]) and whose gate and up projections
// are one `gate_up_proj` (rows [gate | up]; the MLP is up · act(gate)). The fused matrices are
// split into Llama's projections at load, so Phi-3 runs on the Llama code unchanged.

/// The weights of a Phi-3 checkpoint under Llama's names: `q_proj`, `k_proj`, `v_proj` as row
/// blocks of `qkv_proj`, `gate_proj` and `up_proj` as row blocks of `gate_up_proj`.
final class Phi3Weights: WeightSource {
    let base: any WeightSource
    let configuration: LlamaConfiguration
    /// The last fused tensor read: q, k and v (gate and up) ask for it one after another.
    private var lastFused: (name: String, tensor: Tensor)?

    init(base: any WeightSource, configuration: LlamaConfiguration) {
        self.base = base
        self.configuration = configuration
    }

    /// For a split name: the fused tensor, its row count, and the block's first row.
    private func fused(_ name: String) -> (name: String, rows: Int, start: Int)? {
        let cfg = configuration
        let q = cfg.numAttentionHeads * cfg.headDimension, kv = cfg.keyValueHeads * cfg.headDimension
        let i = cfg.intermediateSize
        let blocks: [(suffix: String, fused: String, rows: Int, start: Int)] = [
            ("self_attn.q_proj.weight", "self_attn.qkv_proj.weight", q + 2 * kv, 0),
            ("self_attn.k_proj.weight", "self_attn.qkv_proj.weight", q + 2 * kv, q),
            ("self_attn.v_proj.weight", "self_attn.qkv_proj.weight", q + 2 * kv, q + kv),
            ("mlp.gate_proj.weight", "mlp.gate_up_proj.weight", 2 * i, 0),
            ("mlp.up_proj.weight", "mlp.gate_up_proj.weight", 2 * i, i),
        ]
        for block in blocks where name.hasSuffix("." + block.suffix) {
            return (String(name.dropLast(block.suffix.count)) + block.fused, block.rows, block.start)
        }
        return nil
    }

    func contains(_ name: String) -> Bool {
        fused(name).map { base.contains($0.name) } ?? base.contains(name)
    }

    func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        guard let (fusedName, rows, start) = fused(name), shape.count == 2 else {
            return try base.tensor(name, shape: shape)
        }
        let whole: Tensor
        if let last = lastFused, last.name == fusedName {
            whole = last.tensor
        } else {
            whole = try base.tensor(fusedName, shape: [rows, shape[1]])
            lastFused = (fusedName, whole)
        }
        let width = shape[1]
        return Tensor(shape: shape, scalars: Array(whole.scalars[(start * width)..<((start + shape[0]) * width)]))
    }
}
