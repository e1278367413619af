#!/usr/bin/env python3
"""Encoder-decoder benchmark (issue 11): SeqLens vs Inseq 0.7.1 and transformers on the same
machine, in the same run, on a random checkpoint shaped like Helsinki-NLP/opus-mt-en-de (d_model
512, 6+6 layers, 8 heads, FFN 2048, vocabulary 58,101, scaled embeddings, swish).

Cases, each in a fresh process (so peak RSS is per case):
  - integrated gradients (n_steps 50) and saliency, source attributions of a 20-token source for
    20 forced target tokens, step score probability (Inseq: attribute(source, target, ...));
  - 4-beam generation of 20 new tokens from the same source (transformers: generate(num_beams=4)),
    after one warm-up call on both sides.

    HF_HUB_OFFLINE=1 .venv-ref/bin/python benchmarks/seq2seq_bench.py [--repeat N]

With --repeat N (default 3) each case runs N times, reference and SeqLens alternating (A B A B),
and the table gives each side's median and the median of the pairwise ratios.

Needs `swift build -c release --product seqlens-bench` and the reference venv. The checkpoint is
written once to $SEQLENS_CACHE/bench/marian-opus-shaped (about 300 MB): random weights, the
tokenizer of Tests/Fixtures/models/tiny-marian with its vocab.json padded to 58,101 entries.
"""
import json, os, resource, shutil, subprocess, sys, time

