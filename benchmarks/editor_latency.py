#!/usr/bin/env python3
"""Editor round trip (issue 15): what :SeqLensAttribute sends, against the warm daemon.

SmolLM2 (the default model) resident; a 30-token prompt; the selection is the 1 or 5 tokens
after it, and moves over the same text as a user moving the selection would (repeated 50 times
over a few neighbouring selections). One round trip is what the Neovim plugin and the VS Code
extension send together and wait for: `attribute` (saliency, forced continuation = prompt +
selection, stepScores probability, with a workDoneToken) and `tokenize` with `returnOffsets` of
the same text, both written at once, the time until both answers have arrived. Median and p95.

Usage: benchmarks/editor_latency.py [--binary .build/release/seqlens] [-n 50]
"""
import argparse
import statistics
import time
from pathlib import Path

from rpc_client import Daemon

ROOT = Path(__file__).resolve().parents[1]
TEXT = ("The old lighthouse keeper climbed the spiral stairs every evening to light the lamp, "
        "watching the fishing boats return through the fog while the gulls circled above the harbour "
        "and the bells of the church rang across the quiet town")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(ROOT / ".build" / "release" / "seqlens"))
    parser.add_argument("-n", type=int, default=50)
    args = parser.parse_args()
    daemon = Daemon(args.binary)
    daemon.call("initialize", {})
    daemon.call("model/load", {"path": "default", "id": "m"})
    encoded = daemon.call("tokenize", {"model": "m", "texts": [TEXT], "returnOffsets": True})["results"][0]
    offsets = encoded["offsets"]
    prompt_tokens = 30
    print(f"SmolLM2-135M (Q4_1 GGUF) warm, saliency, a {prompt_tokens}-token prompt; {args.n} round trips per case")
    print("| selection | median | p95 | min |")
    print("|---|---|---|---|")
    for selected in (1, 5):
        times = []
        for k in range(args.n + 3):
            shift = k % 3  # the selection moves a token left and right over the same text
            start = offsets[prompt_tokens - 1 + shift][1]
            end = offsets[prompt_tokens - 1 + shift + selected][1]
            prompt, generated = TEXT.encode()[:start].decode(), TEXT.encode()[:end].decode()
            began = time.perf_counter()
            ids = [daemon.send("attribute", {"model": "m", "inputs": [prompt], "generatedTexts": [generated],
                                             "method": "saliency", "stepScores": ["probability"],
                                             "workDoneToken": f"w{k}"}),
                   daemon.send("tokenize", {"model": "m", "texts": [generated], "returnOffsets": True})]
            daemon.wait(ids)
            if k >= 3:  # the first few warm the caches of the allocator and the pool
                times.append(time.perf_counter() - began)
        times.sort()
        p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
        print(f"| {selected} token{'s' if selected > 1 else ''} | {statistics.median(times) * 1000:.0f} ms "
              f"| {p95 * 1000:.0f} ms | {times[0] * 1000:.0f} ms |")
    daemon.close()


if __name__ == "__main__":
    main()
