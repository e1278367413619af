#!/usr/bin/env python3
"""Internals against TransformerLens (issue 13), SmolLM2-135M-Instruct, same machine, same run.

TransformerLens 4 wraps the transformers model that the GGUF dequantizes to (TransformerBridge,
raw weights, eager attention); SeqLens's daemon loads the same GGUF. Both warm, torch on 2 threads.

  cache   run_with_cache of every residual site (hook_resid_pre/mid/post of all 30 layers, 90
          tensors) of a 128-token input; SeqLens: inspect/activations of blocks.*.resid_pre,
          blocks.*.resid_mid and blocks.*.resid_post, until the client holds numpy arrays: through
          a safetensors file (savePath, on /dev/shm) and in the JSON reply (base64). (Also
          TransformerLens with every hook point, for reference.)
  patch   resid_pre activation patching at every layer x position of a 20-token clean/corrupted
          pair, logit difference at the last position: TransformerLens runs one run_with_hooks per
          cell (600 runs), as its patching tutorials and `transformer_lens.patching` do; SeqLens
          one inspect/patch call.

Peak RSS: the Python process (ru_maxrss, everything TransformerLens needed) and the daemon
(VmHWM). The two sides' patching grids are compared.

Usage (from the repository root, after `swift build -c release --product seqlens`):
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv-tl/bin/python benchmarks/transformerlens_bench.py [-n 5] [--patch-runs 1]
"""
import argparse
import base64
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformer_lens.model_bridge import TransformerBridge

from rpc_client import Daemon

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("SEQLENS_CACHE", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "seqlens"))
GGUF = CACHE / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
# 20 tokens each in SmolLM2's tokenizer; one name swapped.
CLEAN = "After the long meeting, Mary and John went to the store, and then John handed a drink to"
CORRUPTED = "After the long meeting, Mary and John went to the store, and then Mary handed a drink to"
PARAGRAPH = ("Interpretability tools let researchers look inside language models: which tokens of the input "
             "drove a prediction, what each attention head reads, and how information flows through the "
             "residual stream from one layer to the next. ")


def timed(function, n, warm=True):
    if warm:
        function()
    times, result = [], None
    for _ in range(n):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return times, result


def decoded(reply):
    """The reply's tensors as numpy arrays, as the Python client gives them."""
    return {site: numpy.frombuffer(base64.b64decode(t["data"]), dtype="<f4").reshape(t["shape"])
            for site, t in reply["activations"].items()}


def read_safetensors(path):
    """numpy arrays of a safetensors file (as the Python client reads it)."""
    with open(path, "rb") as f:
        data = f.read()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    return {name: numpy.frombuffer(data, dtype="<f4", count=(e["data_offsets"][1] - e["data_offsets"][0]) // 4,
                                   offset=8 + length + e["data_offsets"][0]).reshape(e["shape"])
            for name, e in header.items() if name != "__metadata__"}


