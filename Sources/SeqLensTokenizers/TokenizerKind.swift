/// The tokenizer kinds SeqLens reads, as `initialize` lists them.
public enum TokenizerKind: String, CaseIterable, Sendable {
    /// Byte-level BPE: `tokenizer.json`, `vocab.json` + `merges.txt`, or GGUF metadata (GPT-2, Llama-3, Qwen2, BART).
    case byteLevelBPE = "byte_level_bpe"
    /// A SentencePiece `Unigram` model in `tokenizer.json` (mBART).
    case unigram
    /// SentencePiece `.spm`/`.model` files through libsentencepiece.
    case sentencePiece = "sentencepiece"
    /// transformers' MarianTokenizer: two SentencePiece models and one vocab.json.
    case marian
    /// transformers' MBartTokenizer: a Unigram tokenizer.json with language codes per side.
    case mbart
}
