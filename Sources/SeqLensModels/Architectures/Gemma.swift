import SeqLensTensor

// Gemma (1), following transformers' models/gemma/modeling_gemma.py: a Llama block with
// embeddings scaled by √hidden_size inside the embedding module (so attribution differentiates
// the scaled embeddings, as Inseq does), RMS norms that multiply by (1 + weight), GeGLU with the
// tanh GELU (Gemma's legacy `hidden_act: "gelu"` means the tanh form), tied head. The norms'
// +1 is folded into their weights at load, so Gemma runs on the Llama code.

/// A Gemma checkpoint's weights with every RMS norm weight w read as 1 + w.
struct GemmaWeights: WeightSource {
    let base: any WeightSource

    func contains(_ name: String) -> Bool { base.contains(name) }

    func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        let tensor = try base.tensor(name, shape: shape)
        guard name.hasSuffix("norm.weight") else { return tensor }
        return Tensor(shape: tensor.shape, scalars: tensor.scalars.map { 1 + $0 })
    }

    func packedMatrix(_ name: String, shape: [Int]) throws -> PackedMatrix? { try base.packedMatrix(name, shape: shape) }
}

extension LlamaConfiguration {
    /// Gemma multiplies its token embeddings by √hidden_size (in the weights' dtype, Float32 here).
    var embeddingScale: Float? { modelType == "gemma" ? Float(hiddenSize).squareRoot() : nil }
}
