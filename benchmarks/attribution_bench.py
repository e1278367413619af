#!/usr/bin/env python3
"""Attribution benchmark (issue 4): SeqLens vs Inseq 0.7.1 on the same machine, in the same run.

Cases: integrated gradients (n_steps 50), saliency and step scores only (method "dummy" with
step_scores ["probability"]), each on a 20-token prompt with 20 greedy tokens (generation is
part of the measured call on both sides, as in Inseq's attribute()), on
  - SmolLM2-135M-Instruct (the GGUF, dequantized to float32 by both),
  - a random GPT-2-small-shaped checkpoint (12 layers, 768 hidden, GPT-2's real vocabulary),
  - the tiny random GPT-2 of the test fixtures (where Python overhead dominates).
Every measurement runs in a fresh process, so peak RSS is per case; on the tiny model each side
runs 5 times (fresh processes) and the median call is reported, since its calls take milliseconds.

    HF_HUB_OFFLINE=1 .venv-ref/bin/python benchmarks/attribution_bench.py [--quick] [--only MODEL:METHOD ...]
    HF_HUB_OFFLINE=1 .venv-ref/bin/python benchmarks/attribution_bench.py --warm

--warm measures the tiny model as a resident model serves requests (the daemon's case): in one
process per side, one call to warm up, then the median of 5 calls.

Needs `swift build -c release --product seqlens-bench`, the reference venv and the cached models
(scripts/fetch-models.sh). The GPT-2-small checkpoint is written to $SEQLENS_CACHE/bench/.
"""
import json, os, resource, subprocess, sys, time

