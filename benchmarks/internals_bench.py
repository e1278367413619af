#!/usr/bin/env python3
"""Internals benchmark (issue 13): inspect/* on the warm daemon against transformers with PyTorch
hooks (the way TransformerLens and nnsight read and edit a forward), same machine, same run.

Both sides load SmolLM2-135M-Instruct from the Q4_1 GGUF once (transformers dequantizes to
float32; SeqLens keeps Float32 weights too), then each operation is timed warm, median of N:

  cache      every resid_post of a 20-token input (run_with_cache)
  lens       logit lens: softmax(lm_head(norm(r))) over every resid_post, top-5 per position
  patch      activation patching of every resid_pre (30 layers) at every position (20) into a
             corrupted input, logit difference at the last position: 600 patched runs
  sweep      every head of every layer zeroed alone (30 x 9 = 270 runs), log p(target)

The reference runs each patched or ablated input as its own forward, as hook-based patching
does; SeqLens batches them (sites per position, heads per layer) and continues patched runs from
the corrupted run's cache. Peak RSS of each side is reported (the daemon's from /proc).

Usage: HF_HUB_OFFLINE=1 .venv-ref/bin/python benchmarks/internals_bench.py [--binary .build/release/seqlens] [-n 3]
"""
import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rpc_client import Daemon

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("SEQLENS_CACHE", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "seqlens"))
GGUF = CACHE / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
CLEAN = "When Mary and John went to the store, John gave a drink to"
CORRUPTED = "When Mary and John went to the store, Mary gave a drink to"


def timed(function, n):
    function()  # warm-up
    times = []
    for _ in range(n):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def reference(model, tokenizer):
    layers = model.config.num_hidden_layers
    heads = model.config.num_attention_heads
    head_dim = model.config.hidden_size // heads
    blocks = model.model.layers
    clean = torch.tensor([tokenizer(CLEAN)["input_ids"]])
    corrupted = torch.tensor([tokenizer(CORRUPTED)["input_ids"]])
    t = clean.shape[1]
    target, contrast = tokenizer(" Mary", add_special_tokens=False)["input_ids"][0], tokenizer(" John", add_special_tokens=False)["input_ids"][0]

    def cache():
        values = {}
        handles = [b.register_forward_hook(lambda m, i, o, k=k: values.__setitem__(k, o[0] if isinstance(o, tuple) else o))
                   for k, b in enumerate(blocks)]
        with torch.no_grad():
            model(clean)
        for h in handles:
            h.remove()
        return values

    def lens():
        values = cache()
        with torch.no_grad():
            return [torch.softmax(model.lm_head(model.model.norm(values[k]))[0], -1).topk(5) for k in range(layers)]

    def patch():
        inputs = {}
        handles = [b.register_forward_pre_hook(lambda m, a, kw, k=k: inputs.__setitem__(k, (a[0] if a else kw["hidden_states"]).clone()), with_kwargs=True)
                   for k, b in enumerate(blocks)]
        with torch.no_grad():
            model(clean)
        for h in handles:
            h.remove()
        grid = []
        for layer in range(layers):
            row = []
            for position in range(t):
                def replace(m, a, kw, layer=layer, position=position):
                    x = (a[0] if a else kw["hidden_states"]).clone()
                    x[0, position] = inputs[layer][0, position]
                    if a:
                        return (x,) + tuple(a[1:]), kw
                    kw["hidden_states"] = x
                    return a, kw
                h = blocks[layer].register_forward_pre_hook(replace, with_kwargs=True)
                with torch.no_grad():
                    logits = model(corrupted).logits[0, -1]
                h.remove()
                row.append(float(logits[target] - logits[contrast]))
            grid.append(row)
        return grid

    def sweep():
        grid = []
        for layer in range(layers):
            row = []
            for head in range(heads):
                def zero(m, a, head=head):
                    x = a[0].clone()
                    x[..., head * head_dim:(head + 1) * head_dim] = 0
                    return (x,)
                h = blocks[layer].self_attn.o_proj.register_forward_pre_hook(zero)
                with torch.no_grad():
                    row.append(float(torch.log_softmax(model(clean).logits[0, -1], -1)[target]))
                h.remove()
            grid.append(row)
        return grid

    return {"cache": cache, "lens": lens, "patch": patch, "sweep": sweep}, (target, contrast)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(ROOT / ".build" / "release" / "seqlens"))
    parser.add_argument("-n", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)

    model = AutoModelForCausalLM.from_pretrained(str(GGUF.parent), gguf_file=GGUF.name, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(str(GGUF.parent), gguf_file=GGUF.name)
    operations, (target, contrast) = reference(model, tokenizer)
    ref = {}
    for name, function in operations.items():
        ref[name] = timed(function, args.n)
        print(f"transformers {name}: {ref[name][0] * 1000:.1f} ms", file=sys.stderr, flush=True)
    ref_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    daemon = Daemon(args.binary)
    daemon.call("initialize", {})
    daemon.call("model/load", {"path": "default", "id": "m"})
    requests = {
        "cache": ("inspect/activations", {"model": "m", "input": CLEAN, "sites": ["blocks.*.resid_post"]}),
        "lens": ("inspect/logitLens", {"model": "m", "input": CLEAN, "sites": ["blocks.*.resid_post"], "topK": 5}),
        "patch": ("inspect/patch", {"model": "m", "clean": CLEAN, "corrupted": CORRUPTED, "sites": ["blocks.*.resid_pre"],
                                    "metric": {"kind": "logit_diff", "target": target, "contrast": contrast}}),
        "sweep": ("inspect/ablate", {"model": "m", "input": CLEAN, "target": target, "sweep": "heads"}),
    }
    ours = {name: timed(lambda m=m, p=p: daemon.call(m, p), args.n) for name, (m, p) in requests.items()}
    ours_rss = daemon.peak_rss_mib()

    # The two agree on what they computed (SeqLens's tests check every value against hooks).
    patched = ours["patch"][1]["results"]
    worst = max(abs(a - b) for r, row in zip(patched, ref["patch"][1]) for a, b in zip(r["values"], row))
    sweep_ref = ref["sweep"][1]
    base = ours["sweep"][1]["baseline"]["logprob"]
    worst_sweep = max(abs(base + d - r) for row, ref_row in zip(ours["sweep"][1]["grid"], sweep_ref) for d, r in zip(row, ref_row))
    daemon.close()

    print(f"SmolLM2-135M (Q4_1 GGUF), {len(tokenizer(CLEAN)['input_ids'])} tokens, median of {args.n} warm calls")
    print("| operation | transformers + hooks | SeqLens daemon | speed-up |")
    print("|---|---|---|---|")
    for name in operations:
        print(f"| {name} | {ref[name][0] * 1000:.1f} ms | {ours[name][0] * 1000:.1f} ms | {ref[name][0] / ours[name][0]:.1f}x |")
    print(f"peak RSS: transformers {ref_rss:.0f} MiB, SeqLens daemon {ours_rss:.0f} MiB")
    print(f"agreement: patch max |diff| {worst:.2e}, head sweep max |diff| {worst_sweep:.2e}")


if __name__ == "__main__":
    sys.exit(main())
