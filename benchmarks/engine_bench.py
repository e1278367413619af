#!/usr/bin/env python3
"""Engine benchmark (issue 2): SeqLens vs transformers on torch CPU, same machine, same run.

Forward throughput on SmolLM2-135M (GGUF, dequantized to float32 by both) for a 128-token
prompt at batch 1 and 8, and greedy generation tokens/s. Run from the repository root:

    HF_HUB_OFFLINE=1 .venv-ref/bin/python benchmarks/engine_bench.py [--markdown]

Needs: `swift build -c release`, the reference venv (../shared/reference/README.md) and the
default model in the cache (scripts/fetch-models.sh).
"""
import json, os, resource, subprocess, sys, time

import torch
from transformers import AutoModelForCausalLM

CACHE = os.environ.get("SEQLENS_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "seqlens")
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BENCH = os.path.join(".build", "release", "seqlens-bench")
THREADS = os.cpu_count()


def synthetic_ids(count, vocabulary, seed):
    """The same ids as seqlens-bench's syntheticIds (64-bit LCG)."""
    state, out = seed, []
    for _ in range(count):
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out.append(100 + (state >> 33) % (vocabulary - 200))
    return out


def swift(*args):
    out = subprocess.run([BENCH, *map(str, args)], check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main():
    torch.set_num_threads(THREADS)
    model = AutoModelForCausalLM.from_pretrained(os.path.join(CACHE, "models"), gguf_file=GGUF, dtype=torch.float32).eval()
    vocab = model.config.vocab_size
    rows = []
    sgemm = swift("sgemm")
    peak = max(r["gflops"] for r in sgemm)
    for batch in (1, 8):
        ids = torch.tensor([synthetic_ids(128, vocab, seed=b + 1) for b in range(batch)])
        with torch.inference_mode():
            model(ids)
            best = min(timed(lambda: model(ids)) for _ in range(3))
        ours = swift("forward", "default", 128, batch, 3)[0]
        rows.append((f"forward 128 tokens, batch {batch}", batch * 128 / best, ours["tokens_per_second"], "tokens/s", ours["gflops"]))
    prompt = torch.tensor([synthetic_ids(16, vocab, seed=1)])
    with torch.inference_mode():
        model.generate(prompt, max_new_tokens=4, do_sample=False)
        seconds = timed(lambda: model.generate(prompt, max_new_tokens=32, min_new_tokens=32, do_sample=False))
    ours = swift("generate", "default", 16, 32)[0]
    rows.append(("greedy generation, 16 + 32 tokens", 32 / seconds, ours["tokens_per_second"], "tokens/s", None))
    lines = [f"Machine: {THREADS} cores; torch {torch.__version__} ({torch.get_num_threads()} threads); OpenBLAS SGEMM peak measured {peak:.0f} GFLOP/s.", "",
             "| measurement | transformers | SeqLens | ratio | SeqLens GFLOP/s (% of SGEMM peak) |", "|---|---|---|---|---|"]
    for name, theirs, ours_value, unit, gflops in rows:
        g = f"{gflops:.0f} ({100 * gflops / peak:.0f}%)" if gflops else "n/a (memory bound)"
        lines.append(f"| {name} | {theirs:.1f} {unit} | {ours_value:.1f} {unit} | {ours_value / theirs:.2f}x | {g} |")
    lines.append(f"\nPeak RSS: transformers process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; "
                 f"SeqLens forward batch 8 {ours_peak_mib():.0f} MiB.")
    print("\n".join(lines))


def ours_peak_mib():
    return swift("forward", "default", 128, 8, 1)[0]["peak_rss_bytes"] / 2**20


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