CACHE = os.environ.get("SEQLENS_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "seqlens")
BENCH = os.path.join(".build", "release", "seqlens-bench")
GGUF = os.path.join(CACHE, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
GPT2_SMALL = os.path.join(CACHE, "bench", "gpt2-small-random")
TINY = os.path.join("Tests", "Fixtures", "models", "tiny-gpt2")
PROMPTS = {  # 20 tokens with each model's tokenizer (checked below)
    "smollm2": "The history of the printing press shows how a single invention can change the way people share their ideas and",
    "gpt2-small": "The history of the printing press shows how a single invention can change the way people share their ideas and",
    "tiny-gpt2": "The software is free and the code of the license is",
}


def make_gpt2_small():
    if os.path.exists(os.path.join(GPT2_SMALL, "model.safetensors")):
        return
    import shutil, torch
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config())  # GPT-2 small: 12 layers, 768 hidden, 12 heads, 50,257 tokens
    model.save_pretrained(GPT2_SMALL)
    tok = os.path.join(CACHE, "gpt2-tokenizer")
    shutil.copy(os.path.join(tok, "encoder.json"), os.path.join(GPT2_SMALL, "vocab.json"))
    shutil.copy(os.path.join(tok, "vocab.bpe"), os.path.join(GPT2_SMALL, "merges.txt"))


def inseq_case(model_key, method, n_steps, warm=False):
    """Runs in a child process: one Inseq attribute() call, timed, with peak RSS (warm: one
    call to warm up, then the median of 5)."""
    import torch, inseq
    from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2TokenizerFast
    torch.set_num_threads(os.cpu_count())
    if model_key == "smollm2":
        folder, name = os.path.dirname(GGUF), os.path.basename(GGUF)
        hf = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32, attn_implementation="eager")
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    else:
        folder = GPT2_SMALL if model_key == "gpt2-small" else TINY
        hf = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager")
        vocab = json.load(open(os.path.join(folder, "vocab.json")))
        merges = [tuple(l.split()) for l in open(os.path.join(folder, "merges.txt")).read().splitlines()[1:] if l]
        tokenizer = GPT2TokenizerFast(vocab=vocab, merges=merges, unk_token="<|endoftext|>", bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    prompt = PROMPTS[model_key]
    assert len(tokenizer(prompt)["input_ids"]) == 20 or model_key == "tiny-gpt2", len(tokenizer(prompt)["input_ids"])
    model = inseq.load_model(hf, method, tokenizer=tokenizer)
    kwargs = {"n_steps": n_steps} if method == "integrated_gradients" else {}
    gen = {"max_new_tokens": 20, "min_new_tokens": 20, "do_sample": False}
    times = []
    for _ in range(6 if warm else 1):
        start = time.perf_counter()
        out = model.attribute(prompt, generation_args=gen, step_scores=["probability"], show_progress=False, **kwargs)
        times.append(time.perf_counter() - start)
    seconds = sorted(times[1:])[2] if warm else times[0]
    steps = out.sequence_attributions[0].attr_pos_end - out.sequence_attributions[0].attr_pos_start
    print(json.dumps({"seconds": seconds, "steps": steps, "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def run_inseq(model_key, method, n_steps, warm=False):
    out = subprocess.run([sys.executable, __file__, "--inseq-case", model_key, method, str(n_steps)] + (["warm"] if warm else []),
                         check=True, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_seqlens(model_key, method, n_steps, warm=False):
    model = {"smollm2": GGUF, "gpt2-small": GPT2_SMALL, "tiny-gpt2": TINY}[model_key]
    env = {**os.environ, "SEQLENS_BENCH_PROFILE_LOOPS": "1", "SEQLENS_BENCH_REPEAT": "5"} if warm else None
    out = subprocess.run([BENCH, "attribute", model, method, PROMPTS[model_key], "20", str(n_steps)],
                         check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def warm_main():
    rows = ["| model | method | Inseq s (warm) | SeqLens s (warm) | speed-up |", "|---|---|---|---|---|"]
    for method, n_steps in (("integrated_gradients", 50), ("saliency", 0), ("dummy", 0)):
        theirs = run_inseq("tiny-gpt2", method, n_steps, warm=True)
        ours = run_seqlens("tiny-gpt2", method, n_steps, warm=True)
        name = method + (f" (n_steps {n_steps})" if n_steps else "") + (" = step scores only" if method == "dummy" else "")
        row = f"| tiny-gpt2 | {name} | {theirs['seconds']:.4f} | {ours['seconds']:.4f} | {theirs['seconds'] / ours['seconds']:.1f}x |"
        print(row, flush=True)
        rows.append(row)
    print("\n".join(rows))


def median_run(run, model_key, method, n_steps, repeats):
    results = sorted((run(model_key, method, n_steps) for _ in range(repeats)), key=lambda r: r["seconds"])
    middle = results[len(results) // 2]
    return {**middle, "peak_rss_bytes": max(r["peak_rss_bytes"] for r in results)}


def main():
    quick = "--quick" in sys.argv
    make_gpt2_small()
    cases = [("tiny-gpt2", "integrated_gradients", 50), ("tiny-gpt2", "saliency", 0), ("tiny-gpt2", "dummy", 0),
             ("smollm2", "saliency", 0), ("smollm2", "dummy", 0), ("gpt2-small", "saliency", 0), ("gpt2-small", "dummy", 0)]
    if not quick:
        cases += [("smollm2", "integrated_gradients", 50), ("gpt2-small", "integrated_gradients", 50)]
    if "--only" in sys.argv:
        wanted = set(sys.argv[sys.argv.index("--only") + 1:])
        cases = [c for c in cases if f"{c[0]}:{c[1]}" in wanted]
    rows = ["| model | method | Inseq s | SeqLens s | speed-up | Inseq peak RSS | SeqLens peak RSS |", "|---|---|---|---|---|---|---|"]
    for model_key, method, n_steps in cases:
        # Calls of a few milliseconds vary several-fold with page faults and scheduling: on the tiny
        # model both sides run in 5 fresh processes each and the median call counts.
        repeats = 5 if model_key == "tiny-gpt2" else 1
        theirs = median_run(run_inseq, model_key, method, n_steps, repeats)
        ours = median_run(run_seqlens, model_key, method, n_steps, repeats)
        name = method + (f" (n_steps {n_steps})" if n_steps else "") + (" = step scores only" if method == "dummy" else "")
        row = (f"| {model_key} | {name} | {theirs['seconds']:.3f} | {ours['seconds']:.3f} | {theirs['seconds'] / ours['seconds']:.1f}x "
               f"| {theirs['peak_rss_bytes'] / 2**30:.2f} GiB | {ours['peak_rss_bytes'] / 2**30:.2f} GiB |")
        print(row, f"(steps: Inseq {theirs['steps']}, SeqLens {ours['steps']})", flush=True)
        rows.append(row)
    print("\n".join(rows))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--inseq-case":
        inseq_case(sys.argv[2], sys.argv[3], int(sys.argv[4]), warm=len(sys.argv) > 5 and sys.argv[5] == "warm")
    elif "--warm" in sys.argv:
        warm_main()
    else:
        main()