CACHE = os.environ.get("SEQLENS_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "seqlens")
BENCH = os.path.join(".build", "release", "seqlens-bench")
FOLDER = os.path.join(CACHE, "bench", "marian-opus-shaped")
TINY = os.path.join("Tests", "Fixtures", "models", "tiny-marian")
VOCABULARY = 58101
# 20 tokens each with the tiny Marian's SentencePiece models, </s> included (checked below).
SOURCE = "The licence gives you freedom to share it."
TARGET = "You may copy the whole program in any medium, if you do it."


def make_checkpoint():
    if os.path.exists(os.path.join(FOLDER, "model.safetensors")):
        return
    import torch
    from transformers import GenerationConfig, MarianConfig, MarianMTModel
    os.makedirs(FOLDER, exist_ok=True)
    for name in ("source.spm", "target.spm", "tokenizer_config.json"):
        shutil.copy(os.path.join(TINY, name), os.path.join(FOLDER, name))
    vocab = json.load(open(os.path.join(TINY, "vocab.json"), encoding="utf-8"))
    vocab.pop("<pad>")
    for i in range(len(vocab), VOCABULARY - 1):
        vocab[f"<unused{i}>"] = i
    vocab["<pad>"] = VOCABULARY - 1
    json.dump(vocab, open(os.path.join(FOLDER, "vocab.json"), "w", encoding="utf-8"), ensure_ascii=False)
    torch.manual_seed(0)
    config = MarianConfig(vocab_size=VOCABULARY, d_model=512, encoder_layers=6, decoder_layers=6,
                          encoder_attention_heads=8, decoder_attention_heads=8, encoder_ffn_dim=2048,
                          decoder_ffn_dim=2048, max_position_embeddings=512, activation_function="swish",
                          scale_embedding=True, pad_token_id=VOCABULARY - 1, eos_token_id=0,
                          decoder_start_token_id=VOCABULARY - 1, forced_eos_token_id=0)
    model = MarianMTModel(config).eval()
    model.generation_config = GenerationConfig(
        bad_words_ids=[[VOCABULARY - 1]], decoder_start_token_id=VOCABULARY - 1, eos_token_id=0, forced_eos_token_id=0,
        max_length=512, num_beams=4, pad_token_id=VOCABULARY - 1)
    model.save_pretrained(FOLDER, safe_serialization=True)


def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reference_case(kind, method, n_steps):
    """Runs in a child process: one Inseq attribute() or transformers generate() call, timed."""
    import torch
    torch.set_num_threads(os.cpu_count())
    if kind == "generate":
        from transformers import MarianMTModel, MarianTokenizer
        tokenizer = MarianTokenizer.from_pretrained(FOLDER)
        model = MarianMTModel.from_pretrained(FOLDER).eval()
        inputs = tokenizer(SOURCE, return_tensors="pt")
        with torch.no_grad():
            model.generate(**inputs, num_beams=4, max_new_tokens=20)
            start = time.perf_counter()
            out = model.generate(**inputs, num_beams=4, max_new_tokens=20)
            seconds = time.perf_counter() - start
        new = out.shape[1] - 1
        print(json.dumps({"seconds": seconds, "new_tokens": new, "tokens_per_second": new / seconds, "peak_rss_bytes": peak()}))
        return
    import inseq
    model = inseq.load_model(FOLDER, method)
    model.model.model.decoder.embed_scale = 1.0  # transformers 5's double scaling (see the fixture script)
    kwargs = {"n_steps": n_steps} if n_steps else {}
    start = time.perf_counter()
    out = model.attribute(SOURCE, TARGET, step_scores=["probability"], show_progress=False, **kwargs)
    seconds = time.perf_counter() - start
    sequence = out.sequence_attributions[0]
    print(json.dumps({"seconds": seconds, "source_tokens": len(sequence.source),
                      "steps": sequence.attr_pos_end - sequence.attr_pos_start, "peak_rss_bytes": peak()}))


def run(command, env=None):
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def reference(kind, method="", n_steps=0):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return run([sys.executable, __file__, "--reference-case", kind, method, str(n_steps)], env)


def main():
    make_checkpoint()
    from transformers import MarianTokenizer
    tokenizer = MarianTokenizer.from_pretrained(FOLDER)
    assert len(tokenizer(SOURCE).input_ids) == 20, len(tokenizer(SOURCE).input_ids)
    assert len(tokenizer(text_target=TARGET).input_ids) == 20, len(tokenizer(text_target=TARGET).input_ids)
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 3
    median = lambda values: sorted(values)[len(values) // 2]
    rows = ["| case | reference (median) | SeqLens (median) | speed-up (median of pairs) | reference peak RSS | SeqLens peak RSS |",
            "|---|---|---|---|---|---|"]
    for method, n_steps in (("integrated_gradients", 50), ("saliency", 0)):
        pairs = []
        for _ in range(repeat):
            theirs = reference("attribute", method, n_steps)
            ours = run([BENCH, "attribute-seq2seq", FOLDER, method, SOURCE, TARGET] + ([str(n_steps)] if n_steps else []))
            assert theirs["steps"] == ours["steps"] == 20, (theirs, ours)
            pairs.append((theirs, ours))
            print(method, f"Inseq {theirs['seconds']:.2f} s, SeqLens {ours['seconds']:.2f} s", flush=True)
        name = method + (f" (n_steps {n_steps})" if n_steps else "")
        rows.append(f"| {name}, 20 + 20 tokens | Inseq {median([t['seconds'] for t, _ in pairs]):.2f} s "
                    f"| {median([o['seconds'] for _, o in pairs]):.2f} s "
                    f"| {median([t['seconds'] / o['seconds'] for t, o in pairs]):.1f}x "
                    f"| {max(t['peak_rss_bytes'] for t, _ in pairs) / 2**30:.2f} GiB "
                    f"| {max(o['peak_rss_bytes'] for _, o in pairs) / 2**30:.2f} GiB |")
    pairs = []
    for _ in range(repeat):
        pairs.append((reference("generate"), run([BENCH, "generate-seq2seq", FOLDER, SOURCE, "20", "4"])))
        print("generate", pairs[-1][0]["tokens_per_second"], pairs[-1][1]["tokens_per_second"], flush=True)
    rows.append(f"| 4-beam generation, {pairs[0][0]['new_tokens']} / {pairs[0][1]['new_tokens']} tokens "
                f"| transformers {median([t['tokens_per_second'] for t, _ in pairs]):.1f} tokens/s "
                f"| {median([o['tokens_per_second'] for _, o in pairs]):.1f} tokens/s "
                f"| {median([o['tokens_per_second'] / t['tokens_per_second'] for t, o in pairs]):.1f}x "
                f"| {max(t['peak_rss_bytes'] for t, _ in pairs) / 2**30:.2f} GiB "
                f"| {max(o['peak_rss_bytes'] for _, o in pairs) / 2**30:.2f} GiB |")
    print("\n".join(rows))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--reference-case":
        reference_case(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