def text_of_tokens(tokenizer, count):
    """The shortest prefix of repeated PARAGRAPH words with exactly `count` tokens."""
    words = (PARAGRAPH * 8).split(" ")
    for end in range(1, len(words)):
        text = " ".join(words[:end])
        n = len(tokenizer(text)["input_ids"])
        if n == count:
            return text
        if n > count:
            break
    raise SystemExit(f"no prefix has exactly {count} tokens")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(ROOT / ".build" / "release" / "seqlens"))
    parser.add_argument("-n", type=int, default=5, help="timed calls of the cache and of SeqLens's patching")
    parser.add_argument("--patch-runs", type=int, default=1, help="timed TransformerLens patching sweeps (about 100 s each)")
    args = parser.parse_args()
    torch.set_num_threads(2)

    tokenizer = AutoTokenizer.from_pretrained(str(GGUF.parent), gguf_file=GGUF.name)
    hf = AutoModelForCausalLM.from_pretrained(str(GGUF.parent), gguf_file=GGUF.name, dtype=torch.float32,
                                              attn_implementation="eager").eval()
    folder = tempfile.mkdtemp()
    hf.config.save_pretrained(folder)
    bridge = TransformerBridge.boot_transformers(folder, hf_model=hf, tokenizer=tokenizer, device="cpu", dtype=torch.float32)
    layers = bridge.cfg.n_layers

    long_text = text_of_tokens(tokenizer, 128)
    long_ids = torch.tensor([tokenizer(long_text)["input_ids"]])
    clean = torch.tensor([tokenizer(CLEAN)["input_ids"]])
    corrupted = torch.tensor([tokenizer(CORRUPTED)["input_ids"]])
    assert clean.shape == corrupted.shape == (1, 20), (clean.shape, corrupted.shape)
    target = tokenizer(" John", add_special_tokens=False)["input_ids"][0]
    contrast = tokenizer(" Mary", add_special_tokens=False)["input_ids"][0]

    def residual(name):
        return name.endswith(("hook_resid_pre", "hook_resid_mid", "hook_resid_post"))

    def tl_cache(names_filter):
        with torch.no_grad():
            _, cache = bridge.run_with_cache(long_ids, names_filter=names_filter)
        return cache

    def tl_patch():
        with torch.no_grad():
            _, clean_cache = bridge.run_with_cache(clean, names_filter=lambda n: n.endswith("hook_resid_pre"))
            grid = []
            for layer in range(layers):
                name = f"blocks.{layer}.hook_resid_pre"
                row = []
                for position in range(clean.shape[1]):
                    def hook(value, hook, position=position, name=name):
                        value[:, position] = clean_cache[name][:, position]
                        return value
                    logits = bridge.run_with_hooks(corrupted, fwd_hooks=[(name, hook)])
                    row.append(float(logits[0, -1, target] - logits[0, -1, contrast]))
                grid.append(row)
        return grid

    results = {}
    results["tl cache (residual)"], cache = timed(lambda: tl_cache(residual), args.n)
    assert len(cache) == 3 * layers, len(cache)
    results["tl cache (every hook)"], _ = timed(lambda: tl_cache(None), args.n)
    print("TransformerLens cache done", file=sys.stderr, flush=True)
    results["tl patch"], tl_grid = timed(tl_patch, args.patch_runs, warm=False)
    print("TransformerLens patching done", file=sys.stderr, flush=True)
    tl_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    daemon = Daemon(args.binary)
    daemon.call("initialize", {})
    daemon.call("model/load", {"path": "default", "id": "m"})
    tokens = daemon.call("tokenize", {"model": "m", "texts": [long_text]})["results"][0]["ids"]
    assert tokens == long_ids[0].tolist(), "the daemon tokenizes the input as transformers does"
    sites = ["blocks.*.resid_pre", "blocks.*.resid_mid", "blocks.*.resid_post"]
    results["seqlens cache (JSON)"], reply = timed(
        lambda: decoded(daemon.call("inspect/activations", {"model": "m", "input": long_text, "sites": sites})), args.n)
    assert len(reply) == 3 * layers
    # The same tensors through a safetensors file (savePath), on tmpfs where there is one.
    folder = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    file = os.path.join(folder, f"seqlens-bench-{os.getpid()}.safetensors")
    results["seqlens cache"], arrays = timed(lambda: read_safetensors(daemon.call(
        "inspect/activations", {"model": "m", "input": long_text, "sites": sites, "savePath": file, "overwrite": True})["savedTo"]), args.n)
    os.remove(file)
    # Relative to the largest |activation| of each site (SmolLM2's residuals reach the hundreds).
    worst_cache = max(float((torch.from_numpy(arrays[name].copy()) - reference).abs().max() / reference.abs().max())
                      for name in arrays for reference in [cache[name.replace("resid_", "hook_resid_")][0]])
    patch_params = {"model": "m", "clean": CLEAN, "corrupted": CORRUPTED, "sites": ["blocks.*.resid_pre"],
                    "metric": {"kind": "logit_diff", "target": target, "contrast": contrast}}
    results["seqlens patch"], patched = timed(lambda: daemon.call("inspect/patch", patch_params), args.n)
    ours_rss = daemon.peak_rss_mib()
    daemon.close()

    worst = max(abs(a - b) for r, row in zip(patched["results"], tl_grid) for a, b in zip(r["values"], row))
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"SmolLM2-135M-Instruct (Q4_1 GGUF, float32 on both sides), torch {torch.__version__} on 2 threads")
    print(f"cache: 128 tokens, median of {args.n} warm calls; patching: 20 tokens x {layers} layers = "
          f"{20 * layers} patched runs, TransformerLens {args.patch_runs} sweep(s), SeqLens median of {args.n}")
    print("| operation | TransformerLens | SeqLens daemon | speed-up |")
    print("|---|---|---|---|")
    print(f"| run_with_cache, every residual site (90 tensors), SeqLens through a safetensors file "
          f"| {med['tl cache (residual)'] * 1000:.0f} ms | {med['seqlens cache'] * 1000:.0f} ms "
          f"| {med['tl cache (residual)'] / med['seqlens cache']:.2f}x |")
    print(f"| the same, SeqLens's tensors in the JSON reply (base64) | {med['tl cache (residual)'] * 1000:.0f} ms "
          f"| {med['seqlens cache (JSON)'] * 1000:.0f} ms | {med['tl cache (residual)'] / med['seqlens cache (JSON)']:.2f}x |")
    print(f"| (TransformerLens, every hook point) | {med['tl cache (every hook)'] * 1000:.0f} ms | | "
          f"{med['tl cache (every hook)'] / med['seqlens cache']:.2f}x |")
    print(f"| resid_pre patching, every layer x position | {med['tl patch']:.1f} s | {med['seqlens patch']:.2f} s "
          f"| {med['tl patch'] / med['seqlens patch']:.1f}x |")
    for k, v in results.items():
        print(f"  {k}: " + ", ".join(f"{x:.3f}" for x in v) + " s")
    print(f"peak RSS: TransformerLens process {tl_rss:.0f} MiB, SeqLens daemon {ours_rss:.0f} MiB")
    print(f"agreement: patching grids max |diff| {worst:.2e}, cached residuals max |diff| / max |TransformerLens| {worst_cache:.2e}")


if __name__ == "__main__":
    sys.exit(main())
